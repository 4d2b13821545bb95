package org.zatogo.pycharm

/**
 * Identifiers shared by plugin.xml and the code. plugin.xml repeats them as literals;
 * extensions/pycharm/pluginxml_test.go checks that both sides agree.
 */
object Zato {
    /** LSP4IJ server id: `<server id="zato">` and `<languageMapping serverId="zato">` in plugin.xml. */
    const val SERVER_ID = "zato"

    /** Status bar widget id: `<statusBarWidgetFactory id="ZatoDeployStatus">` in plugin.xml. */
    const val WIDGET_ID = "ZatoDeployStatus"

    /** Tool window holding the deployment log: `<toolWindow id="Zato">` in plugin.xml. */
    const val TOOL_WINDOW_ID = "Zato"

    /** Notification group: `<notificationGroup id="Zato">` in plugin.xml. */
    const val NOTIFICATION_GROUP = "Zato"

    /** The custom notification sent by `zato lsp` at every change of a deployment (docs/architecture.md). */
    const val DEPLOY_STATUS_NOTIFICATION = "zato/deployStatus"

    /** workspace/executeCommand commands served by `zato lsp`. */
    const val CMD_DEPLOY = "zato.deploy"
    const val CMD_TEST_CONNECTION = "zato.testConnection"
    const val CMD_SHOW_CLUSTER_VERSION = "zato.showClusterVersion"
    const val CMD_DEPLOY_ANYWAY = "zato.deployAnyway"
    const val CMD_ROLLBACK = "zato.rollback"
    const val CMD_UNDEPLOY = "zato.undeploy"

    /** The cluster view's custom requests and notifications (docs/architecture.md). */
    const val CLUSTER_VIEW_REQUEST = "zato/clusterView"
    const val MODULE_HISTORY_REQUEST = "zato/moduleHistory"
    const val WATCH_CLUSTER_NOTIFICATION = "zato/watchCluster"
    const val CLUSTER_CHANGED_NOTIFICATION = "zato/clusterChanged"

    /** The state of a `zato/deployStatus` for a save the cluster refused (someone else deployed another version). */
    const val STATE_CONFLICT = "conflict"

    /** The workspace/configuration section read by `zato lsp`. */
    const val CONFIG_SECTION = "zato"
}
