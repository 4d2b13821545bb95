package lsp

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.lsp.dev/uri"

	"github.com/zato-go/zato/internal/testenv"
)

// Issue 14 items 1 and 3 end to end: invoke from the editor, and service-aware editing, through the language server
// against a real cluster.

// invokeSvc: Echo has a SimpleIO; Where answers with the server's name (so servers differ); Boom fails at line 20.
const invokeSvc = `from zato.server.service import Service


class Echo(Service):
    class SimpleIO:
        input_required = ('name',)
        input_optional = ('greeting',)

    def handle(self):
        self.response.payload = {'hello': self.request.input.name, 'version': %d}


class Where(Service):
    def handle(self):
        self.response.payload = {'server': self.server_name}


class Boom(Service):
    def handle(self):
        return 1 / 0
`

const boomLine = 19 // 0-based line of "return 1 / 0"

type lens struct {
	Command struct {
		Title     string
		Command   string
		Arguments []json.RawMessage
	}
	Range struct{ Start struct{ Line int } }
}

func (e *editor) lenses(path string) []lens {
	e.t.Helper()
	var out []lens
	if err := e.call("textDocument/codeLens", map[string]any{"textDocument": map[string]any{"uri": string(uri.File(path))}}, &out); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// awaitLenses asks for code lenses until ok accepts them, waiting for the server's workspace/codeLens/refresh
// between tries.
func (e *editor) awaitLenses(path string, ok func([]lens) bool) []lens {
	e.t.Helper()
	for {
		from := e.mark()
		ls := e.lenses(path)
		if ok(ls) {
			return ls
		}
		e.awaitFrom(from, "workspace/codeLens/refresh", func(message) bool { return true })
	}
}

func titles(ls []lens) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.Command.Title)
	}
	return out
}

func countTitle(ls []lens, title string) int {
	n := 0
	for _, l := range ls {
		if l.Command.Title == title {
			n++
		}
	}
	return n
}

func (e *editor) invoke(cmd string, arg any, out any) {
	e.t.Helper()
	if err := e.command(cmd, []any{arg}, out); err != nil {
		e.t.Fatalf("%s: %v", cmd, err)
	}
}

