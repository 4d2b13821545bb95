package org.zatogo.pycharm.diff

import com.google.gson.JsonObject
import com.intellij.diff.DiffContentFactory
import com.intellij.diff.DiffManager
import com.intellij.diff.requests.SimpleDiffRequest
import com.intellij.diff.util.DiffUserDataKeys
import com.intellij.notification.NotificationAction
import com.intellij.notification.NotificationGroupManager
import com.intellij.notification.NotificationType
import com.intellij.openapi.actionSystem.AnAction
import com.intellij.openapi.actionSystem.AnActionEvent
import com.intellij.openapi.application.ApplicationManager
import com.intellij.openapi.fileEditor.FileDocumentManager
import com.intellij.openapi.fileEditor.FileEditorManager
import com.intellij.openapi.project.Project
import com.intellij.openapi.ui.Messages
import com.intellij.openapi.util.Computable
import com.intellij.openapi.vfs.VirtualFile
import com.intellij.psi.PsiDocumentManager
import com.intellij.psi.search.FilenameIndex
import com.intellij.psi.search.GlobalSearchScope
import com.redhat.devtools.lsp4ij.LSPIJUtils
import org.zatogo.pycharm.Zato
import org.zatogo.pycharm.actions.ZatoCommands
import org.zatogo.pycharm.status.DeployStatus
import java.util.concurrent.CompletableFuture

/**
 * The cluster's version of a module against the local file, in IntelliJ's diff viewer, and Deploy Anyway.
 *
 * Everything goes through `zato lsp` (docs/architecture.md): `zato.showClusterVersion` gives the cluster's version
 * with its source, `zato.deployAnyway` deploys the editor's text without a base. The plug-in decides nothing about
 * conflicts: it asks, shows the answer and sends what the user chose.
 */
object ZatoDiff {

    /**
     * "Zato: Compare with Cluster Version" for a local file: the version its last refused save met
     * (`[{"uri"}]`); when there was no conflict, the module's current version (`[{"module"}]`).
     */
    fun compareFile(project: Project, file: VirtualFile, target: String = "") {
        val uri = LSPIJUtils.toUriAsString(file)
        val conflict = JsonObject()
        conflict.addProperty("uri", uri)
        if (target.isNotEmpty()) conflict.addProperty("target", target)
        ZatoCommands.execute(project, Zato.CMD_SHOW_CLUSTER_VERSION, listOf(conflict))
            // "no conflict of x.py on default to show" (an error, not shown by the server): the current version.
            .handle { res, error ->
                if (error == null && ClusterVersion.fromJson(res) != null) {
                    CompletableFuture.completedFuture(res)
                } else {
                    current(project, file.name, target)
                }
            }
            .thenCompose { it }
            .whenComplete { res, error -> show(project, file, res, error) }
    }

    /** The Cluster tab's "Compare with Local": that version of the module against the project's file of that name. */
    fun compareModule(project: Project, module: String, version: Int, target: String) {
        val file = localFile(project, module)
        if (file == null) {
            Messages.showInfoMessage(
                project,
                "No file named $module in this project to compare with the cluster's version.",
                "Zato",
            )
            return
        }
        val arg = JsonObject()
        arg.addProperty("module", module)
        if (version > 0) arg.addProperty("version", version)
        if (target.isNotEmpty()) arg.addProperty("target", target)
        ZatoCommands.execute(project, Zato.CMD_SHOW_CLUSTER_VERSION, listOf(arg))
            .whenComplete { res, error -> show(project, file, res, error) }
    }

    /**
     * A refused save (`zato/deployStatus` with state `conflict`): the server's words in a balloon with the two
     * choices VS Code offers, Compare with Cluster Version and Deploy Anyway. The plug-in declares
     * `experimental.zato.statusUI` (ZatoConnectionProvider), so the server sends no warning of its own for it.
     */
    fun notifyConflict(project: Project, status: DeployStatus) {
        onEdt(project) {
            val file = LSPIJUtils.findResourceFor(status.uri) ?: return@onEdt
            NotificationGroupManager.getInstance().getNotificationGroup(Zato.NOTIFICATION_GROUP)
                .createNotification("Zato: ${status.message.ifEmpty { "${status.module}: conflict" }}", NotificationType.WARNING)
                .addAction(NotificationAction.createSimpleExpiring("Compare with Cluster Version") { compareFile(project, file, status.target) })
                .addAction(NotificationAction.createSimpleExpiring("Deploy Anyway") { deployAnyway(project, file, status.target, null) })
                .notify(project)
        }
    }

