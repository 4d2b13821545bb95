package org.zatogo.pycharm.cluster

import com.google.gson.JsonObject
import com.intellij.openapi.project.Project
import com.redhat.devtools.lsp4ij.LanguageServerManager
import org.zatogo.pycharm.Zato
import org.zatogo.pycharm.actions.ZatoCommands
import org.zatogo.pycharm.lsp.ZatoLanguageServerApi
import java.util.concurrent.CompletableFuture

/** The cluster view's calls into `zato lsp` through LSP4IJ: custom requests, and commands via [ZatoCommands]. */
object ZatoCluster {

    private fun <T> withServer(project: Project, call: (ZatoLanguageServerApi) -> CompletableFuture<T>): CompletableFuture<T> =
        LanguageServerManager.getInstance(project)
            .getLanguageServer(Zato.SERVER_ID)
            .thenCompose { item ->
                val server = item?.server as? ZatoLanguageServerApi
                if (server == null) {
                    CompletableFuture.failedFuture(
                        IllegalStateException(
                            "The Zato language server is not running. Is `zato` on PATH, or set in " +
                                "Settings | Languages & Frameworks | Zato?",
                        ),
                    )
                } else {
                    call(server)
                }
            }

    fun view(project: Project): CompletableFuture<ClusterView> =
        withServer(project) { it.clusterView(JsonObject()) }.thenApply { ClusterView.fromJson(it) }

    fun history(project: Project, module: String, target: String): CompletableFuture<List<HistoryEntry>> {
        val params = JsonObject()
        params.addProperty("module", module)
        params.addProperty("target", target)
        return withServer(project) { it.moduleHistory(params) }.thenApply { ClusterView.history(it) }
    }

    /** Starts or stops `zato/clusterChanged` for this project's server (a no-op when it does not run). */
    fun watch(project: Project, on: Boolean) {
        val params = JsonObject()
        params.addProperty("watch", on)
        withServer(project) { server ->
            server.watchCluster(params)
            CompletableFuture.completedFuture(Unit)
        }
    }

    /** `zato.showClusterVersion` `{module, version, target}`: the version's source (version 0: the current one). */
    fun source(project: Project, module: String, version: Int, target: String): CompletableFuture<Any?> =
        ZatoCommands.execute(project, Zato.CMD_SHOW_CLUSTER_VERSION, listOf(arg(module, version, target)))

    fun rollback(project: Project, module: String, version: Int, target: String): CompletableFuture<Any?> =
        ZatoCommands.execute(project, Zato.CMD_ROLLBACK, listOf(arg(module, version, target)))

    fun undeploy(project: Project, module: String, target: String): CompletableFuture<Any?> =
        ZatoCommands.execute(project, Zato.CMD_UNDEPLOY, listOf(arg(module, 0, target)))

    private fun arg(module: String, version: Int, target: String): JsonObject {
        val o = JsonObject()
        o.addProperty("module", module)
        if (version > 0) o.addProperty("version", version)
        if (target.isNotEmpty()) o.addProperty("target", target)
        return o
    }
}
