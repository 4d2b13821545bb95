package lsp

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.lsp.dev/uri"

	"github.com/zato-go/zato/internal/testenv"
)

// Issue 13 end to end: the language server talks to any live server of the client file's servers: when its url
// does not answer, at the first request and when the server it used stops answering mid-session.

// addedClass is a second service of lsp_fallback.py: only a listing made after it was deployed knows it.
const addedClass = `

class Added(Service):
    def handle(self):
        self.response.payload = {'added': True, 'server': self.server_name}
`

// fallbackCaller invokes a service whose name is being typed: completion at the end of line 5.
const fallbackCaller = `from zato.server.service import Service


class Caller(Service):
    def handle(self):
        self.invoke('lsp-fallback.')
`

// clientFileWorkspace is a temp folder whose .zato.yaml is the environment's zato-client.yaml: url (server1),
// credentials and servers:.
func clientFileWorkspace(t *testing.T, c *testenv.Cluster) string {
	t.Helper()
	b, err := os.ReadFile(c.ClientConfig)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeYAML(t, dir, string(b))
	return dir
}

// completionLabels asks for completion at a position and returns the items' labels.
func (e *editor) completionLabels(u string, line, char int) []string {
	e.t.Helper()
	var list struct{ Items []struct{ Label string } }
	if err := e.call("textDocument/completion", map[string]any{"textDocument": map[string]any{"uri": u},
		"position": map[string]any{"line": line, "character": char}}, &list); err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, it := range list.Items {
		out = append(out, it.Label)
	}
	return out
}

// serverStatuses maps each server of a deployment status to its row's status.
func serverStatuses(st deployStatus) map[string]string {
	out := map[string]string{}
	for _, s := range st.Servers {
		out[s.Name] = s.Status
	}
	return out
}