func TestE2EInvoke(t *testing.T) {
	c := testenv.StartCluster(t, testenv.Options{})
	dir := workspace(t, c, "")
	e := newSession(t, fixture{})
	e.initialize(dir, nil)
	path := filepath.Join(dir, "lsp_invoke.py")
	u := string(uri.File(path))
	e.open(path, fmt.Sprintf(invokeSvc, 1))
	from := e.mark()
	e.save(path, fmt.Sprintf(invokeSvc, 1))
	if st := e.awaitStatus(from, "lsp_invoke.py", stateDeployed, stateFailed, statePartial); st.State != stateDeployed {
		t.Fatalf("%+v", st)
	}

	t.Run("LensesOverDeployedClasses", func(t *testing.T) {
		// Every class gets Invoke and, with two live servers, Invoke on every server, beside Deploy and the result.
		ls := e.awaitLenses(path, func(ls []lens) bool { return countTitle(ls, "Invoke on every server") == 3 })
		if countTitle(ls, "Invoke") != 3 || countTitle(ls, "Deploy to Zato") != 3 || ls[0].Command.Title != "Deploy to Zato" ||
			!strings.HasPrefix(ls[1].Command.Title, "Deployed 2/2 · ") {
			t.Fatalf("%v", titles(ls))
		}
		for _, l := range ls {
			if l.Command.Title != "Invoke" {
				continue
			}
			var arg invokeArg
			if err := json.Unmarshal(l.Command.Arguments[0], &arg); err != nil || arg.URI != u ||
				!slices.Contains([]string{"lsp-invoke.echo", "lsp-invoke.where", "lsp-invoke.boom"}, arg.Service) || l.Command.Command != cmdInvoke {
				t.Fatalf("%+v %v", arg, err)
			}
		}
		// A class the cluster does not serve has no Invoke lens.
		other := filepath.Join(dir, "lsp_not_deployed.py")
		e.open(other, strings.ReplaceAll(fmt.Sprintf(invokeSvc, 1), "class ", "class Not"))
		if ls := e.lenses(other); countTitle(ls, "Invoke") != 0 || countTitle(ls, "Deploy to Zato") != 3 {
			t.Fatalf("not deployed: %v", titles(ls))
		}
	})

	t.Run("RequestFileCreatedFromSimpleIO", func(t *testing.T) {
		var res invokeResult
		e.invoke(cmdInvoke, map[string]string{"uri": u, "service": "lsp-invoke.echo"}, &res)
		reqFile := filepath.Join(dir, ".zato", "requests", "lsp-invoke.echo.json")
		b, err := os.ReadFile(reqFile)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != "{\n  \"name\": null,\n  \"greeting\": null\n}\n" {
			t.Fatalf("template %q", b)
		}
		// The template's null for a required input is what the server says is missing.
		if !res.RequestCreated || res.RequestFile != string(uri.File(reqFile)) || res.Status != 400 || res.OK ||
			res.Error == nil || res.Error.Type != "BadInput" || !strings.Contains(res.Error.Message, "name") {
			t.Fatalf("%+v", res)
		}
		if err := os.WriteFile(reqFile, []byte(`{"name": "Ann"}`), 0o644); err != nil {
			t.Fatal(err)
		}
		res = invokeResult{}
		e.invoke(cmdInvoke, map[string]string{"uri": u, "service": "lsp-invoke.echo"}, &res)
		var body struct {
			Hello   string
			Version int
		}
		if err := json.Unmarshal(res.Response, &body); err != nil || body.Hello != "Ann" || body.Version != 1 {
			t.Fatalf("%s %v", res.Response, err)
		}
		// The answering server is named (the target's URL is server1's), with the status, the time and the text.
		if res.RequestCreated || res.Status != 200 || !res.OK || res.Server != "server1" || res.URL != c.URL || res.DurationMs <= 0 ||
			res.Error != nil || !strings.Contains(res.Text, `"hello": "Ann"`) || !strings.HasPrefix(res.Title, "lsp-invoke.echo on server1: 200 OK in ") ||
			!strings.Contains(res.Text, "// request: .zato/requests/lsp-invoke.echo.json") {
			t.Fatalf("%+v", res)
		}
		// A payload passed by the editor wins over the file.
		res = invokeResult{}
		e.invoke(cmdInvoke, map[string]any{"uri": u, "service": "lsp-invoke.echo", "payload": map[string]string{"name": "Bob"}}, &res)
		if err := json.Unmarshal(res.Response, &body); err != nil || body.Hello != "Bob" || res.RequestFile != "" {
			t.Fatalf("%+v", res)
		}
		// Without a service name: the class around the given line.
		res = invokeResult{}
		e.invoke(cmdInvoke, map[string]any{"uri": u, "line": 14}, &res)
		if res.Service != "lsp-invoke.where" || res.Status != 200 {
			t.Fatalf("%+v", res)
		}
	})

	t.Run("FirstInvokeAfterSaveWaitsForItsDeployment", func(t *testing.T) {
		// Save, then invoke at once: the answer comes from the saved code, on the deployment it waited for.
		e.save(path, fmt.Sprintf(invokeSvc, 2))
		var res invokeResult
		e.invoke(cmdInvoke, map[string]any{"uri": u, "service": "lsp-invoke.echo", "payload": map[string]string{"name": "Cy"}}, &res)
		var body struct{ Version int }
		if err := json.Unmarshal(res.Response, &body); err != nil || body.Version != 2 {
			t.Fatalf("answered by version %d: %+v", body.Version, res)
		}
		if res.Deployment == nil || res.Deployment.State != stateDeployed || res.Deployment.Confirmed != 2 ||
			!strings.Contains(res.Text, "// waited for the save's deployment: lsp_invoke.py deployed to 2/2 servers") {
			t.Fatalf("%+v", res)
		}
		// The next one has nothing to wait for.
		res = invokeResult{}
		e.invoke(cmdInvoke, map[string]any{"uri": u, "service": "lsp-invoke.echo", "payload": map[string]string{"name": "Cy"}}, &res)
		if res.Deployment != nil || res.Status != 200 {
			t.Fatalf("%+v", res)
		}
	})

	t.Run("ErrorShowsTracebackWithLinks", func(t *testing.T) {
		var res invokeResult
		e.invoke(cmdInvoke, map[string]string{"uri": u, "service": "lsp-invoke.boom"}, &res)
		if res.Status != 500 || res.OK || res.Error == nil || res.Error.Type != "ZeroDivisionError" || !strings.Contains(res.Error.Traceback, "Traceback") {
			t.Fatalf("%+v", res)
		}
		i := slices.IndexFunc(res.Locations, func(l traceLocation) bool { return l.URI == u })
		if i < 0 {
			t.Fatalf("no location in the module: %+v\n%s", res.Locations, res.Text)
		}
		loc := res.Locations[i]
		lines := strings.Split(res.Text, "\n")
		if loc.Line != boomLine || loc.Function != "handle" || !strings.Contains(lines[loc.TextLine], "lsp_invoke.py\", line 20") ||
			!strings.Contains(lines[loc.TextLine][loc.Start:loc.End], "lsp_invoke.py\", line 20") {
			t.Fatalf("%+v in\n%s", loc, res.Text)
		}
		if !strings.Contains(res.Text, "// ZeroDivisionError: division by zero") {
			t.Fatalf("text:\n%s", res.Text)
		}
	})

	t.Run("InvokeEverywhereFlagsDifferences", func(t *testing.T) {
		var res everywhereResult
		e.invoke(cmdInvokeEverywhere, map[string]any{"uri": u, "service": "lsp-invoke.echo", "payload": map[string]string{"name": "Di"}}, &res)
		if len(res.Results) != 2 || !res.Same || len(res.Differs) != 0 || res.Results[0].Server != "server1" || res.Results[1].Server != "server2" {
			t.Fatalf("%+v", res)
		}
		for _, r := range res.Results {
			if r.Status != 200 || !strings.Contains(canonicalJSON(r.Response), `"hello":"Di"`) {
				t.Fatalf("%+v", r)
			}
		}
		res = everywhereResult{}
		e.invoke(cmdInvokeEverywhere, map[string]any{"uri": u, "service": "lsp-invoke.where"}, &res)
		if res.Same || !slices.Equal(res.Differs, []string{"server2"}) || !strings.Contains(res.Text, "server2  ≠ DIFFERS") ||
			!strings.Contains(res.Title, "server2 answered differently") {
			t.Fatalf("%+v\n%s", res, res.Text)
		}
		// Side by side: one line holds both servers' answers.
		if !strings.Contains(res.Text, `"server": "server1"`) || !strings.Contains(res.Text, " │ ") {
			t.Fatalf("%s", res.Text)
		}
		for _, l := range strings.Split(res.Text, "\n") {
			if strings.Contains(l, `"server": "server1"`) && !strings.Contains(l, `"server": "server2"`) {
				t.Fatalf("not side by side: %q\n%s", l, res.Text)
			}
		}
	})
}

