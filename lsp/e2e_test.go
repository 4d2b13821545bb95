package lsp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.lsp.dev/uri"

	"github.com/zato-go/zato/deployclient"
	"github.com/zato-go/zato/internal/testenv"
)

// End-to-end: the language server against a real cluster of server processes started by the test.

const versionSvc = `# zato: ide-deploy=True
from zato.server.service import Service


class GetVersion(Service):
    def handle(self):
        self.response.payload = {'version': %d, 'server': self.server_name}
`

// brokenSvc has a syntax error on line 6, column 16 (1-based).
const brokenSvc = `# zato: ide-deploy=True
from zato.server.service import Service


class GetVersion(Service):
    def handle(self)
        self.response.payload = {'version': 0}
`

// workspace is a temp folder with a .zato.yaml for the cluster.
func workspace(t testing.TB, c *testenv.Cluster, extra string) string {
	t.Helper()
	dir := t.TempDir()
	writeYAML(t, dir, fmt.Sprintf("url: %s\nusername: %s\npassword: %q\n%s", c.URL, c.Username, c.Password, extra))
	return dir
}

func clusterClient(t testing.TB, c *testenv.Cluster, url string) *deployclient.Client {
	t.Helper()
	cl, err := deployclient.New(deployclient.Config{URL: url, Username: c.Username, Password: c.Password, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// deploymentsOf is how many deployments of module the cluster has: one per upload.
func deploymentsOf(t testing.TB, c *testenv.Cluster, module string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ds, err := clusterClient(t, c, c.URL).Deployments(ctx, module, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return len(ds)
}

// versionOn invokes the service on one server and returns the version it reports.
func versionOn(t testing.TB, c *testenv.Cluster, s testenv.Server, service string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	out, err := clusterClient(t, c, s.URL).Invoke(ctx, service, nil)
	if err != nil {
		t.Fatalf("invoke %s on %s: %v", service, s.Name, err)
	}
	var r struct {
		Version int    `json:"version"`
		Server  string `json:"server"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("%s: %s", s.Name, out)
	}
	return r.Version
}

func TestE2E(t *testing.T) {
	c := testenv.StartCluster(t, testenv.Options{})

	t.Run("FirstSaveConfirmedByBothServers", func(t *testing.T) {
		dir := workspace(t, c, "")
		e := newSession(t, fixture{})
		e.initialize(dir, nil)
		path := filepath.Join(dir, "lsp_first.py")
		src := fmt.Sprintf(versionSvc, 1)
		e.open(path, src)
		from := e.mark()
		e.save(path, src)
		st := e.awaitStatus(from, "lsp_first.py", stateDeployed, stateFailed, statePartial, stateUnreachable, stateUnauthorized)
		if st.State != stateDeployed || st.Confirmed != 2 || st.Expected != 2 || st.DeploymentID == 0 || st.URI != string(uri.File(path)) {
			t.Fatalf("%+v", st)
		}
		for _, s := range st.Servers {
			if s.Status != "deployed" || !contains(s.Services, "lsp-first.get-version") || s.Error != nil {
				t.Fatalf("server %+v", s)
			}
		}
		if !strings.Contains(st.Message, "deployed to 2/2 servers in") {
			t.Fatalf("message %q", st.Message)
		}
		// Every change was reported, in order: uploading, then the final state.
		states := []string{}
		for _, s := range e.statuses(from, "lsp_first.py") {
			states = append(states, s.State)
		}
		if states[0] != stateUploading || states[len(states)-1] != stateDeployed {
			t.Fatalf("states %v\n%s", states, e.dump(from))
		}
		// Progress went through $/progress (the fixture's editor supports it), begin to end; success showed nothing.
		e.awaitFrom(from, "$/progress", func(m message) bool { return strings.Contains(string(m.Params), `"kind":"end"`) })
		var kinds []string
		for _, m := range e.all(from, "$/progress") {
			var p struct {
				Value struct{ Kind, Title, Message string }
			}
			_ = json.Unmarshal(m.Params, &p)
			kinds = append(kinds, p.Value.Kind)
			// The words: "Deploying x.py", "1/2 servers", "x.py deployed to 2/2 servers in 23 ms".
			switch p.Value.Kind {
			case "begin":
				if p.Value.Title != "Deploying lsp_first.py" {
					t.Errorf("progress title %q", p.Value.Title)
				}
			case "report":
				if !regexp.MustCompile(`^[0-2]/2 servers$`).MatchString(p.Value.Message) {
					t.Errorf("progress report %q", p.Value.Message)
				}
			case "end":
				if !regexp.MustCompile(`^lsp_first\.py deployed to 2/2 servers in \d+ ms$`).MatchString(p.Value.Message) {
					t.Errorf("progress end %q", p.Value.Message)
				}
			}
		}
		if len(kinds) < 2 || kinds[0] != "begin" || kinds[len(kinds)-1] != "end" {
			t.Fatalf("progress %v", kinds)
		}
		if n := len(e.all(from, "window/showMessage")); n != 0 {
			t.Fatalf("success showed %d messages", n)
		}
		for _, s := range c.Servers {
			if v := versionOn(t, c, s, "lsp-first.get-version"); v != 1 {
				t.Fatalf("%s serves version %d", s.Name, v)
			}
		}
		// Hover over the class names the service and each server's state; code lenses show the result.
		var hover struct{ Contents struct{ Value string } }
		if err := e.call("textDocument/hover", map[string]any{"textDocument": map[string]any{"uri": string(uri.File(path))},
			"position": map[string]any{"line": 4, "character": 8}}, &hover); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(hover.Contents.Value, "`lsp-first.get-version`") || !strings.Contains(hover.Contents.Value, "`server2`: deployed") {
			t.Fatalf("hover %q", hover.Contents.Value)
		}
		var lenses []struct {
			Command struct{ Title, Command string }
		}
		if err := e.call("textDocument/codeLens", map[string]any{"textDocument": map[string]any{"uri": string(uri.File(path))}}, &lenses); err != nil {
			t.Fatal(err)
		}
		// Then Invoke, as the cluster serves the class (TestE2EInvoke covers it).
		if len(lenses) < 3 || lenses[0].Command.Title != "Deploy to Zato" || !strings.HasPrefix(lenses[1].Command.Title, "Deployed 2/2 · ") ||
			lenses[2].Command.Title != "Invoke" {
			t.Fatalf("lenses %+v", lenses)
		}
	})

	t.Run("SyntaxErrorDiagnosedAndClearedByFix", func(t *testing.T) {
		dir := workspace(t, c, "")
		e := newSession(t, fixture{})
		e.initialize(dir, nil)
		path := filepath.Join(dir, "lsp_broken.py")
		u := string(uri.File(path))
		e.open(path, brokenSvc)
		from := e.mark()
		e.save(path, brokenSvc)
		st := e.awaitStatus(from, "lsp_broken.py", stateDeployed, stateFailed, statePartial)
		if st.State != stateFailed || st.Confirmed != 0 || len(st.Servers) != 2 {
			t.Fatalf("%+v", st)
		}
		for _, s := range st.Servers {
			if s.Error == nil || s.Error.Type != "SyntaxError" || s.Error.Line != 6 {
				t.Fatalf("server %+v error %+v", s, s.Error)
			}
		}
		var diags struct {
			URI         string
			Diagnostics []struct {
				Range struct {
					Start struct{ Line, Character int }
				}
				Message, Source string
				Severity        int
			}
		}
		m := e.awaitFrom(from, "textDocument/publishDiagnostics", func(m message) bool {
			return json.Unmarshal(m.Params, &diags) == nil && diags.URI == u
		})
		_ = m
		if len(diags.Diagnostics) != 1 {
			t.Fatalf("want one diagnostic naming both servers, got %+v", diags)
		}
		d := diags.Diagnostics[0]
		if d.Range.Start.Line != 5 || d.Severity != 1 || d.Source != "zato" || !strings.HasPrefix(d.Message, "SyntaxError: ") ||
			!strings.Contains(d.Message, "server1, server2") {
			t.Fatalf("diagnostic %+v", d)
		}
		if len(e.all(from, "window/showMessage")) == 0 {
			t.Fatal("a failure showed no message")
		}
		var lenses []struct{ Command struct{ Title string } }
		if err := e.call("textDocument/codeLens", map[string]any{"textDocument": map[string]any{"uri": u}}, &lenses); err != nil {
			t.Fatal(err)
		}
		if len(lenses) != 2 || lenses[1].Command.Title != "Failed on server1, server2" {
			t.Fatalf("lenses %+v", lenses)
		}

		from = e.mark()
		e.save(path, fmt.Sprintf(versionSvc, 2))
		if st := e.awaitStatus(from, "lsp_broken.py", stateDeployed, stateFailed, statePartial); st.State != stateDeployed {
			t.Fatalf("fix: %+v", st)
		}
		e.awaitFrom(from, "textDocument/publishDiagnostics", func(m message) bool {
			return json.Unmarshal(m.Params, &diags) == nil && diags.URI == u && len(diags.Diagnostics) == 0
		})
	})

	t.Run("BurstOfSavesLeavesLastContentLive", func(t *testing.T) {
		dir := workspace(t, c, "")
		e := newSession(t, fixture{})
		e.initialize(dir, nil)
		path := filepath.Join(dir, "lsp_burst.py")
		e.open(path, fmt.Sprintf(versionSvc, 0))
		from := e.mark()
		const saves = 50
		for i := 1; i <= saves; i++ {
			e.save(path, fmt.Sprintf(versionSvc, i))
		}
		e.awaitSettled(from, "lsp_burst.py", fmt.Sprintf(versionSvc, saves))
		sts := e.statuses(from, "lsp_burst.py")
		last := sts[len(sts)-1]
		if last.State != stateDeployed {
			t.Fatalf("last status %+v", last)
		}
		uploads := deploymentsOf(t, c, "lsp_burst.py")
		t.Logf("%d saves -> %d uploads", saves, uploads)
		if uploads > 3 {
			t.Fatalf("%d saves caused %d uploads, want at most 3", saves, uploads)
		}
		for _, s := range c.Servers {
			if v := versionOn(t, c, s, "lsp-burst.get-version"); v != saves {
				t.Fatalf("%s serves version %d, want %d", s.Name, v, saves)
			}
		}
	})

	t.Run("WrongPasswordIsUnauthorized", func(t *testing.T) {
		dir := t.TempDir()
		writeYAML(t, dir, fmt.Sprintf("url: %s\nusername: %s\npassword: wrong-%s\n", c.URL, c.Username, c.Password))
		e := newSession(t, fixture{})
		e.initialize(dir, nil)
		path := filepath.Join(dir, "lsp_auth.py")
		from := e.mark()
		e.save(path, fmt.Sprintf(versionSvc, 1))
		st := e.awaitStatus(from, "lsp_auth.py", stateDeployed, stateFailed, stateUnauthorized, stateUnreachable)
		if st.State != stateUnauthorized || !strings.Contains(st.Message, "wrong username or password for target default") {
			t.Fatalf("%+v", st)
		}
		if len(e.all(from, "window/showMessage")) != 1 {
			t.Fatalf("want one message:\n%s", e.dump(from))
		}
		var res connectionResult
		if err := e.command(cmdTestConnection, nil, &res); err != nil {
			t.Fatal(err)
		}
		if res.OK || res.State != stateUnauthorized {
			t.Fatalf("testConnection %+v", res)
		}
	})

	t.Run("MarkerRule", func(t *testing.T) {
		dir := workspace(t, c, "requireMarker: true\n")
		e := newSession(t, fixture{})
		e.initialize(dir, nil)
		unmarked := strings.Replace(fmt.Sprintf(versionSvc, 1), "# zato: ide-deploy=True\n", "", 1)
		e.save(filepath.Join(dir, "lsp_unmarked.py"), unmarked)
		e.awaitLog("lsp_unmarked.py not deployed on save: it lacks the \"# zato: ide-deploy=True\" marker")
		from := e.mark()
		e.save(filepath.Join(dir, "lsp_marked.py"), fmt.Sprintf(versionSvc, 1))
		if st := e.awaitStatus(from, "lsp_marked.py", stateDeployed, stateFailed, statePartial); st.State != stateDeployed {
			t.Fatalf("%+v", st)
		}
		if n := len(e.statuses(0, "lsp_unmarked.py")); n != 0 {
			t.Fatalf("unmarked file got %d statuses", n)
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		var ae *deployclient.APIError
		if _, err := clusterClient(t, c, c.URL).Versions(ctx, "lsp_unmarked.py"); !errors.As(err, &ae) || ae.Status != 404 {
			t.Fatalf("the unmarked module reached the cluster: %v", err)
		}
		// An explicit zato.deploy is not subject to the marker rule.
		from = e.mark()
		var res map[string]string
		if err := e.command(cmdDeploy, []any{string(uri.File(filepath.Join(dir, "lsp_unmarked.py")))}, &res); err != nil {
			t.Fatal(err)
		}
		if st := e.awaitStatus(from, "lsp_unmarked.py", stateDeployed, stateFailed, statePartial); st.State != stateDeployed {
			t.Fatalf("%+v", st)
		}
	})

	t.Run("ZatoKindIsAccepted", func(t *testing.T) {
		// A stock Zato target (kind: zato) takes /ide-deploy and gives no per-server confirmation.
		dir := workspace(t, c, "kind: zato\n")
		e := newSession(t, fixture{})
		e.initialize(dir, nil)
		from := e.mark()
		e.save(filepath.Join(dir, "lsp_zato_kind.py"), fmt.Sprintf(versionSvc, 1))
		st := e.awaitStatus(from, "lsp_zato_kind.py", stateAccepted, stateFailed, stateUnreachable, stateUnauthorized)
		if st.State != stateAccepted || !strings.Contains(st.Message, "accepted by Zato: ") {
			t.Fatalf("%+v", st)
		}
		var res connectionResult
		if err := e.command(cmdTestConnection, nil, &res); err != nil || !res.OK {
			t.Fatalf("%+v %v", res, err)
		}
		for _, s := range c.Servers {
			if v := versionOn(t, c, s, "lsp-zato-kind.get-version"); v != 1 {
				t.Fatalf("%s serves version %d", s.Name, v)
			}
		}
	})

	t.Run("NamedTargetInCodeLensAndHover", func(t *testing.T) {
		// The default target is a dead address; the module goes to the named one, spelled in another case than in
		// the file. Code lens and hover show where it went.
		dir := t.TempDir()
		writeYAML(t, dir, fmt.Sprintf("url: http://127.0.0.1:9\nusername: %s\npassword: %q\ndeployOnSave: false\n"+
			"targets:\n  Cluster:\n    url: %s\n", c.Username, c.Password, c.URL))
		e := newSession(t, fixture{})
		e.initialize(dir, nil)
		path := filepath.Join(dir, "lsp_named_target.py")
		e.open(path, fmt.Sprintf(versionSvc, 1))
		from := e.mark()
		if err := e.command(cmdDeploy, []any{map[string]string{"uri": string(uri.File(path)), "target": "CLUSTER"}}, nil); err != nil {
			t.Fatal(err)
		}
		if st := e.awaitStatus(from, "lsp_named_target.py", stateDeployed, stateFailed, statePartial, stateUnreachable); st.State != stateDeployed || !strings.EqualFold(st.Target, "cluster") {
			t.Fatalf("%+v", st)
		}
		var lenses []struct{ Command struct{ Title string } }
		if err := e.call("textDocument/codeLens", map[string]any{"textDocument": map[string]any{"uri": string(uri.File(path))}}, &lenses); err != nil {
			t.Fatal(err)
		}
		if len(lenses) < 3 || !strings.HasPrefix(lenses[1].Command.Title, "Deployed 2/2 · ") || lenses[2].Command.Title != "Invoke" {
			t.Fatalf("lenses %+v", lenses)
		}
	})

	t.Run("TestConnectionAndShowStatus", func(t *testing.T) {
		dir := workspace(t, c, "")
		e := newSession(t, fixture{})
		e.initialize(dir, nil)
		var res connectionResult
		if err := e.command(cmdTestConnection, nil, &res); err != nil {
			t.Fatal(err)
		}
		if !res.OK || len(res.Servers) != 2 || !strings.Contains(res.Message, "2/2 servers live") {
			t.Fatalf("%+v", res)
		}
		var rep statusReport
		if err := e.command(cmdShowStatus, nil, &rep); err != nil {
			t.Fatal(err)
		}
		if rep.URL != c.URL || !rep.DeployOnSave || len(rep.Servers) != 2 {
			t.Fatalf("%+v", rep)
		}
	})
}

func TestE2EOfflineServer(t *testing.T) {
	c := testenv.StartCluster(t, testenv.Options{})
	c.Stop(t, "server2")
	dir := workspace(t, c, "")
	e := newSession(t, fixture{})
	e.initialize(dir, nil)
	path := filepath.Join(dir, "lsp_offline.py")
	from := e.mark()
	e.save(path, fmt.Sprintf(versionSvc, 1))
	st := e.awaitStatus(from, "lsp_offline.py", stateDeployed, stateFailed, statePartial)
	if st.State != statePartial || st.Confirmed != 1 || st.Expected != 2 {
		t.Fatalf("%+v", st)
	}
	byName := map[string]string{}
	for _, s := range st.Servers {
		byName[s.Name] = s.Status
	}
	if byName["server1"] != "deployed" || byName["server2"] != "offline" || !strings.Contains(st.Message, "server2 offline") {
		t.Fatalf("%+v", st)
	}
	if len(e.all(from, "window/showMessage")) != 1 {
		t.Fatalf("want one warning:\n%s", e.dump(from))
	}
	var lenses []struct{ Command struct{ Title string } }
	e.open(path, fmt.Sprintf(versionSvc, 1))
	if err := e.call("textDocument/codeLens", map[string]any{"textDocument": map[string]any{"uri": string(uri.File(path))}}, &lenses); err != nil {
		t.Fatal(err)
	}
	// Invoke too, but not "on every server": one server is live.
	if len(lenses) != 3 || !strings.HasPrefix(lenses[1].Command.Title, "Deployed 1/2 · offline: server2 · ") || lenses[2].Command.Title != "Invoke" {
		t.Fatalf("lenses %+v", lenses)
	}
	// server2 starts and applies the deployment: the editor's status follows, for the same deployment.
	from = e.mark()
	c.Start(t, "server2")
	caught := e.awaitStatus(from, "lsp_offline.py", stateDeployed)
	if caught.DeploymentID != st.DeploymentID || caught.Confirmed != 2 || !caught.Settled {
		t.Fatalf("after server2 started: %+v", caught)
	}
	if err := e.call("textDocument/codeLens", map[string]any{"textDocument": map[string]any{"uri": string(uri.File(path))}}, &lenses); err != nil {
		t.Fatal(err)
	}
	if len(lenses) != 3 || !strings.HasPrefix(lenses[1].Command.Title, "Deployed 2/2") {
		t.Fatalf("lenses after server2 started: %+v", lenses)
	}
}
