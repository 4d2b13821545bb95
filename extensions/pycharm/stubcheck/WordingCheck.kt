// Checks the status bar wording (StatusText), the zato/deployStatus parsing (DeployStatus) and the Cluster tab's
// parsing of zato/clusterView and wording (ClusterView, ClusterText), and the diff's parsing of zato.showClusterVersion
// and wording (ClusterVersion, DiffText) with real Gson.
// Run by stubcheck/run.sh; not part of the plug-in.
import com.google.gson.JsonParser
import org.zatogo.pycharm.cluster.ClusterText
import org.zatogo.pycharm.cluster.ClusterView
import org.zatogo.pycharm.diff.ClusterVersion
import org.zatogo.pycharm.diff.DiffText
import org.zatogo.pycharm.status.DeployStatus
import org.zatogo.pycharm.status.StatusText

fun st(json: String) = DeployStatus.fromJson(JsonParser.parseString(json).asJsonObject)

fun expect(got: String, want: String) {
    println((if (got == want) "PASS " else "FAIL ") + "got=" + got + (if (got == want) "" else "  want=" + want))
    if (got != want) kotlin.system.exitProcess(1)
}

fun main() {
    expect(StatusText.text(null), "Zato")
    expect(StatusText.text(st("""{"uri":"file:///w/x.py","module":"x.py","deploymentId":12,"target":"default","state":"propagating","confirmed":1,"expected":2,"servers":[{"name":"server1","status":"deployed","services":["x.svc"],"error":null},{"name":"server2","status":"pending","services":[],"error":null}],"elapsedMs":4.2,"message":"1/2 servers"}""")), "Zato: x.py 1/2")
    expect(StatusText.text(st("""{"uri":"file:///w/x.py","module":"x.py","deploymentId":12,"target":"default","state":"deployed","confirmed":2,"expected":2,"servers":[],"elapsedMs":12.5,"message":"x.py deployed to 2/2 servers in 12 ms"}""")), "Zato: x.py 2/2")
    expect(StatusText.text(st("""{"uri":"file:///w/x.py","module":"x.py","state":"partial","confirmed":1,"expected":2,"servers":[{"name":"server1","status":"deployed","services":["x.svc"]},{"name":"server2","status":"offline","services":[]}]}""")), "Zato: x.py 1/2 · server2 offline")
    expect(StatusText.text(st("""{"uri":"file:///w/x.py","module":"x.py","state":"failed","confirmed":0,"expected":2,"servers":[{"name":"server1","status":"failed","error":{"type":"SyntaxError","message":"invalid syntax","line":3,"column":5,"traceback":"Traceback..."}}]}""")), "Zato: x.py failed")
    expect(StatusText.text(st("""{"uri":"file:///w/y.py","state":"unreachable","confirmed":0,"expected":0,"servers":[]}""")), "Zato: y.py unreachable")
    expect(StatusText.text(st("""{"uri":"file:///w/x.py","module":"x.py","state":"queued","confirmed":0,"expected":0}""")), "Zato: x.py")
    val failed = st("""{"uri":"file:///w/x.py","module":"x.py","deploymentId":7,"target":"default","state":"failed","confirmed":0,"expected":1,"servers":[{"name":"server1","status":"failed","services":[],"error":{"type":"SyntaxError","message":"invalid <syntax>","line":3,"column":5,"traceback":null}}],"elapsedMs":8.0,"message":"x.py failed on server1"}""")
    println(StatusText.tooltip(failed))
    expect(StatusText.serverLine(failed.servers[0]), "server1: failed · SyntaxError at line 3, column 5: invalid <syntax>")

    // The Cluster tab: an answer of zato/clusterView as lsp/clusterview.go writes it.
    val view = ClusterView.fromJson(JsonParser.parseString("""{"target":"default","url":"http://127.0.0.1:17010","summary":"1/2 servers live, 2 modules","at":"2026-11-30T08:31:05Z",
      "servers":[{"name":"server1","url":"http://127.0.0.1:17010","state":"live"},{"name":"server2","url":"http://127.0.0.1:17011","state":"offline"}],
      "modules":[{"name":"crm.py","version":3,"sha256":"ab","deployed":true,"deploymentId":7,"who":"alice","origin":"ide","createdAt":"2026-11-30T08:31:02Z","status":"partial","outcome":"deployed on 1 of 2 servers; server2 failed","uri":"zato-cluster:/default/crm.py?version=3",
                  "servers":[{"name":"server1","status":"deployed","state":"live"},{"name":"server2","status":"failed","state":"live","error":{"type":"SyntaxError","message":"invalid syntax","line":3}}]},
                 {"name":"old.py","version":0,"sha256":"","deployed":false,"deploymentId":9,"who":"bob","origin":"api","createdAt":"2026-11-30T09:00:00Z","status":"undeployed","outcome":"undeployed from every server (2/2)","servers":[]}]}""").asJsonObject)
    expect(ClusterText.servers(view), "Servers · 1/2 live · default")
    expect(ClusterText.server(view.servers[1]), "server2 · offline")
    expect(ClusterText.modules(view), "Modules · 2")
    expect(ClusterText.module(view.modules[0]), "crm.py  v3 · alice (ide) · deployed on 1 of 2 servers; server2 failed")
    expect(ClusterText.row(view.modules[0].servers[1]), "server2 · failed: SyntaxError: invalid syntax (line 3)")
    expect(ClusterText.module(view.modules[1]), "old.py  undeployed · bob (api) · undeployed from every server (2/2)")
    val unreachable = ClusterView.fromJson(JsonParser.parseString("""{"target":"default","url":"http://x","error":"Cannot reach Zato at http://x: connection refused","servers":[],"modules":[]}""").asJsonObject)
    expect(unreachable.error, "Cannot reach Zato at http://x: connection refused")
    val history = ClusterView.history(JsonParser.parseString("""{"module":"crm.py","target":"default","current":2,"versions":[{"version":2,"current":true,"label":"version 2 by alice (ide) at 2026-11-30 08:31:02 UTC"},{"version":1,"current":false,"label":"version 1 by bob (cli) at 2026-11-29 08:00:00 UTC"}]}""").asJsonObject)
    expect(history.joinToString("; ") { "${it.version}${if (it.current) "*" else ""}" }, "2*; 1")
    expect(ClusterView.message(JsonParser.parseString("""{"message":"crm.py rolled back to version 1: deployed on every server (2/2)","ok":true}""").asJsonObject), "crm.py rolled back to version 1: deployed on every server (2/2)")

    // The diff: zato.showClusterVersion's answers as lsp/conflict.go and lsp/clusterview.go write them (Go's time.Time
    // in JSON is RFC 3339 with nanoseconds).
    val conflict = ClusterVersion.fromJson(JsonParser.parseString("""{"module":"crm.py","target":"default","uri":"zato-cluster:/default/crm.py?version=5","version":5,"sha256":"ab12","who":"alice","origin":"ide","createdAt":"2026-11-30T08:31:02.123456789Z","source":"# v5\nfrom zato.server.service import Service\n","title":"crm.py: cluster version 5 (alice (ide)) ↔ crm.py"}""").asJsonObject)!!
    expect("${conflict.module} v${conflict.version} ${conflict.sha256} ${conflict.source.lines().first()}", "crm.py v5 ab12 # v5")
    expect(DiffText.clusterTitle(conflict), "Cluster default: crm.py version 5 by alice (ide) at 2026-11-30 08:31:02 UTC (read-only)")
    expect(DiffText.localTitle("crm.py"), "Local: crm.py (editor, editable)")
    expect(DiffText.windowTitle(conflict, "crm.py"), "crm.py: cluster version 5 (alice (ide)) ↔ crm.py")
    expect(DiffText.deployAnywayQuestion("crm.py", conflict), "Deploy crm.py as it is in the editor over version 5 by alice (ide) on default?")
    expect(DiffText.deployAnywayQuestion("crm.py", null), "Deploy crm.py as it is in the editor, over whatever version the cluster has?")
    // A version from the cluster view (offset time, no who), and the fallbacks.
    val old = ClusterVersion.fromJson(JsonParser.parseString("""{"module":"crm.py","target":"","version":2,"who":"","origin":"pickup","createdAt":"2026-11-30T10:31:02+02:00","source":"","title":""}""").asJsonObject)!!
    expect(DiffText.clusterTitle(old), "Cluster: crm.py version 2 by someone (pickup) at 2026-11-30 08:31:02 UTC (read-only)")
    expect(DiffText.windowTitle(old, "crm.py"), "crm.py: cluster version 2 (someone (pickup)) ↔ crm.py")
    expect(DiffText.time("0001-01-01T00:00:00Z"), "")
    expect(DiffText.time("not a time"), "not a time")
    // Not a version: an error-shaped or sourceless answer gives nothing to compare.
    expect((ClusterVersion.fromJson(JsonParser.parseString("""{"module":"crm.py","version":3}""").asJsonObject) == null).toString(), "true")
    expect((ClusterVersion.fromJson(JsonParser.parseString("\"OK\"")) == null).toString(), "true")
    expect((ClusterVersion.fromJson(null) == null).toString(), "true")
    // The refused save the balloon is raised for.
    val refused = st("""{"uri":"file:///w/crm.py","module":"crm.py","deploymentId":0,"target":"default","state":"conflict","confirmed":0,"expected":0,"servers":[],"message":"crm.py not deployed: version 5 on the cluster was deployed by alice (ide) at 2026-11-30 08:31:02 UTC, after the version this file started from. Show the cluster's version to compare, or deploy anyway."}""")
    expect("${refused.state} ${refused.target} ${refused.uri}", "conflict default file:///w/crm.py")
}
