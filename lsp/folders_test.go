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

// fakeCluster answers every upload as deployed on its one server and records who uploaded which module. Its one
// live server, server1, serves the services named when it was made.
type fakeCluster struct {
	*httptest.Server
	mu      sync.Mutex
	uploads []string // "user module"
}

func newFakeCluster(t *testing.T, services ...string) *fakeCluster {
	t.Helper()
	f := &fakeCluster{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/api/v1/servers":
			_ = json.NewEncoder(w).Encode(map[string]any{"servers": []wire.Member{{Name: "server1", URL: f.URL, State: "live"}}})
			return
		case r.Method == http.MethodGet && r.URL.Path == "/api/v1/services":
			rep := wire.ServicesReport{Server: "server1", Services: []wire.Service{}}
			for _, n := range services {
				rep.Services = append(rep.Services, wire.Service{Name: n, Module: "m.py", Class: "C"})
			}
			_ = json.NewEncoder(w).Encode(rep)
			return
		case r.Method != http.MethodPost || r.URL.Path != "/api/v1/deploy":
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

// TestMultiRootReadsItsFolderCluster: what a file shows of its cluster (completion, the unknown-service warning,
// zato.showStatus for the file) comes from the cluster of its folder's .zato.yaml. These used to read the first
// folder's cluster for every file: completion offered another cluster's services, and a service the file's own
// cluster serves was flagged unknown.
func TestMultiRootReadsItsFolderCluster(t *testing.T) {
	a, c := newFakeCluster(t, "only-on-a.svc"), newFakeCluster(t, "only-on-c.svc")
	root := t.TempDir()
	mrA, mrC := filepath.Join(root, "mrA"), filepath.Join(root, "mrC")
	for _, dir := range []string{mrA, mrC} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeYAML(t, mrA, "url: "+a.URL+"\nusername: alice\npassword: pa\ndeployOnSave: false\n")
	writeYAML(t, mrC, "url: "+c.URL+"\nusername: carol\npassword: pc\ndeployOnSave: false\n")
	e := newSession(t, fixture{})
	e.initializeFolders(mrA, mrC)

	path := filepath.Join(mrC, "caller.py")
	text := "from zato.server.service import Service\n\n\nclass Caller(Service):\n    def handle(self):\n" +
		"        self.invoke('only-on-c.svc')\n        self.invoke('')\n"
	e.open(path, text)
	u := string(uri.File(path))
	var list struct{ Items []struct{ Label string } }
	if err := e.call("textDocument/completion", map[string]any{"textDocument": map[string]any{"uri": u},
		"position": map[string]any{"line": 6, "character": 21}}, &list); err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, it := range list.Items {
		labels = append(labels, it.Label)
	}
	if !slices.Equal(labels, []string{"only-on-c.svc"}) {
		t.Errorf("completion in mrC offers %q, want mrC's cluster's services", labels)
	}
	// The listing is in (completion waited for it): an edit lints the file against it, and mrC's cluster serves
	// the service the file invokes. A service no cluster serves is flagged, so the lint did run.
	from := e.mark()
	e.notify("textDocument/didChange", map[string]any{"textDocument": map[string]any{"uri": u, "version": 2},
		"contentChanges": []any{map[string]any{"text": text + "        self.invoke('nowhere.svc')\n"}}})
	ds := e.awaitDiagnostics(from, u, func([]diagnostic) bool { return true })
	var flagged []string
	for _, d := range ds {
		flagged = append(flagged, d.Message)
	}
	if len(ds) != 1 || !strings.Contains(ds[0].Message, "nowhere.svc") {
		t.Errorf("warnings in mrC: %q, want only nowhere.svc's", flagged)
	}
	var rep statusReport
	if err := e.command(cmdShowStatus, []any{u}, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.URL != c.URL {
		t.Errorf("zato.showStatus for a file of mrC reports %s, want mrC's cluster %s", rep.URL, c.URL)
	}
}
