package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// killGrace is how long the guard gets to take the worker's tree down before it is killed itself.
const killGrace = 2 * time.Second

type worker struct {
	slot      int         // which of the runtime's workers it is
	replaying atomic.Bool // it holds the invocations of services it has not replayed yet
	cmd       *exec.Cmd   // the guard where there is one (every Unix), else the worker
	requests  *pipeWriter
	loads     *pipeWriter // loads, imports and unloads, read by the worker's main thread; == requests on Windows
	pl        *plumbing
	gate      *outputGate
	exited    chan struct{} // closed once the process (and its tree) is gone and every reply it wrote was dispatched
	ready     chan struct{} // closed once it may serve (it holds what it has not replayed yet), or it was given up
	exitErr   error         // how the process ended; set before exited is closed
	cg        *cgroup       // its limits, if the system allows them
	oom       bool          // the kernel killed a process of its tree for memory; set before exited is closed

	pmu       sync.Mutex
	pending   map[int64]chan reply // requests waiting for their reply, by id
	killed    string               // why the runtime killed the worker, if it did
	loadingID int64                // the load, import or unload in flight, if any
	draining  bool                 // a load waits for the invocations in flight to end: send it none
	drained   chan struct{}        // closed when pending empties while a load waits
	explained bool                 // it died while killed or loading: not a crash of its own; set before exited
	noStart   bool                 // it never answered its first ping: not a module's crash either

	pid      atomic.Int64 // the python process (its main thread, the loader), from its first ping
	retiring atomic.Bool  // it holds a module quarantined for what it started: it is replaced, send it nothing new
}

// pipeWriter writes whole lines to one of the worker's pipes, one at a time, each within a deadline.
type pipeWriter struct {
	mu     sync.Mutex
	f      *os.File
	broken bool // a line was cut short: nothing more can be understood on this pipe
}

var errBroken = errors.New("the pipe to the python worker is broken")

func (p *pipeWriter) write(b []byte, deadline time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.broken {
		return errBroken
	}
	_ = p.f.SetWriteDeadline(deadline) // unsupported on Windows' pipes: there the write takes as long as it takes
	n, err := p.f.Write(b)
	if err != nil && n > 0 {
		p.broken = true
	}
	return err
}

// spawnLocked starts a worker and makes it slot's current one, not ready yet; r.mu is held. A worker replaying holds
// the invocations of services it does not have until it is told the replay is over.
func (r *Runtime) spawnLocked(slot int, replaying bool) (*worker, error) {
	if r.closed {
		return nil, ErrClosed
	}
	args := []string{"-u", r.script, r.cfg.Dir}
	if r.cfg.ModuleDir != "" {
		args = append(args, r.cfg.ModuleDir)
	}
	args = append(args, r.cfg.ExtraPaths...)
	python := r.cfg.Python
	if exe := r.exe.Load(); exe != nil {
		python = *exe
	}
	cmd := exec.Command(python, args...)
	cmd.Env = append(hugeMalloc(os.Environ()), "PYTHONDONTWRITEBYTECODE=1", "PYTHONIOENCODING=utf-8", "ZATO_SERVER_NAME="+r.cfg.Server,
		"ZATO_MAX_REPLY="+strconv.Itoa(r.cfg.MaxResponse))
	if replaying {
		cmd.Env = append(cmd.Env, "ZATO_REPLAYING=1")
	}
	if r.cfg.InvokeThreads > 0 {
		cmd.Env = append(cmd.Env, "ZATO_INVOKE_THREADS="+strconv.Itoa(r.cfg.InvokeThreads))
	}
	cg, err := cgroupLimits(r.cfg.Server, r.cfg.MemoryMax, r.cfg.PidsMax)
	if err != nil {
		r.noCgroup.Do(func() {
			r.log.Warn("the python workers run without their memory and process limits: this system does not let the server make cgroups", "why", err.Error())
		})
	}
	if procs := cg.procs(); len(procs) > 0 {
		cmd.Env = append(cmd.Env, "ZATO_CGROUP_PROCS="+strings.Join(procs, string(os.PathListSeparator)))
	}
	if tasks := r.loads.tasks(); tasks != "" {
		cmd.Env = append(cmd.Env, "ZATO_LOADS_TASKS="+tasks)
	}
	cmd.Dir = r.cfg.Dir
	pl, err := plumb(cmd)
	if err != nil {
		cg.remove()
		return nil, fmt.Errorf("pipes for the python worker: %w", err)
	}
	err = cmd.Start()
	pl.closeChildEnds()
	if err != nil {
		cg.remove()
		pl.closeOurEnds()
		return nil, fmt.Errorf("start %s: %w", r.cfg.Python, err)
	}
	w := &worker{slot: slot, cmd: cmd, cg: cg, requests: &pipeWriter{f: pl.requests}, loads: &pipeWriter{f: pl.loads}, pl: pl,
		gate:   r.gate,
		exited: make(chan struct{}), ready: make(chan struct{}), pending: map[int64]chan reply{}}
	if pl.loads == pl.requests {
		w.loads = w.requests
	}
	repliesDone := make(chan struct{})
	go func() { r.readReplies(w); close(repliesDone) }()
	var outputs sync.WaitGroup
	for _, o := range []struct {
		f      *os.File
		stream string
	}{{pl.stdout, "stdout"}, {pl.stderr, "stderr"}} {
		if o.f != nil {
			outputs.Go(func() { readOutput(o.f, o.stream, r.cfg.MaxOutputLine, w.gate) })
		}
	}
	go r.watch(w, repliesDone, &outputs)
	w.replaying.Store(replaying)
	r.ws[slot] = w
	return w, nil
}

