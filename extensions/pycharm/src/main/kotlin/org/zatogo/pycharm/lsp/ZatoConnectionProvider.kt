package org.zatogo.pycharm.lsp

import com.google.gson.JsonObject
import com.intellij.execution.configurations.GeneralCommandLine
import com.intellij.execution.configurations.PathEnvironmentVariableUtil
import com.intellij.openapi.project.Project
import com.intellij.openapi.util.SystemInfo
import com.intellij.openapi.vfs.VirtualFile
import com.redhat.devtools.lsp4ij.server.OSProcessStreamConnectionProvider
import org.zatogo.pycharm.settings.ZatoConfig
import org.zatogo.pycharm.settings.ZatoSettings

/**
 * Runs `zato lsp` over stdio. The binary is the one set in Settings | Languages & Frameworks | Zato,
 * else `zato` found on PATH. The process starts in the project directory so that `zato lsp` finds
 * the workspace's `.zato.yaml`; the parent environment is the console one, so `ZATO_*` variables
 * exported in the user's shell reach the server even when the IDE was started from a desktop launcher.
 */
class ZatoConnectionProvider(private val project: Project) : OSProcessStreamConnectionProvider() {

    init {
        val commandLine = GeneralCommandLine(resolveBinary(project), "lsp")
            .withParentEnvironmentType(GeneralCommandLine.ParentEnvironmentType.CONSOLE)
        project.basePath?.let { commandLine.withWorkDirectory(it) }
        setCommandLine(commandLine)
    }

    /** Sent as `initialize.initializationOptions`: the same flat object as the `zato` configuration section. */
    override fun getInitializationOptions(rootUri: VirtualFile?): Any = ZatoConfig.section(project)

    /**
     * `initialize.capabilities.experimental`: `{"zato": {"statusUI": true}}`. The plug-in shows `zato/deployStatus`
     * itself (status bar, deployment log, and a conflict balloon with Compare with Cluster Version and Deploy Anyway),
     * so `zato lsp` sends no `window/showMessage` for a finished deployment or a conflict (failures still come).
     */
    override fun getExperimentalFeaturesPOJO(): Any {
        val zato = JsonObject()
        zato.addProperty("statusUI", true)
        val experimental = JsonObject()
        experimental.add("zato", zato)
        return experimental
    }

    companion object {
        fun resolveBinary(project: Project): String {
            val configured = ZatoSettings.getInstance(project).state.zatoPath.trim()
            if (configured.isNotEmpty()) {
                return configured
            }
            val name = if (SystemInfo.isWindows) "zato.exe" else "zato"
            return PathEnvironmentVariableUtil.findInPath(name)?.absolutePath ?: name
        }
    }
}
