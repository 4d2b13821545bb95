package lsp

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"go.lsp.dev/uri"

	"github.com/zato-go/zato/internal/testenv"
)

// TestLSP4IJSession replays what PyCharm sends through LSP4IJ (issue 6): its initialize parameters
// (testdata/lsp4ij/initialize.json, the capabilities of LSP4IJ's ClientCapabilitiesFactory and the plug-in's
// initializationOptions), initialized, the plug-in's didChangeConfiguration push, didOpen, didSave with the text,
// and executeCommand zato.deploy. It checks the zato/deployStatus notifications the status bar widget reads
// (extensions/pycharm/.../status/DeployStatus.kt).
func TestLSP4IJSession(t *testing.T) {
	c := testenv.StartCluster(t, testenv.Options{})
	dir := t.TempDir() // no .zato.yaml: PyCharm's settings are the only configuration

	// The plug-in's ZatoConfig.section(): the default target's keys at the top and every target by name.
	section := map[string]any{
		"url": c.URL, "username": c.Username, "password": c.Password, "deployOnSave": true, "requireMarker": false,
		"targets":       map[string]any{"local": map[string]any{"url": c.URL, "username": c.Username, "password": c.Password}},
		"defaultTarget": "local",
	}
	raw, err := os.ReadFile(filepath.Join("testdata", "lsp4ij", "initialize.json"))
	if err != nil {
		t.Fatal(err)
	}
	var params map[string]any
	if err := json.Unmarshal(raw, &params); err != nil {
		t.Fatal(err)
	}
	folder := string(uri.File(dir))
	params["processId"] = os.Getpid()
	params["rootPath"], params["rootUri"] = dir, folder
	params["workspaceFolders"] = []any{map[string]any{"uri": folder, "name": filepath.Base(dir)}}
	params["initializationOptions"] = section

	// LSP4IJ's findSettings("zato") answers workspace/configuration with the section itself.
	e := newSession(t, fixture{settings: section})
	var init struct {
		Capabilities struct {
			TextDocumentSync struct {
				OpenClose bool
				Change    int
				Save      struct{ IncludeText bool }
			}
			HoverProvider          bool
			CodeLensProvider       *struct{}
			ExecuteCommandProvider struct{ Commands []string }
		}
		ServerInfo struct{ Name string }
	}
	b, _ := json.Marshal(params)
	if err := e.call("initialize", json.RawMessage(b), &init); err != nil {
		t.Fatal(err)
	}
	caps := init.Capabilities
	if !caps.TextDocumentSync.OpenClose || caps.TextDocumentSync.Change != 1 || !caps.TextDocumentSync.Save.IncludeText ||
		!caps.HoverProvider || caps.CodeLensProvider == nil {
		t.Fatalf("capabilities %+v", caps)
	}
	for _, cmd := range []string{cmdDeploy, cmdTestConnection, cmdToggle, cmdShowStatus} {
		if !slices.Contains(caps.ExecuteCommandProvider.Commands, cmd) {
			t.Fatalf("command %s missing from %v", cmd, caps.ExecuteCommandProvider.Commands)
		}
	}
	e.notify("initialized", map[string]any{})
	// LSP4IJ advertises dynamic registration of didChangeConfiguration: the server registers, then pulls.
	e.await("client/registerCapability", func(m message) bool {
		var p struct{ Registrations []struct{ Method string } }
		return json.Unmarshal(m.Params, &p) == nil && len(p.Registrations) == 2 && p.Registrations[0].Method == "workspace/didChangeConfiguration" &&
			p.Registrations[1].Method == "workspace/didChangeWatchedFiles"
	})
	e.await("workspace/configuration", func(message) bool { return true })
	e.awaitLog("Zato: target local at " + c.URL)
	// ZatoLanguageClient pushes {"zato": section} once the server has started.
	e.notify("workspace/didChangeConfiguration", map[string]any{"settings": map[string]any{"zato": section}})

	path := filepath.Join(dir, "crm_lsp4ij.py")
	src := fmt.Sprintf(versionSvc, 1)
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	e.open(path, src)
	from := e.mark()
	e.save(path, src)
	first := e.awaitStatus(from, "crm_lsp4ij.py", stateDeployed, stateFailed, statePartial, stateUnreachable, stateUnauthorized)
	checkWidgetStatuses(t, e, from, "crm_lsp4ij.py", path)
	if first.State != stateDeployed || first.Target != "local" || first.Confirmed != 2 || first.Expected != 2 {
		t.Fatalf("%+v", first)
	}

	// Deploy to Zato (ctrl+shift+L): zato.deploy with [{"uri": ...}] after the plug-in saved the file.
	from = e.mark()
	src = fmt.Sprintf(versionSvc, 2)
	e.save(path, src)
	e.awaitSettled(from, "crm_lsp4ij.py", src)
	command := e.mark()
	var res map[string]string
	if err := e.command(cmdDeploy, []any{map[string]any{"uri": string(uri.File(path))}}, &res); err != nil {
		t.Fatal(err)
	}
	if res["module"] != "crm_lsp4ij.py" || res["state"] != stateQueued || res["target"] != "local" {
		t.Fatalf("zato.deploy answered %v", res)
	}
	e.awaitSettled(command, "crm_lsp4ij.py", src)
	checkWidgetStatuses(t, e, from, "crm_lsp4ij.py", path)
	sts := e.statuses(from, "crm_lsp4ij.py")
	last := sts[len(sts)-1]
	if last.State != stateDeployed || last.DeploymentID <= first.DeploymentID {
		t.Fatalf("after zato.deploy: %+v", last)
	}
	for _, s := range c.Servers {
		if v := versionOn(t, c, s, "crm-lsp4ij.get-version"); v != 2 {
			t.Fatalf("%s serves version %d", s.Name, v)
		}
	}
	// LSP4IJ shows progress itself, and the plug-in declares experimental.zato.statusUI (it shows zato/deployStatus
	// in its status bar widget, its deployment log and its conflict notification): a successful deployment pops
	// nothing up.
	if len(e.all(0, "window/workDoneProgress/create")) == 0 || len(e.all(0, "$/progress")) == 0 {
		t.Fatal("no $/progress for an editor that supports it")
	}
	if shown := e.all(0, "window/showMessage"); len(shown) > 0 {
		t.Fatalf("shown after successful deployments: %s", shown[0].Params)
	}
}

