package lsp

import (
	"slices"
	"testing"

	"go.lsp.dev/protocol"
)

const scanModule = `from zato.server.service import Service, Integer, AsIs


class GetCustomer(Service):
    """ Returns a customer. """

    class SimpleIO:
        input_required = ('customer_id', Integer('limit'))
        input_optional = 'fields', AsIs('extra', default='x')  # a comment ('not_a_name')
        output_required = (
            'name',
            'email',
        )

    def handle(self):
        cid = self.request.input.customer_id
        nick = self.request.input.nickname  # not declared
        z = self.request.input.get('z')
        self.response.payload = self.invoke('crm.other', {'a': 1})
        self.invoke(name="crm.nope")
        self.invoke('bad' + suffix)


class Modern(Service):
    class SimpleIO:
        input = 'a', '-b'
        output = ('-c', 'd')

    def handle(self):
        self.request.input.b


class Inherited(Service):
    class SimpleIO(BaseIO):
        input_required = ('q',)

    def handle(self):
        self.request.input.anything


class Varied(Service):
    class SimpleIO:
        input_required = COMMON + ('q',)


class NoSIO(Service):
    def handle(self):
        self.request.input.whatever
`

func TestAnalyzeServices(t *testing.T) {
	infos := analyzeServices(scanModule, "crm.py")
	if len(infos) != 5 {
		t.Fatalf("%d classes", len(infos))
	}
	gc := infos[0]
	if gc.name != "crm.get-customer" || gc.line != 3 || gc.end != 23 {
		t.Fatalf("%+v", gc)
	}
	sio := gc.sio
	if !sio.declared || !sio.complete || !slices.Equal(sio.inReq, []string{"customer_id", "limit"}) ||
		!slices.Equal(sio.inOpt, []string{"fields", "extra"}) || !slices.Equal(sio.outReq, []string{"name", "email"}) {
		t.Fatalf("%+v", sio)
	}
	m := infos[1].sio
	if !m.complete || !slices.Equal(m.inReq, []string{"a"}) || !slices.Equal(m.inOpt, []string{"b"}) ||
		!slices.Equal(m.outReq, []string{"d"}) || !slices.Equal(m.outOpt, []string{"c"}) {
		t.Fatalf("modern %+v", m)
	}
	if s := infos[2].sio; !s.declared || s.complete {
		t.Fatalf("inherited %+v", s)
	}
	if s := infos[3].sio; !s.declared || s.complete {
		t.Fatalf("variables %+v", s)
	}
	if s := infos[4].sio; s.declared {
		t.Fatalf("none %+v", s)
	}
	if got := string(requestTemplate(gc.sio)); got != "{\n  \"customer_id\": null,\n  \"limit\": null,\n  \"fields\": null,\n  \"extra\": null\n}\n" {
		t.Fatalf("template %q", got)
	}
	if got := string(requestTemplate(infos[4].sio)); got != "{}\n" {
		t.Fatalf("template %q", got)
	}
}

func TestFindInvokesAndInputs(t *testing.T) {
	refs := findInvokes(scanModule)
	if len(refs) != 2 || refs[0].name != "crm.other" || refs[1].name != "crm.nope" {
		t.Fatalf("%+v", refs)
	}
	// self.response.payload = self.invoke('crm.other', ...): the name's columns.
	if r := refs[0]; r.line != 18 || r.start != 45 || r.end != 54 {
		t.Fatalf("%+v", r)
	}
	if r, ok := invokeAt(scanModule, 18, 50); !ok || r.name != "crm.other" {
		t.Fatalf("%+v %v", r, ok)
	}
	if _, ok := invokeAt(scanModule, 18, 20); ok {
		t.Fatal("outside the name")
	}
	lines := splitLines(scanModule)
	ins := findInputRefs(lines, 4, 23)
	if len(ins) != 2 || ins[0].field != "customer_id" || ins[1].field != "nickname" || ins[1].start != 34 {
		t.Fatalf("%+v", ins)
	}
}

