// Package runtime runs a server's services in a python3 worker that provides the part of Zato's service API that
// flat modules use. The worker is one process; requests are serialized. A module that hangs or kills the
// interpreter fails only its own load: the worker is restarted and the last good modules are replayed.
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
	"strings"
	"sync"
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

// Runtime owns the worker.
type Runtime struct {
	cfg    Config
	log    *slog.Logger
	script string

	mu     sync.Mutex // one request at a time; guards everything below
	w      *worker
	goods  []good
	nextID int64
	closed bool
}

type worker struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	replies chan reply
	exited  chan struct{}
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
	defer r.mu.Unlock()
	if err := r.spawn(); err != nil {
		return nil, err
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

// spawn starts a worker; r.mu is held.
func (r *Runtime) spawn() error {
	args := []string{"-u", r.script, r.cfg.Dir}
	if r.cfg.ModuleDir != "" {
		args = append(args, r.cfg.ModuleDir)
	}
	args = append(args, r.cfg.ExtraPaths...)
	cmd := exec.Command(r.cfg.Python, args...)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "PYTHONIOENCODING=utf-8", "ZATO_SERVER_NAME="+r.cfg.Server)
	cmd.Dir = r.cfg.Dir
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", r.cfg.Python, err)
	}
	w := &worker{cmd: cmd, stdin: stdin, replies: make(chan reply, 1), exited: make(chan struct{})}
	go r.readStderr(stderr)
	go func() {
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
			select {
			case w.replies <- rep:
			default: // a reply nobody waits for any more (its caller gave up)
			}
		}
		_ = cmd.Wait()
		close(w.exited)
	}()
	r.w = w
	return nil
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

// errWorkerExited and errTimeout tell call's callers what happened to the worker.
var (
	errWorkerExited = errors.New("the python worker exited")
	errTimeout      = errors.New("timed out")
)

// call sends one request and waits for its reply; r.mu is held. On timeout or exit the worker is replaced and the
// good modules are replayed before call returns.
func (r *Runtime) call(ctx context.Context, req map[string]any, timeout time.Duration) (reply, error) {
	if r.closed {
		return reply{}, ErrClosed
	}
	if r.w != nil {
		select {
		case <-r.w.exited: // died between requests
			r.log.Warn("the python worker had exited")
			r.w = nil
		default:
		}
	}
	if r.w == nil {
		if err := r.restart(ctx); err != nil {
			return reply{}, err
		}
	}
	r.nextID++
	id := r.nextID
	req["id"] = id
	b, err := json.Marshal(req)
	if err != nil {
		return reply{}, err
	}
	w := r.w
	if _, err := w.stdin.Write(append(b, '\n')); err != nil {
		<-w.exited
		return reply{}, r.afterDeath(ctx, errWorkerExited)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case rep := <-w.replies:
			if rep.ID != id {
				continue // a late reply to a request whose caller gave up
			}
			return rep, nil
		case <-w.exited:
			// A reply may have raced the exit.
			select {
			case rep := <-w.replies:
				if rep.ID == id {
					return rep, nil
				}
			default:
			}
			return reply{}, r.afterDeath(ctx, errWorkerExited)
		case <-timer.C:
			_ = w.cmd.Process.Kill()
			<-w.exited
			return reply{}, r.afterDeath(ctx, errTimeout)
		case <-ctx.Done():
			return reply{}, ctx.Err()
		}
	}
}

// afterDeath restarts the worker with the good modules and returns cause (or the restart's error).
func (r *Runtime) afterDeath(ctx context.Context, cause error) error {
	r.w = nil
	if err := r.restart(ctx); err != nil {
		return fmt.Errorf("%w; restart failed: %v", cause, err)
	}
	return cause
}

func (r *Runtime) restart(ctx context.Context) error {
	if err := r.spawn(); err != nil {
		return err
	}
	r.log.Warn("python worker restarted", "replaying", len(r.goods))
	goods := r.goods
	r.goods = nil
	for _, g := range goods {
		req := map[string]any{"op": "load", "module": g.module, "filename": g.filename, "source": string(g.source)}
		if g.dotted != "" {
			req = map[string]any{"op": "import", "dotted": g.dotted}
		}
		rep, err := r.call(ctx, req, r.cfg.ImportTimeout)
		if err != nil {
			return fmt.Errorf("replay %s%s: %w", g.module, g.dotted, err)
		}
		if rep.OK {
			r.goods = append(r.goods, g)
		}
	}
	return nil
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

// Load compiles and imports source as module (a file name such as x.py), replacing its services atomically.
func (r *Runtime) Load(ctx context.Context, module, filename string, source []byte) (LoadResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	start := time.Now()
	res, err := r.load(ctx, map[string]any{"op": "load", "module": module, "filename": filename, "source": string(source)})
	res.Module, res.Duration = module, time.Since(start)
	if err == nil && res.Error == nil {
		r.remember(good{module: module, filename: filename, source: source})
	}
	return res, err
}

// ImportDotted imports a module by its dotted name from sys.path and registers its services.
func (r *Runtime) ImportDotted(ctx context.Context, dotted string) (LoadResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	start := time.Now()
	res, err := r.load(ctx, map[string]any{"op": "import", "dotted": dotted})
	res.Module, res.Duration = dotted, time.Since(start)
	if err == nil && res.Error == nil {
		r.remember(good{dotted: dotted})
	}
	return res, err
}

func (r *Runtime) load(ctx context.Context, req map[string]any) (LoadResult, error) {
	rep, err := r.call(ctx, req, r.cfg.ImportTimeout)
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
	r.mu.Lock()
	defer r.mu.Unlock()
	rep, err := r.call(ctx, map[string]any{"op": "unload", "module": module}, r.cfg.ImportTimeout)
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

// Invoke runs a service with a JSON payload (or nil) and returns its JSON response.
func (r *Runtime) Invoke(ctx context.Context, service string, payload []byte, opts InvokeOptions) (json.RawMessage, error) {
	var p any
	if len(payload) > 0 {
		if err := json.Unmarshal(payload, &p); err != nil {
			return nil, &InvokeError{Status: 400, Type: "BadInput", Message: "the payload is not JSON: " + err.Error()}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rep, err := r.call(ctx, map[string]any{"op": "invoke", "service": service, "payload": p, "cid": opts.CID}, r.cfg.InvokeTimeout)
	switch {
	case errors.Is(err, errTimeout):
		return nil, &InvokeError{Status: 504, Type: "InvokeTimeout", Message: fmt.Sprintf("%s did not answer within %s; the worker was restarted", service, r.cfg.InvokeTimeout)}
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
	r.mu.Lock()
	defer r.mu.Unlock()
	rep, err := r.call(context.Background(), map[string]any{"op": "services"}, r.cfg.ImportTimeout)
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

// Close stops the worker.
func (r *Runtime) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	if r.w != nil {
		_ = r.w.stdin.Close() // the worker's loop ends at EOF
		select {
		case <-r.w.exited:
		case <-time.After(2 * time.Second):
			_ = r.w.cmd.Process.Kill()
			<-r.w.exited
		}
	}
	return nil
}
