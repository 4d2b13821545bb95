package org.zatogo.pycharm.lsp

import com.google.gson.JsonObject
import org.eclipse.lsp4j.jsonrpc.services.JsonNotification
import org.eclipse.lsp4j.jsonrpc.services.JsonRequest
import org.eclipse.lsp4j.services.LanguageServer
import org.zatogo.pycharm.Zato
import java.util.concurrent.CompletableFuture

/**
 * `zato lsp` as LSP4J sees it: the standard server plus the cluster view's custom requests (docs/architecture.md).
 * [ZatoLanguageServerFactory.getServerInterface] hands it to LSP4IJ, so that `LanguageServerItem.server` is a proxy
 * of this interface.
 */
interface ZatoLanguageServerApi : LanguageServer {
    /** `zato/clusterView` `{"target"}`: servers and modules (see ClusterView.fromJson). */
    @JsonRequest(Zato.CLUSTER_VIEW_REQUEST)
    fun clusterView(params: JsonObject): CompletableFuture<JsonObject>

    /** `zato/moduleHistory` `{"module", "target"}`: the module's versions, newest first. */
    @JsonRequest(Zato.MODULE_HISTORY_REQUEST)
    fun moduleHistory(params: JsonObject): CompletableFuture<JsonObject>

    /** `zato/watchCluster` `{"watch"}`: while on, `zato/clusterChanged` comes when what the view shows changed. */
    @JsonNotification(Zato.WATCH_CLUSTER_NOTIFICATION)
    fun watchCluster(params: JsonObject)
}
