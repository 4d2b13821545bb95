// Checks the status bar wording (StatusText) and the zato/deployStatus parsing (DeployStatus) with real Gson.
// Run by stubcheck/run.sh; not part of the plug-in.
import com.google.gson.JsonParser
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
}
