package lsp

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.lsp.dev/jsonrpc2"
	"go.lsp.dev/uri"
)

// The test fixture: a server and a recording fake editor joined by an in-memory stream. The editor answers the
// requests a server sends (workspace/configuration, window/workDoneProgress/create, registrations, refreshes),
// records every message, and lets a test await a message with a deadline instead of sleeping.

// wait is how long any awaited message may take.
const wait = 60 * time.Second

// message is one message the server sent to the editor.
type message struct {
	Method string
	Params json.RawMessage
	Call   bool
}

type editor struct {
	t    testing.TB
	conn jsonrpc2.Conn
	srv  *server

	mu       sync.Mutex
	msgs     []message
	changed  chan struct{} // closed and replaced at each new message
	settings json.RawMessage
	refuse   map[string]bool // methods answered with an error
	plain    bool            // initialize without experimental.zato.statusUI (an editor such as Neovim)
	// serverStatus: initialize with experimental.zato.serverStatus (VS Code's extension), for zato/serverStatus
	serverStatus bool
	initRes      json.RawMessage // initialize's answer
}

// fixture is what newSession sets up.
type fixture struct {
	env      map[string]string
	settings any // the "zato" section answered to workspace/configuration
	// clusterPoll, when not 0, is how often a watched cluster is polled while its event stream is not available.
	clusterPoll time.Duration
}

// newSession starts a server and an editor on an in-memory pipe; both stop when the test ends.
func newSession(t testing.TB, f fixture) *editor {
	t.Helper()
	left, right := jsonrpc2.NewChannelStreamPair(64)
	ctx, cancel := context.WithCancel(context.Background())
	env := f.env
	srv, srvConn := serve(ctx, left, options{
		logger:      slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		getenv:      func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		clusterPoll: f.clusterPoll,
	})
	e := newEditor(t, right, f.settings)
	e.srv = srv
	t.Cleanup(func() {
		cancel()
		_ = e.conn.Close()
		srv.close()
		_ = srvConn.Close()
	})
	return e
}

// newEditor starts the editor side on a stream (an in-memory pipe, or a `zato lsp` process's stdio).
func newEditor(t testing.TB, stream jsonrpc2.Stream, settings any) *editor {
	t.Helper()
	e := &editor{t: t, changed: make(chan struct{}), refuse: map[string]bool{}}
	if settings != nil {
		b, err := json.Marshal(settings)
		if err != nil {
			t.Fatal(err)
		}
		e.settings = b
	}
	e.conn = jsonrpc2.NewConn(stream, jsonrpc2.WithCodec(codec{}))
	e.conn.Go(context.Background(), e.handle)
	return e
}

// testWriter sends the server's log to the test's log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (e *editor) handle(_ context.Context, req *jsonrpc2.Request) (any, error) {
	m := message{Method: strings.Clone(req.Method()), // borrowed from a pooled frame
		Params: append(json.RawMessage(nil), req.Params()...), Call: req.IsCall()}
	e.mu.Lock()
	e.msgs = append(e.msgs, m)
	close(e.changed)
	e.changed = make(chan struct{})
	refuse := e.refuse[m.Method]
	settings := e.settings
	e.mu.Unlock()
	if refuse {
		return nil, fmt.Errorf("%w: refused by the test editor", jsonrpc2.ErrInternal)
	}
	switch m.Method {
	case "workspace/configuration":
		var p struct{ Items []json.RawMessage }
		_ = json.Unmarshal(m.Params, &p)
		out := make([]json.RawMessage, len(p.Items))
		for i := range out {
			out[i] = json.RawMessage("null")
			if settings != nil {
				out[i] = settings
			}
		}
		b, _ := json.Marshal(out)
		return jsonrpc2.RawMessage(b), nil
	}
	return nil, nil
}

// call sends a request; params may be a Go value or json.RawMessage.
func (e *editor) call(method string, params any, result any) error {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if raw, ok := params.(json.RawMessage); ok {
		params = jsonrpc2.RawMessage(raw)
	}
	var out jsonrpc2.RawMessage
	if _, err := e.conn.Call(ctx, method, params, &out); err != nil {
		return err
	}
	if result != nil && len(out) > 0 {
		return json.Unmarshal(out, result)
	}
	return nil
}

func (e *editor) notify(method string, params any) {
	e.t.Helper()
	if raw, ok := params.(json.RawMessage); ok {
		params = jsonrpc2.RawMessage(raw)
	}
	if err := e.conn.Notify(context.Background(), method, params); err != nil {
		e.t.Fatalf("notify %s: %v", method, err)
	}
}

// initialize runs the handshake with a workspace folder and typical capabilities.
func (e *editor) initialize(folder string, initOptions any) {
	e.t.Helper()
	params := map[string]any{
		"processId": os.Getpid(),
		"rootUri":   string(uri.File(folder)),
		"capabilities": map[string]any{
			"window":    map[string]any{"workDoneProgress": true},
			"workspace": map[string]any{"configuration": true, "codeLens": map[string]any{"refreshSupport": true}, "didChangeConfiguration": map[string]any{"dynamicRegistration": true}},
			"textDocument": map[string]any{
				"synchronization": map[string]any{"didSave": true},
				"completion":      map[string]any{"completionList": map[string]any{"itemDefaults": []string{"editRange", "data"}}},
			},
		},
		"workspaceFolders": []any{map[string]any{"uri": string(uri.File(folder)), "name": filepath.Base(folder)}},
	}
	if initOptions != nil {
		params["initializationOptions"] = initOptions
	}
	if !e.plain {
		// As VS Code's extension does: it shows zato/deployStatus itself.
		params["capabilities"].(map[string]any)["experimental"] = map[string]any{"zato": map[string]any{"statusUI": true, "serverStatus": e.serverStatus}}
	}
	var res json.RawMessage
	if err := e.call("initialize", params, &res); err != nil {
		e.t.Fatalf("initialize: %v", err)
	}
	e.initRes = res
	e.notify("initialized", map[string]any{})
	// The server pulls the configuration after initialized; wait for it so tests start from a settled state.
	e.await("workspace/configuration", func(message) bool { return true })
	e.awaitLog("Zato: ")
}

