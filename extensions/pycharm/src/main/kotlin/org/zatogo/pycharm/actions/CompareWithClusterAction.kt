package org.zatogo.pycharm.actions

import com.intellij.openapi.actionSystem.ActionUpdateThread
import com.intellij.openapi.actionSystem.AnAction
import com.intellij.openapi.actionSystem.AnActionEvent
import com.intellij.openapi.actionSystem.CommonDataKeys
import com.intellij.openapi.project.DumbAware
import org.zatogo.pycharm.diff.ZatoDiff

/**
 * "Zato: Compare with Cluster Version" (editor and project view pop-ups): IntelliJ's diff viewer with the cluster's
 * version of this module (read-only, left) against the file as it is in the editor (editable, right), from
 * `zato.showClusterVersion`: after a refused save, the version the save met; otherwise the current one. The diff
 * window's toolbar has Zato: Deploy Anyway (`zato.deployAnyway`).
 */
class CompareWithClusterAction : AnAction(), DumbAware {

    override fun getActionUpdateThread(): ActionUpdateThread = ActionUpdateThread.BGT

    override fun update(e: AnActionEvent) {
        val file = e.getData(CommonDataKeys.VIRTUAL_FILE)
        e.presentation.isEnabledAndVisible = e.project != null && file != null && !file.isDirectory &&
            file.extension.equals("py", ignoreCase = true)
    }

    override fun actionPerformed(e: AnActionEvent) {
        val project = e.project ?: return
        val file = e.getData(CommonDataKeys.VIRTUAL_FILE) ?: return
        ZatoDiff.compareFile(project, file)
    }
}