// checkWidgetStatuses checks every zato/deployStatus since from has the keys and values DeployStatus.fromJson reads.
func checkWidgetStatuses(t *testing.T, e *editor, from int, module, path string) {
	t.Helper()
	msgs := e.all(from, statusMethod)
	if len(msgs) < 2 {
		t.Fatalf("want the progress and the result, got %d statuses", len(msgs))
	}
	states := []string{stateQueued, stateUploading, statePropagating, stateDeployed, statePartial, stateFailed, stateUnreachable, stateUnauthorized, stateAccepted}
	for _, m := range msgs {
		var o map[string]any
		if err := json.Unmarshal(m.Params, &o); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"uri", "module", "deploymentId", "target", "state", "confirmed", "expected", "servers", "elapsedMs", "message"} {
			if _, ok := o[k]; !ok {
				t.Fatalf("%s lacks %q: %s", statusMethod, k, m.Params)
			}
		}
		if o["uri"] != string(uri.File(path)) || o["module"] != module || !slices.Contains(states, o["state"].(string)) {
			t.Fatalf("bad status %s", m.Params)
		}
		servers, ok := o["servers"].([]any)
		if !ok {
			t.Fatalf("servers is not an array: %s", m.Params)
		}
		for _, s := range servers {
			row := s.(map[string]any)
			for _, k := range []string{"name", "status", "services", "error"} {
				if _, ok := row[k]; !ok {
					t.Fatalf("server row lacks %q: %s", k, m.Params)
				}
			}
		}
	}
	var first, last deployStatus
	_ = json.Unmarshal(msgs[0].Params, &first)
	_ = json.Unmarshal(msgs[len(msgs)-1].Params, &last)
	if !slices.Contains([]string{stateQueued, stateUploading}, first.State) || !last.final() {
		t.Fatalf("statuses go from %s to %s", first.State, last.State)
	}
}
