// Package runtime runs a server's services in a python3 worker that provides the part of Zato's service API that
// flat modules use. Loads, imports and unloads run one after another, in order, on the worker's main thread;
// invocations run concurrently with them and with each other, so a module that takes long to import does not hold up
// the services already deployed.
//
// One bad module harms only itself. The protocol runs on pipes of the worker's own, not on stdin or stdout, and what
// modules print reaches the log through a bounded reader. The worker runs under a guard process that takes its whole
// process tree down when the worker dies, when the runtime stops it, or when the server dies (even by kill -9). A
// module that hangs or kills the interpreter at import fails only its own load; one that kills it later, again and
// again, is quarantined: unloaded, not replayed, reported through Config.OnQuarantine.
//
// The files: runtime.go (the API), worker.go (one worker process and its protocol round trips), supervise.go
// (restarts, replays, crash accounting and quarantine), protocol.go (the typed messages and the line reader),
// output.go (what modules print), plumbing_*.go and proc_*.go (what differs between systems).
package runtime

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
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
	StartTimeout  time.Duration // how long python3 may take to start the worker, before any import; default 30s
	InvokeTimeout time.Duration // default 60s
	InvokeThreads int           // how many invocations run at once in each worker (the others wait); 0: the worker's default, 256
	// Workers is how many python3 interpreters serve (default 1), each holding every good module. With more than
	// one, a module is loaded into the first before the others, so one that fails or kills the interpreter never
	// reaches them, and each invocation goes to the least busy one: a service or an import holding one interpreter
	// does not delay the services the others run.
	Workers int
	// MemoryMax (bytes) and PidsMax cap each worker's process tree with a cgroup of its own, where the system lets
	// the server make one (Linux, cgroup v2 with memory and pids delegated, or v1's hierarchies); 0: no limit. A
	// worker killed for memory fails the load in progress with a message that says so. Where cgroups cannot be made,
	// the workers run without limits and the log says why, once.
	MemoryMax int64
	PidsMax   int
	Logger    *slog.Logger // self.logger output and what the worker prints
	Server    string

	// MaxResponse caps one invocation's JSON response, in bytes (default 32 MiB); a bigger one fails that invocation
	// with ResponseTooLarge (HTTP 502), decided in the worker before anything is sent.
	MaxResponse int
	// MaxOutputLine caps one line a module prints, in bytes (default 16 KiB); the rest is cut, with a note.
	MaxOutputLine int
	// OutputRate and OutputBurst cap how much of what the worker prints reaches the log: a token bucket of
	// OutputRate bytes a second (default 64 KiB) holding up to OutputBurst bytes (default 512 KiB), whatever the
	// restarts. What is over is dropped, with a note saying how much. Services' self.logger records have a bucket
	// of their own, eight times as big.
	OutputRate, OutputBurst int
	// CrashLimit unexplained worker deaths within CrashWindow (defaults 3 and 60s) quarantine the module loaded most
	// recently before the crashes began (then the one before it, if they go on). A death is unexplained when no load
	// was running and the runtime did not kill the worker.
	CrashLimit  int
	CrashWindow time.Duration
	// OnQuarantine, if set, is told of each module the runtime quarantines on its own: one that keeps killing the
	// worker after its import, or that fails when it is replayed into a new worker. It is called from a goroutine of
	// its own, in order, never with a lock of the runtime held; the module's services are gone by then and it is not
	// replayed until Load is called for it with a new version.
	OnQuarantine func(module string, err *ModuleError)
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

