// Package runtime runs a server's services in a python3 worker that provides the part of Zato's service API that
// flat modules use. The worker is one process. Loads, imports and unloads run one after another, in order, on a thread
// of their own; invocations run concurrently with them and with each other, so a module that takes long to import
// does not hold up the services already deployed. A module that hangs or kills the interpreter fails only its own
// load: the worker is restarted and the last good modules are replayed.
package runtime

import (
	"bufio"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

//go:embed all:python
var pythonFS embed.FS

// Config of the runtime.
type Config struct {
	Python        string        // default "python3"
	Dir           string        // where the embedded Python package is extracted
	ModuleDir     string        // hot-deployed modules; on sys.path so they can import each other
	ExtraPaths    []string      // zato_extra_paths and the like; on sys.path
	ImportTimeout time.Duration // default 10s
	InvokeTimeout time.Duration // default 60s
	InvokeThreads int           // how many invocations run at once (the others wait); 0: the worker's default, 256
	Logger        *slog.Logger  // self.logger output and the worker's stderr
	Server        string
}

// LoadResult of one module.
type LoadResult struct {
	Module   string
	Services []string
	Removed  []string
	Error    *ModuleError
	Duration time.Duration
}

// ModuleError is why a module did not load.
type ModuleError struct {
	Type, Message string
	Line, Column  int
	Traceback     string
}

func (e *ModuleError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s: %s (line %d)", e.Type, e.Message, e.Line)
	}
	return e.Type + ": " + e.Message
}

// InvokeOptions of one invocation.
type InvokeOptions struct {
	CID    string
	Server string
}

// InvokeError is a failed invocation; Status is the HTTP status it maps to.
type InvokeError struct {
	Status                   int
	Type, Message, Traceback string
}

func (e *InvokeError) Error() string { return fmt.Sprintf("%s: %s", e.Type, e.Message) }

// ServiceInfo is one served service.
type ServiceInfo struct {
	Name, Module, Class string
}

// ErrClosed is returned after Close.
var ErrClosed = errors.New("python runtime closed")

// good is a module that loaded, kept to replay it into a new worker.
type good struct {
	module, filename, dotted string
	source                   []byte
}

func (g good) request() map[string]any {
	if g.dotted != "" {
		return map[string]any{"op": "import", "dotted": g.dotted}
	}
	return map[string]any{"op": "load", "module": g.module, "filename": g.filename, "source": string(g.source)}
}

// Runtime owns the worker.
type Runtime struct {
	cfg    Config
	log    *slog.Logger
	script string
	nextID atomic.Int64

	// loadMu serializes loads, imports and unloads, and the restarts with their replays, so that deployments stay
	// ordered and a new worker gets the good modules in the order they were deployed. It guards goods.
	loadMu sync.Mutex
	goods  []good

	mu     sync.Mutex // guards w and closed; held only briefly
	w      *worker    // the current worker, possibly dead; never nil after Start
	closed bool
}

type worker struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	loads  *os.File      // loads, imports and unloads, read by the worker's main thread itself; stdin where nil
	wmu    sync.Mutex    // one whole request line at a time on stdin and on loads
	exited chan struct{} // closed once the process is gone and every reply it wrote was dispatched
	ready  chan struct{} // closed once the good modules were replayed into it, or it was given up

	pmu     sync.Mutex
	pending map[int64]chan reply // requests waiting for their reply, by id
	killed  string               // why the runtime killed the worker, if it did
}

// kill stops the worker for reason and waits until it is gone.
func (w *worker) kill(reason string) {
	w.pmu.Lock()
	if w.killed == "" {
		w.killed = reason
	}
	w.pmu.Unlock()
	_ = w.cmd.Process.Kill()
	<-w.exited
}

type reply struct {
	ID       int64           `json:"id"`
	Log      *logRecord      `json:"log"`
	OK       bool            `json:"ok"`
	Services json.RawMessage `json:"services"`
	Removed  []string        `json:"removed"`
	Response json.RawMessage `json:"response"`
	Status   int             `json:"status"`
	Error    *struct {
		Type      string `json:"type"`
		Message   string `json:"message"`
		Line      int    `json:"line"`
		Column    int    `json:"column"`
		Traceback string `json:"traceback"`
	} `json:"error"`
}

