package org.zatogo.pycharm.lsp

import com.intellij.openapi.project.Project
import com.intellij.openapi.vfs.VirtualFile
import com.redhat.devtools.lsp4ij.DocumentMatcher
import org.zatogo.pycharm.settings.ZatoSettings
import java.io.File

/**
 * Named by plugin.xml's `languageMapping` (`documentMatcher`): LSP4IJ starts `zato lsp` for a Python file only in a
 * project with something to deploy to — a `.zato.yaml` (or `.zato.yml`) in the project directory, a target in
 * Settings | Languages & Frameworks | Zato, or `ZATO_URL` / `ZATO_CONFIG` in the environment — and not for every
 * Python project. The same rule as the VS Code extension's (extensions/vscode/src/lifecycle.ts, shouldStart).
 */
class ZatoDocumentMatcher : DocumentMatcher {

    override fun match(file: VirtualFile, fileProject: Project): Boolean = wanted(fileProject)

    companion object {
        val CONFIG_FILES = listOf(".zato.yaml", ".zato.yml")

        fun wanted(project: Project): Boolean {
            val base = project.basePath
            if (base != null && CONFIG_FILES.any { File(base, it).isFile }) {
                return true
            }
            if (ZatoSettings.getInstance(project).state.targets.any { it.url.isNotBlank() }) {
                return true
            }
            return !System.getenv("ZATO_URL").isNullOrBlank() || !System.getenv("ZATO_CONFIG").isNullOrBlank()
        }
    }
}