// Quarantine is a module the runtime will not load again until it gets a new version of it.
type Quarantine struct {
	Module string // file name (x.py), or dotted name for ImportDotted
	Error  *ModuleError
	At     time.Time
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

// Runtime owns the worker.
type Runtime struct {
	cfg    Config
	log    *slog.Logger
	script string
	nextID atomic.Int64
	ctx    context.Context // the runtime's lifetime: the restarts it makes on its own stop with it
	cancel context.CancelFunc

	// loadMu serializes loads, imports and unloads, and the restarts with their replays, so that deployments stay
	// ordered and a new worker gets the good modules in the order they were deployed. It guards goods and crashes.
	loadMu  sync.Mutex
	goods   []good
	crashes crashes

	gate    *outputGate // what the workers print, on its way to the log
	logGate *outputGate // services' self.logger records

	qmu        sync.Mutex // guards quarantine; held only briefly
	quarantine map[string]quarantined
	notes      chan Quarantine // to OnQuarantine, in order

	noCgroup sync.Once              // the log says once that the limits are not applied
	loads    *loadsGroup            // the idle cpu cgroup the workers' loaders run in; nil where there is none
	exe      atomic.Pointer[string] // the interpreter's own path, once known: restarts start it directly

	mu     sync.Mutex // guards ws and closed; held only briefly
	ws     []*worker  // the current worker of each slot, possibly dead; never nil after Start
	closed bool
}

// Start extracts the embedded Python package and starts the worker.
func Start(ctx context.Context, cfg Config) (*Runtime, error) {
	if cfg.Python == "" {
		cfg.Python = "python3"
	}
	if cfg.ImportTimeout <= 0 {
		cfg.ImportTimeout = 10 * time.Second
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 30 * time.Second
	}
	if cfg.InvokeTimeout <= 0 {
		cfg.InvokeTimeout = 60 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxResponse <= 0 {
		cfg.MaxResponse = 32 << 20
	}
	if cfg.MaxOutputLine <= 0 {
		cfg.MaxOutputLine = 16 << 10
	}
	if cfg.OutputRate <= 0 {
		cfg.OutputRate = 64 << 10
	}
	if cfg.OutputBurst <= 0 {
		cfg.OutputBurst = 512 << 10
	}
	if cfg.CrashLimit <= 0 {
		cfg.CrashLimit = 3
	}
	if cfg.CrashWindow <= 0 {
		cfg.CrashWindow = time.Minute
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	removeStale(cfg.Server)
	if err := extract(cfg.Dir); err != nil {
		return nil, fmt.Errorf("extract python runtime: %w", err)
	}
	r := &Runtime{cfg: cfg, log: cfg.Logger, script: filepath.Join(cfg.Dir, "zato_worker.py"),
		quarantine: map[string]quarantined{}, gate: newOutputGate(cfg.Logger, cfg.OutputRate, cfg.OutputBurst),
		logGate: newOutputGate(cfg.Logger, 8*cfg.OutputRate, 8*cfg.OutputBurst), ws: make([]*worker, cfg.Workers)}
	r.ctx, r.cancel = context.WithCancel(context.WithoutCancel(ctx))
	var err error
	if r.loads, err = newLoadsGroup(cfg.Server); err != nil {
		r.log.Info("imports run at the services' CPU priority: this system does not let the server give them a lower one", "why", err.Error())
	}
	if cfg.OnQuarantine != nil {
		r.notes = make(chan Quarantine, 256)
		go r.notify()
	}
	r.mu.Lock()
	for slot := range r.ws {
		w, err := r.spawnLocked(slot, false)
		if err != nil {
			r.mu.Unlock()
			r.Close()
			return nil, err
		}
		close(w.ready) // nothing to replay
	}
	ws := slices.Clone(r.ws)
	r.mu.Unlock()
	// Wait until the interpreters are up (a few tens of ms): a server counts itself live after this, and its first
	// deployment must not pay for python3's start.
	errs := make([]error, len(ws))
	reps := make([]reply, len(ws))
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Go(func() { reps[i], errs[i] = r.ping(ctx, w, cfg.StartTimeout) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		r.Close()
		return nil, fmt.Errorf("python worker did not start: %w", err)
	}
	if exe := reps[0].Executable; exe != "" && filepath.IsAbs(exe) {
		if fi, err := os.Stat(exe); err == nil && fi.Mode().IsRegular() {
			r.exe.Store(&exe)
		}
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

// Load compiles and imports source as module (a file name such as x.py), replacing its services atomically. A
// quarantined module is loaded only when source differs from the version quarantined.
func (r *Runtime) Load(ctx context.Context, module, filename string, source []byte) (LoadResult, error) {
	r.loadMu.Lock()
	defer r.loadMu.Unlock()
	sum := sha256.Sum256(source)
	if q, ok := r.quarantined(module, sum); ok {
		return LoadResult{Module: module, Error: q}, nil
	}
	start := time.Now()
	res, err := r.load(ctx, newLoad(module, filename, source), module, sum)
	res.Module, res.Duration = module, time.Since(start)
	if err == nil && res.Error == nil {
		r.remember(good{module: module, filename: filename, source: source, sum: sum, at: time.Now()})
	}
	return res, err
}

// ImportDotted imports a module by its dotted name from sys.path and registers its services.
func (r *Runtime) ImportDotted(ctx context.Context, dotted string) (LoadResult, error) {
	r.loadMu.Lock()
	defer r.loadMu.Unlock()
	if q, ok := r.quarantined(dotted, [32]byte{}); ok {
		return LoadResult{Module: dotted, Error: q}, nil
	}
	start := time.Now()
	res, err := r.load(ctx, newImport(dotted), dotted, [32]byte{})
	res.Module, res.Duration = dotted, time.Since(start)
	if err == nil && res.Error == nil {
		r.remember(good{dotted: dotted, at: time.Now()})
	}
	return res, err
}

// load runs a load or an import; r.loadMu is held. An import that hangs or kills the worker puts the module in
// quarantine: the same version is not tried again.
func (r *Runtime) load(ctx context.Context, req request, module string, sum [32]byte) (LoadResult, error) {
	rep, err := r.deployAll(ctx, req, "importing "+module)
	var exit *workerExit
	switch {
	case errors.As(err, &exit) && exit.oom:
		me := &ModuleError{Type: "MemoryLimit", Message: fmt.Sprintf("the Python interpreter went over its memory limit (%d MiB) while importing the module and was killed; it was restarted with the previous modules", r.cfg.MemoryMax>>20)}
		r.putInQuarantine(module, sum, me, false)
		return LoadResult{Error: me}, nil
	case errors.Is(err, errTimeout):
		me := &ModuleError{Type: "ImportTimeout", Message: fmt.Sprintf("the module was still importing after %s; the worker was restarted with the previous modules", r.cfg.ImportTimeout)}
		r.putInQuarantine(module, sum, me, false)
		return LoadResult{Error: me}, nil
	case errors.Is(err, errWorkerExited):
		me := &ModuleError{Type: "WorkerExited", Message: "the Python interpreter exited while importing the module; it was restarted with the previous modules"}
		r.putInQuarantine(module, sum, me, false)
		return LoadResult{Error: me}, nil
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
	svcs := rep.Services
	if svcs == nil {
		svcs = []string{}
	}
	return LoadResult{Services: svcs, Removed: rep.Removed}, nil
}

// Unload removes a module's services, and its quarantine.
func (r *Runtime) Unload(ctx context.Context, module string) ([]string, error) {
	r.loadMu.Lock()
	defer r.loadMu.Unlock()
	r.qmu.Lock()
	delete(r.quarantine, module)
	r.qmu.Unlock()
	rep, err := r.deployAll(ctx, newUnload(module), "unloading "+module)
	if err != nil {
		return nil, err
	}
	r.forget(module)
	return rep.Removed, nil
}

// Invoke runs a service with a JSON payload (or nil) and returns its JSON response. Invocations run concurrently with
// each other and with loads; one that comes while the worker is being restarted waits until the good modules are
// back.
func (r *Runtime) Invoke(ctx context.Context, service string, payload []byte, opts InvokeOptions) (json.RawMessage, error) {
	if len(payload) > 0 && !json.Valid(payload) {
		var p any
		err := json.Unmarshal(payload, &p)
		return nil, &InvokeError{Status: 400, Type: "BadInput", Message: "the payload is not JSON: " + err.Error()}
	}
	req := &invokeRequest{header: header{Op: "invoke"}, Service: service, Payload: payload, CID: opts.CID}
	rep, err := r.query(ctx, req, r.cfg.InvokeTimeout, "invoking "+service)
	var exit *workerExit
	switch {
	case errors.Is(err, errTimeout):
		return nil, &InvokeError{Status: 504, Type: "InvokeTimeout", Message: fmt.Sprintf("%s did not answer within %s; the worker was restarted", service, r.cfg.InvokeTimeout)}
	case errors.As(err, &exit) && exit.oom:
		return nil, &InvokeError{Status: 500, Type: "MemoryLimit", Message: fmt.Sprintf("%s was interrupted: the Python worker went over its memory limit (%d MiB) and was killed, then restarted", service, r.cfg.MemoryMax>>20)}
	case errors.As(err, &exit) && exit.killedBecause != "":
		return nil, &InvokeError{Status: 500, Type: "WorkerExited", Message: fmt.Sprintf("%s was interrupted: the Python worker was restarted because %s", service, exit.killedBecause)}
	case errors.Is(err, errWorkerExited):
		return nil, &InvokeError{Status: 500, Type: "WorkerExited", Message: service + " made the Python interpreter exit, or was running when it did; it was restarted"}
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
		if ie.Status >= 500 {
			// The service raised: the server's log says so, where the caller's answer is not seen (an invoke from
			// another system, a scheduler), on one line, with the place it raised.
			r.log.Error(fmt.Sprintf("Service %s raised %s: %s%s", service, ie.Type, ie.Message, raisedAt(ie.Traceback)),
				"service", service, "cid", opts.CID)
		}
		return nil, ie
	}
	return rep.Response, nil
}

// raisedAt is where a traceback ends, " (at file, line N, in f)", or "" when it names no frame.
func raisedAt(tb string) string {
	lines := strings.Split(tb, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); strings.HasPrefix(l, "File ") {
			return " (at " + strings.TrimPrefix(l, "File ") + ")"
		}
	}
	return ""
}

// Services lists what the worker serves, sorted by name.
func (r *Runtime) Services() []ServiceInfo {
	rep, err := r.query(context.Background(), newServices(), r.cfg.ImportTimeout, "listing the services")
	if err != nil || !rep.OK {
		return nil
	}
	var out []ServiceInfo
	for _, s := range rep.Listing {
		out = append(out, ServiceInfo(s))
	}
	return out
}

// Quarantined lists the modules the runtime refuses to load until a new version comes, by name: those whose import
// hung or killed the worker, and those quarantined on the runtime's own (see Config.OnQuarantine).
func (r *Runtime) Quarantined() []Quarantine {
	r.qmu.Lock()
	defer r.qmu.Unlock()
	out := make([]Quarantine, 0, len(r.quarantine))
	for name, q := range r.quarantine {
		e := *q.err
		out = append(out, Quarantine{Module: name, Error: &e, At: q.at})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Module < out[j].Module })
	return out
}

// Close stops the worker: requests in progress get up to 2 s to answer; then the worker and everything it started are
// killed. Later calls return ErrClosed.
func (r *Runtime) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	ws := slices.Clone(r.ws)
	r.mu.Unlock()
	r.cancel()
	for _, w := range ws {
		if w != nil {
			w.pl.closeRequests() // the worker's loops end at EOF
		}
	}
	grace, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, w := range ws {
		if w == nil {
			continue
		}
		select {
		case <-w.exited:
		case <-grace.Done():
			w.kill("the runtime was closed")
		}
	}
	r.loads.remove() // every worker has exited: the loop above waits, or kills and waits
	r.gate.stop()
	r.logGate.stop()
	return nil
}