// Start extracts the embedded Python package and starts the worker.
func Start(ctx context.Context, cfg Config) (*Runtime, error) {
	if cfg.Python == "" {
		cfg.Python = "python3"
	}
	if cfg.ImportTimeout <= 0 {
		cfg.ImportTimeout = 10 * time.Second
	}
	if cfg.InvokeTimeout <= 0 {
		cfg.InvokeTimeout = 60 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := extract(cfg.Dir); err != nil {
		return nil, fmt.Errorf("extract python runtime: %w", err)
	}
	r := &Runtime{cfg: cfg, log: cfg.Logger, script: filepath.Join(cfg.Dir, "zato_worker.py")}
	r.mu.Lock()
	w, err := r.spawnLocked()
	r.mu.Unlock()
	if err != nil {
		return nil, err
	}
	close(w.ready) // nothing to replay
	// Wait until the interpreter is up (a few tens of ms): a server counts itself live after this, and its first
	// deployment must not pay for python3's start.
	if _, err := r.query(ctx, map[string]any{"op": "ping"}, cfg.ImportTimeout, "starting the worker"); err != nil {
		r.Close()
		return nil, fmt.Errorf("python worker did not start: %w", err)
	}
	return r, nil
}

func extract(dir string) error {
	return fs.WalkDir(pythonFS, "python", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, strings.TrimPrefix(p, "python"))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := pythonFS.ReadFile(p)
		if err != nil {
			return err
		}
		if old, err := os.ReadFile(dst); err == nil && string(old) == string(b) {
			return nil
		}
		return os.WriteFile(dst, b, 0o644)
	})
}

// spawnLocked starts a worker and makes it the current one, not ready yet; r.mu is held.
func (r *Runtime) spawnLocked() (*worker, error) {
	if r.closed {
		return nil, ErrClosed
	}
	args := []string{"-u", r.script, r.cfg.Dir}
	if r.cfg.ModuleDir != "" {
		args = append(args, r.cfg.ModuleDir)
	}
	args = append(args, r.cfg.ExtraPaths...)
	cmd := exec.Command(r.cfg.Python, args...)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "PYTHONIOENCODING=utf-8", "ZATO_SERVER_NAME="+r.cfg.Server)
	if r.cfg.InvokeThreads > 0 {
		cmd.Env = append(cmd.Env, "ZATO_INVOKE_THREADS="+strconv.Itoa(r.cfg.InvokeThreads))
	}
	cmd.Dir = r.cfg.Dir
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	// Loads get a pipe of their own where child processes can inherit one (not on Windows): the worker's main
	// thread, which runs them, wakes on it directly instead of through the thread that reads stdin.
	var loadsR, loadsW *os.File
	if goruntime.GOOS != "windows" {
		if loadsR, loadsW, err = os.Pipe(); err != nil {
			return nil, fmt.Errorf("loads pipe: %w", err)
		}
		cmd.ExtraFiles = []*os.File{loadsR} // fd 3
		cmd.Env = append(cmd.Env, "ZATO_LOADS_FD=3")
	}
	err = cmd.Start()
	if loadsR != nil {
		loadsR.Close() // the worker's end
	}
	if err != nil {
		if loadsW != nil {
			loadsW.Close()
		}
		return nil, fmt.Errorf("start %s: %w", r.cfg.Python, err)
	}
	w := &worker{cmd: cmd, stdin: stdin, loads: loadsW, exited: make(chan struct{}), ready: make(chan struct{}),
		pending: map[int64]chan reply{}}
	go r.readStderr(stderr)
	go r.readReplies(w, stdout)
	r.w = w
	return w, nil
}

// readReplies hands each reply to the request waiting for it, until the worker exits.
func (r *Runtime) readReplies(w *worker, stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		var rep reply
		if err := json.Unmarshal(sc.Bytes(), &rep); err != nil {
			r.log.Warn("bad reply from the python worker", "err", err)
			continue
		}
		if rep.Log != nil {
			r.logFromWorker(rep.Log)
			continue
		}
		w.pmu.Lock()
		ch := w.pending[rep.ID] // nil for a reply nobody waits for any more (its caller gave up)
		delete(w.pending, rep.ID)
		w.pmu.Unlock()
		if ch != nil {
			ch <- rep // buffered, and one reply per request
		}
	}
	_ = w.cmd.Wait() // closes stdin
	if w.loads != nil {
		w.loads.Close()
	}
	close(w.exited)
}

func (r *Runtime) readStderr(rd io.Reader) {
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		r.log.Info(sc.Text(), "stream", "stderr")
	}
}

