package org.zatogo.pycharm.actions

import com.intellij.notification.NotificationGroupManager
import com.intellij.notification.NotificationType
import com.intellij.openapi.actionSystem.ActionUpdateThread
import com.intellij.openapi.actionSystem.AnAction
import com.intellij.openapi.actionSystem.AnActionEvent
import com.intellij.openapi.actionSystem.CommonDataKeys
import com.intellij.openapi.application.ApplicationManager
import com.intellij.openapi.fileEditor.FileDocumentManager
import com.intellij.openapi.fileEditor.FileEditorManager
import com.intellij.openapi.project.DumbAware
import com.intellij.openapi.project.Project
import com.intellij.openapi.vfs.VirtualFile
import com.intellij.psi.PsiDocumentManager
import com.redhat.devtools.lsp4ij.LSPIJUtils
import org.zatogo.pycharm.Zato

/**
 * "Deploy to Zato": Tools menu, editor and project view pop-ups, Ctrl+Shift+L (Cmd+Shift+L on macOS), as in
 * Zato's own IDE plug-ins. Sends `zato.deploy {uri}` for each selected `.py` file: one action, one upload.
 *
 * `zato.deploy` uploads the text `zato lsp` holds for an open document (from didOpen/didChange; lsp/commands.go,
 * `documentText`), else the file on disk. So a file open in an editor, which LSP4IJ keeps in sync, is not saved:
 * a save would send didSave, which with deploy on save is an upload of its own before the command's. A file not
 * open in an editor is saved if it has unsaved changes, as the server reads it from disk; LSP4IJ sends no didSave
 * for it, since it does not sync it.
 *
 * The result arrives as `zato/deployStatus` notifications (status bar), errors as diagnostics; this action only
 * reports a command that could not be sent at all.
 */
class DeployToZatoAction : AnAction(), DumbAware {

    override fun getActionUpdateThread(): ActionUpdateThread = ActionUpdateThread.BGT

    override fun update(e: AnActionEvent) {
        e.presentation.isEnabledAndVisible = e.project != null && pythonFiles(e).isNotEmpty()
    }

    override fun actionPerformed(e: AnActionEvent) {
        val project = e.project ?: return
        val files = pythonFiles(e)
        if (files.isEmpty()) {
            return
        }
        val documents = FileDocumentManager.getInstance()
        val editors = FileEditorManager.getInstance(project)
        for (file in files) {
            val document = documents.getCachedDocument(file) ?: continue
            if (editors.isFileOpen(file)) {
                // LSP4IJ sends didChange once the document is committed: commit it now, so the last edits are
                // queued ahead of the command. That orders them in practice, not by contract: LSP4IJ writes
                // didChange from its own dispatcher thread, the command goes out once getLanguageServer completes.
                PsiDocumentManager.getInstance(project).commitDocument(document)
            } else if (documents.isDocumentUnsaved(document)) {
                documents.saveDocument(document)
            }
        }
        for (file in files) {
            val uri = LSPIJUtils.toUriAsString(file)
            ZatoCommands.deploy(project, uri).whenComplete { _, error ->
                if (error != null) {
                    notifyFailure(project, "Deploy of ${file.name} not sent: ${ZatoCommands.describeError(error)}")
                }
            }
        }
    }

    private fun pythonFiles(e: AnActionEvent): List<VirtualFile> {
        val selected = e.getData(CommonDataKeys.VIRTUAL_FILE_ARRAY)?.toList()
            ?: listOfNotNull(e.getData(CommonDataKeys.VIRTUAL_FILE))
        return selected.filter { !it.isDirectory && it.extension.equals("py", ignoreCase = true) }
    }

    private fun notifyFailure(project: Project, message: String) {
        ApplicationManager.getApplication().invokeLater {
            if (!project.isDisposed) {
                NotificationGroupManager.getInstance()
                    .getNotificationGroup(Zato.NOTIFICATION_GROUP)
                    .createNotification(message, NotificationType.ERROR)
                    .notify(project)
            }
        }
    }
}
