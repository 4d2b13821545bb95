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
        /**
         * Deploy on save: true or false when the user chose On or Off; null (Default) sends nothing, so the
         * project's `.zato.yaml` or `ZATO_DEPLOY_ON_SAVE` decides, else the language server's default (on only
         * when the project has a `.zato.yaml`).
         */
        var deployOnSave: Boolean? = null
        /**
         * Deploy on save only files carrying Zato's `# zato: ide-deploy=True` marker: true or false when the user
         * chose On or Off; null (Default) leaves it to `.zato.yaml` or `ZATO_REQUIRE_MARKER`, else off.
         */
        var requireMarker: Boolean? = null
        /** Globs of files deployed on save; empty: sent not at all, so `.zato.yaml`'s, else the server's (every .py file). */
        var include: MutableList<String> = mutableListOf()
        /**
         * Globs never deployed on save; empty: sent not at all, so `.zato.yaml`'s, else the server's (tests,
         * virtualenvs, site-packages, node_modules, `__pycache__`, dot-directories).
         */
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