// logRecord is a service's self.logger record, sent on the protocol stream.
type logRecord struct {
	Level, Logger, Msg string
}

func (r *Runtime) logFromWorker(m *logRecord) {
	lvl := slog.LevelInfo
	switch m.Level {
	case "DEBUG":
		lvl = slog.LevelDebug
	case "WARNING":
		lvl = slog.LevelWarn
	case "ERROR", "CRITICAL":
		lvl = slog.LevelError
	}
	r.log.Log(context.Background(), lvl, m.Msg, "service", m.Logger)
}

// errWorkerExited and errTimeout tell the callers of roundTrip what happened to the worker.
var (
	errWorkerExited = errors.New("the python worker exited")
	errTimeout      = errors.New("timed out")
)

// workerExit is errWorkerExited, with why the runtime killed the worker if it did (another request's timeout).
type workerExit struct{ killedBecause string }

func (e *workerExit) Error() string {
	if e.killedBecause != "" {
		return errWorkerExited.Error() + ": it was killed because " + e.killedBecause
	}
	return errWorkerExited.Error()
}

func (e *workerExit) Is(target error) bool { return target == errWorkerExited }

func exitOf(w *worker) error { return &workerExit{killedBecause: w.killedBecause()} }

// loaderOps run one after another on the worker's main thread, in the order sent (LOADER_OPS in the worker).
var loaderOps = map[string]bool{"load": true, "import": true, "unload": true}

// roundTrip sends one request to w and waits for its reply. It neither kills nor replaces w: on errTimeout the
// caller decides.
func (r *Runtime) roundTrip(ctx context.Context, w *worker, req map[string]any, timeout time.Duration) (reply, error) {
	id := r.nextID.Add(1)
	req["id"] = id
	b, err := json.Marshal(req)
	if err != nil {
		return reply{}, err
	}
	ch := make(chan reply, 1)
	w.pmu.Lock()
	w.pending[id] = ch
	w.pmu.Unlock()
	defer func() {
		w.pmu.Lock()
		delete(w.pending, id)
		w.pmu.Unlock()
	}()
	to := io.Writer(w.stdin)
	if loaderOps[req["op"].(string)] && w.loads != nil {
		to = w.loads
	}
	w.wmu.Lock()
	_, err = to.Write(append(b, '\n'))
	w.wmu.Unlock()
	if err != nil { // the worker is exiting (it died, or Close closed its stdin)
		<-w.exited
		return reply{}, exitOf(w)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case rep := <-ch:
		return rep, nil
	case <-w.exited:
		select {
		case rep := <-ch: // the reply came just before the exit
			return rep, nil
		default:
		}
		return reply{}, exitOf(w)
	case <-timer.C:
		return reply{}, errTimeout
	case <-ctx.Done():
		return reply{}, ctx.Err()
	}
}

