package org.zatogo.pycharm.diff

import com.google.gson.JsonObject
import org.zatogo.pycharm.lsp.int
import org.zatogo.pycharm.lsp.present
import org.zatogo.pycharm.lsp.string
import java.time.OffsetDateTime
import java.time.ZoneOffset
import java.time.format.DateTimeFormatter
import java.time.format.DateTimeParseException

/**
 * A version the cluster keeps, as `zato.showClusterVersion` answers it (docs/architecture.md, lsp/conflict.go
 * `clusterVersion`): `{module, target, uri, version, sha256, who, origin, createdAt, source, title}`. With
 * `[{"uri"}]` it is the version the module's last refused save met; with `[{"module", "version"?}]` any version.
 * Nothing is decided here: the plug-in only shows it.
 */
data class ClusterVersion(
    val module: String,
    val target: String,
    val uri: String,
    val version: Int,
    val sha256: String,
    val who: String,
    val origin: String,
    val createdAt: String,
    val source: String,
    val title: String,
) {
    companion object {
        /** The answer, or null when it is not a version with its source (then there is nothing to compare). */
        fun fromJson(o: Any?): ClusterVersion? {
            if (o !is JsonObject) return null
            val source = o.get("source")
            if (source == null || !source.isJsonPrimitive || !source.asJsonPrimitive.isString) return null
            return ClusterVersion(
                module = o.string("module"),
                target = o.string("target"),
                uri = o.string("uri"),
                version = o.int("version"),
                sha256 = o.string("sha256"),
                who = o.string("who"),
                origin = o.string("origin"),
                createdAt = o.string("createdAt"),
                source = source.asString,
                title = o.string("title"),
            )
        }
    }
}

/** How the diff window and the conflict notification read; the words of the language server where it has some. */
object DiffText {
    private val WHEN = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss")

    /** `createdAt` (RFC 3339) as the language server words a time: `2026-11-30 08:31:02 UTC`; "" when unknown. */
    fun time(createdAt: String): String {
        if (createdAt.isEmpty()) return ""
        return try {
            val t = OffsetDateTime.parse(createdAt).withOffsetSameInstant(ZoneOffset.UTC)
            if (t.year <= 1) "" else WHEN.format(t) + " UTC" // Go's zero time: unknown
        } catch (e: DateTimeParseException) {
            createdAt
        }
    }

    /** `alice (ide)`, `someone` when the cluster does not know who. */
    fun byWhom(who: String, origin: String): String {
        val w = who.ifEmpty { "someone" }
        return if (origin.isEmpty()) w else "$w ($origin)"
    }

    /** The left side: `Cluster default: crm.py version 5 by alice (ide) at 2026-11-30 08:31:02 UTC (read-only)`. */
    fun clusterTitle(v: ClusterVersion): String {
        val at = time(v.createdAt)
        val target = if (v.target.isEmpty()) "Cluster" else "Cluster ${v.target}"
        return "$target: ${v.module} version ${v.version} by ${byWhom(v.who, v.origin)}" +
            (if (at.isEmpty()) "" else " at $at") + " (read-only)"
    }

    /** The right side: the file as it is in the editor, unsaved edits included. */
    fun localTitle(fileName: String): String = "Local: $fileName (editor, editable)"

    /** The window: the language server's title, else one of the same shape. */
    fun windowTitle(v: ClusterVersion, fileName: String): String =
        v.title.ifEmpty { "${v.module}: cluster version ${v.version} (${byWhom(v.who, v.origin)}) ↔ $fileName" }

    /** The question before Deploy Anyway overwrites the cluster's version. */
    fun deployAnywayQuestion(fileName: String, v: ClusterVersion?): String =
        if (v == null) {
            "Deploy $fileName as it is in the editor, over whatever version the cluster has?"
        } else {
            "Deploy $fileName as it is in the editor over version ${v.version} by ${byWhom(v.who, v.origin)}" +
                (if (v.target.isEmpty()) "" else " on ${v.target}") + "?"
        }
}
