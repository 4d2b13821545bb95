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
 *  "deployOnSave", "requireMarker",          // always
 *  "include", "exclude",                     // only when set: else the server's defaults apply
 *  "targets": {name: {url, username, password}},
 *  "defaultTarget": name}
 * ```
 *
 * Keys the user left empty are left out, so a workspace `.zato.yaml` or `ZATO_*` variables still apply
 * (the server merges sources with the later one winning).
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
        json.addProperty("deployOnSave", state.deployOnSave)
        json.addProperty("requireMarker", state.requireMarker)
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
