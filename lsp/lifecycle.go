package lsp

import (
	"context"
	"sync"

	"go.lsp.dev/jsonrpc2"
)

// lifecycle is the session's place in LSP's initialize ... shutdown, exit sequence. The connection's handler asks it
// about every message before dispatching it, in wire order, so no handler has to check.
type lifecycle struct {
	mu          sync.Mutex
	initialized bool // initialize was received
	shutdown    bool // shutdown was received
}

// admit reports whether a message is dispatched, and the error a refused request gets. A refused notification is
// dropped. exit always passes: it ends the session whatever its state.
func (l *lifecycle) admit(method string, call bool) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case method == "exit":
		return true, nil
	case l.shutdown:
		// After shutdown the editor may only exit.
		return false, refusal(call, jsonrpc2.InvalidRequest, "the server is shut down: only exit is accepted")
	case !l.initialized:
		if method == "initialize" && call {
			l.initialized = true
			return true, nil
		}
		return false, refusal(call, jsonrpc2.ServerNotInitialized, "the server is not initialized: initialize comes first")
	case method == "initialize":
		return false, refusal(call, jsonrpc2.InvalidRequest, "initialize was already received")
	case method == "shutdown" && call:
		// Set here, before the next message is read: a didSave that follows shutdown on the wire deploys nothing.
		l.shutdown = true
	}
	return true, nil
}

func refusal(call bool, code jsonrpc2.Code, msg string) error {
	if !call {
		return nil
	}
	return jsonrpc2.NewError(code, msg)
}

// shutDown reports whether shutdown was received: exit then ends the process with 0, else with 1.
func (l *lifecycle) shutDown() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.shutdown
}

// guard wraps the connection's handler with the lifecycle's rules.
func (l *lifecycle) guard(h jsonrpc2.Handler) jsonrpc2.Handler {
	return func(ctx context.Context, req *jsonrpc2.Request) (any, error) {
		if ok, err := l.admit(req.Method(), req.IsCall()); !ok {
			return nil, err
		}
		return h(ctx, req)
	}
}

// goDeployLocked runs a deployment on a goroutine that shutdown waits for, and reports whether it started; s.mu is
// held. Shutdown stops deployments under s.mu, so none is added to s.deploys once it waits.
func (s *server) goDeployLocked(f func()) bool {
	if s.deployCtx.Err() != nil {
		return false
	}
	s.deploys.Add(1)
	if !s.goFn(func() { defer s.deploys.Done(); f() }) {
		s.deploys.Done()
		return false
	}
	return true
}

// stopDeployments is shutdown's: deployments in flight stop following their deployment and end their progress,
// queued saves are dropped, and it returns once every deployment goroutine is done (or ctx ends).
func (s *server) stopDeployments(ctx context.Context) {
	s.mu.Lock()
	s.stopDeploys()
	for _, m := range s.modules {
		m.stopTimer()
		m.pending = nil
		if !m.running && m.settled != nil { // an invoke waiting for a queued save: there will be none
			close(m.settled)
			m.settled = nil
		}
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.deploys.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}