func TestInvokeCompletionAt(t *testing.T) {
	src := "class A(Service):\n    def handle(self):\n        self.invoke('crm.ge')\n        self.invoke(\"x\n        foo('a')\n"
	// Cursor after "crm.ge" (column 26): the literal runs from 21 to the closing quote at 27.
	sp, ok := invokeCompletionAt(src, 2, 26)
	if !ok || sp.start != 21 || sp.end != 27 || sp.typed != "crm.g" {
		t.Fatalf("%+v %v", sp, ok)
	}
	if sp, ok := invokeCompletionAt(src, 3, 21); !ok || sp.start != 21 || sp.end != 21 || sp.typed != "" {
		t.Fatalf("open literal %+v %v", sp, ok)
	}
	if _, ok := invokeCompletionAt(src, 4, 13); ok {
		t.Fatal("not an invoke")
	}
}

func TestWorkspaceFileForAndRendering(t *testing.T) {
	dir := t.TempDir()
	mod := dir + "/crm.py"
	if got := workspaceFileFor("/srv/server1/work/hot-deploy/current/crm.py", mod); got != mod {
		t.Fatal(got)
	}
	if got := workspaceFileFor("/usr/lib/python3/json/__init__.py", mod); got != "" {
		t.Fatal(got)
	}
	inv := &invocation{path: mod, module: "crm.py"}
	res := &invokeResult{Service: "crm.x", Server: "server1", URL: "http://h:1", Status: 500, DurationMs: 2.5,
		Response: []byte(`{"error":{"type":"ZeroDivisionError"}}`),
		Error: &invokeError{Type: "ZeroDivisionError", Message: "division by zero",
			Traceback: "Traceback (most recent call last):\n  File \"/srv/current/crm.py\", line 7, in handle\n    1/0\nZeroDivisionError: division by zero\n"}}
	res.Title = resultTitleLine(res)
	txt, locs := renderInvoke(res, inv)
	if res.Title != "crm.x on server1: 500 ZeroDivisionError in 2.5 ms" {
		t.Fatal(res.Title)
	}
	if len(locs) != 1 || locs[0].Line != 6 || locs[0].Function != "handle" {
		t.Fatalf("%+v\n%s", locs, txt)
	}
	l := splitLines(txt)[locs[0].TextLine]
	if l[locs[0].Start:locs[0].End] != `/srv/current/crm.py", line 7` {
		t.Fatalf("link %q in %q", l[locs[0].Start:locs[0].End], l)
	}
}

func TestCompletionList(t *testing.T) {
	snap := &servicesSnap{list: []*liveService{{Name: "a.b", Module: "a.py", Class: "B", Servers: []string{"server1"}}}}
	r := protocol.Range{Start: protocol.Position{Line: 3, Character: 5}, End: protocol.Position{Line: 3, Character: 7}}
	// An editor without itemDefaults gets the range in every item.
	l := completionList(snap, place{target: "default"}, r, false)
	te, ok := l.Items[0].TextEdit.(*protocol.TextEdit)
	if l.ItemDefaults != nil || !ok || te.Range != r || te.NewText != "a.b" || func() bool { d, _ := l.Items[0].Detail.Get(); return d != "a.py" }() {
		t.Fatalf("%+v", l)
	}
	l = completionList(snap, place{target: "default"}, r, true)
	if l.ItemDefaults == nil || l.ItemDefaults.EditRange.(*protocol.Range).Start.Character != 5 || l.Items[0].TextEdit != nil {
		t.Fatalf("%+v", l)
	}
}

// stripComment and bracketDepth share one scan of the code outside string literals.
func TestCodeOutsideStrings(t *testing.T) {
	for _, c := range []struct {
		in, code string
		depth    int
	}{
		{`x = ('a', 'b')  # (`, `x = ('a', 'b')  `, 0},
		{`x = ('#', "(")`, `x = ('#', "(")`, 0},
		{`x = ('it\'s # not', [`, `x = ('it\'s # not', [`, 2},
		{`x = ("a\"(", {`, `x = ("a\"(", {`, 2},
		{`)]`, `)]`, -2},
		{`'open # string`, `'open # string`, 0},
		{`# all comment (`, ``, 0},
	} {
		if got := stripComment(c.in); got != c.code {
			t.Errorf("stripComment(%q) = %q, want %q", c.in, got, c.code)
		}
		if got := bracketDepth(c.code); got != c.depth {
			t.Errorf("bracketDepth(%q) = %d, want %d", c.code, got, c.depth)
		}
	}
}
