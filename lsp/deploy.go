package lsp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.lsp.dev/protocol"
	"go.lsp.dev/uri"

	"github.com/zato-go/zato/deployclient"
	"github.com/zato-go/zato/wire"
)

const (
	// quietWindow: a save that comes this soon after the previous save of the same module is part of a burst; the
	// burst is deployed once, with its last content, when the saves pause. A lone save is deployed at once.
	quietWindow = 150 * time.Millisecond
	// maxHold bounds how long a steady stream of saves can hold a deployment back.
	maxHold = 2 * time.Second
	// deployTimeout bounds one deployment, upload to the last server's answer.
	deployTimeout = 2 * time.Minute
)

// retryBackoff is the wait before each new try when the target cannot be reached.
var retryBackoff = []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second}

// deployRequest is one save (or zato.deploy) of a module.
type deployRequest struct {
	uri     uri.URI
	path    string
	module  string
	text    string
	target  string // "" for the default target
	scope   string // the workspace folder whose configuration applies ("" for the workspace's: folders.go)
	savedAt time.Time
	manual  bool // zato.deploy: not subject to the burst rule
	force   bool // zato.deployAnyway: no base, whatever the cluster has
}

// moduleState is one module on one target: its scheduling and its last result. Guarded by server.mu.
type moduleState struct {
	key, module string
	uri         uri.URI

	running      bool           // a deployment goroutine owns the module
	pending      *deployRequest // the latest save made meanwhile: it wins over earlier ones
	timer        *time.Timer    // fires the pending save once the burst is over
	lastSave     time.Time
	firstPending time.Time
	wake         chan struct{} // tells a retry wait that a newer save arrived

	settled chan struct{} // closed when the module has nothing running or pending (an invoke waits on it)

	last      *deployStatus // the latest notification
	lastFinal *deployStatus // the latest finished deployment
	finalAt   time.Time
	shown     string // the last failure shown with showMessage, not repeated while it stays the same

	base     string         // sha256 of the version this editor last deployed here ("" before the first)
	conflict *wire.Conflict // the version the last refused save met (zato.showClusterVersion)
}

// busy reports whether a deployment of the module runs or waits; s.mu is held.
func (m *moduleState) busy() bool { return m.running || m.pending != nil || m.timer != nil }

func (m *moduleState) stopTimer() {
	if m.timer != nil {
		m.timer.Stop()
		m.timer = nil
	}
}

func moduleKey(target, module string) string { return target + "/" + module }

// targetName resolves "" to the default target's name.
func (s *server) targetName(name string) string { return s.targetNameIn("", name) }

// targetNameIn resolves "" to the default target's name in a scope's configuration.
func (s *server) targetNameIn(scope, name string) string {
	s.mu.Lock()
	cfg, _ := s.configOfLocked(scope)
	s.mu.Unlock()
	n, _, _ := cfg.file.ResolveTarget(name, s.getenv)
	return n
}

// moduleFor returns (creating) a module's state; s.mu must be held.
func (s *server) moduleFor(scope, target, module string) *moduleState {
	k := moduleKey(inScope(scope, target), module)
	m := s.modules[k]
	if m == nil {
		m = &moduleState{key: k, module: module, wake: make(chan struct{}, 1)}
		s.modules[k] = m
	}
	return m
}

// enqueue schedules a deployment: at once when the module is idle and not in a burst of saves, otherwise as the
// module's pending save, which replaces any earlier pending one.
func (s *server) enqueue(req deployRequest) {
	target := s.targetNameIn(req.scope, req.target)
	req.target = target
	now := time.Now()
	s.mu.Lock()
	if s.deployCtx.Err() != nil {
		s.mu.Unlock()
		s.log.Debug("not deployed: the server is shutting down", "module", req.module)
		return
	}
	m := s.moduleFor(req.scope, target, req.module)
	m.uri = req.uri
	s.targetOf[inScope(req.scope, req.module)] = target
	burst := !req.manual && !m.lastSave.IsZero() && now.Sub(m.lastSave) < quietWindow
	m.lastSave = now
	if !m.running && m.timer == nil && m.pending == nil && !burst {
		m.running = s.goDeployLocked(func() { s.runModule(m, req) })
		s.mu.Unlock()
		return
	}
	if m.pending == nil {
		m.firstPending = now
	}
	m.pending = &req
	if !m.running {
		s.armLocked(m, now)
	}
	select {
	case m.wake <- struct{}{}:
	default:
	}
	s.mu.Unlock()
	s.emit(m, &deployStatus{URI: string(req.uri), Module: req.module, Target: target, State: stateQueued, SHA256: sourceSHA(req.text),
		Message: req.module + " queued: it deploys with its latest content when the saves pause"})
}

