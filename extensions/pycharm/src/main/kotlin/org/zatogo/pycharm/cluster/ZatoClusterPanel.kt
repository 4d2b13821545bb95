package org.zatogo.pycharm.cluster

import com.google.gson.JsonObject
import com.intellij.notification.NotificationGroupManager
import com.intellij.notification.NotificationType
import com.intellij.openapi.Disposable
import com.intellij.openapi.application.ApplicationManager
import com.intellij.openapi.fileEditor.FileEditorManager
import com.intellij.openapi.project.Project
import com.intellij.openapi.ui.Messages
import com.intellij.testFramework.LightVirtualFile
import com.intellij.ui.components.JBScrollPane
import org.zatogo.pycharm.Zato
import org.zatogo.pycharm.actions.ZatoCommands
import org.zatogo.pycharm.diff.ZatoDiff
import java.awt.BorderLayout
import java.awt.event.MouseAdapter
import java.awt.event.MouseEvent
import javax.swing.JButton
import javax.swing.JLabel
import javax.swing.JPanel
import javax.swing.JPopupMenu
import javax.swing.JToolBar
import javax.swing.JTree
import javax.swing.tree.DefaultMutableTreeNode
import javax.swing.tree.DefaultTreeModel
import javax.swing.tree.TreePath

/**
 * The "Cluster" tab of the Zato tool window: the same data as VS Code's Zato Cluster view, from `zato/clusterView`.
 * Servers with their state; modules with version, who, origin, outcome and each server's row. A module's actions
 * (buttons and right click): open the deployed source read-only, compare it with the project's file of that name
 * (IntelliJ's diff viewer, [ZatoDiff]), open a version from its history, roll back to one, undeploy. While the
 * tab exists the language server watches the cluster and sends `zato/clusterChanged`.
 */
class ZatoClusterPanel(private val project: Project) : JPanel(BorderLayout()), Disposable {

    /** A tree node's object: its text, and the module it belongs to (servers and groups have none). */
    private class Item(val text: String, val module: ViewModule?, val target: String) {
        override fun toString(): String = text
    }

    private val root = DefaultMutableTreeNode("Zato")
    private val model = DefaultTreeModel(root)
    private val tree = JTree(model)
    private val status = JLabel(" ")
    private val connection = project.messageBus.connect(this)
    @Volatile
    private var disposed = false

    init {
        tree.isRootVisible = false
        tree.showsRootHandles = true
        val bar = JToolBar()
        bar.isFloatable = false
        bar.add(button("Refresh") { refresh() })
        bar.add(button("Open Deployed Source") { selected()?.let { openSource(it, 0) } })
        bar.add(button("Compare with Local") { selected()?.let { compare(it, 0) } })
        bar.add(button("History…") { selected()?.let { history(it) } })
        bar.add(button("Roll Back…") { selected()?.let { rollback(it) } })
        bar.add(button("Undeploy…") { selected()?.let { undeploy(it) } })
        add(bar, BorderLayout.NORTH)
        add(JBScrollPane(tree), BorderLayout.CENTER)
        add(status, BorderLayout.SOUTH)
        tree.addMouseListener(object : MouseAdapter() {
            override fun mousePressed(e: MouseEvent) = popup(e)
            override fun mouseReleased(e: MouseEvent) = popup(e)
            override fun mouseClicked(e: MouseEvent) {
                if (e.clickCount == 2) selected()?.let { if (it.module?.deployed == true) openSource(it, 0) }
            }
        })
        connection.subscribe(ZatoClusterListener.TOPIC, object : ZatoClusterListener {
            override fun clusterChanged(serverStarted: Boolean) {
                if (serverStarted) ZatoCluster.watch(project, true)
                refresh()
            }
        })
        ZatoCluster.watch(project, true)
        refresh()
    }

    private fun button(text: String, action: () -> Unit): JButton {
        val b = JButton(text)
        b.addActionListener { action() }
        return b
    }

    private fun selected(): Item? {
        val node = tree.lastSelectedPathComponent as? DefaultMutableTreeNode ?: return null
        val item = node.userObject as? Item ?: return null
        return if (item.module == null) null else item
    }

    private fun popup(e: MouseEvent) {
        if (!e.isPopupTrigger) return
        val path = tree.getPathForLocation(e.x, e.y) ?: return
        tree.selectionPath = path
        val item = selected() ?: return
        val menu = JPopupMenu()
        if (item.module?.deployed == true) menu.add("Open Deployed Source").addActionListener { openSource(item, 0) }
        if (item.module?.deployed == true) menu.add("Compare with Local").addActionListener { compare(item, 0) }
        menu.add("History…").addActionListener { history(item) }
        menu.add("Roll Back…").addActionListener { rollback(item) }
        if (item.module?.deployed == true) menu.add("Undeploy…").addActionListener { undeploy(item) }
        menu.show(tree, e.x, e.y)
    }

    /** Reads the cluster and shows it; any failure is shown in its words where the data would be. */
    fun refresh() {
        ZatoCluster.view(project).whenComplete { view, error ->
            onEdt {
                if (error != null) show(null, ZatoCommands.describeError(error)) else show(view, view?.error ?: "")
            }
        }
    }

