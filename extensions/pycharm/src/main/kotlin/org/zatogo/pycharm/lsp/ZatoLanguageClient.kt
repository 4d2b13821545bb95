package org.zatogo.pycharm.lsp

import com.google.gson.JsonObject
import com.intellij.openapi.application.ApplicationManager
import com.intellij.openapi.diagnostic.Logger
import com.intellij.openapi.project.Project
import com.redhat.devtools.lsp4ij.ServerStatus
import com.redhat.devtools.lsp4ij.client.LanguageClientImpl
import org.eclipse.lsp4j.MessageParams
import org.eclipse.lsp4j.MessageType
import org.eclipse.lsp4j.jsonrpc.services.JsonNotification
import org.zatogo.pycharm.Zato
import org.zatogo.pycharm.cluster.ZatoClusterListener
import org.zatogo.pycharm.diff.ZatoDiff
import org.zatogo.pycharm.settings.ZatoConfig
import org.zatogo.pycharm.settings.ZatoSettingsListener
import org.zatogo.pycharm.status.DeployStatus
import org.zatogo.pycharm.status.ZatoDeployStatusService

/**
 * The LSP client side of `zato lsp`.
 *
 * - Receives the custom `zato/deployStatus` notification (LSP4J finds `@JsonNotification` methods on the
 *   local service object, which LSP4IJ sets to this client) and hands it to [ZatoDeployStatusService],
 *   which publishes it on the project message bus for the status bar widget and the deployment log.
 * - Answers `workspace/configuration` for the `zato` section: LSP4IJ's `findSettings(section)` looks the
 *   section up in [createSettings], which is `{"zato": {...}}`.
 * - On a refused save (`zato/deployStatus` state `conflict`) shows a balloon with Compare with Cluster Version
 *   and Deploy Anyway ([ZatoDiff.notifyConflict]).
 * - Receives `zato/clusterChanged` and tells the Cluster tab ([ZatoClusterListener]).
 * - Sends `workspace/didChangeConfiguration` once the server has started and whenever the settings change.
 */
class ZatoLanguageClient(project: Project) : LanguageClientImpl(project) {

    private val connection = project.messageBus.connect()

    init {
        connection.subscribe(ZatoSettingsListener.TOPIC, object : ZatoSettingsListener {
            override fun settingsChanged() {
                // Reading PasswordSafe may block: never on the EDT, where Configurable.apply() runs.
                ApplicationManager.getApplication().executeOnPooledThread { pushSettings() }
            }
        })
        ZatoDeployStatusService.getInstance(project).client = this
    }

    @JsonNotification(Zato.DEPLOY_STATUS_NOTIFICATION)
    fun deployStatus(params: JsonObject) {
        val status = try {
            DeployStatus.fromJson(params)
        } catch (e: RuntimeException) {
            LOG.warn("Malformed ${Zato.DEPLOY_STATUS_NOTIFICATION} notification: $params", e)
            return
        }
        ZatoDeployStatusService.getInstance(project).publish(status)
        if (status.state == Zato.STATE_CONFLICT && !project.isDisposed) {
            ZatoDiff.notifyConflict(project, status)
        }
    }

    /** `zato/clusterChanged`: the Cluster tab reads the cluster again. */
    @JsonNotification(Zato.CLUSTER_CHANGED_NOTIFICATION)
    fun clusterChanged(@Suppress("UNUSED_PARAMETER") params: JsonObject) {
        if (!project.isDisposed) {
            project.messageBus.syncPublisher(ZatoClusterListener.TOPIC).clusterChanged(false)
        }
    }

    override fun createSettings(): Any = ZatoConfig.settings(project)

    /**
     * `zato lsp` tells editors with nothing of their own for `zato/deployStatus` (Neovim) of each finished
     * deployment with a `window/showMessage` at info level. Here the status bar widget and the deployment log show
     * it already, so those do not become balloons; warnings and errors (a failure) are shown as usual. Since the
     * plug-in declares `experimental.zato.statusUI` (ZatoConnectionProvider) the server no longer sends those info
     * messages, nor a warning for a conflict (the plug-in's own balloon has its buttons); this stays for a server
     * that does not know the capability.
     */
    override fun showMessage(messageParams: MessageParams) {
        if (messageParams.type == MessageType.Info) {
            LOG.info(messageParams.message)
            return
        }
        super.showMessage(messageParams)
    }

    override fun handleServerStatusChanged(serverStatus: ServerStatus) {
        super.handleServerStatusChanged(serverStatus)
        if (serverStatus == ServerStatus.started) {
            ApplicationManager.getApplication().executeOnPooledThread { pushSettings() }
        }
        if (!project.isDisposed) {
            // A new server knows nothing of an open Cluster tab: it asks again and says it watches.
            project.messageBus.syncPublisher(ZatoClusterListener.TOPIC).clusterChanged(true)
        }
    }

    /** Sends `workspace/didChangeConfiguration` with `{"zato": {...}}` now, on the calling thread. */
    fun pushSettings() {
        if (isDisposed) {
            return
        }
        triggerChangeConfiguration()
    }

    override fun dispose() {
        connection.disconnect()
        if (!project.isDisposed) {
            val service = ZatoDeployStatusService.getInstance(project)
            if (service.client === this) {
                service.client = null
            }
        }
        super.dispose()
    }

    private companion object {
        val LOG = Logger.getInstance(ZatoLanguageClient::class.java)
    }
}
