package org.zatogo.pycharm.settings

import com.google.gson.JsonArray
import com.google.gson.JsonObject
import com.intellij.openapi.project.Project
import org.zatogo.pycharm.Zato

/**
 * Builds what `zato lsp` reads from the editor (issue 3's keys), the same object for
 * `initialize.initializationOptions` and for the `zato` section of `workspace/configuration`
 * and `workspace/didChangeConfiguration`:
 *
 * ```
 * {"url", "username", "password",            // the default target, when there is one
 *  "deployOnSave", "requireMarker",          // only when set to On or Off (not Default)
 *  "include", "exclude",                     // only when not empty
 *  "targets": {name: {url, username, password}},
 *  "defaultTarget": name}
 * ```
 *
 * The language server merges its sources with the later one winning: `.zato.yaml`, then `ZATO_*` variables,
 * then what the editor sends. So only what the user set here is sent, as the VS Code extension does
 * (`explicitValue` in extensions/vscode/src/settings.ts): a key left out keeps the `.zato.yaml` / `ZATO_*` value,
 * else the server's default (deploy on save only in a project with a `.zato.yaml`; the default globs).
 */
object ZatoConfig {

    fun section(project: Project): JsonObject {
        val state = ZatoSettings.getInstance(project).state
        val json = JsonObject()
        val targets = state.targets.filter { it.name.isNotBlank() }
        val default = targets.firstOrNull { it.isDefault } ?: targets.firstOrNull()
        if (default != null) {
            putIfNotBlank(json, "url", default.url)
            putIfNotBlank(json, "username", default.username)
            putPassword(json, ZatoPasswords.get(default.name, default.url))
        }
        state.deployOnSave?.let { json.addProperty("deployOnSave", it) }
        state.requireMarker?.let { json.addProperty("requireMarker", it) }
        globs(state.include)?.let { json.add("include", it) }
        globs(state.exclude)?.let { json.add("exclude", it) }
        if (targets.isNotEmpty()) {
            val map = JsonObject()
            for (target in targets) {
                val t = JsonObject()
                putIfNotBlank(t, "url", target.url)
                putIfNotBlank(t, "username", target.username)
                putPassword(t, ZatoPasswords.get(target.name, target.url))
                map.add(target.name.trim(), t)
            }
            json.add("targets", map)
        }
        if (default != null) {
            json.addProperty("defaultTarget", default.name.trim())
        }
        return json
    }

    /**
     * Whether [section] is `{}` for these settings (it needs no password to tell: passwords go only with targets).
     * `zato lsp` keeps the settings pushed last when a `didChangeConfiguration` brings an empty section, so when
     * the settings become empty [ZatoConfigurable.apply] restarts the server instead.
     */
    fun isEmpty(state: ZatoSettings.State): Boolean =
        state.targets.none { it.name.isNotBlank() } &&
            state.deployOnSave == null && state.requireMarker == null &&
            globs(state.include) == null && globs(state.exclude) == null

    /** `{"zato": section}`: what [org.zatogo.pycharm.lsp.ZatoLanguageClient.createSettings] returns. */
    fun settings(project: Project): JsonObject {
        val json = JsonObject()
        json.add(Zato.CONFIG_SECTION, section(project))
        return json
    }

    private fun putIfNotBlank(json: JsonObject, key: String, value: String?) {
        if (!value.isNullOrBlank()) {
            json.addProperty(key, value.trim())
        }
    }

    /** Passwords are sent as stored: no trimming. */
    private fun putPassword(json: JsonObject, value: String?) {
        if (!value.isNullOrEmpty()) {
            json.addProperty("password", value)
        }
    }

    private fun globs(list: List<String>): JsonArray? {
        val cleaned = list.map { it.trim() }.filter { it.isNotEmpty() }
        if (cleaned.isEmpty()) {
            return null
        }
        val array = JsonArray()
        cleaned.forEach { array.add(it) }
        return array
    }
}
