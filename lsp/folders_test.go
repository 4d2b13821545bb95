package lsp

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.lsp.dev/uri"

	"github.com/zato-go/zato/wire"
)

// fakeCluster answers every upload as deployed on its one server and records who uploaded which module.
type fakeCluster struct {
	*httptest.Server
	mu      sync.Mutex
	uploads []string // "user module"
}

func newFakeCluster(t *testing.T) *fakeCluster {
	t.Helper()
	f := &fakeCluster{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/v1/deploy" {
			http.NotFound(w, r)
			return
		}
		user, _, _ := r.BasicAuth()
		var body struct{ Name string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		f.mu.Lock()
		f.uploads = append(f.uploads, user+" "+body.Name)
		id := len(f.uploads)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(wire.Deployment{ID: int64(id), Module: body.Name, Status: wire.StatusDeployed, Done: true,
			Expected: 1, Confirmed: 1, Servers: []wire.ServerStatus{{Name: "server1", Status: wire.StatusDeployed}}})
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeCluster) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.uploads)
}

// initializeFolders runs the handshake with several workspace folders.
func (e *editor) initializeFolders(folders ...string) {
	e.t.Helper()
	var wf []any
	for _, f := range folders {
		wf = append(wf, map[string]any{"uri": string(uri.File(f)), "name": filepath.Base(f)})
	}
	params := map[string]any{"processId": os.Getpid(), "rootUri": string(uri.File(folders[0])), "workspaceFolders": wf,
		"capabilities": map[string]any{"workspace": map[string]any{"configuration": true, "workspaceFolders": true}}}
	if err := e.call("initialize", params, nil); err != nil {
		e.t.Fatalf("initialize: %v", err)
	}
	e.notify("initialized", map[string]any{})
	e.await("workspace/configuration", func(message) bool { return true })
	e.awaitLog("Zato: target")
}

// TestMultiRootFolders: each file deploys with the .zato.yaml of the workspace folder holding it (the deepest one),
// a folder without one deploys nothing, and a folder added later brings its own.
func TestMultiRootFolders(t *testing.T) {
	a, c, d := newFakeCluster(t), newFakeCluster(t), newFakeCluster(t)
	root := t.TempDir()
	mrA, mrB, mrC := filepath.Join(root, "mrA"), filepath.Join(root, "mrB"), filepath.Join(root, "mrC")
	nested := filepath.Join(mrA, "nested") // a folder of its own inside mrA, without a .zato.yaml
	for _, dir := range []string{mrA, mrB, mrC, nested} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeYAML(t, mrA, "url: "+a.URL+"\nusername: alice\npassword: pa\n")
	writeYAML(t, mrC, "url: "+c.URL+"\nusername: carol\npassword: pc\n")
	e := newSession(t, fixture{})
	e.initializeFolders(mrA, mrB, mrC, nested)

	from := e.mark()
	e.save(filepath.Join(mrB, "x_b.py"), fmt.Sprintf(versionSvc, 1))
	e.save(filepath.Join(nested, "x_nested.py"), fmt.Sprintf(versionSvc, 1))
	e.save(filepath.Join(mrC, "y_c.py"), fmt.Sprintf(versionSvc, 1))
	e.save(filepath.Join(mrA, "z_a.py"), fmt.Sprintf(versionSvc, 1))
	for _, module := range []string{"y_c.py", "z_a.py"} {
		if st := e.awaitStatus(from, module, stateDeployed, stateFailed, statePartial, stateUnreachable); st.State != stateDeployed {
			t.Fatalf("%s: %+v", module, st)
		}
	}
	if got := a.got(); !slices.Equal(got, []string{"alice z_a.py"}) {
		t.Errorf("cluster A got %q, want only mrA's file, with mrA's user", got)
	}
	if got := c.got(); !slices.Equal(got, []string{"carol y_c.py"}) {
		t.Errorf("cluster C got %q, want only mrC's file, with mrC's user", got)
	}
	for _, module := range []string{"x_b.py", "x_nested.py"} {
		if st := e.statuses(from, module); len(st) > 0 {
			t.Errorf("%s, in a folder without a .zato.yaml, was deployed on save: %+v", module, st)
		}
	}
	// Deploying such a file by hand says why it cannot be.
	err := e.command(cmdDeploy, []any{string(uri.File(filepath.Join(mrB, "x_b.py")))}, nil)
	if err == nil || !strings.Contains(err.Error(), "no .zato.yaml applies") {
		t.Errorf("zato.deploy in a folder without a .zato.yaml: %v", err)
	}

	// A folder added to the workspace deploys to its own cluster.
	mrD := filepath.Join(root, "mrD")
	if err := os.MkdirAll(mrD, 0o755); err != nil {
		t.Fatal(err)
	}
	writeYAML(t, mrD, "url: "+d.URL+"\nusername: dora\npassword: pd\n")
	e.notify("workspace/didChangeWorkspaceFolders", map[string]any{"event": map[string]any{
		"added": []any{map[string]any{"uri": string(uri.File(mrD)), "name": "mrD"}}, "removed": []any{}}})
	from = e.mark()
	e.save(filepath.Join(mrD, "w_d.py"), fmt.Sprintf(versionSvc, 1))
	if st := e.awaitStatus(from, "w_d.py", stateDeployed, stateFailed, statePartial, stateUnreachable); st.State != stateDeployed {
		t.Fatalf("w_d.py: %+v", st)
	}
	if got := d.got(); !slices.Equal(got, []string{"dora w_d.py"}) {
		t.Errorf("cluster D got %q", got)
	}
	if got := a.got(); len(got) != 1 {
		t.Errorf("cluster A got %q", got)
	}
}

// TestSingleFolderUnchanged: in a workspace of one folder, its .zato.yaml applies to its files, subdirectories
// included, as before multi-root support.
func TestSingleFolderUnchanged(t *testing.T) {
	a := newFakeCluster(t)
	dir := t.TempDir()
	sub := filepath.Join(dir, "pkg")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	writeYAML(t, dir, "url: "+a.URL+"\nusername: alice\npassword: pa\n")
	e := newSession(t, fixture{})
	e.initialize(dir, nil)
	from := e.mark()
	e.save(filepath.Join(sub, "one.py"), fmt.Sprintf(versionSvc, 1))
	if st := e.awaitStatus(from, "one.py", stateDeployed, stateFailed, statePartial, stateUnreachable); st.State != stateDeployed {
		t.Fatalf("%+v", st)
	}
	if got := a.got(); !slices.Equal(got, []string{"alice one.py"}) {
		t.Fatalf("cluster got %q", got)
	}
}