    /** `zato.deployAnyway` `[{"uri", "target"}]` after a confirmation; its answer as a notification. */
    fun deployAnyway(project: Project, file: VirtualFile, target: String, version: ClusterVersion?) {
        val ok = Messages.showYesNoDialog(project, DiffText.deployAnywayQuestion(file.name, version), "Zato: Deploy Anyway", null)
        if (ok != Messages.YES) return
        // The server deploys the text it holds for an open document: commit it so LSP4IJ sends the last edits first
        // (as DeployToZatoAction does); a file not open in an editor is read from disk, so it is saved.
        val documents = FileDocumentManager.getInstance()
        val document = documents.getCachedDocument(file)
        if (document != null) {
            if (FileEditorManager.getInstance(project).isFileOpen(file)) {
                PsiDocumentManager.getInstance(project).commitDocument(document)
            } else if (documents.isDocumentUnsaved(document)) {
                documents.saveDocument(document)
            }
        }
        val arg = JsonObject()
        arg.addProperty("uri", LSPIJUtils.toUriAsString(file))
        val t = target.ifEmpty { version?.target ?: "" }
        if (t.isNotEmpty()) arg.addProperty("target", t)
        ZatoCommands.execute(project, Zato.CMD_DEPLOY_ANYWAY, listOf(arg)).whenComplete { res, error ->
            val (text, type) = if (error != null) {
                "Zato: Deploy Anyway of ${file.name} not sent: ${ZatoCommands.describeError(error)}" to NotificationType.ERROR
            } else {
                "Zato: ${ZatoCommands.describe(res)}" to NotificationType.INFORMATION
            }
            onEdt(project) {
                NotificationGroupManager.getInstance().getNotificationGroup(Zato.NOTIFICATION_GROUP)
                    .createNotification(text, type).notify(project)
            }
        }
    }

    private fun current(project: Project, module: String, target: String): CompletableFuture<Any?> {
        val arg = JsonObject()
        arg.addProperty("module", module)
        if (target.isNotEmpty()) arg.addProperty("target", target)
        return ZatoCommands.execute(project, Zato.CMD_SHOW_CLUSTER_VERSION, listOf(arg))
    }

    private fun show(project: Project, file: VirtualFile, res: Any?, error: Throwable?) {
        onEdt(project) {
            val v = ClusterVersion.fromJson(res)
            if (error != null || v == null) {
                val why = if (error != null) ZatoCommands.describeError(error) else "no version with its source in the answer"
                Messages.showErrorDialog(project, "Cannot compare ${file.name} with the cluster: $why", "Zato")
                return@onEdt
            }
            val contents = DiffContentFactory.getInstance()
            val left = contents.create(project, v.source, file.fileType)
            val document = FileDocumentManager.getInstance().getDocument(file)
            val right = if (document != null) contents.create(project, document, file) else contents.create(project, file)
            val request = SimpleDiffRequest(DiffText.windowTitle(v, file.name), left, right, DiffText.clusterTitle(v), DiffText.localTitle(file.name))
            request.putUserData(DiffUserDataKeys.FORCE_READ_ONLY_CONTENTS, booleanArrayOf(true, false))
            request.putUserData(DiffUserDataKeys.CONTEXT_ACTIONS, listOf<AnAction>(DeployAnywayAction(file, v)))
            DiffManager.getInstance().showDiff(project, request)
        }
    }

    /** The diff window's toolbar button. */
    private class DeployAnywayAction(private val file: VirtualFile, private val version: ClusterVersion) :
        AnAction("Zato: Deploy Anyway") {
        override fun actionPerformed(e: AnActionEvent) {
            val project = e.project ?: return
            deployAnyway(project, file, version.target, version)
        }
    }

    /** The project's file named after a module: one open in an editor first, else one found by name (index). */
    private fun localFile(project: Project, module: String): VirtualFile? {
        FileEditorManager.getInstance(project).openFiles.firstOrNull { it.name == module }?.let { return it }
        val found = try {
            ApplicationManager.getApplication().runReadAction(
                Computable { FilenameIndex.getVirtualFilesByName(module, GlobalSearchScope.projectScope(project)).toList() },
            )
        } catch (e: RuntimeException) {
            emptyList() // the index is not ready (dumb mode): only open files can be found
        }
        if (found.size <= 1) return found.firstOrNull()
        val paths = found.map { it.path }.sorted()
        val i = Messages.showChooseDialog(project, "Several files are named $module: compare which?", "Zato", null, paths.toTypedArray(), paths[0])
        return if (i >= 0) found.first { it.path == paths[i] } else null
    }

    private fun onEdt(project: Project, action: () -> Unit) {
        ApplicationManager.getApplication().invokeLater {
            if (!project.isDisposed) action()
        }
    }
}