// watch waits for the process to end, which is how a worker's death is learnt whatever its children hold open, then
// ends the worker's readers and has it replaced.
func (r *Runtime) watch(w *worker, repliesDone <-chan struct{}, outputs *sync.WaitGroup) {
	err := w.cmd.Wait()
	// The guard exits once the worker's tree is gone, so every reply written is in the pipe: let the reader dispatch
	// them, then stop it in case something outside the tree (a guard killed from outside) holds the pipe open.
	select {
	case <-repliesDone:
	case <-time.After(time.Second):
		_ = w.pl.replies.Close()
		<-repliesDone
	}
	w.pl.closeWriters()
	w.pmu.Lock()
	w.explained = w.killed != "" || w.loadingID != 0
	w.pmu.Unlock()
	w.exitErr = err
	w.oom = w.cg.oomKilled()
	w.cg.remove()
	close(w.exited)
	go func() {
		done := make(chan struct{})
		go func() { outputs.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(time.Second):
			w.pl.closeOutputs()
			<-done
		}
	}()
	_ = r.replace(r.ctx, w, false) // at once, so that a crash is counted and the services come back without waiting for a caller
}

// readReplies hands each reply to the request waiting for it, until the replies pipe ends. A line it cannot read, or
// one over the limit, fails only the request it belongs to.
func (r *Runtime) readReplies(w *worker) {
	lr := newLineReader(w.pl.replies, r.cfg.MaxResponse+1<<20)
	for {
		line, size, err := lr.next()
		if err != nil {
			return
		}
		var rep reply
		switch id, hasID := idOf(line); {
		case size > int64(len(line)):
			r.log.Error("a line from the python worker is over the limit and was dropped", "bytes", size, "limit", lr.max, "id", id)
			if !hasID {
				continue
			}
			rep = failed(id, 502, "ResponseTooLarge", fmt.Sprintf("the worker's reply is %d bytes, over the limit of %d bytes", size, lr.max))
		default:
			if err := json.Unmarshal(line, &rep); err != nil {
				r.log.Error("unreadable line from the python worker", "err", err, "id", id, "line", clipText(string(line), 200))
				if !hasID {
					continue
				}
				rep = failed(id, 502, "BadReply", "the worker's reply could not be read: "+err.Error())
			}
		}
		if rep.Log != nil {
			r.logGate.logRecord(rep.Log)
			continue
		}
		w.pmu.Lock()
		ch := w.pending[rep.ID] // nil for a reply nobody waits for any more (its caller gave up)
		w.forgetLocked(rep.ID)
		w.pmu.Unlock()
		if ch != nil {
			ch <- rep // buffered, and one reply per request
		}
	}
}

// forgetLocked drops a request from pending, and tells a load waiting for the worker to be idle once it is; w.pmu is
// held.
func (w *worker) forgetLocked(id int64) {
	delete(w.pending, id)
	if w.loadingID == id {
		w.loadingID = 0
	}
	if w.drained != nil && len(w.pending) == 0 {
		close(w.drained)
		w.drained = nil
	}
}

// drain keeps new invocations away from w (pick sees it busy) and waits, up to max, for those in flight to end: a
// module's import holds the interpreter, and what is already running there would wait for it. It returns the
// function that ends the drain, once the load is over.
func (w *worker) drain(max time.Duration) (undrain func()) {
	undrain = func() {
		w.pmu.Lock()
		w.draining = false
		w.pmu.Unlock()
	}
	w.pmu.Lock()
	w.draining = true
	if len(w.pending) == 0 {
		w.pmu.Unlock()
		return undrain
	}
	ch := make(chan struct{})
	w.drained = ch
	w.pmu.Unlock()
	t := time.NewTimer(max)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-w.exited:
	}
	w.pmu.Lock()
	if w.drained == ch {
		w.drained = nil
	}
	w.pmu.Unlock()
	return undrain
}

func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// kill stops the worker for reason and waits until it is gone with its whole tree: the guard is told through the
// lifeline, and killed with its group if it does not finish in time.
func (w *worker) kill(reason string) {
	w.pmu.Lock()
	if w.killed == "" {
		w.killed = reason
	}
	w.pmu.Unlock()
	w.pl.cutLifeline(w.cmd)
	select {
	case <-w.exited:
		return
	case <-time.After(killGrace):
	}
	killGroup(w.cmd)
	<-w.exited
}

