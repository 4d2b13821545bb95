package org.zatogo.pycharm.settings

import com.intellij.openapi.components.PersistentStateComponent
import com.intellij.openapi.components.State
import com.intellij.openapi.components.Storage
import com.intellij.openapi.project.Project

/**
 * Project settings (registered in plugin.xml as a projectService), stored in `.idea/zato.xml`.
 * Passwords are not here: they live in the IDE's PasswordSafe ([ZatoPasswords]).
 */
@State(name = "ZatoSettings", storages = [Storage("zato.xml")])
class ZatoSettings : PersistentStateComponent<ZatoSettings.State> {

    /** One deployment target: a Zato cluster reached through one of its servers. */
    class Target(
        var name: String = "",
        var url: String = "",
        var username: String = "",
        var isDefault: Boolean = false,
    ) {
        fun copy(): Target = Target(name, url, username, isDefault)
    }

    class State {
        /** Path to the `zato` binary; empty: `zato` found on PATH. */
        var zatoPath: String = ""
        var deployOnSave: Boolean = true
        /** Deploy on save only files carrying Zato's `# zato: ide-deploy=True` marker. */
        var requireMarker: Boolean = false
        /** Globs of files deployed on save; empty: the language server's default (all .py files). */
        var include: MutableList<String> = mutableListOf()
        /** Globs never deployed on save; empty: the language server's default (tests, virtualenvs, dot-directories). */
        var exclude: MutableList<String> = mutableListOf()
        var targets: MutableList<Target> = mutableListOf()
    }

    private var myState = State()

    override fun getState(): State = myState

    override fun loadState(state: State) {
        myState = state
    }

    companion object {
        fun getInstance(project: Project): ZatoSettings = project.getService(ZatoSettings::class.java)
    }
}
