package lsp

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.lsp.dev/uri"
)

// .zato.yaml is read strictly, as the CLI reads zato-client.yaml: a typo names the file and the line, in a message
// and as a diagnostic on that line of the file; fixing the file clears both.
func TestConfigFileTypo(t *testing.T) {
	dir := t.TempDir()
	writeYAML(t, dir, "url: http://127.0.0.1:1\nusername: admin\npasword: secret\n")
	e := newSession(t, fixture{})
	e.initialize(dir, nil)
	yamlPath := filepath.Join(dir, ".zato.yaml")
	want := yamlPath + " line 3: unknown key pasword"
	e.await("window/showMessage", func(m message) bool { return strings.Contains(string(m.Params), want) })
	ds := e.awaitDiagnostics(0, string(uri.File(yamlPath)), func(ds []diagnostic) bool { return len(ds) == 1 })
	if ds[0].Range.Start.Line != 2 || ds[0].Code != "zato-config" || !strings.HasPrefix(ds[0].Message, "unknown key pasword (known: url, ") {
		t.Fatalf("%+v", ds)
	}
	// A save of a module says why nothing is deployed.
	from := e.mark()
	e.save(filepath.Join(dir, "typo_svc.py"), fmt.Sprintf(versionSvc, 1))
	e.sync()
	if st := e.statuses(from, "typo_svc.py"); len(st) != 0 {
		t.Fatalf("deployed with a broken config: %+v", st)
	}
	// Fixed: the diagnostic goes.
	from = e.mark()
	writeYAML(t, dir, "url: http://127.0.0.1:1\nusername: admin\npassword: secret\n")
	e.notify("textDocument/didSave", map[string]any{"textDocument": map[string]any{"uri": string(uri.File(yamlPath))}})
	e.awaitDiagnostics(from, string(uri.File(yamlPath)), func(ds []diagnostic) bool { return len(ds) == 0 })
}

// Targets are taken from the file as written (names keep their case, whatever viper does to map keys), with the
// editor's settings layered over them; the file's editor keys (requireMarker, include) apply.
func TestConfigFileTargetsKeepCase(t *testing.T) {
	dir := t.TempDir()
	writeYAML(t, dir, `targets:
  Dev:
    url: http://127.0.0.1:1
    username: dev
  Prod-EU:
    url: http://127.0.0.1:2
defaultTarget: Dev
requireMarker: true
include: ["src/**/*.py"]
timeout: 7s
`)
	l := configLayers{folders: []string{dir}, getenv: func(string) (string, bool) { return "", false },
		workspace: map[string]any{"targets": map[string]any{"dev": map[string]any{"username": "me"}}}}
	c, err := l.merge()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.file.Targets["Dev"]; !ok || c.file.Targets["Dev"].Username != "me" || c.file.Targets["Dev"].URL != "http://127.0.0.1:1" {
		t.Fatalf("targets %+v", c.file.Targets)
	}
	if _, ok := c.file.Targets["Prod-EU"]; !ok {
		t.Fatalf("targets %+v", c.file.Targets)
	}
	name, cc, err := c.file.ResolveTarget("", l.getenv)
	if err != nil || name != "Dev" || cc.Timeout.String() != "7s" {
		t.Fatalf("default target %q %+v %v", name, cc, err)
	}
	if !c.requireMarker || strings.Join(c.include, ",") != "src/**/*.py" || !c.deployOnSave {
		t.Fatalf("editor keys: marker %v include %v deployOnSave %v", c.requireMarker, c.include, c.deployOnSave)
	}
}

// A passwordEnv naming an unset variable is said at start, and a save says it too.
func TestPasswordEnvUnset(t *testing.T) {
	dir := t.TempDir()
	writeYAML(t, dir, "url: http://127.0.0.1:1\nusername: admin\npasswordEnv: ZATO_LSP_TEST_PASSWORD\n")
	e := newSession(t, fixture{})
	e.initialize(dir, nil)
	const want = "passwordEnv names ZATO_LSP_TEST_PASSWORD, which is not set"
	e.await("window/showMessage", func(m message) bool { return strings.Contains(string(m.Params), want) })
	from := e.mark()
	e.save(filepath.Join(dir, "pwenv_svc.py"), fmt.Sprintf(versionSvc, 1))
	st := e.awaitStatus(from, "pwenv_svc.py", stateFailed, stateDeployed, stateUnreachable)
	if st.State != stateFailed || !strings.Contains(st.Message, want) {
		t.Fatalf("%+v", st)
	}
}

// initialize names the server's version, which is the VS Code extension's and the PyCharm plug-in's.
func TestServerInfoVersion(t *testing.T) {
	e := newSession(t, fixture{})
	e.initialize(t.TempDir(), nil)
	var res struct {
		ServerInfo struct{ Name, Version string } `json:"serverInfo"`
	}
	if err := json.Unmarshal(e.initRes, &res); err != nil || res.ServerInfo.Version != Version || res.ServerInfo.Name != "zato-lsp" {
		t.Fatalf("%s %v", e.initRes, err)
	}
	b, err := os.ReadFile("../extensions/vscode/package.json")
	if err != nil {
		t.Fatal(err)
	}
	var pkg struct{ Version string }
	if err := json.Unmarshal(b, &pkg); err != nil || pkg.Version != Version {
		t.Fatalf("extensions/vscode/package.json version %q, language server %q", pkg.Version, Version)
	}
	g, err := os.ReadFile("../extensions/pycharm/gradle.properties")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(g), "\npluginVersion="+Version+"\n") {
		t.Fatalf("extensions/pycharm/gradle.properties has no pluginVersion=%s", Version)
	}
}
