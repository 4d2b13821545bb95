package org.zatogo.pycharm.lsp

import com.google.gson.JsonElement
import com.google.gson.JsonObject

// Lenient reads of the language server's JSON answers, shared by the status widget, the cluster view and the diff: a
// field that is missing, null or of another type reads as empty, so an older or newer server never breaks the UI.

internal fun JsonObject.present(key: String): JsonElement? {
    val el = get(key) ?: return null
    return if (el.isJsonNull) null else el
}

internal fun JsonObject.string(key: String): String {
    val el = present(key) ?: return ""
    return if (el.isJsonPrimitive) el.asString else ""
}

internal fun JsonObject.number(key: String): Number? {
    val el = present(key) ?: return null
    return if (el.isJsonPrimitive && el.asJsonPrimitive.isNumber) el.asNumber else null
}

internal fun JsonObject.int(key: String): Int = number(key)?.toInt() ?: 0

internal fun JsonObject.bool(key: String): Boolean {
    val el = present(key) ?: return false
    return el.isJsonPrimitive && el.asJsonPrimitive.isBoolean && el.asBoolean
}

internal fun JsonObject.array(key: String): List<JsonElement> {
    val el = present(key) ?: return emptyList()
    return if (el.isJsonArray) el.asJsonArray.toList() else emptyList()
}

internal fun JsonObject.obj(key: String): JsonObject? {
    val el = present(key) ?: return null
    return if (el.isJsonObject) el.asJsonObject else null
}

internal fun JsonObject.objects(key: String): List<JsonObject> =
    array(key).mapNotNull { if (it.isJsonObject) it.asJsonObject else null }