// armLocked sets the timer that deploys the pending save when the burst is over.
func (s *server) armLocked(m *moduleState, now time.Time) {
	wait := min(m.lastSave.Add(quietWindow).Sub(now), m.firstPending.Add(maxHold).Sub(now))
	if m.timer != nil {
		m.timer.Stop()
	}
	m.timer = time.AfterFunc(max(wait, 0), func() { s.firePending(m) })
}

func (s *server) firePending(m *moduleState) {
	now := time.Now()
	s.mu.Lock()
	m.timer = nil
	if m.running || m.pending == nil || s.deployCtx.Err() != nil {
		s.mu.Unlock()
		return
	}
	if now.Sub(m.lastSave) < quietWindow && now.Sub(m.firstPending) < maxHold {
		s.armLocked(m, now)
		s.mu.Unlock()
		return
	}
	req := *m.pending
	m.pending = nil
	m.running = s.goDeployLocked(func() { s.runModule(m, req) })
	s.mu.Unlock()
}

// runModule deploys req, then whatever was saved meanwhile, keeping one deployment per module at a time.
func (s *server) runModule(m *moduleState, req deployRequest) {
	for {
		s.deploy(m, req)
		now := time.Now()
		s.mu.Lock()
		if m.pending == nil || s.deployCtx.Err() != nil {
			m.running = false
			idle := m.pending == nil && m.timer == nil
			if idle && m.settled != nil {
				close(m.settled)
				m.settled = nil
			}
			s.mu.Unlock()
			return
		}
		if now.Sub(m.lastSave) < quietWindow && now.Sub(m.firstPending) < maxHold {
			m.running = false
			s.armLocked(m, now)
			s.mu.Unlock()
			return
		}
		req = *m.pending
		m.pending = nil
		s.mu.Unlock()
	}
}

