package runtime

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/zato-go/zato/server/loadorder"
)

// The runtime's workers: Config.Workers interpreters, each holding every good module. A load, import or unload goes
// to them one after another, the first acting as the probe: a module that fails, hangs or kills the interpreter there
// never reaches the others, which go on serving. An invocation goes to the worker least busy (not loading, not
// replaying, fewest requests in flight), so a service that holds its interpreter (a long call under the GIL, a huge
// reply being encoded) or a module's import delays only what that one interpreter runs.

// drainMax bounds how long a load waits for the invocations in flight on its worker to end (while the other workers
// take the new ones), so that they do not wait for the import instead. Invocations that run longer meet the import.
const drainMax = 50 * time.Millisecond

// Scores of pick, above any count of requests in flight.
const (
	scoreBusy    = 1 << 20 // loading or replaying: it answers, but after the import's work
	scoreWaiting = 1 << 29 // not ready yet
	scoreGone    = 1 << 30 // exited: it is being replaced
)

// pick returns the slot whose worker is least busy; the first on a tie.
func (r *Runtime) pick() int {
	r.mu.Lock()
	ws := slices.Clone(r.ws)
	r.mu.Unlock()
	best, bestScore := 0, scoreGone+1
	for i, w := range ws {
		if s := w.score(); s < bestScore {
			best, bestScore = i, s
		}
	}
	return best
}

func (w *worker) score() int {
	select {
	case <-w.exited:
		return scoreGone
	default:
	}
	select {
	case <-w.ready:
	default:
		return scoreWaiting
	}
	w.pmu.Lock()
	n := len(w.pending)
	if w.loadingID != 0 || w.draining {
		n += scoreBusy
	}
	w.pmu.Unlock()
	if w.replaying.Load() {
		n += scoreBusy
	}
	if w.retiring.Load() {
		return scoreGone // about to be replaced: what picks it waits for its replacement
	}
	return n
}

// deployAll runs a load, import or unload on every worker, the first one first; r.loadMu is held. The first failure
// ends it: the workers after it never see the module, and the workers before it, which took what this one refused (a
// module whose import differs from one interpreter to the next), are restarted with the good modules, so that every
// worker serves the same code. It returns the first worker's reply, or the failure.
func (r *Runtime) deployAll(ctx context.Context, req request, what string) (reply, error) {
	var first reply
	for slot := range r.ws {
		rep, err := r.deploy(ctx, slot, req, what)
		if err == nil && rep.OK {
			if slot == 0 {
				first = rep
			}
			continue
		}
		if slot > 0 {
			r.log.Warn("a module loaded in one python worker and failed in another: the workers that took it are restarted without it", "module", what, "worker", slot)
			for i := range slot {
				r.mu.Lock()
				w := r.ws[i]
				r.mu.Unlock()
				w.kill(what + " failed in another worker")
				if err := r.replace(ctx, w, true); err != nil && !errors.Is(err, ErrClosed) {
					r.log.Error("restarting a python worker failed", "worker", i, "err", err)
				}
			}
		}
		return rep, err
	}
	return first, nil
}

// others returns the current worker of every slot but except.
func (r *Runtime) others(except int) []*worker {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*worker
	for slot, w := range r.ws {
		if slot != except {
			out = append(out, w)
		}
	}
	return out
}

// unloadElsewhere unloads a module that was just quarantined from every worker but except; r.loadMu is held. A worker
// that does not answer in time is killed: its replay leaves the module out.
func (r *Runtime) unloadElsewhere(ctx context.Context, except int, name string) {
	for _, w := range r.others(except) {
		select {
		case <-w.exited:
			continue // its replay leaves the module out
		case <-w.ready:
		default:
			continue // being replayed into: the same
		}
		if _, err := r.roundTrip(ctx, w, newUnload(name), r.cfg.ImportTimeout); errors.Is(err, errTimeout) {
			w.kill("unloading the quarantined " + name + " took longer than " + r.cfg.ImportTimeout.String())
		}
	}
}

// retireElsewhere replaces every worker but except, now that name is quarantined for killing the worker after its
// import; r.loadMu is held. Unloading it would not do: what its import started (threads, timers, processes) goes on
// running in the workers that imported it, and would kill them once more. Each worker gets drainMax for the
// invocations in flight, then is killed and replayed without it; new invocations wait for the new worker meanwhile.
func (r *Runtime) retireElsewhere(ctx context.Context, except int, name string) {
	for _, w := range r.others(except) {
		select {
		case <-w.exited:
			continue // its replay leaves the module out
		default:
		}
		w.retiring.Store(true)
		w.drain(drainMax)
		w.kill(name + " was quarantined, and what its import started goes with the worker")
		if err := r.restartLocked(context.WithoutCancel(ctx), w.slot); err != nil && !errors.Is(err, ErrClosed) {
			r.log.Error("restarting a python worker failed", "worker", w.slot, "err", err)
		}
	}
}

// replayOrder is the order in which a new worker gets the good modules, whatever order they were deployed in, and
// the order a server's start loads them in: the ones imported from sys.path (service-sources.txt) first, in the order
// they came, then the hot-deployed ones in loadorder's order (after the modules they import, by name otherwise). So a
// module's effect does not depend on which server, or which worker, restarted when.
func replayOrder(goods []good) []good {
	var out []good
	files := map[string]good{}
	var names []string
	for _, g := range goods {
		if g.dotted != "" {
			out = append(out, g)
			continue
		}
		files[g.module] = g
		names = append(names, g.module)
	}
	for _, name := range loadorder.Sort(names, func(m string) string { return string(files[m].source) }) {
		out = append(out, files[name])
	}
	return out
}