func TestE2EFallback(t *testing.T) {
	c := testenv.StartCluster(t, testenv.Options{})
	s1, s2 := c.Server(t, "server1"), c.Server(t, "server2")
	dir := clientFileWorkspace(t, c)
	path := filepath.Join(dir, "lsp_fallback.py")
	u := string(uri.File(path))
	caller := filepath.Join(dir, "lsp_fallback_caller.py")
	cu := string(uri.File(caller))
	callerLine, callerChar := 5, len("        self.invoke('lsp-fallback.")
	finals := []string{stateDeployed, stateFailed, statePartial, stateUnauthorized}

	// The invoke answer's fields the test reads.
	type invoked struct {
		Server   string
		Status   int
		Response struct {
			Version int
			Server  string
		}
	}

	// Server1KilledMidSession: a session deploys to both servers through server1, its url; server1 dies.
	e := newSession(t, fixture{})
	e.initialize(dir, nil)
	e.open(path, fmt.Sprintf(versionSvc, 1))
	from := e.mark()
	e.save(path, fmt.Sprintf(versionSvc, 1))
	if st := e.awaitStatus(from, "lsp_fallback.py", finals...); st.State != stateDeployed || st.Confirmed != 2 {
		t.Fatalf("%+v\n%s", st, e.dump(from))
	}
	e.open(caller, fallbackCaller)
	if got := e.completionLabels(cu, callerLine, callerChar); !slices.Contains(got, "lsp-fallback.get-version") || slices.Contains(got, "lsp-fallback.added") {
		t.Fatalf("completion before: %v", got)
	}

	c.Kill(t, "server1")
	// The next save goes to server2 at once: no unreachable state, no error shown; server1's row goes offline when
	// its heartbeat stops.
	v2 := fmt.Sprintf(versionSvc, 2) + addedClass
	e.notify("textDocument/didChange", map[string]any{"textDocument": map[string]any{"uri": u, "version": 2},
		"contentChanges": []any{map[string]any{"text": v2}}})
	from = e.mark()
	e.save(path, v2)
	st := e.awaitStatus(from, "lsp_fallback.py", finals...)
	if by := serverStatuses(st); st.State != statePartial || st.Confirmed != 1 || by["server2"] != "deployed" || by["server1"] != "offline" {
		t.Fatalf("%+v\n%s", st, e.dump(from))
	}
	for _, x := range e.statuses(from, "lsp_fallback.py") {
		if x.State == stateUnreachable {
			t.Fatalf("the save met an unreachable server:\n%s", e.dump(from))
		}
	}
	// The one message shown is the partial deployment's warning (server1 offline), not an error.
	for _, m := range e.all(from, "window/showMessage") {
		if !strings.Contains(string(m.Params), "deployed to 1/2 servers") {
			t.Fatalf("a message was shown:\n%s", e.dump(from))
		}
	}
	// The editor is told which server answers now, at info level, and the upload's status names its URL.
	msg := e.awaitLog("does not answer; target default now uses")
	if want := fmt.Sprintf("Zato: server1 (%s) does not answer; target default now uses server2 (%s)", s1.URL, s2.URL); msg != want {
		t.Fatalf("log %q, want %q", msg, want)
	}
	if !slices.ContainsFunc(e.statuses(from, "lsp_fallback.py"), func(x deployStatus) bool {
		return x.State == stateUploading && strings.Contains(x.Message, s2.URL)
	}) {
		t.Fatalf("no upload to %s:\n%s", s2.URL, e.dump(from))
	}
	if v := versionOn(t, c, s2, "lsp-fallback.get-version"); v != 2 {
		t.Fatalf("server2 serves version %d", v)
	}
	// The service listing comes from server2 now: the new class gets its Invoke lens, and completion offers it.
	e.awaitLenses(path, func(ls []lens) bool { return countTitle(ls, "Invoke") == 2 })
	if got := e.completionLabels(cu, callerLine, callerChar); !slices.Contains(got, "lsp-fallback.added") {
		t.Fatalf("completion after the switch: %v", got)
	}
	var res invoked
	e.invoke(cmdInvoke, map[string]any{"uri": u, "service": "lsp-fallback.get-version", "payload": map[string]any{}}, &res)
	if res.Status != 200 || res.Server != "server2" || res.Response.Version != 2 || res.Response.Server != "server2" {
		t.Fatalf("%+v", res)
	}

	// StartWithServer1Down: server1 is still down; a new session dials server2 from its first request.
	e2 := newSession(t, fixture{})
	e2.initialize(dir, nil)
	e2.open(caller, fallbackCaller)
	// Completion's first listing comes from server2.
	if got := e2.completionLabels(cu, callerLine, callerChar); !slices.Contains(got, "lsp-fallback.added") {
		t.Fatalf("completion: %v", got)
	}
	e2.awaitLog(fmt.Sprintf("Zato: server1 (%s) does not answer; target default now uses server2 (%s)", s1.URL, s2.URL))
	v3 := fmt.Sprintf(versionSvc, 3) + addedClass
	e2.open(path, v3)
	from = e2.mark()
	e2.save(path, v3)
	st = e2.awaitStatus(from, "lsp_fallback.py", finals...)
	if by := serverStatuses(st); st.State != statePartial || by["server2"] != "deployed" || by["server1"] != "offline" {
		t.Fatalf("%+v\n%s", st, e2.dump(from))
	}
	res = invoked{}
	e2.invoke(cmdInvoke, map[string]any{"uri": u, "service": "lsp-fallback.get-version", "payload": map[string]any{}}, &res)
	if res.Status != 200 || res.Server != "server2" || res.Response.Version != 3 {
		t.Fatalf("%+v", res)
	}

	// EveryServerDown: server2 dies too. A save says so and waits its first backoff step (1 s), with no word of
	// going back to server1, which does not answer either.
	c.Kill(t, "server2")
	from = e2.mark()
	e2.save(path, fmt.Sprintf(versionSvc, 4)+addedClass)
	down := e2.awaitStatus(from, "lsp_fallback.py", stateUnreachable)
	if !strings.Contains(down.Message, "Trying again in 1s") {
		t.Fatalf("every server down: %+v\n%s", down, e2.dump(from))
	}
	e2.awaitLog(fmt.Sprintf("Zato: server2 (%s) does not answer, nor does any other server of target default", s2.URL))
	for _, m := range e2.all(from, "window/logMessage") {
		if strings.Contains(string(m.Params), "goes back to its url") {
			t.Fatalf("with every server down: %s", m.Params)
		}
	}

	// InvokeAfterTheServerDies: server1 is back; the save waiting for its next try, and an invoke, go to server1
	// (the invoke never reached server2, so the service runs once).
	c.Start(t, "server1")
	from = e2.mark()
	res = invoked{}
	e2.invoke(cmdInvoke, map[string]any{"uri": u, "service": "lsp-fallback.get-version", "payload": map[string]any{}}, &res)
	if res.Status != 200 || res.Server != "server1" || res.Response.Server != "server1" {
		t.Fatalf("%+v\n%s", res, e2.dump(from))
	}
	e2.awaitLog(fmt.Sprintf("Zato: server2 (%s) does not answer; target default goes back to its url, server1 (%s)", s2.URL, s1.URL))
}