// deploy runs one deployment and reports it at every change: status notifications, progress, diagnostics, and a
// message when it fails. A target that cannot be reached is tried again with backoff until a newer save comes.
func (s *server) deploy(m *moduleState, req deployRequest) {
	base := deployStatus{URI: string(req.uri), Module: req.module, Target: req.target, Servers: []serverState{}, SHA256: sourceSHA(req.text)}
	elapsed := func() float64 { return float64(time.Since(req.savedAt).Microseconds()) / 1000 }
	dctx := s.deployCtx // notifications keep s.ctx: they still go out while shutdown stops the deployment
	cctx := dctx
	if req.manual {
		cctx = asked(dctx) // Deploy Current File tries a target whose credentials were refused again; a save does not
	}
	target, cl, cc, err := s.clientIn(cctx, req.scope, req.target)
	base.Target = target
	if err != nil && dctx.Err() != nil {
		return // shutdown came first
	}
	if err != nil {
		st := base
		st.State, st.Message, st.ElapsedMs = stateFailed, fmt.Sprintf("%s not deployed: %v", req.module, err), elapsed()
		if errors.Is(err, deployclient.ErrUnauthorized) {
			st.State = stateUnauthorized
		}
		s.finish(m, &st, nil, req)
		return
	}
	prog := s.startProgress("Deploying " + req.module)
	up := base
	up.State, up.Message, up.ElapsedMs = stateUploading, fmt.Sprintf("Deploying %s to %s (%s)", req.module, target, cc.URL), elapsed()
	s.emit(m, &up)

	onChange := func(d deployclient.Deployment) {
		if d.Done {
			return // the final view is reported once, below
		}
		st := fromDeployment(base, d)
		st.State, st.ElapsedMs = statePropagating, elapsed()
		st.Message = req.module + ": " + wire.Outcome(d) // "waiting: 1/2 confirmed; server2 starting"
		s.emit(m, &st)
		prog.report(fmt.Sprintf("%d/%d servers", d.Confirmed, d.Expected), percent(d.Confirmed, d.Expected))
	}

	var d deployclient.Deployment
	key := deployclient.NewKey() // every try of this save: a try whose answer was lost is not deployed twice
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(dctx, deployTimeout)
		if d.ID == 0 {
			s.uploads.Add(1)
			d, err = cl.DeployWith(ctx, deployclient.Upload{Name: req.module, Source: []byte(req.text), Origin: "ide", Key: key,
				Base: s.baseFor(m, req)}, onChange)
		} else {
			// The upload went through and the connection broke while waiting: follow the same deployment.
			d, err = cl.Watch(ctx, d.ID, onChange)
		}
		cancel()
		if err == nil || !unreachable(err) || dctx.Err() != nil {
			// A refused login is never tried again: the servers count failed logins and lock the address out.
			s.noteAuth(req.scope, target, cc, err)
			break
		}
		// Its server stopped answering: another server of the cluster takes the same save at once (with the same
		// key, so an upload whose answer was lost is not stored twice) or follows the same deployment.
		if attempt < len(retryBackoff) {
			if ncl, ncc, ok := s.redial(dctx, req.scope, target, cl); ok {
				cl, cc = ncl, ncc
				up.Message, up.ElapsedMs = fmt.Sprintf("Deploying %s to %s (%s)", req.module, target, cc.URL), elapsed()
				s.emit(m, &up)
				continue
			}
		}
		st := fromDeployment(base, d)
		st.State, st.ElapsedMs = stateUnreachable, elapsed()
		if attempt >= len(retryBackoff) {
			st.Message = fmt.Sprintf("Cannot reach Zato at %s: %v. Gave up after %d tries; save again to retry.", cc.URL, rootCause(err), attempt+1)
			prog.end(st.Message)
			s.finish(m, &st, nil, req)
			return
		}
		wait := retryBackoff[attempt]
		if attempt == 0 {
			s.healthAfterCall(req.scope, target, cc, err)
		}
		st.Message = fmt.Sprintf("Cannot reach Zato at %s: %v. Trying again in %s.", cc.URL, rootCause(err), wait)
		s.emit(m, &st)
		s.failureMessage(m, protocol.MessageTypeError, fmt.Sprintf("Cannot reach Zato at %s: %v", cc.URL, rootCause(err)))
		s.logf(protocol.MessageTypeWarning, "Zato: %s", st.Message)
		if !s.sleepUnlessNewer(m, wait) {
			if dctx.Err() != nil {
				prog.end(req.module + ": not tried again, the language server is shutting down")
			} else {
				prog.end(req.module + ": superseded by a newer save")
			}
			return
		}
	}
	st := fromDeployment(base, d)
	st.ElapsedMs = elapsed()
	var ae *deployclient.APIError
	switch {
	case errors.Is(err, deployclient.ErrUnauthorized):
		st.State = stateUnauthorized
		st.Message = fmt.Sprintf("%s not deployed: wrong username or password for target %s (user %q at %s)", req.module, target, cc.Username,
			strings.TrimRight(cc.URL, "/"))
	case dctx.Err() != nil:
		prog.end(req.module + ": no longer followed, the language server is shutting down")
		return
	case errors.Is(err, context.DeadlineExceeded) && d.ID != 0:
		st.State = stateFailed
		if d.Confirmed > 0 {
			st.State = statePartial
		}
		st.Message = fmt.Sprintf("%s: %d/%d servers confirmed; no answer from %s within %s", req.module, d.Confirmed, d.Expected,
			strings.Join(serversIn(d, deployclient.StatusPending), ", "), deployTimeout)
	case errors.Is(err, deployclient.ErrConflict) && errors.As(err, &ae):
		st.State = stateConflict
		st.Message = s.onConflict(m, req, target, ae.Conflict)
	case errors.As(err, &ae):
		st.State = stateFailed
		st.Message = fmt.Sprintf("%s rejected by %s: %s", req.module, cc.URL, ae.Message)
	case err != nil:
		st.State = stateFailed
		st.Message = fmt.Sprintf("%s not deployed: %v", req.module, err)
	default:
		st.State, st.Message = finalState(d, st.ElapsedMs)
	}
	prog.end(st.Message)
	if err == nil {
		s.deployed(m, req, d)
		s.finish(m, &st, &d, req)
		s.followCatchUp(m, base, req, cl, d, st.ElapsedMs) // servers offline apply it when they start again
	} else {
		s.finish(m, &st, nil, req)
	}
}

// sleepUnlessNewer waits before a retry; false when a newer save (or the end of the session) cuts the wait short.
func (s *server) sleepUnlessNewer(m *moduleState, d time.Duration) bool {
	s.mu.Lock()
	select {
	case <-m.wake: // drop a stale wake-up from before this wait
	default:
	}
	pending := m.pending != nil
	s.mu.Unlock()
	if pending {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-m.wake:
		return false
	case <-s.deployCtx.Done():
		return false
	}
}

