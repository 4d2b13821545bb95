package lsp

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.lsp.dev/uri"

	"github.com/zato-go/zato/deployclient"
	"github.com/zato-go/zato/internal/testenv"
	srvconfig "github.com/zato-go/zato/server/config"
)

// hasDiag reports whether a diagnostic with the code and severity is on line 1 (0-based line 0).
func hasDiag(ds []diagnostic, code string, severity int) (diagnostic, bool) {
	for _, d := range ds {
		if d.Code == code && d.Severity == severity && d.Range.Start.Line == 0 {
			return d, true
		}
	}
	return diagnostic{}, false
}

// deployAs deploys a module through the API as another origin (another tool of the same user), waiting until done.
func deployAs(t *testing.T, c *testenv.Cluster, module, src, origin string) deployclient.Deployment {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	d, err := clusterClient(t, c, c.URL).DeployWith(ctx, deployclient.Upload{Name: module, Source: []byte(src), Origin: origin}, nil)
	if err != nil || d.Status != deployclient.StatusDeployed {
		t.Fatalf("deploy %s as %s: %+v %v", module, origin, d, err)
	}
	return d
}

// TestE2EConflict: a version deployed between two saves by someone else (the pickup dir, another tool) is not
// overwritten: the second save gets the state conflict, an error on line 1 naming who deployed which version when,
// code actions, the cluster's source for a diff, and Deploy anyway deploys.
func TestE2EConflict(t *testing.T) {
	c := testenv.StartCluster(t, testenv.Options{})
	dir := workspace(t, c, "")
	e := newSession(t, fixture{})
	e.initialize(dir, nil)

	t.Run("PickupBetweenTwoSaves", func(t *testing.T) {
		const module = "lsp_conflict.py"
		path := filepath.Join(dir, module)
		u := string(uri.File(path))
		e.open(path, fmt.Sprintf(versionSvc, 1))
		from := e.mark()
		e.save(path, fmt.Sprintf(versionSvc, 1))
		if st := e.awaitStatus(from, module, stateDeployed, stateFailed, stateConflict); st.State != stateDeployed {
			t.Fatalf("first save: %+v", st)
		}
		e.awaitSettled(from, module, fmt.Sprintf(versionSvc, 1))

		// Someone drops version 2 into a server's pickup dir; wait until the cluster has deployed it.
		theirs := fmt.Sprintf(versionSvc, 2)
		pickup := filepath.Join(c.Servers[0].Dir, srvconfig.PickupRel)
		if err := os.MkdirAll(pickup, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(pickup, module), []byte(theirs), 0o644); err != nil {
			t.Fatal(err)
		}
		awaitPickup(t, c, module, sourceSHA(theirs))

		from = e.mark()
		mine := fmt.Sprintf(versionSvc, 3)
		e.save(path, mine)
		st := e.awaitStatus(from, module, stateDeployed, stateFailed, stateConflict)
		if st.State != stateConflict || !strings.Contains(st.Message, "version 2") || !strings.Contains(st.Message, "(pickup)") ||
			!strings.Contains(st.Message, " UTC") {
			t.Fatalf("second save: %+v\n%s", st, e.dump(from))
		}
		ds := e.awaitDiagnostics(from, u, func(ds []diagnostic) bool { _, ok := hasDiag(ds, codeConflict, 1); return ok })
		d, _ := hasDiag(ds, codeConflict, 1)
		if d.Source != "zato" || !strings.Contains(d.Message, "deployed by") || !strings.Contains(d.Message, "(pickup)") {
			t.Fatalf("diagnostic %+v", d)
		}
		// This editor prompts itself (experimental.zato.statusUI): no message on top.
		e.sync()
		if n := len(e.all(from, "window/showMessage")); n != 0 {
			t.Fatalf("%d messages for a conflict to an editor with its own prompt:\n%s", n, e.dump(from))
		}
		// Every server still serves version 2.
		for _, s := range c.Servers {
			if v := versionOn(t, c, s, "lsp-conflict.get-version"); v != 2 {
				t.Fatalf("%s serves version %d after a refused save", s.Name, v)
			}
		}

		// Code actions on the diagnostic.
		var actions []struct {
			Title   string
			Command struct {
				Command   string
				Arguments []json.RawMessage
			}
		}
		raw, _ := json.Marshal(map[string]any{"range": map[string]any{"start": map[string]any{"line": 0, "character": 0},
			"end": map[string]any{"line": 0, "character": d.Range.End.Character}}, "severity": 1, "code": codeConflict, "source": "zato",
			"message": d.Message})
		if err := e.call("textDocument/codeAction", map[string]any{"textDocument": map[string]any{"uri": u},
			"range":   map[string]any{"start": map[string]any{"line": 0, "character": 0}, "end": map[string]any{"line": 0, "character": 1}},
			"context": map[string]any{"diagnostics": []json.RawMessage{raw}}}, &actions); err != nil {
			t.Fatal(err)
		}
		var cmds []string
		for _, a := range actions {
			cmds = append(cmds, a.Command.Command)
		}
		if strings.Join(cmds, ",") != cmdShowClusterVersion+","+cmdDeployAnyway {
			t.Fatalf("code actions %+v", actions)
		}

		// The cluster's version, for the diff.
		var cv clusterVersion
		if err := e.command(cmdShowClusterVersion, []any{map[string]any{"uri": u}}, &cv); err != nil {
			t.Fatal(err)
		}
		if cv.Source != theirs || cv.Version != 2 || cv.Origin != "pickup" || cv.SHA256 != sourceSHA(theirs) ||
			!strings.HasPrefix(cv.URI, "zato-cluster:/") {
			t.Fatalf("cluster version %+v", cv)
		}

		// A save again is still refused: seeing the diff is not deploying over it.
		from = e.mark()
		e.save(path, mine+"\n")
		if st := e.awaitStatus(from, module, stateDeployed, stateFailed, stateConflict); st.State != stateConflict {
			t.Fatalf("save after the diff: %+v", st)
		}

		// Deploy anyway: deployed, the error is gone, and the next save deploys over it without a conflict.
		from = e.mark()
		if err := e.command(cmdDeployAnyway, []any{map[string]any{"uri": u}}, nil); err != nil {
			t.Fatal(err)
		}
		if st := e.awaitStatus(from, module, stateDeployed, stateFailed, stateConflict); st.State != stateDeployed {
			t.Fatalf("deploy anyway: %+v", st)
		}
		e.awaitDiagnostics(from, u, func(ds []diagnostic) bool { _, ok := hasDiag(ds, codeConflict, 1); return !ok })
		for _, s := range c.Servers {
			if v := versionOn(t, c, s, "lsp-conflict.get-version"); v != 3 {
				t.Fatalf("%s serves version %d after deploy anyway", s.Name, v)
			}
		}
		from = e.mark()
		e.save(path, fmt.Sprintf(versionSvc, 4))
		if st := e.awaitStatus(from, module, stateDeployed, stateFailed, stateConflict); st.State != stateDeployed {
			t.Fatalf("save after deploy anyway: %+v", st)
		}
	})

	t.Run("AnotherToolBetweenTwoSaves", func(t *testing.T) {
		const module = "lsp_conflict_cli.py"
		path := filepath.Join(dir, module)
		e.open(path, fmt.Sprintf(versionSvc, 1))
		from := e.mark()
		e.save(path, fmt.Sprintf(versionSvc, 1))
		if st := e.awaitStatus(from, module, stateDeployed, stateFailed, stateConflict); st.State != stateDeployed {
			t.Fatalf("first save: %+v", st)
		}
		e.awaitSettled(from, module, fmt.Sprintf(versionSvc, 1))
		deployAs(t, c, module, fmt.Sprintf(versionSvc, 2), "cli")
		from = e.mark()
		e.save(path, fmt.Sprintf(versionSvc, 3))
		st := e.awaitStatus(from, module, stateDeployed, stateFailed, stateConflict)
		if st.State != stateConflict || !strings.Contains(st.Message, c.Username+" (cli)") {
			t.Fatalf("%+v", st)
		}
	})

	t.Run("EditorWithoutStatusUI", func(t *testing.T) {
		// Neovim as configured in the README: no zato/deployStatus handler, no $/progress display. A finished
		// deployment and a conflict come as window/showMessage.
		n := newSession(t, fixture{})
		n.plain = true
		n.initialize(dir, nil)
		const module = "lsp_conflict_nvim.py"
		path := filepath.Join(dir, module)
		n.open(path, fmt.Sprintf(versionSvc, 1))
		from := n.mark()
		n.save(path, fmt.Sprintf(versionSvc, 1))
		n.awaitFrom(from, "window/showMessage", func(m message) bool {
			return strings.Contains(string(m.Params), `"type":3`) && strings.Contains(string(m.Params), module+" deployed to 2/2 servers in ")
		})
		n.awaitSettled(from, module, fmt.Sprintf(versionSvc, 1))
		deployAs(t, c, module, fmt.Sprintf(versionSvc, 2), "cli")
		from = n.mark()
		n.save(path, fmt.Sprintf(versionSvc, 3))
		n.awaitFrom(from, "window/showMessage", func(m message) bool {
			return strings.Contains(string(m.Params), `"type":2`) && strings.Contains(string(m.Params), "version 2 on the cluster was deployed by "+c.Username+" (cli)")
		})
	})

	t.Run("OpenAModuleTheClusterHasOtherwise", func(t *testing.T) {
		// The cluster runs version 7 (deployed with the CLI); the file on disk is version 6.
		const module = "lsp_conflict_open.py"
		deployAs(t, c, module, fmt.Sprintf(versionSvc, 7), "cli")
		path := filepath.Join(dir, module)
		u := string(uri.File(path))
		if err := os.WriteFile(path, []byte(fmt.Sprintf(versionSvc, 6)), 0o644); err != nil {
			t.Fatal(err)
		}
		from := e.mark()
		e.open(path, fmt.Sprintf(versionSvc, 6))
		ds := e.awaitDiagnostics(from, u, func(ds []diagnostic) bool { _, ok := hasDiag(ds, codeDiffers, 3); return ok })
		d, _ := hasDiag(ds, codeDiffers, 3)
		if !strings.Contains(d.Message, "version 1, deployed by "+c.Username+" (cli) at ") || !strings.Contains(d.Message, " UTC") {
			t.Fatalf("information %+v", d)
		}
		// The first save starts from the file on disk, which is not the cluster's version: a conflict.
		from = e.mark()
		e.save(path, fmt.Sprintf(versionSvc, 8))
		if st := e.awaitStatus(from, module, stateDeployed, stateFailed, stateConflict); st.State != stateConflict {
			t.Fatalf("first save over another version: %+v", st)
		}
	})

	t.Run("OpenAModuleTheClusterHasTheSame", func(t *testing.T) {
		// The file on disk is the cluster's version: the first save takes it as its base and deploys.
		const module = "lsp_conflict_same.py"
		deployAs(t, c, module, fmt.Sprintf(versionSvc, 7), "cli")
		path := filepath.Join(dir, module)
		u := string(uri.File(path))
		if err := os.WriteFile(path, []byte(fmt.Sprintf(versionSvc, 7)), 0o644); err != nil {
			t.Fatal(err)
		}
		from := e.mark()
		e.open(path, fmt.Sprintf(versionSvc, 7))
		from2 := e.mark()
		e.save(path, fmt.Sprintf(versionSvc, 8))
		if st := e.awaitStatus(from2, module, stateDeployed, stateFailed, stateConflict); st.State != stateDeployed {
			t.Fatalf("first save from the cluster's version: %+v", st)
		}
		e.sync()
		for _, m := range e.all(from, "textDocument/publishDiagnostics") {
			if strings.Contains(string(m.Params), u) && strings.Contains(string(m.Params), codeDiffers) {
				t.Fatalf("the same version was reported as differing: %s", m.Params)
			}
		}
	})
}

// awaitPickup waits until the cluster's newest deployment of a module is the one with the sha256 and is done. The
// pickup dir's watcher has no event of its own to wait on: the module's deployments are looked at every 20 ms.
func awaitPickup(t *testing.T, c *testenv.Cluster, module, sha string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	cl := clusterClient(t, c, c.URL)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ds, err := cl.Deployments(ctx, module, 1)
		if err != nil {
			t.Fatalf("deployments of %s: %v", module, err)
		}
		if len(ds) > 0 && ds[0].SHA256 == sha {
			if d, err := cl.Watch(ctx, ds[0].ID, nil); err != nil || d.Status != deployclient.StatusDeployed {
				t.Fatalf("pickup deployment %+v %v", d, err)
			}
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("the pickup dir did not deploy %s within %s", module, wait)
		}
	}
}
