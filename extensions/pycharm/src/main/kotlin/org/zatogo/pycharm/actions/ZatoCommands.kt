package org.zatogo.pycharm.actions

import com.google.gson.JsonElement
import com.google.gson.JsonObject
import com.intellij.openapi.project.Project
import com.redhat.devtools.lsp4ij.LanguageServerItem
import com.redhat.devtools.lsp4ij.LanguageServerManager
import org.eclipse.lsp4j.ExecuteCommandParams
import org.zatogo.pycharm.Zato
import java.util.concurrent.CompletableFuture

/** Sends `workspace/executeCommand` to `zato lsp` through LSP4IJ (starting the server if it is not running). */
object ZatoCommands {

    fun execute(project: Project, command: String, arguments: List<Any>): CompletableFuture<Any?> =
        LanguageServerManager.getInstance(project)
            .getLanguageServer(Zato.SERVER_ID)
            .thenCompose { item: LanguageServerItem? ->
                val server = item?.server
                if (server == null) {
                    CompletableFuture.failedFuture<Any?>(
                        IllegalStateException(
                            "The Zato language server is not running. Is `zato` on PATH, or set in " +
                                "Settings | Languages & Frameworks | Zato?",
                        ),
                    )
                } else {
                    server.workspaceService
                        .executeCommand(ExecuteCommandParams(command, arguments))
                        .thenApply { result: Any? -> result }
                }
            }

    /** `zato.deploy` with `[{"uri": "file:///..."}]` (docs/architecture.md). */
    fun deploy(project: Project, uri: String): CompletableFuture<Any?> {
        val argument = JsonObject()
        argument.addProperty("uri", uri)
        return execute(project, Zato.CMD_DEPLOY, listOf(argument))
    }

    fun testConnection(project: Project): CompletableFuture<Any?> =
        execute(project, Zato.CMD_TEST_CONNECTION, emptyList())

    /** A one-line description of a command result (LSP4J hands untyped results over as Gson trees). */
    fun describe(result: Any?): String = when (result) {
        null -> "OK"
        is JsonObject -> listOf("message", "status", "state")
            .firstNotNullOfOrNull { key ->
                val el = result.get(key)
                if (el != null && el.isJsonPrimitive) el.asString else null
            } ?: result.toString()
        is JsonElement -> if (result.isJsonPrimitive) result.asString else result.toString()
        else -> result.toString()
    }

    /** The message of a failed future's cause, without CompletionException wrappers. */
    fun describeError(error: Throwable): String {
        var cause: Throwable = error
        while ((cause is java.util.concurrent.CompletionException || cause is java.util.concurrent.ExecutionException) &&
            cause.cause != null
        ) {
            cause = cause.cause!!
        }
        return cause.message ?: cause.javaClass.simpleName
    }
}