// finish reports a finished deployment: notification, diagnostics, a message for failures, code lens refresh.
// The status goes last: an editor that sees the final state already has the diagnostics and messages.
func (s *server) finish(m *moduleState, st *deployStatus, d *deployclient.Deployment, req deployRequest) {
	if d != nil {
		s.publishDiagnostics(req.uri, req.text, *d)
	}
	switch st.State {
	case stateDeployed, stateAccepted:
		s.mu.Lock()
		m.shown = ""
		own := s.caps.statusUI
		s.mu.Unlock()
		s.logf(protocol.MessageTypeInfo, "Zato: %s", st.Message)
		if !own {
			// An editor with nothing of its own for zato/deployStatus (Neovim, Helix...) shows the outcome of a save
			// as a message at info level.
			s.showMessage(protocol.MessageTypeInfo, "Zato: "+st.Message)
		}
	case statePartial:
		s.logf(protocol.MessageTypeWarning, "Zato: %s", st.Message)
		s.failureMessage(m, protocol.MessageTypeWarning, st.Message)
	case stateConflict:
		s.logf(protocol.MessageTypeWarning, "Zato: %s", st.Message)
		s.mu.Lock()
		own := s.caps.statusUI
		s.mu.Unlock()
		if !own { // an editor with its own conflict prompt (VS Code's Show Diff / Deploy Anyway) is not told twice
			s.failureMessage(m, protocol.MessageTypeWarning, st.Message)
		}
	case stateUnauthorized:
		// The refusal was said once (noteAuth); an editor with a status bar of its own shows this save's part there.
		s.logf(protocol.MessageTypeError, "Zato: %s", st.Message)
		s.mu.Lock()
		own := s.caps.statusUI
		s.mu.Unlock()
		if !own {
			s.failureMessage(m, protocol.MessageTypeError, st.Message)
		}
	default:
		s.logf(protocol.MessageTypeError, "Zato: %s", st.Message)
		s.failureMessage(m, protocol.MessageTypeError, st.Message)
	}
	s.mu.Lock()
	st.Settled = m.pending == nil && m.timer == nil // the deployment is over: is another one waiting?
	s.mu.Unlock()
	s.emit(m, st)
	s.servicesChanged(place{req.scope, st.Target}) // what the cluster serves may have changed: completion, lenses and lint follow
	s.refreshCodeLens()
}

// failureMessage shows a failure unless the same one is already showing for this module.
func (s *server) failureMessage(m *moduleState, t protocol.MessageType, msg string) {
	s.mu.Lock()
	same := m.shown == msg
	m.shown = msg
	s.mu.Unlock()
	if !same {
		s.showMessage(t, "Zato: "+msg)
	}
}

// finalState names a finished deployment's outcome and says it in one line.
func finalState(d deployclient.Deployment, elapsedMs float64) (string, string) {
	ms := fmt.Sprintf("%.0f ms", elapsedMs)
	switch d.Status {
	case deployclient.StatusAccepted:
		return stateAccepted, fmt.Sprintf("%s accepted by Zato: %s", d.Module, d.Message)
	case deployclient.StatusDeployed:
		return stateDeployed, fmt.Sprintf("%s deployed to %d/%d servers in %s", d.Module, d.Confirmed, d.Expected, ms)
	case deployclient.StatusPartial:
		return statePartial, fmt.Sprintf("%s deployed to %d/%d servers in %s; %s", d.Module, d.Confirmed, d.Expected, ms, problems(d))
	default:
		if d.Message != "" { // stock Zato
			return stateFailed, fmt.Sprintf("%s failed: %s", d.Module, d.Message)
		}
		return stateFailed, fmt.Sprintf("%s failed: %s", d.Module, problems(d))
	}
}

// problems lists what went wrong on which server: "server2 offline; server1 failed: SyntaxError: ... (line 3)".
func problems(d deployclient.Deployment) string {
	var out []string
	for _, s := range d.Servers {
		switch {
		case s.Status == deployclient.StatusDeployed:
		case s.Error != nil:
			p := fmt.Sprintf("%s %s: %s: %s", s.Name, s.Status, s.Error.Type, s.Error.Message)
			if s.Error.Line > 0 {
				p += fmt.Sprintf(" (line %d)", s.Error.Line)
			}
			out = append(out, p)
		default:
			out = append(out, s.Name+" "+s.Status)
		}
	}
	if len(out) == 0 {
		return "no server confirmed"
	}
	return strings.Join(out, "; ")
}

func serversIn(d deployclient.Deployment, status string) []string {
	var out []string
	for _, s := range d.Servers {
		if s.Status == status {
			out = append(out, s.Name)
		}
	}
	return out
}

func percent(n, of int) uint32 {
	if of <= 0 {
		return 0
	}
	return uint32(n * 100 / of)
}

// rootCause is the innermost error of a network failure ("connection refused"), for a message a person reads.
func rootCause(err error) string {
	e := err
	for {
		if multi, ok := e.(interface{ Unwrap() []error }); ok {
			errs := multi.Unwrap()
			e = errs[len(errs)-1]
			continue
		}
		u := errors.Unwrap(e)
		if u == nil {
			break
		}
		e = u
	}
	if e == deployclient.ErrUnreachable || e == context.DeadlineExceeded {
		return err.Error()
	}
	return e.Error()
}
