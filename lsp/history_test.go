package lsp

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestModuleHistorySaysWhereEachVersionServedOrFailed: zato/moduleHistory marks each version with where it serves
// now (the versions' served_by) and where it loaded or failed (the module's deployments), so that an editor's "Roll
// Back…" never offers a version that failed on every server as if it were as good as the others, nor preselects it.
func TestModuleHistorySaysWhereEachVersionServedOrFailed(t *testing.T) {
	api := newFakeAPI(t, "right")
	api.handler = func(w http.ResponseWriter, r *http.Request) bool {
		switch r.URL.Path {
		case "/api/v1/modules/hist.py/versions":
			fmt.Fprint(w, `{"versions": [
				{"version": 3, "sha256": "c", "who": "admin", "origin": "ide", "size": 10},
				{"version": 2, "sha256": "b", "who": "admin", "origin": "ide", "size": 10, "served_by": ["server1", "server2"]},
				{"version": 1, "sha256": "a", "who": "admin", "origin": "cli", "size": 10}], "offline": []}`)
		case "/api/v1/deployments":
			if r.URL.Query().Get("module") != "hist.py" {
				t.Errorf("deployments of %q", r.URL.Query().Get("module"))
			}
			fmt.Fprint(w, `{"deployments": [
				{"deployment_id": 4, "module": "hist.py", "action": "deploy", "version": 3, "status": "failed", "servers": [
					{"name": "server1", "status": "failed", "error": {"type": "SyntaxError", "message": "invalid syntax", "line": 3}},
					{"name": "server2", "status": "failed", "error": {"type": "SyntaxError", "message": "invalid syntax", "line": 3}}]},
				{"deployment_id": 3, "module": "hist.py", "action": "deploy", "version": 2, "status": "deployed", "servers": [
					{"name": "server1", "status": "deployed"}, {"name": "server2", "status": "deployed"}]},
				{"deployment_id": 2, "module": "hist.py", "action": "deploy", "version": 1, "status": "partial", "servers": [
					{"name": "server1", "status": "deployed"}, {"name": "server2", "status": "failed", "error": {"type": "ImportError", "message": "no module named x"}}]}]}`)
		case "/api/v1/modules":
			fmt.Fprint(w, `{"modules": [{"name": "hist.py", "version": 3, "deployed": true}]}`)
		default:
			return false
		}
		return true
	}
	dir := t.TempDir()
	writeYAML(t, dir, fmt.Sprintf("url: %s\nusername: admin\npassword: right\n", api.URL))
	e := newSession(t, fixture{})
	e.initialize(dir, nil)
	var raw json.RawMessage
	if err := e.call("zato/moduleHistory", map[string]any{"module": "hist.py"}, &raw); err != nil {
		t.Fatal(err)
	}
	var h struct {
		Current  int
		Versions []struct {
			Version  int
			Current  bool
			State    string
			ServedBy []string
			LoadedOn []string
			FailedOn []string
			Note     string
		}
	}
	if err := json.Unmarshal(raw, &h); err != nil || len(h.Versions) != 3 {
		t.Fatalf("%s %v", raw, err)
	}
	want := []struct {
		state, note string
	}{
		{"failed", "failed on server1, server2: SyntaxError: invalid syntax (line 3)"},
		{"serving", "serving on server1, server2"},
		{"loaded", "loaded on server1; failed on server2: ImportError: no module named x"},
	}
	for i, w := range want {
		v := h.Versions[i]
		if v.State != w.state || v.Note != w.note {
			t.Errorf("version %d: state %q note %q, want %q %q", v.Version, v.State, v.Note, w.state, w.note)
		}
	}
	if v := h.Versions[0]; strings.Join(v.FailedOn, ",") != "server1,server2" || len(v.LoadedOn) != 0 || !v.Current {
		t.Errorf("version 3: %+v", v)
	}
	if v := h.Versions[1]; strings.Join(v.ServedBy, ",") != "server1,server2" {
		t.Errorf("version 2: %+v", v)
	}
}
