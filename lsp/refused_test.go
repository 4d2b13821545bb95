package lsp

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.lsp.dev/uri"
)

// TestWrongPasswordIsSaidOnceAndNotTriedAgain: the servers lock an address out after 10 failed logins, so a wrong
// password must not be sent again and again. With the cluster view open (its watch polls every clusterPoll while the
// event stream is not there) and saves made, the refused credentials are sent once; the refusal is said once ("wrong
// username or password for target default"); a save is not sent with them (unauthorized at once); Test Connection, a
// command, tries again; a new password in .zato.yaml ends it, and the view is followed again.
func TestWrongPasswordIsSaidOnceAndNotTriedAgain(t *testing.T) {
	api := newFakeAPI(t, "right")
	dir := t.TempDir()
	writeYAML(t, dir, fmt.Sprintf("url: %s\nusername: admin\npassword: wrong\n", api.URL))
	const poll = 10 * time.Millisecond
	e := newSession(t, fixture{clusterPoll: poll})
	e.initialize(dir, nil)

	refusedMessages := func(from int) int {
		n := 0
		for _, m := range e.all(from, "window/showMessage") {
			if strings.Contains(string(m.Params), "wrong username or password for target default") {
				n++
			}
		}
		return n
	}

	from := e.mark()
	e.notify(methodWatchCluster, map[string]any{"watch": true})
	e.awaitFrom(from, "window/showMessage", func(m message) bool {
		return strings.Contains(string(m.Params), "wrong username or password for target default")
	})
	// 50 polls' worth of time: nothing more reaches the server.
	time.Sleep(50 * poll)
	if n := api.refusedLogins(); n != 1 {
		t.Fatalf("the server refused %d logins while the view was open for %s, want 1 (the first)", n, 50*poll)
	}
	var view clusterViewAnswer
	if err := e.call(methodClusterView, map[string]any{}, &view); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(view.Error, "wrong username or password for target default") || api.refusedLogins() != 1 {
		t.Fatalf("the view (read %d times): %+v", api.refusedLogins(), view)
	}

	// A save is not sent with the refused password.
	path := filepath.Join(dir, "refused.py")
	from = e.mark()
	e.save(path, fmt.Sprintf(versionSvc, 1))
	st := e.awaitStatus(from, "refused.py", stateDeployed, stateFailed, stateUnauthorized, stateUnreachable)
	if st.State != stateUnauthorized || !strings.Contains(st.Message, "wrong username or password for target default") || api.refusedLogins() != 1 {
		t.Fatalf("a save after the refusal (%d refused logins): %+v", api.refusedLogins(), st)
	}
	e.sync()
	if n := refusedMessages(0); n != 1 {
		t.Fatalf("the refusal was said %d times:\n%s", n, e.dump(0))
	}

	// Test Connection is asked for: it tries again.
	var res connectionResult
	if err := e.command(cmdTestConnection, nil, &res); err != nil {
		t.Fatal(err)
	}
	if res.OK || res.State != stateUnauthorized || !strings.Contains(res.Message, "wrong username or password for target default") || api.refusedLogins() != 2 {
		t.Fatalf("test connection (%d refused logins): %+v", api.refusedLogins(), res)
	}

	// The right password in .zato.yaml: the view is followed again, with it.
	from = e.mark()
	writeYAML(t, dir, fmt.Sprintf("url: %s\nusername: admin\npassword: right\n", api.URL))
	e.notify("workspace/didChangeWatchedFiles", map[string]any{"changes": []any{
		map[string]any{"uri": string(uri.File(filepath.Join(dir, ".zato.yaml"))), "type": 2}}})
	e.awaitFrom(from, methodClusterChanged, func(m message) bool { return viaOf(m) == "poll" })
	view = clusterViewAnswer{}
	if err := e.call(methodClusterView, map[string]any{}, &view); err != nil || view.Error != "" {
		t.Fatalf("the view with the right password: %+v %v", view, err)
	}
	if api.refusedLogins() != 2 {
		t.Fatalf("%d refused logins", api.refusedLogins())
	}
}
