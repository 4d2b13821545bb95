package lsp

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zato-go/zato/deployclient"
)

// Tests that need no cluster: parsing, configuration, diagnostics, and a target nobody answers at.

func TestFindServices(t *testing.T) {
	src := "# zato: ide-deploy=True\n" +
		"from zato.server.service import Service\n" +
		"import zato.server.service as zs\n\n" +
		"class ListOverdueInvoices(Service):\n" +
		"    class SimpleIO:\n" +
		"        name = 'not-this-one'\n" +
		"    def handle(self):\n" +
		"        pass\n\n" +
		"class Named(zs.Service):\n" +
		"    \"\"\" Doc. \"\"\"\n" +
		"    name = \"billing.named\"\n\n" +
		"class Helper(object):\n" +
		"    name = 'helper'\n\n" +
		"class MyHTTPService(\n" +
		"        AdminService, Mixin):\n" +
		"    pass\n" +
		"class ÜberService(Service): pass\n"
	got := findServices(src, "billing_invoice.py")
	want := []serviceClass{
		{class: "ListOverdueInvoices", name: "billing-invoice.list-overdue-invoices", line: 4, nameStart: 6, nameEnd: 25},
		{class: "Named", name: "billing.named", explicit: true, line: 10, nameStart: 6, nameEnd: 11},
		{class: "MyHTTPService", name: "billing-invoice.my-http-service", line: 17, nameStart: 6, nameEnd: 19},
		{class: "ÜberService", name: "billing-invoice.über-service", line: 20, nameStart: 6, nameEnd: 17},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	// Zato's rule (uncamelify, then dashes for underscores in the module part only); the runtime's Python has the
	// same table (server/runtime TestDerivedNames).
	for _, c := range []struct{ module, class, want string }{
		{"crm_channel_customer", "GetCustomer", "crm-channel-customer.get-customer"},
		{"crm_channel_customer", "HTTPGetter", "crm-channel-customer.http-getter"},
		{"crm_channel_customer", "get_user", "crm-channel-customer.get_user"},
		{"crm_channel_customer", "Ping2Server", "crm-channel-customer.ping2-server"},
		{"billing_invoice", "ListOverdueInvoices", "billing-invoice.list-overdue-invoices"},
		{"crm", "Get_Customer", "crm.get_customer"},
		{"Crm_Mod", "Foo", "crm--mod.foo"},
		{"crm", "Get2FA", "crm.get2fa"},
		{"api", "ILikeToReadWSDLDocs", "api.i-like-to-read-wsdl-docs"},
		{"m", "ÜberService", "m.über-service"},
	} {
		if got := derivedName(c.module, c.class); got != c.want {
			t.Errorf("%s.%s -> %s, want %s", c.module, c.class, got, c.want)
		}
	}
}

func TestMarkerAndGlobs(t *testing.T) {
	for src, want := range map[string]bool{
		"# zato: ide-deploy=True\nx=1": true, "x = 1\n  #  Zato:  IDE-deploy = true\n": true, "x = 1": false,
		"# zato: ide-deploy=False\n": false, "s = '# zato: ide-deploy=True'\n": false,
		"x = '''\n# zato: ide-deploy=True\n'''\n": false, "x = \"\"\"doc\n  # zato: ide-deploy=True\"\"\"\n": false,
		"x = '''a'''  # '''\n# zato: ide-deploy=True\n": true, "s = 'it\\'s \"\"\"'\n# zato: ide-deploy=True\n": true,
	} {
		if hasMarker(src) != want {
			t.Errorf("hasMarker(%q) != %v", src, want)
		}
	}
	c := config{include: defaultInclude, exclude: defaultExclude, roots: []string{"/w", "/second"}}
	for path, want := range map[string]bool{
		"/w/svc.py": true, "/w/pkg/svc.py": true, "/w/tests/test_svc.py": false, "/w/test_svc.py": false, "/w/svc_test.py": false,
		"/w/.venv/lib/x.py": false, "/w/venv/x.py": false, "/w/.git/hooks/x.py": false, "/w/notes.txt": false,
		"/elsewhere/svc.py": false, "/second/svc.py": true, "/second/tests/x.py": false, "/w2/svc.py": false, "/w/..x/svc.py": false,
	} {
		if c.matches(path) != want {
			t.Errorf("matches(%s) != %v", path, want)
		}
	}
	// No workspace folder (a single file opened): globs apply to the absolute path.
	if c := (config{include: defaultInclude, exclude: defaultExclude}); !c.matches("/elsewhere/svc.py") || c.matches("/elsewhere/tests/svc.py") {
		t.Error("globs without a workspace folder")
	}
	for path, want := range map[string]string{"/w/billing_invoice.py": "billing_invoice.py", "/w/my-svc.py": "", "/w/1x.py": ""} {
		if got := moduleName(path); got != want {
			t.Errorf("moduleName(%s) = %q", path, got)
		}
	}
}

func TestConfigLayers(t *testing.T) {
	dir := t.TempDir()
	writeYAML(t, dir, "url: http://file:1\nusername: fileuser\npassword: filepw\nrequireMarker: true\n"+
		"targets:\n  prod:\n    url: https://prod:1\n    passwordEnv: PROD_PW\n")
	env := map[string]string{"ZATO_USERNAME": "envuser", "ZATO_EXCLUDE": "**/skip/**,**/gen_*.py", "PROD_PW": "secret"}
	l := configLayers{folders: []string{dir}, getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	c, err := l.merge()
	if err != nil {
		t.Fatal(err)
	}
	if !c.deployOnSave || !c.requireMarker || c.file.Username != "envuser" || c.file.Password != "filepw" ||
		strings.Join(c.exclude, ",") != "**/skip/**,**/gen_*.py" || strings.Join(c.include, ",") != "**/*.py" {
		t.Fatalf("file+env: %+v", c)
	}
	// Editor layers: blank values do not hide earlier ones; later layers win; targets merge by name.
	l.init = decodeSettings(json.RawMessage(`{"url": "", "username": "inituser", "deployOnSave": false, "targets": {"prod": {"username": "ops"}}}`))
	l.workspace = decodeSettings(json.RawMessage(`{"zato": {"requireMarker": false, "defaultTarget": "prod", "include": []}}`))
	l.pushed = decodeSettings(json.RawMessage(`{"zato": {"username": "pushed"}}`))
	if c, err = l.merge(); err != nil {
		t.Fatal(err)
	}
	if c.deployOnSave || c.requireMarker || c.file.URL != "http://file:1" || c.file.Username != "pushed" || len(c.include) != 1 {
		t.Fatalf("editor layers: %+v", c)
	}
	name, cc, err := c.file.ResolveTarget("", l.getenv)
	if err != nil || name != "prod" || cc.URL != "https://prod:1" || cc.Username != "ops" || cc.Password != "secret" {
		t.Fatalf("target: %s %+v %v", name, cc, err)
	}
	// Each layer over the one below: initializationOptions over ZATO_*, workspace/configuration over
	// initializationOptions, didChangeConfiguration over both.
	l.init = decodeSettings(json.RawMessage(`{"username": "inituser", "include": ["init/**/*.py"]}`))
	l.workspace = decodeSettings(json.RawMessage(`{"zato": {"include": ["ws/**/*.py"]}}`))
	l.pushed = nil
	if c, err = l.merge(); err != nil || c.file.Username != "inituser" || strings.Join(c.include, ",") != "ws/**/*.py" {
		t.Fatalf("init over env, workspace over init: %+v %v", c, err)
	}
	l.pushed = decodeSettings(json.RawMessage(`{"zato": {"include": ["pushed/**/*.py"]}}`))
	if c, err = l.merge(); err != nil || strings.Join(c.include, ",") != "pushed/**/*.py" {
		t.Fatalf("pushed over workspace: %+v %v", c, err)
	}
	// Target names as the user typed them: viper lower-cases map keys, the lookup does not care.
	l = configLayers{folders: []string{dir}, getenv: l.getenv}
	writeYAML(t, dir, "defaultTarget: Prod\ntargets:\n  Prod:\n    url: https://prod:1\n  Staging:\n    url: https://staging:1\n")
	if c, err = l.merge(); err != nil {
		t.Fatal(err)
	}
	if name, cc, err := c.file.ResolveTarget("", l.getenv); err != nil || cc.URL != "https://prod:1" || !strings.EqualFold(name, "prod") {
		t.Fatalf("defaultTarget Prod: %s %+v %v", name, cc, err)
	}
	if _, cc, err := c.file.ResolveTarget("Staging", l.getenv); err != nil || cc.URL != "https://staging:1" {
		t.Fatalf("Staging: %+v %v", cc, err)
	}
	// No workspace file: ZATO_CONFIG gives the connection, deploy on save stays off.
	other := t.TempDir()
	cf := filepath.Join(other, "zato-client.yaml")
	if err := os.WriteFile(cf, []byte("url: http://cfg:2\nusername: u\npassword: p\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env = map[string]string{"ZATO_CONFIG": cf}
	l = configLayers{folders: []string{t.TempDir()}, getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	if c, err = l.merge(); err != nil || c.deployOnSave || c.file.URL != "http://cfg:2" {
		t.Fatalf("ZATO_CONFIG: %+v %v", c, err)
	}
	// A broken file is an error, not a silent default.
	writeYAML(t, dir, "url: [unclosed\n")
	if _, err := (configLayers{folders: []string{dir}}).merge(); err == nil {
		t.Fatal("a broken .zato.yaml was accepted")
	}
}

func TestDiagnosticsFor(t *testing.T) {
	src := "x = 1\ns = 'é😀' + (\n"
	synErr := &deployclient.DeployError{Type: "SyntaxError", Message: "'(' was never closed", Line: 2, Column: 10}
	d := deployclient.Deployment{Servers: []deployclient.ServerStatus{
		{Name: "server1", Status: "failed", Error: synErr},
		{Name: "server2", Status: "failed", Error: synErr},
		{Name: "server3", Status: "failed", Error: &deployclient.DeployError{Type: "ImportError", Message: "no module named x"}},
		{Name: "server4", Status: "deployed"},
	}}
	ds := diagnosticsFor(src, d)
	if len(ds) != 2 {
		t.Fatalf("%+v", ds)
	}
	// Column 10 counts code points: 's', ' ', '=', ' ', '\'', 'é', '😀', '\'', ' ', '+' -> the 10th is '+'; the
	// emoji is two UTF-16 units, so '+' is at UTF-16 column 10.
	r := ds[0].Range
	if r.Start.Line != 1 || r.Start.Character != 10 || r.End.Character != 13 || fmt.Sprint(ds[0].Message) != "SyntaxError: '(' was never closed (server1, server2)" {
		t.Fatalf("%+v %v", r, ds[0].Message)
	}
	if r := ds[1].Range; r.Start.Line != 0 || r.Start.Character != 0 || r.End.Character != 5 {
		t.Fatalf("no line: %+v", r)
	}
	if len(diagnosticsFor(src, deployclient.Deployment{Servers: []deployclient.ServerStatus{{Name: "s", Status: "deployed"}}})) != 0 {
		t.Fatal("a success must clear diagnostics")
	}
}

// TestUnreachableTarget: nothing listens at the URL. The state says so, the retries say when, the progress
// degrades to log messages for an editor without window.workDoneProgress, and a newer save supersedes the retries.
func TestUnreachableTarget(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close()
	dir := t.TempDir()
	writeYAML(t, dir, "url: "+url+"\nusername: admin\npassword: x\n")
	e := newSession(t, fixture{})
	params := map[string]any{"rootUri": "file://" + dir, "capabilities": map[string]any{}}
	if err := e.call("initialize", params, nil); err != nil {
		t.Fatal(err)
	}
	e.notify("initialized", map[string]any{})
	e.awaitLog("Zato: target default at " + url)
	path := filepath.Join(dir, "far_away.py")
	e.save(path, fmt.Sprintf(versionSvc, 1))
	st := e.awaitStatus(0, "far_away.py", stateUnreachable)
	if !strings.Contains(st.Message, "Cannot reach Zato at "+url) || !strings.Contains(st.Message, "connection refused") ||
		!strings.Contains(st.Message, "Trying again in 1s") {
		t.Fatalf("%+v", st)
	}
	e.awaitLog("Zato: Deploying far_away.py") // no $/progress support: the progress is in the log
	e.await("window/showMessage", func(m message) bool { return strings.Contains(string(m.Params), "Cannot reach Zato") })
	if n := len(e.all(0, "$/progress")); n != 0 {
		t.Fatalf("%d $/progress for an editor that does not support it", n)
	}
	// The next save replaces the one being retried.
	from := e.mark()
	e.save(path, fmt.Sprintf(versionSvc, 2))
	e.awaitStatus(from, "far_away.py", stateQueued)
	e.awaitStatus(from, "far_away.py", stateUnreachable)
	if n := len(e.all(0, "window/showMessage")); n != 1 {
		t.Fatalf("the same failure was shown %d times", n)
	}

	var res connectionResult
	if err := e.command(cmdTestConnection, nil, &res); err != nil {
		t.Fatal(err)
	}
	if res.OK || res.State != stateUnreachable || res.URL != url {
		t.Fatalf("%+v", res)
	}
	var tog map[string]bool
	if err := e.command(cmdToggle, nil, &tog); err != nil || tog["deployOnSave"] {
		t.Fatalf("toggle: %v %v", tog, err)
	}
	e.save(filepath.Join(dir, "not_now.py"), "x = 1\n")
	var rep statusReport
	if err := e.command(cmdShowStatus, nil, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.DeployOnSave || rep.ServersError == "" || len(rep.Modules) != 1 || rep.Modules[0].Module != "far_away.py" {
		t.Fatalf("%+v", rep)
	}
	if err := e.command(cmdDeploy, []any{map[string]any{"uri": "file:///tmp/bad-name.py"}}, nil); err == nil {
		t.Fatal("a bad module name was accepted")
	}
}

// TestRunOverStdio drives Run with Content-Length framing, through to shutdown and exit.
func TestRunOverStdio(t *testing.T) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- Run(context.Background(), inR, outW, slog.New(slog.DiscardHandler)) }()
	rd := bufio.NewReader(outR)
	send := func(v any) {
		b, _ := json.Marshal(v)
		if _, err := fmt.Fprintf(inW, "Content-Length: %d\r\n\r\n%s", len(b), b); err != nil {
			t.Fatal(err)
		}
	}
	recv := func() map[string]any {
		n := 0
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			line = strings.TrimSpace(line)
			if line == "" {
				break
			}
			if v, ok := strings.CutPrefix(line, "Content-Length: "); ok {
				n, _ = strconv.Atoi(v)
			}
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(rd, b); err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return m
	}
	send(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": map[string]any{"capabilities": map[string]any{}}})
	for {
		m := recv()
		if m["id"] == float64(1) {
			caps := m["result"].(map[string]any)["capabilities"].(map[string]any)
			if cmds := caps["executeCommandProvider"].(map[string]any)["commands"].([]any); !slices.Contains(cmds, any(cmdDeploy)) {
				t.Fatalf("%v", caps)
			}
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, rd) }()
	send(map[string]any{"jsonrpc": "2.0", "id": 2, "method": "shutdown"})
	send(map[string]any{"jsonrpc": "2.0", "method": "exit"})
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(wait):
		t.Fatal("Run did not return after exit")
	}
}

// A setting the user cleared in the editor after the server started must not live on from initializationOptions:
// once the editor answers workspace/configuration, its answer replaces them.
func TestWorkspaceConfigurationSupersedesInitializationOptions(t *testing.T) {
	dir := t.TempDir()
	writeYAML(t, dir, "url: http://file.example:1\nusername: u\npassword: p\n")
	e := newSession(t, fixture{settings: map[string]any{"deployOnSave": true}})
	e.initialize(dir, map[string]any{"url": "http://init.example:2"})
	e.sync()
	e.srv.mu.Lock()
	url := e.srv.cfg.file.URL
	e.srv.mu.Unlock()
	if url != "http://file.example:1" {
		t.Fatalf("url %q: the initializationOptions' url outlived the editor's answer", url)
	}

	// An editor with no "zato" section (null) keeps them.
	e = newSession(t, fixture{})
	e.initialize(dir, map[string]any{"url": "http://init.example:2"})
	e.sync()
	e.srv.mu.Lock()
	url = e.srv.cfg.file.URL
	e.srv.mu.Unlock()
	if url != "http://init.example:2" {
		t.Fatalf("url %q: initializationOptions were dropped though the editor has no settings", url)
	}
}

// didSave never blocks: with an upload stuck on a server that accepted the connection and never answers, hover and
// code lens still answer (jsonrpc2 runs handlers one after another, so a blocking didSave would hold them).
func TestSaveDoesNotBlockOtherRequests(t *testing.T) {
	dir, accepted := stuckWorkspace(t)
	e := newSession(t, fixture{})
	e.initialize(dir, nil)
	path := filepath.Join(dir, "stuck.py")
	src := "from zato.server.service import Service\n\nclass Stuck(Service):\n    def handle(self):\n        pass\n"
	e.open(path, src)
	from := e.mark()
	e.save(path, src)
	e.awaitStatus(from, "stuck.py", stateUploading)
	select {
	case c := <-accepted:
		accepted <- c
	case <-time.After(wait):
		t.Fatal("the upload never reached the server")
	}
	var hover struct{ Contents struct{ Value string } }
	if err := e.call("textDocument/hover", map[string]any{"textDocument": map[string]any{"uri": "file://" + path},
		"position": map[string]any{"line": 2, "character": 8}}, &hover); err != nil {
		t.Fatal(err)
	}
	var lenses []struct{ Command struct{ Title string } }
	if err := e.call("textDocument/codeLens", map[string]any{"textDocument": map[string]any{"uri": "file://" + path}}, &lenses); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(hover.Contents.Value, "stuck.stuck") || len(lenses) == 0 || !strings.HasPrefix(lenses[len(lenses)-1].Command.Title, "Deploying") {
		t.Fatalf("hover %q, lenses %+v", hover.Contents.Value, lenses)
	}
	// And the upload is still stuck: nothing final was reported.
	for _, st := range e.statuses(from, "stuck.py") {
		if st.final() {
			t.Fatalf("final status while the server holds the upload: %+v", st)
		}
	}
}

// "Test Connection" with settings not saved yet honours insecureSkipVerify and timeout, as .zato.yaml would.
func TestTestConnectionWithUnsavedSettings(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"servers": [{"name": "server1", "state": "live"}]}`))
	}))
	defer srv.Close()
	e := newSession(t, fixture{})
	e.initialize(t.TempDir(), nil)
	for _, c := range []struct {
		arg  map[string]any
		want bool
	}{
		{map[string]any{"url": srv.URL, "username": "u", "password": "p"}, false}, // self-signed: refused
		{map[string]any{"url": srv.URL, "username": "u", "password": "p", "insecureSkipVerify": true, "timeout": "5s"}, true},
		{map[string]any{"url": srv.URL, "insecureSkipVerify": true, "timeout": "soon"}, false},
	} {
		var res connectionResult
		if err := e.command(cmdTestConnection, []any{c.arg}, &res); err != nil {
			t.Fatal(err)
		}
		if res.OK != c.want {
			t.Errorf("%v: %+v", c.arg, res)
		}
	}
}

// stuckWorkspace is a workspace whose .zato.yaml points at a server that accepts connections and never answers: an
// upload there stays in flight until the test ends. Each connection comes on accepted (a test that takes one puts it
// back, for the cleanup to close).
func stuckWorkspace(t *testing.T) (dir string, accepted chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted = make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c // held open, never answered
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for {
			select {
			case c := <-accepted:
				c.Close()
			default:
				return
			}
		}
	})
	dir = t.TempDir()
	writeYAML(t, dir, fmt.Sprintf("url: http://%s\nusername: u\npassword: p\n", ln.Addr()))
	return dir, accepted
}
