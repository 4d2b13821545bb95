package lsp

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.lsp.dev/jsonrpc2"
	"go.lsp.dev/uri"

	"github.com/zato-go/zato/internal/testenv"
)

// Tests of LSP's lifecycle: nothing is served before initialize, nothing but exit after shutdown, and exit ends the
// process at once with the code the specification gives.

// exitPromptly is how long a `zato lsp` process may take to end after exit; it ends in milliseconds.
const exitPromptly = 10 * time.Second

// startLSPProcess runs `zato lsp` with stdin and stdout on OS pipes, as an editor does: its stdin stays open until
// the test ends, so only exit can end the process. It returns the editor and the process's end.
func startLSPProcess(t *testing.T) (*editor, <-chan error) {
	t.Helper()
	cmd := exec.Command(testenv.ZatoBinary(t), "lsp")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ZATO_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin, cmd.Stdout = inR, outW
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = inR.Close() // the process has its own copies
	_ = outW.Close()
	ended := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		ended <- cmd.Wait()
		close(done)
	}()
	// The editor's end of the connection does not close stdin when the server's stdout ends: VS Code keeps it open
	// until the process is gone.
	e := newEditor(t, jsonrpc2.NewStream(pipeRWC{outR, keepOpen{inW}}), nil)
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			_ = cmd.Process.Kill()
			<-done
		}
		_ = e.conn.Close()
		_ = inW.Close()
		if t.Failed() {
			t.Logf("zato lsp stderr:\n%s", stderr.String())
		}
	})
	return e, ended
}

// keepOpen is a writer whose Close leaves it open.
type keepOpen struct{ io.Writer }

func (keepOpen) Close() error { return nil }

// awaitExit waits for the process to end after exit and returns its exit code.
func awaitExit(t *testing.T, ended <-chan error) int {
	t.Helper()
	select {
	case err := <-ended:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(exitPromptly):
		t.Fatalf("zato lsp still runs %s after exit, its stdin open", exitPromptly)
		return -1
	}
}

// TestExitWithStdinOpen: the editor keeps the server's stdin open after exit (VS Code does until the process ends).
// The process ends at once all the same: 0 after shutdown, 1 without it (LSP's rule).
func TestExitWithStdinOpen(t *testing.T) {
	t.Run("after shutdown", func(t *testing.T) {
		e, ended := startLSPProcess(t)
		e.initialize(t.TempDir(), nil)
		var res json.RawMessage
		if err := e.call("shutdown", nil, &res); err != nil || string(res) != "null" {
			t.Fatalf("shutdown answered %s, %v", res, err)
		}
		e.notify("exit", nil)
		if code := awaitExit(t, ended); code != 0 {
			t.Fatalf("exit code %d after shutdown, want 0", code)
		}
	})
	t.Run("without shutdown", func(t *testing.T) {
		e, ended := startLSPProcess(t)
		e.initialize(t.TempDir(), nil)
		e.notify("exit", nil)
		if code := awaitExit(t, ended); code != 1 {
			t.Fatalf("exit code %d after exit without shutdown, want 1", code)
		}
	})
}

// codeOf is a JSON-RPC error's code, 0 for no error or another kind.
func codeOf(err error) jsonrpc2.Code {
	var je *jsonrpc2.Error
	if errors.As(err, &je) {
		return je.Code
	}
	return 0
}

// TestRequestsBeforeInitialize: before initialize, requests are refused with ServerNotInitialized and notifications
// (a didOpen) are dropped.
func TestRequestsBeforeInitialize(t *testing.T) {
	dir := t.TempDir()
	e := newSession(t, fixture{})
	path := filepath.Join(dir, "early.py")
	src := "from zato.server.service import Service\n\nclass Early(Service):\n    def handle(self):\n        pass\n"
	e.open(path, src)
	hover := map[string]any{"textDocument": map[string]any{"uri": string(uri.File(path))}, "position": map[string]any{"line": 2, "character": 8}}
	var rep json.RawMessage
	if err := e.command(cmdShowStatus, nil, &rep); codeOf(err) != jsonrpc2.ServerNotInitialized {
		t.Fatalf("zato.showStatus before initialize: %s, %v; want error %d", rep, err, jsonrpc2.ServerNotInitialized)
	}
	var h json.RawMessage
	if err := e.call("textDocument/hover", hover, &h); codeOf(err) != jsonrpc2.ServerNotInitialized {
		t.Fatalf("hover before initialize: %s, %v; want error %d", h, err, jsonrpc2.ServerNotInitialized)
	}

	e.initialize(dir, nil)
	h = nil
	if err := e.call("textDocument/hover", hover, &h); err != nil {
		t.Fatal(err)
	}
	if string(h) != "null" && len(h) != 0 {
		t.Fatalf("hover on a file opened before initialize: %s; that didOpen must have been dropped", h)
	}
	if err := e.call("initialize", map[string]any{"capabilities": map[string]any{}}, nil); codeOf(err) != jsonrpc2.InvalidRequest {
		t.Fatalf("a second initialize: %v", err)
	}
}

// TestNothingAfterShutdown: a deployment in flight at shutdown ends its $/progress before shutdown is answered;
// after it, saves deploy nothing and requests are refused with InvalidRequest.
func TestNothingAfterShutdown(t *testing.T) {
	dir, accepted := stuckWorkspace(t)
	e := newSession(t, fixture{})
	e.initialize(dir, nil)
	path := filepath.Join(dir, "in_flight.py")
	from := e.mark()
	e.save(path, fmt.Sprintf(versionSvc, 1))
	e.awaitStatus(from, "in_flight.py", stateUploading)
	e.awaitFrom(from, "$/progress", func(m message) bool { return strings.Contains(string(m.Params), `"begin"`) })
	select {
	case c := <-accepted:
		accepted <- c
	case <-time.After(wait):
		t.Fatal("the upload never reached the server")
	}

	if err := e.call("shutdown", nil, nil); err != nil {
		t.Fatal(err)
	}
	// Notifications are handled in wire order, so what the server sent before its answer is recorded by now.
	ended := false
	for _, m := range e.all(from, "$/progress") {
		ended = ended || strings.Contains(string(m.Params), `"end"`)
	}
	if !ended {
		t.Fatalf("shutdown answered with the deployment's progress still open:\n%s", e.dump(from))
	}

	after := e.mark()
	e.save(path, fmt.Sprintf(versionSvc, 2))
	e.save(filepath.Join(dir, "later.py"), fmt.Sprintf(versionSvc, 3))
	var tog json.RawMessage
	if err := e.command(cmdToggle, nil, &tog); codeOf(err) != jsonrpc2.InvalidRequest {
		t.Fatalf("zato.toggleDeployOnSave after shutdown: %s, %v; want error %d", tog, err, jsonrpc2.InvalidRequest)
	}
	if st := e.statuses(after, ""); len(st) > 0 {
		t.Fatalf("saves after shutdown were taken: %+v", st)
	}
}