func (w *worker) killedBecause() string {
	w.pmu.Lock()
	defer w.pmu.Unlock()
	return w.killed
}

// errWorkerExited and errTimeout tell the callers of roundTrip what happened to the worker.
var (
	errWorkerExited = errors.New("the python worker exited")
	errTimeout      = errors.New("timed out")
)

// workerExit is errWorkerExited, with why the runtime killed the worker if it did (another request's timeout).
type workerExit struct {
	killedBecause string
	oom           bool // the kernel killed it for going over its memory limit
	unsent        bool // the request never reached it (the pipe was closed): sending it to the next worker is safe
}

func (e *workerExit) Error() string {
	if e.killedBecause != "" {
		return errWorkerExited.Error() + ": it was killed because " + e.killedBecause
	}
	return errWorkerExited.Error()
}

func (e *workerExit) Is(target error) bool { return target == errWorkerExited }

func exitOf(w *worker) error { return &workerExit{killedBecause: w.killedBecause(), oom: w.oom} }

// ping waits for w to answer, which it does once its interpreter is up, and notes its pid.
func (r *Runtime) ping(ctx context.Context, w *worker, timeout time.Duration) (reply, error) {
	rep, err := r.roundTrip(ctx, w, newPing(), timeout)
	if err == nil && rep.PID > 0 {
		w.pid.Store(int64(rep.PID))
	}
	return rep, err
}

// roundTrip sends one request to w and waits for its reply, all within timeout. It neither kills nor replaces w: on
// errTimeout (the worker did not read the request in time, or did not answer it) the caller decides.
func (r *Runtime) roundTrip(ctx context.Context, w *worker, req request, timeout time.Duration) (reply, error) {
	h := req.base()
	h.ID = r.nextID.Add(1)
	b, err := json.Marshal(req)
	if err != nil {
		return reply{}, err
	}
	b = append(b, '\n')
	ch := make(chan reply, 1)
	to := w.requests
	w.pmu.Lock()
	w.pending[h.ID] = ch
	if loaderOp(h.Op) {
		to = w.loads
		w.loadingID = h.ID
	}
	w.pmu.Unlock()
	if loaderOp(h.Op) {
		defer r.loads.during(w)()
	}
	defer func() {
		w.pmu.Lock()
		w.forgetLocked(h.ID)
		w.pmu.Unlock()
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	// The write has a goroutine of its own so that the caller's context holds while a worker that stopped reading
	// blocks it; the write itself ends at the deadline, and a line cut short then is the worker's end (the caller
	// kills it on errTimeout).
	written := make(chan error, 1)
	deadline := time.Now().Add(timeout)
	go func() { written <- to.write(b, deadline) }()
	var unsent bool
	for {
		select {
		case err := <-written:
			written = nil
			switch {
			case err == nil:
			case errors.Is(err, os.ErrDeadlineExceeded):
				return reply{}, errTimeout
			default: // the worker is exiting (it died, or Close closed its pipes); its exit or the timer follows
				unsent = true
			}
		case rep := <-ch:
			return rep, nil
		case <-w.exited:
			select {
			case rep := <-ch: // the reply came just before the exit
				return rep, nil
			default:
			}
			if written != nil {
				// Both may be ready when the worker was dead already: whether the line went out decides whether the
				// request can have run, so wait for the write (it ends at once on a closed pipe, else at deadline).
				if err := <-written; err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
					unsent = true
				}
			}
			exit := exitOf(w).(*workerExit)
			exit.unsent = unsent
			return reply{}, exit
		case <-timer.C:
			return reply{}, errTimeout
		case <-ctx.Done():
			return reply{}, ctx.Err()
		}
	}
}

// hugeMalloc asks glibc's malloc to back its large blocks with transparent huge pages (glibc 2.35 or later; other C
// libraries ignore it), unless GLIBC_TUNABLES already says otherwise. A service that builds a large value then takes
// one page fault per 2 MiB instead of one per 4 KiB: a 70 MiB string costs 14 ms of CPU instead of 270 ms on a virtual
// machine whose page faults are dear, CPU that the other services' requests no longer wait for.
func hugeMalloc(env []string) []string {
	const tunable = "glibc.malloc.hugetlb"
	for i, kv := range env {
		v, ok := strings.CutPrefix(kv, "GLIBC_TUNABLES=")
		if !ok {
			continue
		}
		if strings.Contains(v, tunable+"=") {
			return env // the user's own choice
		}
		if v != "" {
			v += ":"
		}
		env = slices.Clone(env)
		env[i] = "GLIBC_TUNABLES=" + v + tunable + "=1"
		return env
	}
	return append(env, "GLIBC_TUNABLES="+tunable+"=1")
}
