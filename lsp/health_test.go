package lsp

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.lsp.dev/uri"
)

// TestServerStatusFromTheStart: an editor that declares experimental.zato.serverStatus (VS Code's status bar) is
// told from the start, before any save, what state the workspace's target is in: a broken .zato.yaml (with its file
// and line), no target configured, no password, a wrong password, servers that do not answer, or all well. A
// Deploy Current File with a broken .zato.yaml is refused as a configuration problem, not reported as a deployment
// that failed.
func TestServerStatusFromTheStart(t *testing.T) {
	api := newFakeAPI(t, "right")
	closed := closedPort(t)

	start := func(t *testing.T, yaml string) (*editor, string) {
		t.Helper()
		dir := t.TempDir()
		if yaml != "" {
			writeYAML(t, dir, yaml)
		}
		e := newSession(t, fixture{})
		e.serverStatus = true
		e.initialize(dir, nil)
		return e, dir
	}
	// awaitHealth waits for a zato/serverStatus in the given state and returns it.
	type health struct{ Health, State, Target, URL, Message string }
	awaitHealth := func(t *testing.T, e *editor, state string) health {
		t.Helper()
		var h health
		e.await("zato/serverStatus", func(m message) bool { return json.Unmarshal(m.Params, &h) == nil && h.State == state })
		return h
	}

	for _, c := range []struct {
		name, yaml, state, health, says string
	}{
		{"BrokenConfig", "url: http://127.0.0.1:1\nusername: admin\npasword: x\n", "config", "error", ".zato.yaml line 3"},
		{"NoTarget", "", "unconfigured", "warning", "no Zato server configured"},
		{"NoPassword", fmt.Sprintf("url: %s\nusername: admin\n", api.URL), "noPassword", "warning", "no password for target default"},
		{"WrongPassword", fmt.Sprintf("url: %s\nusername: admin\npassword: wrong\n", api.URL), "unauthorized", "error", "wrong username or password for target default"},
		{"ServersDown", fmt.Sprintf("url: %s\nusername: admin\npassword: right\n", closed), "unreachable", "error", "Cannot reach Zato at " + closed},
		{"AllWell", fmt.Sprintf("url: %s\nusername: admin\npassword: right\n", api.URL), "ok", "ok", "target default at " + api.URL},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, _ := start(t, c.yaml)
			h := awaitHealth(t, e, c.state)
			if h.Health != c.health || !strings.Contains(h.Message, c.says) {
				t.Fatalf("zato/serverStatus %+v, want health %s saying %q", h, c.health, c.says)
			}
		})
	}

	t.Run("DeployWithBrokenConfigIsNotAFailedDeployment", func(t *testing.T) {
		e, dir := start(t, "url: http://127.0.0.1:1\nusername: admin\npasword: x\n")
		awaitHealth(t, e, "config")
		path := filepath.Join(dir, "broken_cfg.py")
		if err := os.WriteFile(path, []byte("x = 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		from := e.mark()
		err := e.command(cmdDeploy, []any{string(uri.File(path))}, nil)
		if err == nil || !strings.Contains(err.Error(), "broken_cfg.py not deployed: the configuration has an error") {
			t.Fatalf("zato.deploy: %v", err)
		}
		e.sync()
		if st := e.statuses(from, "broken_cfg.py"); len(st) != 0 {
			t.Fatalf("a deployment was reported: %+v", st)
		}
	})
}

// closedPort is the URL of a local port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return "http://" + addr
}
