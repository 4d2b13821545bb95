package org.zatogo.pycharm.settings

import com.intellij.util.messages.Topic

/** Published on the project message bus when Settings | Languages & Frameworks | Zato is applied. */
interface ZatoSettingsListener {
    fun settingsChanged()

    companion object {
        @JvmField
        val TOPIC: Topic<ZatoSettingsListener> = Topic("Zato settings", ZatoSettingsListener::class.java)
    }
}
