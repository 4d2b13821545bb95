// Package lsp is `zato lsp`: a language server that deploys saved Python services to every server of a cluster and
// reports each server's confirmation, progress and errors back to the editor.
//
// Configuration, later sources win: the workspace's .zato.yaml (zato-client.yaml's schema; without one, the file
// ZATO_CONFIG names, which gives the connection but leaves deploy on save off), ZATO_* variables (ZATO_URL,
// ZATO_USERNAME, ZATO_PASSWORD, ZATO_TARGET, ZATO_DEPLOY_ON_SAVE, ZATO_REQUIRE_MARKER, ZATO_INCLUDE, ZATO_EXCLUDE
// ...), initializationOptions, the "zato" section of workspace/configuration, and workspace/didChangeConfiguration.
// Keys: url, username, password or passwordEnv, caFile, kind ("zato" for stock Zato), targets {name: {...}},
// defaultTarget, deployOnSave (on when .zato.yaml exists), include/exclude globs, requireMarker; from an editor,
// storedPasswords, its secret storage's passwords by server URL and user, used only by a target that has none of its
// own (passwords.go). In a workspace of
// several folders, a file deploys with its own folder's .zato.yaml, and not at all from a folder without one
// (folders.go).
//
// Lifecycle (lifecycle.go): requests before initialize are refused (ServerNotInitialized), and after shutdown
// (InvalidRequest); notifications then are dropped. Shutdown ends the deployments in flight; exit ends Run at once.
//
// Feedback: zato/deployStatus at every change (docs/architecture.md), $/progress or log lines, diagnostics from the
// servers' errors, window/showMessage for failures (and, for editors without a status UI of their own, each finished
// deployment), code lenses and hover over Service classes. Each upload names its base, the version this editor last
// deployed (conflict.go): a version someone else deployed since is never overwritten without zato.deployAnyway.
package lsp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"go.lsp.dev/jsonrpc2"
	"go.lsp.dev/protocol"
)

// Version is the language server's version, answered in initialize's serverInfo.version: the editor extensions
// (extensions/vscode/package.json's version) check it against their own and warn when they differ.
const Version = "0.1.0"

// errExitWithoutShutdown is Run's answer to an exit that no shutdown preceded: LSP wants exit code 1 then.
var errExitWithoutShutdown = errors.New("lsp: exit without shutdown")

// Run serves one editor over in/out with LSP's Content-Length framing until the editor exits, the stream ends or
// ctx is cancelled. After exit it returns at once, errExitWithoutShutdown unless shutdown came first: it does not
// wait for the reader, as closing a blocking stdin (a pipe the editor keeps open) does not end a read in progress.
func Run(ctx context.Context, in io.Reader, out io.Writer, logger *slog.Logger) error {
	stream := jsonrpc2.NewStream(stdio{in, out})
	s, conn := serve(ctx, stream, options{logger: logger, getenv: os.LookupEnv})
	exited := false
	select {
	case <-conn.Done():
	case <-ctx.Done():
	case <-s.exited:
		exited = true
	}
	s.close()
	closed := make(chan error, 1)
	// Close waits for the reader, which only the stream's end (or, for a reader that can be interrupted, closing
	// it) stops: a process exiting now ends it anyway.
	go func() { closed <- conn.Close() }()
	switch {
	case exited && !s.life.shutDown():
		return errExitWithoutShutdown
	case exited, ctx.Err() != nil:
		return nil
	}
	<-closed // the stream ended: the reader is done
	if err := conn.Err(); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("lsp connection: %w", err)
	}
	return nil
}

// options are what differs between a real run and a test.
type options struct {
	logger *slog.Logger
	getenv func(string) (string, bool) // the process environment; tests pass their own
	// clusterPoll, when not 0, is how often a watched cluster is polled while its event stream is not available.
	clusterPoll time.Duration
}

// serve starts a server on stream and returns it with its connection.
func serve(ctx context.Context, stream jsonrpc2.Stream, o options) (*server, jsonrpc2.Conn) {
	conn := jsonrpc2.NewConn(stream, jsonrpc2.WithCodec(codec{}))
	s := newServer(ctx, conn, o)
	h := protocol.ServerHandler(s, jsonrpc2.MethodNotFoundHandler)
	conn.Go(s.ctx, s.life.guard(protocol.CancelHandler(func(ctx context.Context, req *jsonrpc2.Request) (any, error) {
		// Notifications (didOpen, didChange, didSave...) run inline so they keep their wire order; their handlers
		// only record state and start goroutines. Requests may overlap, and may call back into the editor.
		if req.IsCall() {
			jsonrpc2.Async(ctx)
		}
		return h(ctx, req)
	})))
	return s, conn
}

// codec encodes payloads with the protocol package's union-aware codec (what protocol.NewServer installs; building
// the connection ourselves lets notifications keep their order instead of protocol.Handlers' all-async dispatch).
type codec struct{}

func (codec) Marshal(v any) ([]byte, error) {
	switch m := v.(type) {
	case jsonrpc2.RawMessage:
		if m == nil {
			return []byte("null"), nil
		}
		return m, nil
	case *jsonrpc2.RawMessage:
		if m == nil || *m == nil {
			return []byte("null"), nil
		}
		return *m, nil
	}
	return protocol.Marshal(v)
}

func (codec) Unmarshal(data []byte, v any) error {
	if p, ok := v.(*jsonrpc2.RawMessage); ok {
		*p = append(jsonrpc2.RawMessage(nil), data...)
		return nil
	}
	return protocol.Unmarshal(data, v)
}

// stdio joins stdin and stdout into the stream jsonrpc2 wants.
type stdio struct {
	io.Reader
	io.Writer
}

func (s stdio) Close() error {
	var errs []error
	if c, ok := s.Reader.(io.Closer); ok {
		errs = append(errs, c.Close())
	}
	if c, ok := s.Writer.(io.Closer); ok {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