// The caller module of the service-aware editing test; line numbers (0-based) are in the test.
const callerSvc = `from zato.server.service import Service


class Caller(Service):
    class SimpleIO:
        input_required = ('customer_id',)

    def handle(self):
        a = self.invoke('lsp-aware-target.get-customer', {'customer_id': self.request.input.customer_id})
        b = self.invoke("lsp-aware-target.archive")
        c = self.request.input.nickname
        d = self.invoke('lsp-aware-t')
`

const awareTarget = `from zato.server.service import Service


class GetCustomer(Service):
    class SimpleIO:
        input_required = ('customer_id',)
        input_optional = ('fields',)
        output_required = ('name',)

    def handle(self):
        self.response.payload = {'name': 'Ann'}
%s`

const archiveClass = `

class Archive(Service):
    def handle(self):
        pass
`

type diagnostic struct {
	Range struct {
		Start, End struct{ Line, Character int }
	}
	Severity int
	Code     string
	Source   string
	Message  string
}

// awaitDiagnostics waits for a publishDiagnostics of a file that ok accepts.
func (e *editor) awaitDiagnostics(from int, u string, ok func([]diagnostic) bool) []diagnostic {
	e.t.Helper()
	var got []diagnostic
	e.awaitFrom(from, "textDocument/publishDiagnostics", func(m message) bool {
		var p struct {
			URI         string
			Diagnostics []diagnostic
		}
		if json.Unmarshal(m.Params, &p) != nil || p.URI != u {
			return false
		}
		got = p.Diagnostics
		return ok(p.Diagnostics)
	})
	return got
}

