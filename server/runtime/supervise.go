package runtime

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// good is a module that loaded, kept to replay it into a new worker.
type good struct {
	module, filename, dotted string
	source                   []byte
	sum                      [32]byte
	at                       time.Time // when it was deployed (not replayed): crashes are blamed by it
}

func (g good) name() string { return g.module + g.dotted }

func (g good) request() request {
	if g.dotted != "" {
		return newImport(g.dotted)
	}
	return newLoad(g.module, g.filename, g.source)
}

// quarantined is a module version the runtime does not load again.
type quarantined struct {
	sum [32]byte
	err *ModuleError
	at  time.Time
}

// crashes counts the worker's unexplained deaths; r.loadMu guards it.
type crashes struct {
	recent []time.Time // within the window
	streak time.Time   // when the current streak of crashes began; zero when there is none
	count  int         // deaths in the streak, for the back-off
}

// acquire returns slot's current worker once it is ready, replacing it first if it has exited. holdsLoadMu tells
// whether the caller holds r.loadMu.
func (r *Runtime) acquire(ctx context.Context, slot int, holdsLoadMu bool) (*worker, error) {
	for {
		r.mu.Lock()
		w, closed := r.ws[slot], r.closed
		r.mu.Unlock()
		if closed {
			return nil, ErrClosed
		}
		select {
		case <-w.ready: // a worker being replayed into is not served yet
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if w.retiring.Load() { // about to be killed and replaced: wait for that
			select {
			case <-w.exited:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		select {
		case <-w.exited: // died between requests
			if err := r.replace(ctx, w, holdsLoadMu); err != nil {
				return nil, err
			}
		default:
			return w, nil
		}
	}
}

// replace starts a new worker in place of the exited one, unless that was done already, and replays the good modules
// into it before it serves anything. holdsLoadMu tells whether the caller holds r.loadMu. An unexplained death is
// counted, may quarantine a module, and delays the restart while the crashes go on.
func (r *Runtime) replace(ctx context.Context, dead *worker, holdsLoadMu bool) error {
	r.mu.Lock()
	current, closed := r.ws[dead.slot], r.closed
	r.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if current != dead {
		return nil
	}
	if !holdsLoadMu {
		r.loadMu.Lock()
		defer r.loadMu.Unlock()
		r.mu.Lock()
		current = r.ws[dead.slot]
		r.mu.Unlock()
		if current != dead {
			return nil // replaced while we waited for loadMu
		}
	}
	<-dead.exited
	dead.pmu.Lock()
	explained := dead.explained || dead.noStart
	dead.pmu.Unlock()
	if !explained {
		r.log.Warn("the python worker exited", "worker", dead.slot, "status", fmt.Sprint(dead.exitErr))
		wait, blamed := r.crashedLocked(time.Now(), dead.exitErr)
		if blamed != "" {
			r.retireElsewhere(ctx, dead.slot, blamed) // the other workers still hold it, and what it started
		}
		if wait > 0 {
			r.log.Warn("the python worker keeps exiting: its restart waits", "for", wait)
			select {
			case <-time.After(wait):
			case <-r.ctx.Done():
				return ErrClosed
			}
		}
	}
	// The replay is for everybody's sake: the caller giving up must not leave a half-replayed worker.
	return r.restartLocked(context.WithoutCancel(ctx), dead.slot)
}

// crashedLocked counts an unexplained death at now; at CrashLimit deaths within CrashWindow it quarantines the good
// module deployed most recently before the streak began (then, as the crashes go on, the one before it). It returns
// how long the restart waits: nothing for the first death of a streak, then 50 ms doubling up to 5 s, and the module
// it quarantined, if any. r.loadMu is held.
func (r *Runtime) crashedLocked(now time.Time, exit error) (wait time.Duration, blamed string) {
	c := &r.crashes
	if n := len(c.recent); n > 0 && now.Sub(c.recent[n-1]) > r.cfg.CrashWindow {
		*c = crashes{} // the last streak is over
	}
	if c.streak.IsZero() {
		c.streak = now
	}
	c.count++
	c.recent = append(c.recent, now)
	for len(c.recent) > 0 && now.Sub(c.recent[0]) > r.cfg.CrashWindow {
		c.recent = c.recent[1:]
	}
	if len(c.recent) >= r.cfg.CrashLimit {
		suspect := -1
		for i, g := range r.goods {
			if g.at.Before(c.streak) && (suspect < 0 || !g.at.Before(r.goods[suspect].at)) {
				suspect = i
			}
		}
		if suspect >= 0 {
			g := r.goods[suspect]
			me := &ModuleError{Type: "Quarantined", Message: fmt.Sprintf(
				"the Python worker exited %d times within %s after this module was loaded (last: %v), and it was the "+
					"module loaded most recently before the crashes began: it was unloaded and is not loaded again "+
					"until a new version is deployed", len(c.recent), r.cfg.CrashWindow, exit)}
			r.forget(g.name())
			r.putInQuarantine(g.name(), g.sum, me, true)
			blamed = g.name()
			c.recent = nil // the next crashes, if any, blame the module before it
		}
	}
	if c.count < 2 {
		return 0, blamed
	}
	return min(50*time.Millisecond<<min(c.count-2, 10), 5*time.Second), blamed
}

// putInQuarantine records that module's version sum must not be loaded again; tell says whether OnQuarantine hears of
// it (a load's caller learns of its own failure from the load).
func (r *Runtime) putInQuarantine(module string, sum [32]byte, err *ModuleError, tell bool) {
	now := time.Now()
	r.qmu.Lock()
	r.quarantine[module] = quarantined{sum: sum, err: err, at: now}
	r.qmu.Unlock()
	r.log.Warn("module quarantined: it is not loaded again until a new version is deployed", "module", module, "err", err)
	if tell && r.notes != nil {
		e := *err
		select {
		case r.notes <- Quarantine{Module: module, Error: &e, At: now}:
		default:
			r.log.Error("too many quarantines at once: OnQuarantine misses one", "module", module)
		}
	}
}

// quarantined returns why module's version sum is refused, if it is; another version lifts the quarantine.
func (r *Runtime) quarantined(module string, sum [32]byte) (*ModuleError, bool) {
	r.qmu.Lock()
	defer r.qmu.Unlock()
	q, ok := r.quarantine[module]
	if !ok {
		return nil, false
	}
	if q.sum != sum {
		delete(r.quarantine, module)
		return nil, false
	}
	e := *q.err
	return &e, true
}

// notify hands quarantines to OnQuarantine, in order, until the runtime closes.
func (r *Runtime) notify() {
	for {
		select {
		case q := <-r.notes:
			r.cfg.OnQuarantine(q.Module, q.Error)
		case <-r.ctx.Done():
			return
		}
	}
}

// restartLocked starts a new worker in slot and replays the good modules into it, in the one order every start and
// restart uses (replayOrder); r.loadMu is held. A good module that now fails, hangs or kills the interpreter is
// quarantined (and reported), unloaded from the other workers, and the others are replayed, into yet another worker
// where it took the last one down.
func (r *Runtime) restartLocked(ctx context.Context, slot int) error {
	goods := replayOrder(r.goods)
	for {
		r.mu.Lock()
		w, err := r.spawnLocked(slot, true)
		r.mu.Unlock()
		if err != nil {
			return err
		}
		// The interpreter's start is not the first module's import: on a busy machine it may take longer.
		if _, err := r.ping(ctx, w, r.cfg.StartTimeout); err != nil {
			if !errors.Is(err, errWorkerExited) {
				w.kill("it did not start within " + r.cfg.StartTimeout.String())
			}
			// Not a module's crash (no module is blamed for it); the next try waits a little, for an interpreter
			// that cannot start at all must not be started in a tight loop.
			w.pmu.Lock()
			w.noStart = true
			w.pmu.Unlock()
			close(w.ready)
			select {
			case <-time.After(time.Second):
			case <-r.ctx.Done():
			}
			return fmt.Errorf("python worker did not start: %w", err)
		}
		close(w.ready) // it serves while the replay goes on, holding what it does not have yet
		r.log.Warn("python worker restarted", "worker", slot, "replaying", len(goods))
		began := time.Now()
		var kept []good
		failed := -1
		for i, g := range goods {
			rep, err := r.roundTrip(ctx, w, g.request(), r.cfg.ImportTimeout)
			var me *ModuleError
			switch {
			case errors.Is(err, errTimeout):
				me = &ModuleError{Type: "ImportTimeout", Message: fmt.Sprintf("the module was still importing after %s when it was replayed into a restarted worker", r.cfg.ImportTimeout)}
				w.kill("replaying " + g.name() + " took longer than " + r.cfg.ImportTimeout.String())
			case err != nil:
				if !errors.Is(err, errWorkerExited) {
					w.kill("replaying " + g.name() + " failed")
				}
				me = &ModuleError{Type: "WorkerExited", Message: "the Python interpreter exited while the module was replayed into a restarted worker: " + err.Error()}
			case !rep.OK && rep.Error != nil:
				me = &ModuleError{Type: rep.Error.Type, Message: "when replayed into a restarted worker: " + rep.Error.Message,
					Line: rep.Error.Line, Column: rep.Error.Column, Traceback: rep.Error.Traceback}
			case !rep.OK:
				me = &ModuleError{Type: "Error", Message: "when replayed into a restarted worker, without details"}
			default:
				kept = append(kept, g)
				continue
			}
			r.putInQuarantine(g.name(), g.sum, me, true)
			r.forget(g.name())
			r.unloadElsewhere(ctx, slot, g.name())
			if err != nil {
				failed = i
				break
			}
		}
		if failed < 0 {
			// Should the worker die now, its watcher replaces it; nothing more to do here.
			_, _ = r.roundTrip(ctx, w, newReplayed(), r.cfg.ImportTimeout)
			w.replaying.Store(false)
			r.log.Info("python worker replayed", "worker", slot, "modules", len(kept), "took", time.Since(began))
			return nil
		}
		goods = append(kept, goods[failed+1:]...)
		select {
		case <-r.ctx.Done():
			return ErrClosed
		default:
		}
	}
}

func (r *Runtime) remember(g good) {
	r.forget(g.name())
	r.goods = append(r.goods, g)
}

func (r *Runtime) forget(name string) {
	for i, x := range r.goods {
		if x.name() == name {
			r.goods = append(r.goods[:i], r.goods[i+1:]...)
			return
		}
	}
}

// deploy runs a load, import or unload on slot's worker; r.loadMu is held. On timeout the worker is killed; after the
// worker dies it is replaced, with the good modules replayed, before deploy returns. A request cut short because the
// worker was killed for another request's sake (an invocation that timed out), or that never reached a worker that
// had just died, is sent again, once.
func (r *Runtime) deploy(ctx context.Context, slot int, req request, what string) (reply, error) {
	for attempt := 0; ; attempt++ {
		w, err := r.acquire(ctx, slot, true)
		if err != nil {
			return reply{}, err
		}
		undrain := func() {}
		if len(r.ws) > 1 { // another worker takes the invocations meanwhile
			undrain = w.drain(drainMax)
		}
		rep, again, err := r.send(ctx, w, req, r.cfg.ImportTimeout, what, true,
			func(e *workerExit) bool { return e.killedBecause != "" || e.unsent })
		undrain()
		if !again || attempt > 0 {
			return rep, err
		}
	}
}

// query runs an invocation or another request that may run concurrently with everything else, on the worker least
// busy (pick). On timeout the worker is killed; after the worker dies it is replaced, with the good modules replayed,
// before query returns. A request that never reached a worker because it had just died is sent again, once.
func (r *Runtime) query(ctx context.Context, req request, timeout time.Duration, what string) (reply, error) {
	for attempt := 0; ; attempt++ {
		w, err := r.acquire(ctx, r.pick(), false)
		if err != nil {
			return reply{}, err
		}
		rep, again, err := r.send(ctx, w, req, timeout, what, false, func(e *workerExit) bool { return e.unsent })
		if !again || attempt > 0 {
			return rep, err
		}
	}
}

// send makes one round trip to w and deals with its failure (afterFailure); again tells whether the request may be
// sent once more, which retry decides from how the worker ended.
func (r *Runtime) send(ctx context.Context, w *worker, req request, timeout time.Duration, what string, holdsLoadMu bool,
	retry func(*workerExit) bool) (rep reply, again bool, err error) {
	rep, err = r.roundTrip(ctx, w, req, timeout)
	var exit *workerExit
	mayRetry := errors.As(err, &exit) && retry(exit)
	handled, rerr := r.afterFailure(ctx, w, err, what, timeout, holdsLoadMu)
	switch {
	case !handled:
		return rep, false, err
	case rerr != nil:
		return reply{}, false, rerr
	}
	return reply{}, mayRetry, err
}

// afterFailure deals with a round trip's timeout (w is killed) or w's exit: w is replaced, with the good modules
// replayed. handled is false for any other outcome, which the caller returns as it is; rerr is set when the
// replacement failed (ErrClosed, or the failure wrapped around err). holdsLoadMu tells whether the caller holds
// r.loadMu.
func (r *Runtime) afterFailure(ctx context.Context, w *worker, err error, what string, timeout time.Duration, holdsLoadMu bool) (handled bool, rerr error) {
	switch {
	case errors.Is(err, errTimeout):
		w.kill(fmt.Sprintf("%s took longer than %s", what, timeout))
	case errors.Is(err, errWorkerExited):
	default:
		return false, nil
	}
	if rerr := r.replace(ctx, w, holdsLoadMu); rerr != nil {
		if errors.Is(rerr, ErrClosed) {
			return true, ErrClosed
		}
		return true, fmt.Errorf("%w; restart failed: %v", err, rerr)
	}
	return true, nil
}
