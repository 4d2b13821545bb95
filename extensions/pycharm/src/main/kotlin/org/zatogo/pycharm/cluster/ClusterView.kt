package org.zatogo.pycharm.cluster

import com.google.gson.JsonObject
import org.zatogo.pycharm.lsp.bool
import org.zatogo.pycharm.lsp.int
import org.zatogo.pycharm.lsp.obj
import org.zatogo.pycharm.lsp.objects
import org.zatogo.pycharm.lsp.present
import org.zatogo.pycharm.lsp.string

/** A server as `zato/clusterView` lists it. */
data class ViewServer(val name: String, val url: String, val state: String)

/** One server's row of a module's newest deployment. */
data class ViewRow(val name: String, val status: String, val state: String, val error: String)

/** A module as `zato/clusterView` lists it: the current version and its newest deployment. */
data class ViewModule(
    val name: String,
    val version: Int,
    val deployed: Boolean,
    val who: String,
    val origin: String,
    val createdAt: String,
    val status: String,
    val outcome: String,
    val servers: List<ViewRow>,
)

/** A version as `zato/moduleHistory` lists it. */
data class HistoryEntry(val version: Int, val current: Boolean, val label: String)

/**
 * The answer of `zato/clusterView` (docs/architecture.md). Nothing is decided here: statuses, outcomes and the
 * error's words are the language server's.
 */
data class ClusterView(
    val target: String,
    val url: String,
    val summary: String,
    val error: String,
    val servers: List<ViewServer>,
    val modules: List<ViewModule>,
) {
    companion object {
        fun fromJson(o: JsonObject): ClusterView = ClusterView(
            target = o.string("target"),
            url = o.string("url"),
            summary = o.string("summary"),
            error = o.string("error"),
            servers = o.objects("servers").map { ViewServer(it.string("name"), it.string("url"), it.string("state")) },
            modules = o.objects("modules").map { m ->
                ViewModule(
                    name = m.string("name"),
                    version = m.int("version"),
                    deployed = m.bool("deployed"),
                    who = m.string("who"),
                    origin = m.string("origin"),
                    createdAt = m.string("createdAt"),
                    status = m.string("status"),
                    outcome = m.string("outcome"),
                    servers = m.objects("servers").map { r ->
                        val e = r.obj("error")
                        val error = if (e == null) {
                            ""
                        } else {
                            listOf(e.string("type"), e.string("message")).filter { it.isNotEmpty() }.joinToString(": ") +
                                (if (e.int("line") > 0) " (line ${e.int("line")})" else "")
                        }
                        ViewRow(r.string("name"), r.string("status"), r.string("state"), error)
                    },
                )
            },
        )

        /** The versions of a `zato/moduleHistory` answer, newest first. */
        fun history(o: JsonObject): List<HistoryEntry> =
            o.objects("versions").map { HistoryEntry(it.int("version"), it.bool("current"), it.string("label")) }

        /** The `message` of a `zato.rollback` or `zato.undeploy` answer. */
        fun message(o: Any?): String = if (o is JsonObject) o.string("message") else ""
    }
}

/** How the Cluster tab's nodes read, the same words as VS Code's view. */
object ClusterText {
    fun byWhom(who: String, origin: String): String {
        val w = who.ifEmpty { "someone" }
        return if (origin.isEmpty()) w else "$w ($origin)"
    }

    fun server(s: ViewServer): String = "${s.name} · ${s.state}"

    fun module(m: ViewModule): String =
        "${m.name}  ${if (m.deployed) "v${m.version}" else "undeployed"} · ${byWhom(m.who, m.origin)} · ${m.outcome.ifEmpty { m.status }}"

    fun row(r: ViewRow): String {
        var s = "${r.name} · ${r.status}"
        if (r.status == "pending" && r.state.isNotEmpty() && r.state != "live") s += " (${r.state})"
        if (r.error.isNotEmpty()) s += ": ${r.error}"
        return s
    }

    fun servers(v: ClusterView): String {
        val live = v.servers.count { it.state == "live" }
        return "Servers · $live/${v.servers.size} live · ${v.target}"
    }

    fun modules(v: ClusterView): String = "Modules · ${v.modules.size}"
}
