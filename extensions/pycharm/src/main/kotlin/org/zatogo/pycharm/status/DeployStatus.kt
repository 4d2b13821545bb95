package org.zatogo.pycharm.status

import com.google.gson.JsonObject
import org.zatogo.pycharm.lsp.array
import org.zatogo.pycharm.lsp.number
import org.zatogo.pycharm.lsp.present
import org.zatogo.pycharm.lsp.string

/** One server's row of a `zato/deployStatus` notification. */
data class ServerState(
    val name: String,
    /** pending | deployed | failed | offline */
    val status: String,
    val services: List<String>,
    val error: ServerError?,
)

/** A server's error details: syntax and import errors carry the line and column. */
data class ServerError(
    val type: String,
    val message: String,
    val line: Int?,
    val column: Int?,
    val traceback: String?,
)

/**
 * The payload of the `zato/deployStatus` notification (docs/architecture.md):
 * `{uri, module, deploymentId, target, state, confirmed, expected, servers, elapsedMs, message}`.
 */
data class DeployStatus(
    val uri: String,
    val module: String,
    val deploymentId: Long,
    val target: String,
    /** queued | uploading | propagating | deployed | partial | failed | unreachable | unauthorized | accepted */
    val state: String,
    val confirmed: Int,
    val expected: Int,
    val servers: List<ServerState>,
    val elapsedMs: Double,
    val message: String,
) {
    /** True while servers are still expected to confirm. */
    val inProgress: Boolean
        get() = state in IN_PROGRESS

    companion object {
        val IN_PROGRESS = setOf("queued", "uploading", "propagating")

        fun fromJson(o: JsonObject): DeployStatus {
            val uri = o.string("uri")
            val module = o.string("module").ifEmpty { uri.substringAfterLast('/') }
            return DeployStatus(
                uri = uri,
                module = module,
                deploymentId = o.number("deploymentId")?.toLong() ?: 0L,
                target = o.string("target"),
                state = o.string("state"),
                confirmed = o.number("confirmed")?.toInt() ?: 0,
                expected = o.number("expected")?.toInt() ?: 0,
                servers = o.array("servers").mapNotNull { el ->
                    if (el.isJsonObject) serverFromJson(el.asJsonObject) else null
                },
                elapsedMs = o.number("elapsedMs")?.toDouble() ?: 0.0,
                message = o.string("message"),
            )
        }

        private fun serverFromJson(o: JsonObject): ServerState {
            val errorElement = o.get("error")
            val error = if (errorElement != null && errorElement.isJsonObject) {
                val e = errorElement.asJsonObject
                ServerError(
                    type = e.string("type"),
                    message = e.string("message"),
                    line = e.number("line")?.toInt(),
                    column = e.number("column")?.toInt(),
                    traceback = e.string("traceback").ifEmpty { null },
                )
            } else {
                null
            }
            return ServerState(
                name = o.string("name"),
                status = o.string("status"),
                services = o.array("services").mapNotNull { el ->
                    if (el.isJsonPrimitive) el.asString else null
                },
                error = error,
            )
        }
    }
}