// mark is the number of messages so far: awaits after a mark look only at later messages.
func (e *editor) mark() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.msgs)
}

// awaitFrom waits for the first message at index >= from with the method that satisfies ok.
func (e *editor) awaitFrom(from int, method string, ok func(message) bool) message {
	e.t.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for i := from; ; {
		e.mu.Lock()
		for ; i < len(e.msgs); i++ {
			if m := e.msgs[i]; m.Method == method && ok(m) {
				e.mu.Unlock()
				return m
			}
		}
		ch := e.changed
		e.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			e.t.Fatalf("no %s as awaited within %s; the editor got:\n%s", method, wait, e.dump(from))
			return message{}
		}
	}
}

func (e *editor) await(method string, ok func(message) bool) message {
	e.t.Helper()
	return e.awaitFrom(0, method, ok)
}

// awaitStatus waits for the first zato/deployStatus at or after from with the module and one of the states.
func (e *editor) awaitStatus(from int, module string, states ...string) deployStatus {
	e.t.Helper()
	var st deployStatus
	e.awaitFrom(from, statusMethod, func(m message) bool {
		var s deployStatus
		if json.Unmarshal(m.Params, &s) != nil || s.Module != module {
			return false
		}
		for _, want := range states {
			if s.State == want {
				st = s
				return true
			}
		}
		return false
	})
	return st
}

// awaitLog waits for a window/logMessage containing text.
func (e *editor) awaitLog(text string) string {
	e.t.Helper()
	var msg string
	e.await("window/logMessage", func(m message) bool {
		var p struct{ Message string }
		_ = json.Unmarshal(m.Params, &p)
		msg = p.Message
		return strings.Contains(p.Message, text)
	})
	return msg
}

// viaOf is a zato/clusterChanged's via: how the view is followed, "" for a change of what it shows.
func viaOf(m message) string {
	var p clusterChanged
	_ = json.Unmarshal(m.Params, &p)
	return p.Via
}

// moduleChanged tells a zato/clusterChanged about what the view shows from one about how it is followed.
func moduleChanged(m message) bool { return viaOf(m) == "" }

// watchCluster opens the cluster view (zato/watchCluster) and returns how the server follows it, from the
// zato/clusterChanged that says so.
func (e *editor) watchCluster() string {
	e.t.Helper()
	from := e.mark()
	e.notify(methodWatchCluster, map[string]any{"watch": true})
	return viaOf(e.awaitFrom(from, methodClusterChanged, func(m message) bool { return viaOf(m) != "" }))
}

// awaitSettled waits for the status, at index >= from, that is the last word on module's save of text: final, with
// no deployment of the module waiting after it.
func (e *editor) awaitSettled(from int, module, text string) deployStatus {
	e.t.Helper()
	var st deployStatus
	sum := sourceSHA(text)
	e.awaitFrom(from, statusMethod, func(m message) bool {
		return json.Unmarshal(m.Params, &st) == nil && st.Module == module && st.Settled && st.SHA256 == sum
	})
	e.sync()
	return st
}

// sync makes a round trip: the answer comes after every notification the server sent before it.
func (e *editor) sync() {
	e.t.Helper()
	if err := e.call("textDocument/hover", map[string]any{"textDocument": map[string]any{"uri": "file:///nonexistent/sync.py"},
		"position": map[string]any{"line": 0, "character": 0}}, nil); err != nil {
		e.t.Fatalf("sync: %v", err)
	}
}

// all returns the messages of a method at or after from.
func (e *editor) all(from int, method string) []message {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []message
	for _, m := range e.msgs[min(from, len(e.msgs)):] {
		if m.Method == method {
			out = append(out, m)
		}
	}
	return out
}

func (e *editor) statuses(from int, module string) []deployStatus {
	var out []deployStatus
	for _, m := range e.all(from, statusMethod) {
		var s deployStatus
		if json.Unmarshal(m.Params, &s) == nil && (module == "" || s.Module == module) {
			out = append(out, s)
		}
	}
	return out
}

func (e *editor) dump(from int) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var b strings.Builder
	for _, m := range e.msgs[min(from, len(e.msgs)):] {
		p := string(m.Params)
		if len(p) > 400 {
			p = p[:400] + "..."
		}
		fmt.Fprintf(&b, "  %s %s\n", m.Method, p)
	}
	return b.String()
}

// open sends didOpen for a file with its text.
func (e *editor) open(path, text string) {
	e.notify("textDocument/didOpen", map[string]any{"textDocument": map[string]any{
		"uri": string(uri.File(path)), "languageId": "python", "version": 1, "text": text,
	}})
}

// save writes a file and sends didSave with its text, as an editor does.
func (e *editor) save(path, text string) {
	e.t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		e.t.Fatal(err)
	}
	e.notify("textDocument/didSave", map[string]any{"textDocument": map[string]any{"uri": string(uri.File(path))}, "text": text})
}

// command runs workspace/executeCommand and decodes its answer.
func (e *editor) command(name string, args []any, out any) error {
	e.t.Helper()
	if args == nil {
		args = []any{}
	}
	return e.call("workspace/executeCommand", map[string]any{"command": name, "arguments": args}, out)
}

// writeYAML writes a workspace's .zato.yaml.
func writeYAML(t testing.TB, dir, yaml string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, ".zato.yaml"), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
}