func TestE2EServiceAwareEditing(t *testing.T) {
	c := testenv.StartCluster(t, testenv.Options{})
	dir := workspace(t, c, "")
	e := newSession(t, fixture{})
	e.initialize(dir, nil)
	// The target module is saved (deployed) but never opened: go to definition finds it in the workspace.
	target := filepath.Join(dir, "lsp_aware_target.py")
	from := e.mark()
	e.save(target, fmt.Sprintf(awareTarget, ""))
	if st := e.awaitStatus(from, "lsp_aware_target.py", stateDeployed, stateFailed, statePartial); st.State != stateDeployed {
		t.Fatalf("%+v", st)
	}
	caller := filepath.Join(dir, "sub", "lsp_aware_caller.py")
	if err := os.MkdirAll(filepath.Dir(caller), 0o755); err != nil {
		t.Fatal(err)
	}
	cu := string(uri.File(caller))
	from = e.mark()
	e.open(caller, callerSvc)

	// Warnings: the two names no server serves, and the input field SimpleIO does not declare. The served name
	// and the declared field get none.
	byCode := func(ds []diagnostic, code string) []diagnostic {
		var out []diagnostic
		for _, d := range ds {
			if d.Code == code {
				out = append(out, d)
			}
		}
		return out
	}
	ds := e.awaitDiagnostics(from, cu, func(ds []diagnostic) bool { return len(ds) == 3 })
	unknown := byCode(ds, codeUnknownService)
	if len(unknown) != 2 || unknown[0].Range.Start.Line != 9 || unknown[0].Range.Start.Character != 25 || unknown[0].Range.End.Character != 49 ||
		unknown[0].Severity != 2 || unknown[0].Source != "zato" || !strings.Contains(unknown[0].Message, `"lsp-aware-target.archive"`) ||
		unknown[1].Range.Start.Line != 11 {
		t.Fatalf("%+v", ds)
	}
	input := byCode(ds, codeUnknownInput)
	if len(input) != 1 || input[0].Range.Start.Line != 10 || input[0].Range.Start.Character != 31 || input[0].Range.End.Character != 39 ||
		input[0].Severity != 2 || !strings.Contains(input[0].Message, `"nickname" is not in Caller's SimpleIO input (it declares customer_id)`) {
		t.Fatalf("%+v", input)
	}

	t.Run("Completion", func(t *testing.T) {
		// Inside self.invoke('lsp-aware-t'), after the t (line 11, column 36).
		// The editor takes itemDefaults (as VS Code does): the range every item replaces comes once.
		type item struct {
			Label, Detail string
			Kind          int
			Data          json.RawMessage
			Documentation struct{ Value string }
		}
		var list struct {
			IsIncomplete bool
			ItemDefaults struct {
				EditRange struct {
					Start, End struct{ Line, Character int }
				}
			}
			Items []item
		}
		if err := e.call("textDocument/completion", map[string]any{"textDocument": map[string]any{"uri": cu},
			"position": map[string]any{"line": 11, "character": 36}}, &list); err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(list.Items, func(it item) bool { return it.Label == "lsp-aware-target.get-customer" })
		if i < 0 || list.IsIncomplete {
			t.Fatalf("%+v", list)
		}
		it := list.Items[i]
		r := list.ItemDefaults.EditRange
		if it.Detail != "lsp_aware_target.py" || r.Start.Line != 11 || r.Start.Character != 25 || r.End.Character != 36 {
			t.Fatalf("%+v %+v", it, r)
		}
		// Resolving an item adds its class and servers.
		var resolved item
		if err := e.call("completionItem/resolve", map[string]any{"label": it.Label, "data": json.RawMessage(`{"t":"default"}`)}, &resolved); err != nil {
			t.Fatal(err)
		}
		if resolved.Documentation.Value != "Class `GetCustomer` in `lsp_aware_target.py`, served by `server1`, `server2`" {
			t.Fatalf("%+v", resolved)
		}
		// Elsewhere: nothing.
		var none any
		if err := e.call("textDocument/completion", map[string]any{"textDocument": map[string]any{"uri": cu},
			"position": map[string]any{"line": 10, "character": 12}}, &none); err != nil || none != nil {
			t.Fatalf("%v %v", none, err)
		}
	})

	t.Run("Hover", func(t *testing.T) {
		var h struct{ Contents struct{ Value string } }
		if err := e.call("textDocument/hover", map[string]any{"textDocument": map[string]any{"uri": cu},
			"position": map[string]any{"line": 8, "character": 30}}, &h); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"**Zato service** `lsp-aware-target.get-customer`", "Module `lsp_aware_target.py`, class `GetCustomer`",
			"served by `server1`, `server2`", "- Input: required `customer_id`; optional `fields`", "- Output: required `name`",
			"Defined in `lsp_aware_target.py` at line 4."} {
			if !strings.Contains(h.Contents.Value, want) {
				t.Fatalf("no %q in hover:\n%s", want, h.Contents.Value)
			}
		}
		h.Contents.Value = ""
		if err := e.call("textDocument/hover", map[string]any{"textDocument": map[string]any{"uri": cu},
			"position": map[string]any{"line": 9, "character": 30}}, &h); err != nil || !strings.Contains(h.Contents.Value, "No server of target") {
			t.Fatalf("%q %v", h.Contents.Value, err)
		}
	})

	t.Run("Definition", func(t *testing.T) {
		var loc struct {
			URI   string
			Range struct{ Start, End struct{ Line, Character int } }
		}
		if err := e.call("textDocument/definition", map[string]any{"textDocument": map[string]any{"uri": cu},
			"position": map[string]any{"line": 8, "character": 30}}, &loc); err != nil {
			t.Fatal(err)
		}
		if loc.URI != string(uri.File(target)) || loc.Range.Start.Line != 3 || loc.Range.Start.Character != 6 || loc.Range.End.Character != 17 {
			t.Fatalf("%+v", loc)
		}
	})

	t.Run("WarningsFollowTheClusterAndTheBuffer", func(t *testing.T) {
		// Deploying a module that serves the missing name clears its warning (the listing is refreshed on the
		// deployment's status).
		from := e.mark()
		e.save(target, fmt.Sprintf(awareTarget, archiveClass))
		ds := e.awaitDiagnostics(from, cu, func(ds []diagnostic) bool { return len(ds) == 2 })
		if u := byCode(ds, codeUnknownService); len(u) != 1 || u[0].Range.Start.Line != 11 {
			t.Fatalf("%+v", ds)
		}
		// Declaring the field in SimpleIO clears the other.
		from = e.mark()
		e.notify("textDocument/didChange", map[string]any{"textDocument": map[string]any{"uri": cu, "version": 2},
			"contentChanges": []any{map[string]any{"text": strings.Replace(callerSvc, "input_required = ('customer_id',)", "input_required = ('customer_id',)\n        input_optional = ('nickname',)", 1)}}})
		ds = e.awaitDiagnostics(from, cu, func(ds []diagnostic) bool { return len(ds) == 1 })
		if ds[0].Code != codeUnknownService {
			t.Fatalf("%+v", ds)
		}
	})
}
