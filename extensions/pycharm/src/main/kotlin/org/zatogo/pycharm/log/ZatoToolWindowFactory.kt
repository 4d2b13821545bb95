package org.zatogo.pycharm.log

import com.intellij.execution.filters.TextConsoleBuilderFactory
import com.intellij.openapi.Disposable
import com.intellij.openapi.project.DumbAware
import com.intellij.openapi.project.Project
import com.intellij.openapi.util.Disposer
import com.intellij.openapi.wm.ToolWindow
import com.intellij.openapi.wm.ToolWindowFactory
import com.intellij.ui.content.ContentFactory
import org.zatogo.pycharm.cluster.ZatoClusterPanel

/**
 * The "Zato" tool window (plugin.xml `<toolWindow id="Zato">`): a console with the deployment log, and the
 * "Cluster" tab (servers and modules, [ZatoClusterPanel]).
 */
class ZatoToolWindowFactory : ToolWindowFactory, DumbAware {

    override fun createToolWindowContent(project: Project, toolWindow: ToolWindow) {
        val console = TextConsoleBuilderFactory.getInstance().createBuilder(project).console
        val log = ZatoDeployLog.getInstance(project)
        log.attach(console)
        Disposer.register(toolWindow.disposable, console)
        Disposer.register(toolWindow.disposable, Disposable { log.detach(console) })
        val content = ContentFactory.getInstance().createContent(console.component, "Deployments", false)
        toolWindow.contentManager.addContent(content)
        val cluster = ZatoClusterPanel(project)
        Disposer.register(toolWindow.disposable, cluster)
        toolWindow.contentManager.addContent(ContentFactory.getInstance().createContent(cluster, "Cluster", false))
    }
}
