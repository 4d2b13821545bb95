package org.zatogo.pycharm.status

/**
 * The status bar words, the same as the VS Code extension's (without its codicons):
 *
 * | state                              | text                                   |
 * |------------------------------------|----------------------------------------|
 * | nothing yet                        | `Zato`                                 |
 * | queued / uploading / propagating   | `Zato: x.py 1/2`                       |
 * | deployed                           | `Zato: x.py 2/2`                       |
 * | partial                            | `Zato: x.py 1/2 · server2 offline`     |
 * | failed                             | `Zato: x.py failed`                    |
 * | unreachable / unauthorized         | `Zato: x.py unreachable` (the state)   |
 * | accepted (stock Zato, no confirms) | `Zato: x.py accepted`                  |
 *
 * Plain Kotlin on purpose: no platform class, so the wording can be checked without an IDE.
 */
object StatusText {
    const val IDLE = "Zato"

    fun text(status: DeployStatus?): String {
        if (status == null) {
            return IDLE
        }
        val head = "Zato: ${status.module}"
        val count = "${status.confirmed}/${status.expected}"
        return when (status.state) {
            "queued", "uploading", "propagating" ->
                if (status.expected > 0) "$head $count" else head
            "deployed" -> "$head $count"
            "partial" -> {
                val missing = status.servers
                    .filter { it.status != "deployed" }
                    .joinToString(", ") { "${it.name} ${it.status}" }
                if (missing.isEmpty()) "$head $count" else "$head $count · $missing"
            }
            "" -> head
            else -> "$head ${status.state}"
        }
    }

    /** HTML tooltip: the server's message, then one line per server with its state, services or error. */
    fun tooltip(status: DeployStatus?): String {
        if (status == null) {
            return "<html>Zato: no deployment yet. Save a Python service module or use Deploy to Zato (Ctrl+Shift+L).<br>" +
                "Click to open the deployment log.</html>"
        }
        val lines = mutableListOf<String>()
        val summary = status.message.ifEmpty { "${status.module} ${status.state}" }
        lines += "<b>${escape(summary)}</b>"
        val meta = buildList {
            if (status.target.isNotEmpty()) add("target ${status.target}")
            if (status.deploymentId > 0) add("deployment ${status.deploymentId}")
            if (status.elapsedMs > 0) add("${formatMs(status.elapsedMs)} ms")
        }
        if (meta.isNotEmpty()) {
            lines += escape(meta.joinToString(" · "))
        }
        for (server in status.servers) {
            lines += escape(serverLine(server))
        }
        lines += "<i>Click to open the deployment log.</i>"
        return lines.joinToString("<br>", prefix = "<html>", postfix = "</html>")
    }

    /** `server1: deployed · x.my-service` or `server2: failed · SyntaxError at line 3: invalid syntax`. */
    fun serverLine(server: ServerState): String {
        val sb = StringBuilder("${server.name}: ${server.status}")
        val error = server.error
        if (error != null) {
            sb.append(" · ").append(error.type.ifEmpty { "Error" })
            if (error.line != null) {
                sb.append(" at line ").append(error.line)
                if (error.column != null) sb.append(", column ").append(error.column)
            }
            if (error.message.isNotEmpty()) sb.append(": ").append(error.message)
        } else if (server.services.isNotEmpty()) {
            sb.append(" · ").append(server.services.joinToString(", "))
        }
        return sb.toString()
    }

    fun formatMs(ms: Double): String =
        if (ms >= 10 || ms == Math.floor(ms)) Math.round(ms).toString() else String.format("%.1f", ms)

    private fun escape(s: String): String =
        s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;")
}
