package org.zatogo.pycharm.status

import com.intellij.util.messages.Topic

/** Project message bus topic carrying each `zato/deployStatus` notification to the status bar widget. */
interface ZatoStatusListener {
    fun statusChanged(status: DeployStatus)

    companion object {
        @JvmField
        val TOPIC: Topic<ZatoStatusListener> = Topic("Zato deploy status", ZatoStatusListener::class.java)
    }
}