    private fun show(view: ClusterView?, problem: String) {
        // Modules the user opened stay open.
        val open = (0 until tree.rowCount).filter { tree.isExpanded(it) }
            .mapNotNull { ((tree.getPathForRow(it).lastPathComponent as? DefaultMutableTreeNode)?.userObject as? Item)?.module?.name }
            .toSet()
        root.removeAllChildren()
        if (view == null || problem.isNotEmpty()) {
            root.add(DefaultMutableTreeNode(Item(problem.ifEmpty { "No answer from the Zato language server." }, null, "")))
            status.text = " "
        } else {
            val servers = DefaultMutableTreeNode(Item(ClusterText.servers(view), null, view.target))
            view.servers.forEach { servers.add(DefaultMutableTreeNode(Item(ClusterText.server(it), null, view.target))) }
            val modules = DefaultMutableTreeNode(Item(ClusterText.modules(view), null, view.target))
            view.modules.forEach { m ->
                val node = DefaultMutableTreeNode(Item(ClusterText.module(m), m, view.target))
                m.servers.forEach { node.add(DefaultMutableTreeNode(Item(ClusterText.row(it), m, view.target))) }
                modules.add(node)
            }
            root.add(servers)
            root.add(modules)
            status.text = "${view.target} (${view.url}): ${view.summary}"
        }
        model.reload()
        for (group in root.children()) {
            val g = group as DefaultMutableTreeNode
            tree.expandPath(TreePath(g.path))
            for (child in g.children()) {
                val c = child as DefaultMutableTreeNode
                val m = (c.userObject as? Item)?.module ?: continue
                // A module that did not deploy everywhere is opened, to show which server did what.
                if (m.name in open || m.status != "deployed" && m.status != "undeployed") tree.expandPath(TreePath(c.path))
            }
        }
    }

    private fun openSource(item: Item, version: Int) {
        val m = item.module ?: return
        ZatoCluster.source(project, m.name, version, item.target).whenComplete { res, error ->
            onEdt {
                if (error != null) {
                    Messages.showErrorDialog(project, ZatoCommands.describeError(error), "Zato")
                } else if (res is JsonObject && res.has("source")) {
                    val v = res.get("version").asInt
                    val file = LightVirtualFile("${m.name.removeSuffix(".py")} (v$v on ${item.target}).py", res.get("source").asString)
                    file.isWritable = false
                    FileEditorManager.getInstance(project).openFile(file, true)
                }
            }
        }
    }

    private fun pick(item: Item, exceptCurrent: Boolean, title: String, then: (Int) -> Unit) {
        val m = item.module ?: return
        ZatoCluster.history(project, m.name, item.target).whenComplete { versions, error ->
            onEdt {
                if (error != null) {
                    Messages.showErrorDialog(project, ZatoCommands.describeError(error), "Zato")
                    return@onEdt
                }
                val choices = versions.filter { !(exceptCurrent && it.current) }
                if (choices.isEmpty()) {
                    Messages.showInfoMessage(project, "${m.name} has no other version to go back to.", "Zato")
                    return@onEdt
                }
                val labels = choices.map { it.label + if (it.current) " (current)" else "" }.toTypedArray()
                val i = Messages.showChooseDialog(project, title, "Zato", null, labels, labels[0])
                if (i >= 0) then(choices[i].version)
            }
        }
    }

    private fun history(item: Item) = pick(item, false, "Versions of ${item.module?.name}: open one") { openSource(item, it) }

    /** "Compare with Local": the version (0: the current one) against the project's file of that name, in a diff. */
    private fun compare(item: Item, version: Int) {
        val m = item.module ?: return
        ZatoDiff.compareModule(project, m.name, version, item.target)
    }

    private fun rollback(item: Item) {
        val m = item.module ?: return
        pick(item, true, "Roll ${m.name} back to which version?") { version ->
            val ok = Messages.showYesNoDialog(
                project,
                "Roll ${m.name} back to version $version on every server of ${item.target}?",
                "Zato: Roll Back",
                null,
            )
            if (ok == Messages.YES) write(ZatoCluster.rollback(project, m.name, version, item.target))
        }
    }

    private fun undeploy(item: Item) {
        val m = item.module ?: return
        val ok = Messages.showYesNoDialog(
            project,
            "Undeploy ${m.name} from every server of ${item.target}? Its services stop answering; its versions are kept.",
            "Zato: Undeploy",
            null,
        )
        if (ok == Messages.YES) write(ZatoCluster.undeploy(project, m.name, item.target))
    }

    /** A rollback's or undeploy's answer as a notification (a refusal was shown by the language server). */
    private fun write(future: java.util.concurrent.CompletableFuture<Any?>) {
        status.text = "Waiting for every server…"
        future.whenComplete { res, error ->
            onEdt {
                if (error == null) {
                    val msg = ClusterView.message(res).ifEmpty { ZatoCommands.describe(res) }
                    NotificationGroupManager.getInstance().getNotificationGroup(Zato.NOTIFICATION_GROUP)
                        .createNotification("Zato: $msg", NotificationType.INFORMATION).notify(project)
                }
                refresh()
            }
        }
    }

    private fun onEdt(action: () -> Unit) {
        ApplicationManager.getApplication().invokeLater {
            if (!disposed && !project.isDisposed) action()
        }
    }

    override fun dispose() {
        disposed = true
        if (!project.isDisposed) ZatoCluster.watch(project, false)
    }
}
