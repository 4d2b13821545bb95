package lsp

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zato-go/zato/internal/testenv"
)

// viewModuleOf finds a module in a cluster view.
func viewModuleOf(v clusterViewAnswer, name string) (viewModule, bool) {
	for _, m := range v.Modules {
		if m.Name == name {
			return m, true
		}
	}
	return viewModule{}, false
}

// TestE2EClusterView: the cluster view's requests and commands against a real two-server cluster, driven by a fake
// editor: zato/clusterView lists servers and modules (version, who, origin, each server's row), zato/moduleHistory
// the versions, zato.showClusterVersion any version's source, zato.rollback and zato.undeploy change the cluster,
// and a watching editor gets zato/clusterChanged for its own deployments and for others'.
func TestE2EClusterView(t *testing.T) {
	c := testenv.StartCluster(t, testenv.Options{})
	dir := workspace(t, c, "")
	e := newSession(t, fixture{})
	e.initialize(dir, nil)

	const module = "lsp_view.py"
	const service = "lsp-view.get-version"
	path := filepath.Join(dir, module)
	e.open(path, fmt.Sprintf(versionSvc, 1))
	for v := 1; v <= 2; v++ {
		from := e.mark()
		e.save(path, fmt.Sprintf(versionSvc, v))
		if st := e.awaitStatus(from, module, stateDeployed, stateFailed, stateConflict); st.State != stateDeployed {
			t.Fatalf("save %d: %+v", v, st)
		}
		e.awaitSettled(from, module, fmt.Sprintf(versionSvc, v))
	}

	view := func() clusterViewAnswer {
		t.Helper()
		var v clusterViewAnswer
		if err := e.call(methodClusterView, map[string]any{}, &v); err != nil {
			t.Fatal(err)
		}
		if v.Error != "" {
			t.Fatalf("cluster view: %s", v.Error)
		}
		return v
	}

	t.Run("View", func(t *testing.T) {
		v := view()
		if len(v.Servers) != 2 || v.Target != "default" || v.URL != c.URL || !strings.HasPrefix(v.Summary, "2/2 servers live") {
			t.Fatalf("view %+v", v)
		}
		for i, s := range v.Servers {
			if s.Name != c.Servers[i].Name || s.State != "live" || s.URL == "" {
				t.Fatalf("server %d: %+v", i, s)
			}
		}
		m, ok := viewModuleOf(v, module)
		if !ok || m.Version != 2 || !m.Deployed || m.Who != c.Username || m.Origin != "ide" || m.Status != "deployed" ||
			m.Outcome != "deployed on every server (2/2)" || m.SHA256 != sourceSHA(fmt.Sprintf(versionSvc, 2)) ||
			m.URI != "zato-cluster:/default/lsp_view.py?version=2" || m.CreatedAt.IsZero() || len(m.Servers) != 2 {
			t.Fatalf("module %+v", m)
		}
		for _, r := range m.Servers {
			if r.Status != "deployed" || r.Error != nil {
				t.Fatalf("row %+v", r)
			}
		}
	})

	t.Run("HistoryAndSource", func(t *testing.T) {
		var h historyAnswer
		if err := e.call(methodModuleHistory, map[string]any{"module": module}, &h); err != nil {
			t.Fatal(err)
		}
		if h.Current != 2 || len(h.Versions) != 2 || h.Versions[0].Version != 2 || !h.Versions[0].Current || h.Versions[1].Current ||
			h.Versions[1].URI != "zato-cluster:/default/lsp_view.py?version=1" || !strings.Contains(h.Versions[1].Label, "version 1 by "+c.Username+" (ide) at ") {
			t.Fatalf("history %+v", h)
		}
		var cv clusterVersion
		if err := e.command(cmdShowClusterVersion, []any{map[string]any{"module": module, "version": 1}}, &cv); err != nil {
			t.Fatal(err)
		}
		if cv.Source != fmt.Sprintf(versionSvc, 1) || cv.Version != 1 || cv.Origin != "ide" || cv.URI != h.Versions[1].URI {
			t.Fatalf("version 1: %+v", cv)
		}
		// Without a version: the current one.
		if err := e.command(cmdShowClusterVersion, []any{map[string]any{"module": module}}, &cv); err != nil {
			t.Fatal(err)
		}
		if cv.Source != fmt.Sprintf(versionSvc, 2) || cv.Version != 2 {
			t.Fatalf("current version: %+v", cv)
		}
		// What the cluster does not have is said in words.
		err := e.command(cmdShowClusterVersion, []any{map[string]any{"module": module, "version": 9}}, &cv)
		if err == nil || !strings.Contains(err.Error(), "lsp_view.py has versions 1-2; there is no version 9") {
			t.Fatalf("version 9: %v", err)
		}
		err = e.call(methodModuleHistory, map[string]any{"module": "never_deployed.py"}, &h)
		if err == nil || !strings.Contains(err.Error(), "never_deployed.py") {
			t.Fatalf("history of a module never deployed: %v", err)
		}
	})

	t.Run("RollbackAndUndeployWhileWatching", func(t *testing.T) {
		from := e.mark()
		e.notify(methodWatchCluster, map[string]any{"watch": true})

		var w writeAnswer
		if err := e.command(cmdRollback, []any{map[string]any{"module": module, "version": 1}}, &w); err != nil {
			t.Fatal(err)
		}
		if !w.OK || w.Version != 1 || w.Message != "lsp_view.py rolled back to version 1: deployed on every server (2/2)" {
			t.Fatalf("rollback %+v", w)
		}
		e.awaitFrom(from, methodClusterChanged, func(m message) bool { return strings.Contains(string(m.Params), module) })
		for _, s := range c.Servers {
			if v := versionOn(t, c, s, service); v != 1 {
				t.Fatalf("%s serves version %d after the rollback", s.Name, v)
			}
		}
		if m, _ := viewModuleOf(view(), module); m.Version != 1 || m.Origin != "rollback" || m.Status != "deployed" {
			t.Fatalf("after the rollback: %+v", m)
		}
		// The buffer has not seen the version rolled back to: a save is a conflict, as after any other tool's deployment.
		from = e.mark()
		e.save(path, fmt.Sprintf(versionSvc, 4))
		if st := e.awaitStatus(from, module, stateDeployed, stateFailed, stateConflict); st.State != stateConflict || !strings.Contains(st.Message, "(rollback)") {
			t.Fatalf("save after the rollback: %+v", st)
		}
		e.awaitSettled(from, module, fmt.Sprintf(versionSvc, 4))
		err := e.command(cmdRollback, []any{map[string]any{"module": module, "version": 7}}, &w)
		if err == nil || !strings.Contains(err.Error(), "there is no version 7") {
			t.Fatalf("rollback to version 7: %v", err)
		}

		// A deployment made elsewhere (the CLI) reaches the watching editor through the poll.
		from = e.mark()
		deployAs(t, c, "lsp_view_other.py", fmt.Sprintf(versionSvc, 5), "cli")
		e.awaitFrom(from, methodClusterChanged, moduleChanged)
		if m, ok := viewModuleOf(view(), "lsp_view_other.py"); !ok || m.Origin != "cli" || m.Version != 1 {
			t.Fatalf("module deployed by the CLI: %+v", m)
		}

		from = e.mark()
		if err := e.command(cmdUndeploy, []any{map[string]any{"module": module}}, &w); err != nil {
			t.Fatal(err)
		}
		if !w.OK || w.Status != "undeployed" || w.Message != "lsp_view.py: undeployed from every server (2/2)" {
			t.Fatalf("undeploy %+v", w)
		}
		e.awaitFrom(from, methodClusterChanged, func(m message) bool { return strings.Contains(string(m.Params), module) })
		m, _ := viewModuleOf(view(), module)
		if m.Deployed || m.Status != "undeployed" || m.URI != "" || m.Outcome != "undeployed from every server (2/2)" {
			t.Fatalf("after the undeploy: %+v", m)
		}
		for _, r := range m.Servers {
			if r.Status != "undeployed" {
				t.Fatalf("row after the undeploy: %+v", r)
			}
		}
		err = e.command(cmdUndeploy, []any{map[string]any{"module": module}}, &w)
		if err == nil || !strings.Contains(err.Error(), "lsp_view.py is not deployed") {
			t.Fatalf("undeploy again: %v", err)
		}
		// The failure was shown to the user too.
		e.awaitFrom(from, "window/showMessage", func(m message) bool { return strings.Contains(string(m.Params), "is not deployed") })

		// No more notifications once the view is closed: a deployment's own change goes nowhere.
		e.notify(methodWatchCluster, map[string]any{"watch": false})
		e.sync()
		from = e.mark()
		e.save(path, fmt.Sprintf(versionSvc, 3))
		e.awaitSettled(from, module, fmt.Sprintf(versionSvc, 3))
		if n := len(e.all(from, methodClusterChanged)); n != 0 {
			t.Fatalf("%d zato/clusterChanged after the view closed", n)
		}
	})

	// A watching editor learns of a deployment made elsewhere over the cluster's event stream: the poll is made an
	// hour long, so only the stream can bring the notification.
	t.Run("FollowsTheEventStream", func(t *testing.T) {
		n := newSession(t, fixture{clusterPoll: time.Hour})
		n.initialize(dir, nil)
		if via := n.watchCluster(); via != "stream" {
			t.Fatalf("the cluster view is followed by %s, not over the event stream", via)
		}
		from := n.mark()
		deployAs(t, c, "lsp_view_stream.py", fmt.Sprintf(versionSvc, 6), "cli")
		n.awaitFrom(from, methodClusterChanged, moduleChanged)
		if m, ok := viewModuleOf(view(), "lsp_view_stream.py"); !ok || m.Origin != "cli" {
			t.Fatalf("module deployed by the CLI: %+v", m)
		}
		n.sync()
		for _, m := range n.all(from, methodClusterChanged) {
			if via := viaOf(m); via != "" {
				t.Fatalf("the cluster view went from the stream to %s", via)
			}
		}
	})

	t.Run("Unconfigured", func(t *testing.T) {
		n := newSession(t, fixture{})
		n.initialize(t.TempDir(), nil)
		var v clusterViewAnswer
		if err := n.call(methodClusterView, map[string]any{}, &v); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(v.Error, "no Zato server configured") || len(v.Servers) != 0 {
			t.Fatalf("view without configuration %+v", v)
		}
		raw, _ := json.Marshal(v)
		if !strings.Contains(string(raw), `"modules":[]`) {
			t.Fatalf("%s", raw)
		}
	})
}
