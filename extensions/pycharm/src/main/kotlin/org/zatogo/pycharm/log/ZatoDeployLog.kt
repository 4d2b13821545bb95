package org.zatogo.pycharm.log

import com.intellij.execution.ui.ConsoleView
import com.intellij.execution.ui.ConsoleViewContentType
import com.intellij.openapi.Disposable
import com.intellij.openapi.application.ApplicationManager
import com.intellij.openapi.project.Project
import com.intellij.openapi.wm.ToolWindowManager
import org.zatogo.pycharm.Zato
import org.zatogo.pycharm.status.DeployStatus
import org.zatogo.pycharm.status.StatusText
import java.time.LocalTime
import java.time.format.DateTimeFormatter

/**
 * Project service (registered in plugin.xml) holding the deployment log: one line per `zato/deployStatus`
 * notification, each server's result when a deployment ends. Lines are kept in memory (bounded) and
 * replayed into the "Zato" tool window's console when that is first opened; the tool window is opened
 * only when the user clicks the status bar widget, never by a deployment.
 */
class ZatoDeployLog(private val project: Project) : Disposable {

    private val lines = ArrayDeque<Pair<String, ConsoleViewContentType>>()
    private var console: ConsoleView? = null

    fun record(status: DeployStatus) {
        val time = LocalTime.now().format(TIME)
        val summary = status.message.ifEmpty { StatusText.text(status) }
        val failed = status.state == "failed" || status.state == "unreachable" || status.state == "unauthorized"
        append("[$time] ${status.state}: $summary", if (failed) ConsoleViewContentType.ERROR_OUTPUT else ConsoleViewContentType.NORMAL_OUTPUT)
        if (!status.inProgress) {
            for (server in status.servers) {
                val type = if (server.status == "deployed") ConsoleViewContentType.SYSTEM_OUTPUT else ConsoleViewContentType.ERROR_OUTPUT
                append("    " + StatusText.serverLine(server), type)
                server.error?.traceback?.let { tb ->
                    tb.trimEnd().lines().forEach { append("        $it", ConsoleViewContentType.ERROR_OUTPUT) }
                }
            }
        }
    }

    @Synchronized
    fun append(text: String, type: ConsoleViewContentType = ConsoleViewContentType.NORMAL_OUTPUT) {
        lines.addLast(text to type)
        while (lines.size > MAX_LINES) {
            lines.removeFirst()
        }
        console?.print(text + "\n", type)
    }

    /** Called by [ZatoToolWindowFactory] when the tool window is created: replays what was logged so far. */
    @Synchronized
    fun attach(view: ConsoleView) {
        console = view
        for ((text, type) in lines) {
            view.print(text + "\n", type)
        }
    }

    @Synchronized
    fun detach(view: ConsoleView) {
        if (console === view) {
            console = null
        }
    }

    /** Opens the "Zato" tool window (the status bar widget's click). */
    fun show() {
        ApplicationManager.getApplication().invokeLater {
            if (!project.isDisposed) {
                ToolWindowManager.getInstance(project).getToolWindow(Zato.TOOL_WINDOW_ID)?.show(null)
            }
        }
    }

    @Synchronized
    override fun dispose() {
        console = null
        lines.clear()
    }

    companion object {
        private const val MAX_LINES = 5000
        private val TIME: DateTimeFormatter = DateTimeFormatter.ofPattern("HH:mm:ss")

        fun getInstance(project: Project): ZatoDeployLog = project.getService(ZatoDeployLog::class.java)
    }
}
