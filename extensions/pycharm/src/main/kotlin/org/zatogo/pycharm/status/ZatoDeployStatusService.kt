package org.zatogo.pycharm.status

import com.intellij.openapi.project.Project
import org.zatogo.pycharm.log.ZatoDeployLog
import org.zatogo.pycharm.lsp.ZatoLanguageClient

/**
 * Project service (registered in plugin.xml) keeping the last `zato/deployStatus` notification and
 * publishing each one on the project message bus ([ZatoStatusListener.TOPIC]) and in the deployment log.
 */
class ZatoDeployStatusService(private val project: Project) {

    @Volatile
    var last: DeployStatus? = null
        private set

    /** The running language client, if any: lets Settings push the configuration before a connection test. */
    @Volatile
    var client: ZatoLanguageClient? = null

    fun publish(status: DeployStatus) {
        last = status
        ZatoDeployLog.getInstance(project).record(status)
        if (!project.isDisposed) {
            project.messageBus.syncPublisher(ZatoStatusListener.TOPIC).statusChanged(status)
        }
    }

    companion object {
        fun getInstance(project: Project): ZatoDeployStatusService =
            project.getService(ZatoDeployStatusService::class.java)
    }
}
