package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type recorder struct {
	mu    sync.Mutex
	lines []string
	size  int           // bytes of all lines
	wake  chan struct{} // signalled at each line, for waitFor
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	line := rec.Message
	rec.Attrs(func(a slog.Attr) bool { line += " " + a.String(); return true })
	r.lines = append(r.lines, line)
	r.size += len(line)
	if r.wake != nil {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// waitFor waits until a line holding s is logged, up to timeout.
func (r *recorder) waitFor(t testing.TB, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for !r.has(s) {
		select {
		case <-r.wake:
		case <-deadline.C:
			t.Fatalf("no log line with %q within %s", s, timeout)
		}
	}
}

func (r *recorder) bytes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.size
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }
func (r *recorder) has(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

func start(t testing.TB, cfg Config) (*Runtime, *recorder) {
	t.Helper()
	rec := &recorder{wake: make(chan struct{}, 1)}
	dir := t.TempDir()
	if cfg.Dir == "" {
		cfg.Dir = filepath.Join(dir, "runtime")
	}
	if cfg.ModuleDir == "" {
		cfg.ModuleDir = filepath.Join(dir, "current")
		os.MkdirAll(cfg.ModuleDir, 0o755)
	}
	cfg.Logger = slog.New(rec)
	r, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, rec
}

func load(t testing.TB, r *Runtime, module, src string) LoadResult {
	t.Helper()
	res, err := r.Load(context.Background(), module, "/srv/"+module, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func call(t testing.TB, r *Runtime, svc, payload string) (map[string]any, error) {
	t.Helper()
	var p []byte
	if payload != "" {
		p = []byte(payload)
	}
	out, err := r.Invoke(context.Background(), svc, p, InvokeOptions{CID: "cid-1"})
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		return map[string]any{"_raw": string(out)}, nil
	}
	return m, nil
}

const billing = `from zato.server.service import Service, Integer

class ListOverdueInvoices(Service):
    class SimpleIO:
        input_required = (Integer('min_days'),)
        input_optional = ('currency',)

    def before_handle(self):
        self.order = ['before']

    def handle(self):
        self.order.append('handle')
        self.logger.info('listing from %s', self.server_name)
        self.response.payload.min_days = self.request.input.min_days
        self.response.payload.currency = self.request.input.currency
        self.response.payload.cid = self.cid
        self.response.payload.segment = self.invoke('billing.segment', {'x': 1})
        self.response.payload.order = self.order

    def after_handle(self):
        self.order.append('after')

class Segment(Service):
    name = 'billing.segment'
    def handle(self):
        self.response.payload = ['smb', self.request.payload['x']]

class Base(Service):
    zato_dont_import = True

class Hidden(Service):
    zato_dont_import = False  # as in Zato: the attribute counts, not its value
`

func TestServicesAnswer(t *testing.T) {
	r, rec := start(t, Config{Server: "server1"})
	res := load(t, r, "billing_invoice.py", billing)
	if res.Error != nil || fmt.Sprint(res.Services) != "[billing-invoice.list-overdue-invoices billing.segment]" {
		t.Fatalf("%+v %v", res, res.Error)
	}
	out, err := call(t, r, "billing-invoice.list-overdue-invoices", `{"min_days": 30}`)
	if err != nil {
		t.Fatal(err)
	}
	if out["min_days"] != float64(30) || out["currency"] != nil || out["cid"] != "cid-1" || fmt.Sprint(out["segment"]) != "[smb 1]" || fmt.Sprint(out["order"]) != "[before handle after]" {
		t.Fatalf("%v", out)
	}
	if !rec.has("listing from server1") {
		t.Fatal("self.logger did not reach the log")
	}
	_, err = call(t, r, "billing-invoice.list-overdue-invoices", `{}`)
	var ie *InvokeError
	if !errors.As(err, &ie) || ie.Status != 400 || !strings.Contains(ie.Message, "min_days") {
		t.Fatalf("missing input: %v", err)
	}
	if _, err := call(t, r, "nope", ""); !errors.As(err, &ie) || ie.Status != 404 {
		t.Fatalf("unknown: %v", err)
	}
	// Strings are JSON strings.
	load(t, r, "s.py", "from zato.server.service import Service\nclass S(Service):\n    def handle(self):\n        print('to stderr, not the protocol')\n        self.response.payload = 'hi'\n")
	out2, err := r.Invoke(context.Background(), "s.s", nil, InvokeOptions{})
	if err != nil || string(out2) != `"hi"` {
		t.Fatalf("%s %v", out2, err)
	}
	svcs := r.Services()
	if len(svcs) != 3 || svcs[0].Module != "billing_invoice.py" {
		t.Fatalf("%+v", svcs)
	}
	// A service that raises BadInput itself answers 400, as its class says (it answered 500).
	load(t, r, "bad.py", "from zato.server.service import Service, BadInput\nclass B(Service):\n    def handle(self):\n        raise BadInput('customer_id must be positive')\n")
	if _, err := call(t, r, "bad.b", ""); !errors.As(err, &ie) || ie.Status != 400 || ie.Type != "BadInput" || ie.Message != "customer_id must be positive" {
		t.Fatalf("BadInput raised by a service: %v", err)
	}
	// NaN and infinities are not JSON (1e400 is valid JSON that Python reads as inf): the service's error says so,
	// rather than a reply the server cannot read.
	load(t, r, "nan.py", "from zato.server.service import Service\nclass N(Service):\n    def handle(self):\n"+
		"        self.response.payload = self.request.payload or {'nan': float('nan')}\n")
	for _, payload := range []string{"", `{"e": 1e400}`} {
		_, err = call(t, r, "nan.n", payload)
		if !errors.As(err, &ie) || ie.Status != 500 || !strings.Contains(ie.Message, "cannot be sent as JSON") {
			t.Errorf("a NaN in the response (payload %q): %v", payload, err)
		}
	}
	// What services commonly answer beyond plain JSON: times, Decimal, UUID, UTF-8 bytes, sets. Each gave a 500
	// "not JSON-serializable".
	load(t, r, "types.py", "import datetime, decimal, uuid\nfrom zato.server.service import Service\nclass T(Service):\n"+
		"    def handle(self):\n        self.response.payload = {'at': datetime.datetime(2026, 12, 1, 5, 6, 7), "+
		"'day': datetime.date(2026, 12, 1), 'amount': decimal.Decimal('10.10'), "+
		"'id': uuid.UUID('12345678-1234-5678-1234-567812345678'), 'raw': 'żółw'.encode('utf-8'), 'tags': {'b', 'a'}}\n")
	out3, err := r.Invoke(context.Background(), "types.t", nil, InvokeOptions{})
	if err != nil || string(out3) != `{"at": "2026-12-01T05:06:07", "day": "2026-12-01", "amount": "10.10", `+
		`"id": "12345678-1234-5678-1234-567812345678", "raw": "\u017c\u00f3\u0142w", "tags": ["a", "b"]}` {
		t.Errorf("%s %v", out3, err)
	}
}

func TestRedeployRemovesAndConflicts(t *testing.T) {
	r, _ := start(t, Config{})
	load(t, r, "a.py", "from zato.server.service import Service\nclass One(Service): pass\nclass Two(Service): pass\n")
	res := load(t, r, "a.py", "from zato.server.service import Service\nclass One(Service): pass\n")
	if fmt.Sprint(res.Removed) != "[a.two]" {
		t.Fatalf("removed %v", res.Removed)
	}
	if _, err := call(t, r, "a.two", ""); err == nil {
		t.Fatal("a removed service still answers")
	}
	res = load(t, r, "b.py", "from zato.server.service import Service\nclass X(Service):\n    name = 'a.one'\n")
	// The message says the way out of a renamed module meeting its old self.
	if res.Error == nil || res.Error.Type != "ServiceNameConflict" || res.Error.Message != "service a.one of b.py is already deployed from a.py; "+
		"if b.py replaces a.py, undeploy a.py first; if the service moved here from a.py, deploy a.py without it first; "+
		"else give one of the two services another name" {
		t.Fatalf("%+v", res.Error)
	}
	// Classes imported from elsewhere do not count.
	res = load(t, r, "c.py", "from zato.server.service import Service\nfrom a import One\nclass Own(Service): pass\n")
	if fmt.Sprint(res.Services) != "[c.own]" {
		t.Fatalf("%v %v", res.Services, res.Error)
	}
}

func TestFailuresKeepPreviousVersion(t *testing.T) {
	r, _ := start(t, Config{ImportTimeout: 3 * time.Second}) // generous: CI runs every package at once, under -race
	load(t, r, "m.py", "from zato.server.service import Service\nclass Ok(Service):\n    def handle(self):\n        self.response.payload = {'v': 1}\n")
	cases := []struct {
		src, typ  string
		line, col int
	}{
		{"x = 1\ndef f(:\n    pass\n", "SyntaxError", 2, 7},
		{"x = 1\n\nraise ValueError('boom')\n", "ValueError", 3, 1},
		{"import sys\nsys.exit(2)\n", "SystemExit", 2, 1},
		{"import time\nwhile True:\n    time.sleep(0.01)\n", "ImportTimeout", 0, 0},
		{"import os\nos._exit(3)\n", "WorkerExited", 0, 0},
	}
	for _, c := range cases {
		res := load(t, r, "m.py", c.src)
		if res.Error == nil || res.Error.Type != c.typ || res.Error.Line != c.line || (c.col > 0 && res.Error.Column != c.col) {
			t.Fatalf("%s: %+v", c.typ, res.Error)
		}
		if c.typ == "ValueError" && !strings.Contains(res.Error.Traceback, "raise ValueError('boom')") {
			t.Fatalf("the traceback quotes other lines than the failing source:\n%s", res.Error.Traceback)
		}
		if out, err := call(t, r, "m.ok", ""); err != nil || out["v"] != float64(1) {
			t.Fatalf("after %s: %v %v", c.typ, out, err)
		}
	}
}

func TestImportDottedFromExtraPaths(t *testing.T) {
	extra := t.TempDir()
	os.MkdirAll(filepath.Join(extra, "acme"), 0o755)
	os.WriteFile(filepath.Join(extra, "acme", "__init__.py"), nil, 0o644)
	os.WriteFile(filepath.Join(extra, "acme", "money.py"), []byte("def fmt(x):\n    return 'EUR %d' % x\n"), 0o644)
	os.WriteFile(filepath.Join(extra, "acme_svc.py"), []byte("from zato.server.service import Service\nfrom acme.money import fmt\nclass Q(Service):\n    def handle(self):\n        self.response.payload = {'q': fmt(2)}\n"), 0o644)
	r, _ := start(t, Config{ExtraPaths: []string{extra}})
	res, err := r.ImportDotted(context.Background(), "acme_svc")
	if err != nil || res.Error != nil || fmt.Sprint(res.Services) != "[acme-svc.q]" {
		t.Fatalf("%+v %v", res, err)
	}
	if out, err := call(t, r, "acme-svc.q", ""); err != nil || out["q"] != "EUR 2" {
		t.Fatalf("%v %v", out, err)
	}
	res, _ = r.ImportDotted(context.Background(), "no_such_mod")
	if res.Error == nil || res.Error.Type != "ModuleNotFoundError" {
		t.Fatalf("%+v", res.Error)
	}
	// A dotted module's services name it by its dotted name, not a file acme.billing.py that exists nowhere.
	os.WriteFile(filepath.Join(extra, "acme", "billing.py"), []byte("from zato.server.service import Service\nclass B(Service):\n    name = 'acme.billing.b'\n    def handle(self):\n        pass\n"), 0o644)
	if res, err := r.ImportDotted(context.Background(), "acme.billing"); err != nil || res.Error != nil {
		t.Fatalf("%+v %v", res, err)
	}
	modules := map[string]string{}
	for _, s := range r.Services() {
		modules[s.Name] = s.Module
	}
	if modules["acme.billing.b"] != "acme.billing" || modules["acme-svc.q"] != "acme_svc.py" {
		t.Fatalf("services' modules: %v", modules)
	}
}

func TestInvokeTimeoutRestarts(t *testing.T) {
	r, _ := start(t, Config{InvokeTimeout: 500 * time.Millisecond})
	load(t, r, "h.py", "import time\nfrom zato.server.service import Service\nclass Hang(Service):\n    def handle(self):\n        time.sleep(30)\nclass Ok(Service):\n    def handle(self):\n        self.response.payload = {'ok': True}\n")
	var ie *InvokeError
	if _, err := call(t, r, "h.hang", ""); !errors.As(err, &ie) || ie.Status != 504 {
		t.Fatalf("%v", err)
	}
	if out, err := call(t, r, "h.ok", ""); err != nil || out["ok"] != true {
		t.Fatalf("%v %v", out, err)
	}
}

func TestLoad500Modules(t *testing.T) {
	r, _ := start(t, Config{})
	start := time.Now()
	for i := range 500 {
		res := load(t, r, fmt.Sprintf("m%03d.py", i), fmt.Sprintf("from zato.server.service import Service\nclass S(Service):\n    def handle(self):\n        self.response.payload = {'n': %d}\n", i))
		if res.Error != nil {
			t.Fatal(res.Error)
		}
	}
	t.Logf("500 modules in %s", time.Since(start))
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("500 modules took %s", d)
	}
}

func BenchmarkLoad(b *testing.B) {
	r, _ := start(b, Config{})
	for i := 0; i < b.N; i++ {
		load(b, r, "bench.py", fmt.Sprintf("from zato.server.service import Service\nclass S(Service):\n    def handle(self):\n        self.response.payload = {'n': %d}\n", i))
	}
}

func BenchmarkInvoke(b *testing.B) {
	r, _ := start(b, Config{})
	load(b, r, "bench.py", "from zato.server.service import Service\nclass S(Service):\n    def handle(self):\n        self.response.payload = {'n': 1}\n")
	for i := 0; i < b.N; i++ {
		if _, err := r.Invoke(context.Background(), "bench.s", []byte(`{"a":1}`), InvokeOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// The deployer keeps the last good file on disk while a new version loads; CPython's parser quotes a SyntaxError's
// line from that file, so the worker must quote the uploaded source instead.
func TestSyntaxErrorQuotesTheUploadedSource(t *testing.T) {
	r, _ := start(t, Config{})
	file := filepath.Join(t.TempDir(), "q.py")
	good := "from zato.server.service import Service\nclass Q(Service):\n    def handle(self):\n        pass\n"
	if err := os.WriteFile(file, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	if res, err := r.Load(context.Background(), "q.py", file, []byte(good)); err != nil || res.Error != nil {
		t.Fatalf("%+v %v", res, err)
	}
	bad := strings.Replace(good, "def handle(self):", "def handle(self)", 1)
	res, err := r.Load(context.Background(), "q.py", file, []byte(bad))
	if err != nil || res.Error == nil || res.Error.Type != "SyntaxError" || res.Error.Line != 3 {
		t.Fatalf("%+v %v", res, err)
	}
	if !strings.Contains(res.Error.Traceback, "def handle(self)\n") {
		t.Fatalf("the traceback quotes the file on disk, not the uploaded source:\n%s", res.Error.Traceback)
	}
}

// Services without a name attribute get Zato's derived name; the language server derives the same (lsp
// TestFindServices has the same table).
func TestDerivedNames(t *testing.T) {
	r, _ := start(t, Config{})
	for _, c := range []struct{ module, classes, want string }{
		{"crm_channel_customer.py", "GetCustomer HTTPGetter get_user Ping2Server",
			"[crm-channel-customer.get-customer crm-channel-customer.get_user crm-channel-customer.http-getter crm-channel-customer.ping2-server]"},
		{"billing_invoice.py", "ListOverdueInvoices", "[billing-invoice.list-overdue-invoices]"},
		{"crm.py", "Get_Customer Get2FA ILikeToReadWSDLDocs", "[crm.get2fa crm.get_customer crm.i-like-to-read-wsdl-docs]"},
		{"Crm_Mod.py", "Foo", "[crm--mod.foo]"},
		{"m.py", "ÜberService", "[m.über-service]"},
	} {
		src := "from zato.server.service import Service\n"
		for _, cl := range strings.Fields(c.classes) {
			src += "class " + cl + "(Service):\n    pass\n"
		}
		res := load(t, r, c.module, src)
		if res.Error != nil || fmt.Sprint(res.Services) != c.want {
			t.Errorf("%s: %v %+v, want %s", c.module, res.Services, res.Error, c.want)
		}
	}
}

// gate lets a test's modules tell each other what they are doing, so tests order events without timing.
const gate = "import threading\nstarted = threading.Event()\nwaiting = threading.Event()\nreleased = threading.Event()\n"

// An invocation answers while another module's import hangs, whether the import sleeps or spins the CPU (the loader
// thread must give up the GIL).
func TestInvokeWhileImportHangs(t *testing.T) {
	for _, c := range []struct{ name, body string }{
		{"sleeping", "    time.sleep(0.01)\n"},
		{"spinning", "    pass\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, _ := start(t, Config{ImportTimeout: 3 * time.Second})
			load(t, r, "gate.py", gate)
			res := load(t, r, "a.py", "import gate\nfrom zato.server.service import Service\n"+
				"class WaitForImport(Service):\n    def handle(self):\n        self.response.payload = {'importing': gate.started.wait(10)}\n"+
				"class Ping(Service):\n    def handle(self):\n        self.response.payload = {'v': 1}\n")
			if res.Error != nil {
				t.Fatal(res.Error)
			}
			type result struct {
				res LoadResult
				err error
			}
			loaded := make(chan result, 1)
			go func() {
				res, err := r.Load(context.Background(), "b.py", "/srv/b.py", []byte("import time, gate\ngate.started.set()\nwhile True:\n"+c.body))
				loaded <- result{res, err}
			}()
			// a.wait-for-import answers once b.py has started importing; b.py never ends, so its Load is still running.
			out, err := call(t, r, "a.wait-for-import", "")
			if err != nil || out["importing"] != true {
				t.Fatalf("%v %v", out, err)
			}
			select {
			case l := <-loaded:
				t.Fatalf("the invocation answered only after the load returned: %+v %v", l.res.Error, l.err)
			default:
			}
			if out, err := call(t, r, "a.ping", ""); err != nil || out["v"] != float64(1) {
				t.Fatalf("%v %v", out, err)
			}
			if l := <-loaded; l.err != nil || l.res.Error == nil || l.res.Error.Type != "ImportTimeout" {
				t.Fatalf("%+v %v", l.res.Error, l.err)
			}
			if out, err := call(t, r, "a.ping", ""); err != nil || out["v"] != float64(1) {
				t.Fatalf("after the timeout: %v %v", out, err)
			}
		})
	}
}

// A service that waits for another does not hold it up.
func TestInvokesRunConcurrently(t *testing.T) {
	r, _ := start(t, Config{})
	load(t, r, "gate.py", gate)
	load(t, r, "w.py", "import gate\nfrom zato.server.service import Service\n"+
		"class Wait(Service):\n    def handle(self):\n        gate.waiting.set()\n        self.response.payload = {'released': gate.released.wait(10)}\n"+
		"class Release(Service):\n    def handle(self):\n        self.response.payload = {'waited': gate.waiting.wait(10)}\n        gate.released.set()\n")
	waited := make(chan error, 1)
	go func() {
		out, err := r.Invoke(context.Background(), "w.wait", nil, InvokeOptions{})
		var m map[string]any
		if err == nil && (json.Unmarshal(out, &m) != nil || m["released"] != true) {
			err = fmt.Errorf("%s", out)
		}
		waited <- err
	}()
	if out, err := call(t, r, "w.release", ""); err != nil || out["waited"] != true {
		t.Fatalf("%v %v", out, err)
	}
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
}

// Invocations answer while their module is redeployed over and over: each sees the old version or the new one, never
// a missing service; once a redeploy removes a service, invoking it fails with not found and the others answer.
func TestInvokesDuringRedeploys(t *testing.T) {
	r, _ := start(t, Config{})
	version := func(v int, gone bool) string {
		src := fmt.Sprintf("from zato.server.service import Service\nV = %d\nclass Keep(Service):\n    def handle(self):\n        self.response.payload = {'v': V}\n", v)
		if gone {
			src += "class Gone(Service):\n    def handle(self):\n        self.response.payload = {'v': V}\n"
		}
		return src
	}
	load(t, r, "other.py", "from zato.server.service import Service\nclass O(Service):\n    def handle(self):\n        self.response.payload = {'o': 1}\n")
	load(t, r, "r.py", version(0, true))

	const workers, redeploys = 20, 30
	var removing, removed atomic.Bool
	stop := make(chan struct{})
	errs := make(chan error, workers)
	afterRemoval := make(chan struct{}, workers) // one per worker, once it made a whole round after the removal
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(stop)
	for range workers {
		wg.Go(func() {
			last, signalled := -1, false
			for {
				select {
				case <-stop:
					return
				default:
				}
				wasRemoved := removed.Load()
				out, err := call(t, r, "r.keep", "")
				if err != nil {
					errs <- fmt.Errorf("r.keep: %v", err)
					return
				}
				v := int(out["v"].(float64))
				if v < last {
					errs <- fmt.Errorf("r.keep went back from version %d to %d", last, v)
					return
				}
				last = v
				_, err = call(t, r, "r.gone", "")
				var ie *InvokeError
				switch {
				case err == nil && !wasRemoved:
				case errors.As(err, &ie) && ie.Status == 404 && ie.Type == "ServiceNotFound" && removing.Load():
				default:
					errs <- fmt.Errorf("r.gone (removed before the call: %v): %v", wasRemoved, err)
					return
				}
				if out, err := call(t, r, "other.o", ""); err != nil || out["o"] != float64(1) {
					errs <- fmt.Errorf("other.o: %v %v", out, err)
					return
				}
				if wasRemoved && !signalled {
					signalled = true
					afterRemoval <- struct{}{}
				}
			}
		})
	}
	for v := 1; v <= redeploys; v++ {
		res := load(t, r, "r.py", version(v, true))
		if res.Error != nil || fmt.Sprint(res.Services) != "[r.gone r.keep]" {
			t.Fatalf("%+v %v", res, res.Error)
		}
	}
	removing.Store(true)
	res := load(t, r, "r.py", version(redeploys+1, false))
	if res.Error != nil || fmt.Sprint(res.Removed) != "[r.gone]" {
		t.Fatalf("%+v %v", res, res.Error)
	}
	removed.Store(true)
	for range workers {
		select {
		case <-afterRemoval:
		case err := <-errs:
			t.Fatal(err)
		}
	}
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	if out, err := call(t, r, "r.keep", ""); err != nil || out["v"] != float64(redeploys+1) {
		t.Fatalf("%v %v", out, err)
	}
}

// When a load times out, invocations in flight fail as the worker is killed and those that come during the restart
// wait until every good module is back: none sees a service missing.
func TestInvokesDuringRestartWaitForReplay(t *testing.T) {
	r, _ := start(t, Config{ImportTimeout: 2 * time.Second})
	const modules = 30
	for i := range modules {
		load(t, r, fmt.Sprintf("m%02d.py", i), fmt.Sprintf("from zato.server.service import Service\nclass S(Service):\n    def handle(self):\n        self.response.payload = {'n': %d}\n", i))
	}
	last := fmt.Sprintf("m%02d.s", modules-1) // replayed last
	loaded := make(chan struct{})
	go func() {
		defer close(loaded)
		res, err := r.Load(context.Background(), "b.py", "/srv/b.py", []byte("import time\nwhile True:\n    time.sleep(0.01)\n"))
		if err != nil || res.Error == nil || res.Error.Type != "ImportTimeout" {
			t.Errorf("%+v %v", res, err)
		}
	}()
	var wg sync.WaitGroup
	var ok, interrupted atomic.Int64
	for range 4 {
		wg.Go(func() {
			for done := false; !done; {
				select {
				case <-loaded:
					done = true // one more call after the load returned
				default:
				}
				out, err := call(t, r, last, "")
				var ie *InvokeError
				switch {
				case err == nil && out["n"] == float64(modules-1):
					ok.Add(1)
				case errors.As(err, &ie) && ie.Type == "WorkerExited" && strings.Contains(ie.Message, "b.py took longer than"):
					interrupted.Add(1)
				default:
					t.Errorf("%v %v", out, err)
					return
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d answered, %d interrupted by the restart", ok.Load(), interrupted.Load())
}

func TestClosed(t *testing.T) {
	r, _ := start(t, Config{})
	load(t, r, "c.py", "from zato.server.service import Service\nclass C(Service):\n    pass\n")
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Invoke(context.Background(), "c.c", nil, InvokeOptions{}); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
	if _, err := r.Load(context.Background(), "d.py", "/srv/d.py", []byte("")); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
	if r.Services() != nil {
		t.Fatal("services after Close")
	}
}

// A module may install a signal handler at import, as it could in Zato: imports run on the worker's main thread.
func TestSignalHandlerAtImport(t *testing.T) {
	r, _ := start(t, Config{})
	res := load(t, r, "sig.py", "import signal\nfrom zato.server.service import Service\n"+
		"signal.signal(signal.SIGUSR1, lambda *args: None)\n"+
		"class Ping(Service):\n    def handle(self):\n        self.response.payload = {'ok': True}\n")
	if res.Error != nil {
		t.Fatalf("import failed: %+v", res.Error)
	}
	if out, err := call(t, r, "sig.ping", ""); err != nil || out["ok"] != true {
		t.Fatalf("%v %v", out, err)
	}
}

// At most InvokeThreads invocations run at once; the others wait for a place. Loads do not take one, so a load can
// see the places full and open them.
func TestInvokeThreadsBound(t *testing.T) {
	r, _ := start(t, Config{InvokeThreads: 2})
	load(t, r, "pool_gate.py", "import threading\nlock = threading.Lock()\nactive = peak = 0\n"+
		"both_in = threading.Event()\nrelease = threading.Event()\n")
	load(t, r, "pool_svc.py", "import pool_gate as g\nfrom zato.server.service import Service\n"+
		"class Hold(Service):\n    def handle(self):\n        with g.lock:\n            g.active += 1\n"+
		"            g.peak = max(g.peak, g.active)\n            if g.active == 2:\n                g.both_in.set()\n"+
		"        ok = g.release.wait(10)\n        with g.lock:\n            g.active -= 1\n"+
		"        self.response.payload = {'released': ok}\n"+
		"class Peak(Service):\n    def handle(self):\n        self.response.payload = {'peak': g.peak}\n")
	const holds = 5
	done := make(chan error, holds)
	for range holds {
		go func() {
			m, err := call(t, r, "pool-svc.hold", "")
			if err == nil && m["released"] != true {
				err = fmt.Errorf("hold: %v", m)
			}
			done <- err
		}()
	}
	// A load runs outside the pool: it returns once two holds are inside. Without a bound the other three would
	// be inside by then too, all five having been sent at once.
	if res := load(t, r, "pool_probe.py", "import pool_gate as g\nassert g.both_in.wait(10)\n"); res.Error != nil {
		t.Fatalf("two holds never ran at once: %+v", res.Error)
	}
	if res := load(t, r, "pool_open.py", "import pool_gate as g\ng.release.set()\n"); res.Error != nil {
		t.Fatalf("%+v", res.Error)
	}
	for range holds {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if out, err := call(t, r, "pool-svc.peak", ""); err != nil || out["peak"] != float64(2) {
		t.Fatalf("peak %v %v, want 2 at once", out, err)
	}
}

// Start returns once the worker answers, so that a server counts itself live with its interpreter up; an interpreter
// that cannot run the worker fails the start.
func TestStartWaitsForTheWorker(t *testing.T) {
	r, err := Start(t.Context(), Config{Python: "false", Dir: t.TempDir(), ImportTimeout: 5 * time.Second,
		Logger: slog.New(&recorder{})})
	if err == nil {
		r.Close()
		t.Fatal("started with an interpreter that exits at once")
	}
	if !strings.Contains(err.Error(), "python worker did not start") {
		t.Fatalf("error %v", err)
	}
}

// TestSimpleIOTypes: inputs declared with a SimpleIO type are converted as Zato converts them, and a value that
// cannot be one is a 400 naming the input. Integer('age') took "five" as is, and Bool('active') kept "false", a
// string that is true in Python; a JSON list payload read "missing required input".
func TestSimpleIOTypes(t *testing.T) {
	r, _ := start(t, Config{})
	load(t, r, "sio_types.py", `from zato.server.service import Service, Integer, Bool, Decimal
class T(Service):
    class SimpleIO:
        input_required = ('name', Integer('age'), Bool('active'))
        input_optional = (Decimal('amount'),)
    def handle(self):
        i = self.request.input
        self.response.payload = {'age': [type(i.age).__name__, i.age], 'active': [type(i.active).__name__, i.active],
                                 'amount': [type(i.amount).__name__, str(i.amount)], 'name': i.name}
`)
	out, err := call(t, r, "sio-types.t", `{"name": "x", "age": "5", "active": "false", "amount": "10.10"}`)
	if err != nil || fmt.Sprint(out["age"]) != "[int 5]" || fmt.Sprint(out["active"]) != "[bool false]" || fmt.Sprint(out["amount"]) != "[Decimal 10.10]" {
		t.Fatalf("%v %v", out, err)
	}
	var ie *InvokeError
	if _, err := call(t, r, "sio-types.t", `{"name": "x", "age": "five", "active": true}`); !errors.As(err, &ie) || ie.Status != 400 ||
		ie.Message != `input age is "five", which is not an Integer` {
		t.Errorf("age five: %v", err)
	}
	if _, err := call(t, r, "sio-types.t", `[1, 2]`); !errors.As(err, &ie) || ie.Status != 400 || !strings.Contains(ie.Message, "must be a JSON object") {
		t.Errorf("a list payload: %v", err)
	}
}

// TestNestedInvokeFailureIsTheCallers: a service whose self.invoke names a missing service, or gives another service
// input it refuses, fails itself, at its own line. The client got 404 ServiceNotFound, reading as if the service it
// named were missing, or a 400 for input it sent right, with an empty traceback; and a nested exception's traceback
// held the runtime's own frames.
func TestNestedInvokeFailureIsTheCallers(t *testing.T) {
	r, _ := start(t, Config{})
	load(t, r, "nest.py", `from zato.server.service import Service
class Callee(Service):
    class SimpleIO:
        input_required = ('n',)
    def handle(self):
        self.response.payload = 1 / self.request.input.n
class Missing(Service):
    def handle(self):
        self.invoke('nest.nowhere')
class Refused(Service):
    def handle(self):
        self.invoke('nest.callee', {})
class Raises(Service):
    def handle(self):
        self.invoke('nest.callee', {'n': 0})
`)
	var ie *InvokeError
	_, err := call(t, r, "nest.missing", "")
	if !errors.As(err, &ie) || ie.Status != 500 || ie.Type != "InvokedServiceFailed" || ie.Message != "nest.nowhere failed: ServiceNotFound: no service named nest.nowhere" ||
		!strings.Contains(ie.Traceback, `nest.py", line 9, in handle`) {
		t.Errorf("missing: %v\n%s", err, tracebackOf(err))
	}
	_, err = call(t, r, "nest.refused", "")
	if !errors.As(err, &ie) || ie.Status != 500 || !strings.Contains(ie.Message, "nest.callee failed: BadInput: missing required input: n") ||
		!strings.Contains(ie.Traceback, `nest.py", line 12, in handle`) {
		t.Errorf("refused: %v\n%s", err, tracebackOf(err))
	}
	_, err = call(t, r, "nest.raises", "")
	if !errors.As(err, &ie) || ie.Type != "ZeroDivisionError" || !strings.Contains(ie.Traceback, `nest.py", line 15, in handle`) ||
		!strings.Contains(ie.Traceback, `nest.py", line 6, in handle`) || strings.Contains(ie.Traceback, "zato_worker.py") || strings.Contains(ie.Traceback, "<lambda>") {
		t.Errorf("raises: %v\n%s", err, tracebackOf(err))
	}
}

func tracebackOf(err error) string {
	var ie *InvokeError
	if errors.As(err, &ie) {
		return ie.Traceback
	}
	return ""
}

// TestInvokeAsync: self.invoke_async runs the other service in the background and returns its CID at once, as in
// Zato; it was an AttributeError.
func TestInvokeAsync(t *testing.T) {
	r, rec := start(t, Config{})
	load(t, r, "asy.py", `from zato.server.service import Service
class Caller(Service):
    def handle(self):
        self.response.payload = {'cid': self.invoke_async('asy.worker', {'n': 3})}
class Worker(Service):
    def handle(self):
        self.logger.info('async worker ran with %s', self.request.payload['n'])
`)
	out, err := call(t, r, "asy.caller", "")
	if err != nil || len(fmt.Sprint(out["cid"])) != 32 {
		t.Fatalf("%v %v", out, err)
	}
	rec.waitFor(t, "async worker ran with 3", 10*time.Second)
}
