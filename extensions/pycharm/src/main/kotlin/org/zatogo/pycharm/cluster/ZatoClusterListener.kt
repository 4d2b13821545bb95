package org.zatogo.pycharm.cluster

import com.intellij.util.messages.Topic

/** Tells the Cluster tab to read the cluster again: `zato/clusterChanged`, or a (re)started language server. */
interface ZatoClusterListener {
    /** [serverStarted]: a new language server, which must be told again that the tab watches. */
    fun clusterChanged(serverStarted: Boolean)

    companion object {
        @JvmField
        val TOPIC: Topic<ZatoClusterListener> = Topic("Zato cluster changed", ZatoClusterListener::class.java)
    }
}
