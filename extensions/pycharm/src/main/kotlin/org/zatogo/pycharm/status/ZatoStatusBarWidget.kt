package org.zatogo.pycharm.status

import com.intellij.openapi.application.ApplicationManager
import com.intellij.openapi.project.Project
import com.intellij.openapi.wm.StatusBar
import com.intellij.openapi.wm.StatusBarWidget
import com.intellij.util.Consumer
import org.zatogo.pycharm.Zato
import org.zatogo.pycharm.log.ZatoDeployLog
import java.awt.Component
import java.awt.event.MouseEvent

/**
 * Shows the last `zato/deployStatus` in the VS Code extension's words ([StatusText]), each server's state
 * in the tooltip, and opens the deployment log on click. It never opens the log by itself.
 */
class ZatoStatusBarWidget(private val project: Project) : StatusBarWidget, StatusBarWidget.TextPresentation {

    @Volatile
    private var statusBar: StatusBar? = null

    override fun ID(): String = Zato.WIDGET_ID

    override fun getPresentation(): StatusBarWidget.WidgetPresentation = this

    override fun install(statusBar: StatusBar) {
        this.statusBar = statusBar
        project.messageBus.connect(this).subscribe(ZatoStatusListener.TOPIC, object : ZatoStatusListener {
            override fun statusChanged(status: DeployStatus) {
                ApplicationManager.getApplication().invokeLater {
                    if (!project.isDisposed) {
                        this@ZatoStatusBarWidget.statusBar?.updateWidget(ID())
                    }
                }
            }
        })
    }

    override fun dispose() {
        statusBar = null
    }

    override fun getText(): String = StatusText.text(current())

    override fun getAlignment(): Float = Component.CENTER_ALIGNMENT

    override fun getTooltipText(): String = StatusText.tooltip(current())

    override fun getClickConsumer(): Consumer<MouseEvent> = Consumer { ZatoDeployLog.getInstance(project).show() }

    private fun current(): DeployStatus? =
        if (project.isDisposed) null else ZatoDeployStatusService.getInstance(project).last
}