// acquire returns the current worker once it is ready, replacing it first if it has exited. holdsLoadMu tells
// whether the caller holds r.loadMu.
func (r *Runtime) acquire(ctx context.Context, holdsLoadMu bool) (*worker, error) {
	for {
		r.mu.Lock()
		w, closed := r.w, r.closed
		r.mu.Unlock()
		if closed {
			return nil, ErrClosed
		}
		select {
		case <-w.ready: // a worker being replayed into is not served yet
		case <-ctx.Done():
			return nil, ctx.Err()
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
// into it before it serves anything. holdsLoadMu tells whether the caller holds r.loadMu.
func (r *Runtime) replace(ctx context.Context, dead *worker, holdsLoadMu bool) error {
	r.mu.Lock()
	current, closed := r.w, r.closed
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
		current = r.w
		r.mu.Unlock()
		if current != dead {
			return nil // replaced while we waited for loadMu
		}
	}
	if dead.killedBecause() == "" {
		r.log.Warn("the python worker exited")
	}
	// The replay is for everybody's sake: the caller giving up must not leave a half-replayed worker.
	return r.restartLocked(context.WithoutCancel(ctx))
}

func (w *worker) killedBecause() string {
	w.pmu.Lock()
	defer w.pmu.Unlock()
	return w.killed
}

// restartLocked starts a new worker and replays the good modules into it; r.loadMu is held. A good module that now
// hangs or kills the interpreter is dropped and the others are replayed into yet another worker.
func (r *Runtime) restartLocked(ctx context.Context) error {
	goods := r.goods
	for {
		r.mu.Lock()
		w, err := r.spawnLocked()
		r.mu.Unlock()
		if err != nil {
			return err
		}
		r.log.Warn("python worker restarted", "replaying", len(goods))
		var kept []good
		failed, cause := -1, error(nil)
		for i, g := range goods {
			rep, err := r.roundTrip(ctx, w, g.request(), r.cfg.ImportTimeout)
			if err != nil {
				if errors.Is(err, errTimeout) {
					err = fmt.Errorf("still importing after %s", r.cfg.ImportTimeout)
				}
				w.kill("replaying " + g.module + g.dotted + " failed")
				failed, cause = i, err
				break
			}
			if rep.OK {
				kept = append(kept, g)
			}
		}
		close(w.ready)
		if failed < 0 {
			r.goods = kept
			return nil
		}
		r.log.Warn("a module that had loaded fails on restart and is dropped", "module", goods[failed].module+goods[failed].dotted, "err", cause)
		goods = append(kept, goods[failed+1:]...)
	}
}

func (r *Runtime) remember(g good) {
	for i, x := range r.goods {
		if x.module == g.module && x.dotted == g.dotted {
			r.goods = append(r.goods[:i], r.goods[i+1:]...)
			break
		}
	}
	r.goods = append(r.goods, g)
}

// deploy runs a load, import or unload; r.loadMu is held. On timeout the worker is killed; after the worker dies it
// is replaced, with the good modules replayed, before deploy returns. A request cut short because the worker was
// killed for another request's sake (an invocation that timed out) is sent again, once.
func (r *Runtime) deploy(ctx context.Context, req map[string]any, what string) (reply, error) {
	for attempt := 0; ; attempt++ {
		w, err := r.acquire(ctx, true)
		if err != nil {
			return reply{}, err
		}
		rep, err := r.roundTrip(ctx, w, req, r.cfg.ImportTimeout)
		var exit *workerExit
		retry := errors.As(err, &exit) && exit.killedBecause != "" && attempt == 0
		handled, rerr := r.afterFailure(ctx, w, err, what, r.cfg.ImportTimeout, true)
		switch {
		case !handled:
			return rep, err
		case rerr != nil:
			return reply{}, rerr
		case !retry:
			return reply{}, err
		}
	}
}

// query runs an invocation or another request that may run concurrently with everything else. On timeout the worker
// is killed; after the worker dies it is replaced, with the good modules replayed, before query returns.
func (r *Runtime) query(ctx context.Context, req map[string]any, timeout time.Duration, what string) (reply, error) {
	w, err := r.acquire(ctx, false)
	if err != nil {
		return reply{}, err
	}
	rep, err := r.roundTrip(ctx, w, req, timeout)
	handled, rerr := r.afterFailure(ctx, w, err, what, timeout, false)
	switch {
	case !handled:
		return rep, err
	case rerr != nil:
		return reply{}, rerr
	}
	return reply{}, err
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

// Load compiles and imports source as module (a file name such as x.py), replacing its services atomically.
func (r *Runtime) Load(ctx context.Context, module, filename string, source []byte) (LoadResult, error) {
	r.loadMu.Lock()
	defer r.loadMu.Unlock()
	start := time.Now()
	res, err := r.load(ctx, map[string]any{"op": "load", "module": module, "filename": filename, "source": string(source)}, module)
	res.Module, res.Duration = module, time.Since(start)
	if err == nil && res.Error == nil {
		r.remember(good{module: module, filename: filename, source: source})
	}
	return res, err
}

// ImportDotted imports a module by its dotted name from sys.path and registers its services.
func (r *Runtime) ImportDotted(ctx context.Context, dotted string) (LoadResult, error) {
	r.loadMu.Lock()
	defer r.loadMu.Unlock()
	start := time.Now()
	res, err := r.load(ctx, map[string]any{"op": "import", "dotted": dotted}, dotted)
	res.Module, res.Duration = dotted, time.Since(start)
	if err == nil && res.Error == nil {
		r.remember(good{dotted: dotted})
	}
	return res, err
}

// load runs a load or an import; r.loadMu is held.
func (r *Runtime) load(ctx context.Context, req map[string]any, module string) (LoadResult, error) {
	rep, err := r.deploy(ctx, req, "importing "+module)
	switch {
	case errors.Is(err, errTimeout):
		return LoadResult{Error: &ModuleError{Type: "ImportTimeout", Message: fmt.Sprintf("the module was still importing after %s; the worker was restarted with the previous modules", r.cfg.ImportTimeout)}}, nil
	case errors.Is(err, errWorkerExited):
		return LoadResult{Error: &ModuleError{Type: "WorkerExited", Message: "the Python interpreter exited while importing the module; it was restarted with the previous modules"}}, nil
	case err != nil:
		return LoadResult{}, err
	}
	if !rep.OK {
		e := rep.Error
		if e == nil {
			return LoadResult{Error: &ModuleError{Type: "Error", Message: "the worker failed without details"}}, nil
		}
		return LoadResult{Error: &ModuleError{Type: e.Type, Message: e.Message, Line: e.Line, Column: e.Column, Traceback: e.Traceback}}, nil
	}
	var svcs []string
	if len(rep.Services) > 0 {
		if err := json.Unmarshal(rep.Services, &svcs); err != nil {
			return LoadResult{}, fmt.Errorf("decode services: %w", err)
		}
	}
	if svcs == nil {
		svcs = []string{}
	}
	return LoadResult{Services: svcs, Removed: rep.Removed}, nil
}

// Unload removes a module's services.
func (r *Runtime) Unload(ctx context.Context, module string) ([]string, error) {
	r.loadMu.Lock()
	defer r.loadMu.Unlock()
	rep, err := r.deploy(ctx, map[string]any{"op": "unload", "module": module}, "unloading "+module)
	if err != nil {
		return nil, err
	}
	for i, g := range r.goods {
		if g.module == module {
			r.goods = append(r.goods[:i], r.goods[i+1:]...)
			break
		}
	}
	return rep.Removed, nil
}

// Invoke runs a service with a JSON payload (or nil) and returns its JSON response. Invocations run concurrently with
// each other and with loads; one that comes while the worker is being restarted waits until the good modules are
// back.
func (r *Runtime) Invoke(ctx context.Context, service string, payload []byte, opts InvokeOptions) (json.RawMessage, error) {
	var p any
	if len(payload) > 0 {
		if err := json.Unmarshal(payload, &p); err != nil {
			return nil, &InvokeError{Status: 400, Type: "BadInput", Message: "the payload is not JSON: " + err.Error()}
		}
	}
	rep, err := r.query(ctx, map[string]any{"op": "invoke", "service": service, "payload": p, "cid": opts.CID}, r.cfg.InvokeTimeout, "invoking "+service)
	var exit *workerExit
	switch {
	case errors.Is(err, errTimeout):
		return nil, &InvokeError{Status: 504, Type: "InvokeTimeout", Message: fmt.Sprintf("%s did not answer within %s; the worker was restarted", service, r.cfg.InvokeTimeout)}
	case errors.As(err, &exit) && exit.killedBecause != "":
		return nil, &InvokeError{Status: 500, Type: "WorkerExited", Message: fmt.Sprintf("%s was interrupted: the Python worker was restarted because %s", service, exit.killedBecause)}
	case errors.Is(err, errWorkerExited):
		return nil, &InvokeError{Status: 500, Type: "WorkerExited", Message: service + " made the Python interpreter exit; it was restarted"}
	case err != nil:
		return nil, err
	}
	if !rep.OK {
		ie := &InvokeError{Status: rep.Status, Type: "Error"}
		if ie.Status == 0 {
			ie.Status = 500
		}
		if rep.Error != nil {
			ie.Type, ie.Message, ie.Traceback = rep.Error.Type, rep.Error.Message, rep.Error.Traceback
		}
		return nil, ie
	}
	return rep.Response, nil
}

// Services lists what the worker serves, sorted by name.
func (r *Runtime) Services() []ServiceInfo {
	rep, err := r.query(context.Background(), map[string]any{"op": "services"}, r.cfg.ImportTimeout, "listing the services")
	if err != nil || !rep.OK {
		return nil
	}
	var out []ServiceInfo
	var raw []struct{ Name, Module, Class string }
	if json.Unmarshal(rep.Services, &raw) == nil {
		for _, s := range raw {
			out = append(out, ServiceInfo(s))
		}
	}
	return out
}

// Close stops the worker: requests in progress get up to 2 s to answer; later calls return ErrClosed.
func (r *Runtime) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	w := r.w
	r.mu.Unlock()
	if w != nil {
		_ = w.stdin.Close() // the worker's loops end at EOF
		if w.loads != nil {
			_ = w.loads.Close()
		}
		select {
		case <-w.exited:
		case <-time.After(2 * time.Second):
			w.kill("the runtime was closed")
		}
	}
	return nil
}
