// Command task runs the tasks of Taskfile.yml: `go tool task quickstart`, `go tool task test`, `go tool task --list`.
//
// It reads the subset of go-task's Taskfile (version 3) this repository uses, and rejects anything else by name
// rather than ignoring it: global and per-task vars (strings, Go templates, evaluated in order), desc, deps (run
// concurrently, each task at most once per invocation), cmds (a string or {cmd, silent, ignore_error}), and the
// template variables ROOT_DIR, TASKFILE_DIR, USER_WORKING_DIR, TASK and CLI_ARGS, with go-task's `default`
// function. Variables come, strongest first, from the command line (`task quickstart BASE_PORT=27010`), the task,
// the Taskfile, the environment. Commands run in bash (sh when there is none) in the Taskfile's directory.
//
// It replaces github.com/go-task/task as a tool of the main module: that one brought about 130 modules (cloud SDKs,
// gRPC, OpenTelemetry) into go.mod and minutes into a first build, for the few features above.
//
// While a command runs silently for a while, the runner says so ("still running after 40s"), and it reports how
// long each command that took more than a few seconds ran.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"text/template"
	"time"

	"go.yaml.in/yaml/v3"
)

// Taskfile is the parsed Taskfile.yml.
type Taskfile struct {
	Version string           `yaml:"version"`
	Vars    Vars             `yaml:"vars"`
	Tasks   map[string]*Task `yaml:"tasks"`
	Dir     string           `yaml:"-"` // where the Taskfile is: commands run there
	Path    string           `yaml:"-"`
}

// Task is one entry of tasks:.
type Task struct {
	Desc string   `yaml:"desc"`
	Deps []string `yaml:"deps"`
	Vars Vars     `yaml:"vars"`
	Cmds []Cmd    `yaml:"cmds"`
	Dir  string   `yaml:"dir"` // relative to the Taskfile's directory (templated)
}

// Cmd is one command: a string, or a mapping with cmd and options.
type Cmd struct {
	Cmd         string `yaml:"cmd"`
	Silent      bool   `yaml:"silent"`
	IgnoreError bool   `yaml:"ignore_error"`
}

// UnmarshalYAML accepts `- go build` and `- cmd: go build` (with silent, ignore_error).
func (c *Cmd) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		return n.Decode(&c.Cmd)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i].Value; k == "task" || k == "defer" || k == "for" {
			return fmt.Errorf("line %d: %s: in cmds is not supported by this runner (a command is a string or cmd:)", n.Line, k)
		}
	}
	type plain Cmd
	var p plain
	if err := decodeStrict(n, &p); err != nil {
		return err
	}
	if p.Cmd == "" {
		return fmt.Errorf("line %d: a command needs cmd:", n.Line)
	}
	*c = Cmd(p)
	return nil
}

// Var is one variable: its name and its (template) value, in the order written.
type Var struct{ Name, Value string }

// Vars keeps the order of a vars: mapping, since a variable may use the ones before it.
type Vars []Var

// UnmarshalYAML reads a mapping of name: string (dynamic `sh:` variables are not supported).
func (v *Vars) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: vars must be a mapping", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if val.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: variable %s: only string values are supported (not sh: or maps)", val.Line, k.Value)
		}
		*v = append(*v, Var{k.Value, val.Value})
	}
	return nil
}

func decodeStrict(n *yaml.Node, out any) error {
	// yaml.Node.Decode has no KnownFields: re-encode the node and decode it strictly.
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	d := yaml.NewDecoder(strings.NewReader(string(b)))
	d.KnownFields(true)
	if err := d.Decode(out); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

// Load reads and checks a Taskfile.
func Load(path string) (*Taskfile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d := yaml.NewDecoder(f)
	d.KnownFields(true)
	var tf Taskfile
	if err := d.Decode(&tf); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if tf.Version != "3" && tf.Version != "" {
		return nil, fmt.Errorf("%s: version %q: only version 3 Taskfiles are read", path, tf.Version)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	tf.Path, tf.Dir = abs, filepath.Dir(abs)
	for name, t := range tf.Tasks {
		if t == nil {
			tf.Tasks[name] = &Task{}
			continue
		}
		for _, d := range t.Deps {
			if _, ok := tf.Tasks[d]; !ok {
				return nil, fmt.Errorf("%s: task %q depends on %q, which does not exist", path, name, d)
			}
		}
	}
	return &tf, nil
}

// Find looks for Taskfile.yml (or Taskfile.yaml) in dir and its parents, as go-task does.
func Find(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		for _, n := range []string{"Taskfile.yml", "Taskfile.yaml"} {
			p := filepath.Join(d, n)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no Taskfile.yml in %s or any directory above it", dir)
		}
	}
}

var funcs = template.FuncMap{
	// default "x" .V: .V, or "x" when .V is empty (go-task's, from sprig).
	"default": func(def string, v ...string) string {
		if len(v) == 0 || v[0] == "" {
			return def
		}
		return v[0]
	},
	"OS":   func() string { return runtime.GOOS },
	"ARCH": func() string { return runtime.GOARCH },
}

// render expands one template against vars (a missing variable is empty, as in go-task).
func render(name, text string, vars map[string]string) (string, error) {
	if !strings.Contains(text, "{{") {
		return text, nil
	}
	t, err := template.New(name).Funcs(funcs).Option("missingkey=zero").Parse(text)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := t.Execute(&b, vars); err != nil {
		return "", err
	}
	return b.String(), nil
}

// Runner runs tasks of one Taskfile for one invocation.
type Runner struct {
	TF      *Taskfile
	CLIVars map[string]string // from the command line: they win over every other definition
	CLIArgs string            // what follows --
	Stdout  io.Writer
	Stderr  io.Writer
	Silent  bool          // do not echo commands
	DryRun  bool          // echo, do not run
	Tick    time.Duration // say "still running" after this long without output (0: never)
	Env     []string      // the commands' environment (default os.Environ())

	global map[string]string
	mu     sync.Mutex
	runs   map[string]*run
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

type run struct {
	done chan struct{}
	err  error
}

// TaskError is a failed command: its task, the command as run, and its exit code.
type TaskError struct {
	Task, Cmd string
	Code      int
	Err       error
}

func (e *TaskError) Error() string {
	return fmt.Sprintf("task %q failed (%v): %s", e.Task, e.Err, e.Cmd)
}

func (r *Runner) env() []string {
	if r.Env != nil {
		return r.Env
	}
	return os.Environ()
}

// base is what every template sees before the Taskfile's vars: the environment and the special variables.
func (r *Runner) base() map[string]string {
	vars := map[string]string{}
	for _, kv := range r.env() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	wd, _ := os.Getwd()
	vars["ROOT_DIR"] = r.TF.Dir
	vars["TASKFILE_DIR"] = r.TF.Dir
	vars["USER_WORKING_DIR"] = wd
	vars["CLI_ARGS"] = r.CLIArgs
	return vars
}

// evalVars evaluates defs in order over vars (a copy is returned); a variable given on the command line is kept.
func (r *Runner) evalVars(scope string, defs Vars, vars map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(vars)+len(defs))
	for k, v := range vars {
		out[k] = v
	}
	for k, v := range r.CLIVars {
		out[k] = v
	}
	for _, d := range defs {
		if _, ok := r.CLIVars[d.Name]; ok {
			continue
		}
		v, err := render(scope+"."+d.Name, d.Value, out)
		if err != nil {
			return nil, fmt.Errorf("%s: variable %s: %w", scope, d.Name, err)
		}
		out[d.Name] = v
	}
	return out, nil
}

func (r *Runner) init() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.runs != nil {
		return nil
	}
	if r.Stdout == nil {
		r.Stdout = os.Stdout
	}
	if r.Stderr == nil {
		r.Stderr = os.Stderr
	}
	// Deps run at once: their lines and their commands' output go through one lock per stream, so that neither a
	// buffer nor a line is written by two at a time.
	r.Stdout, r.Stderr = &lockedWriter{w: r.Stdout}, &lockedWriter{w: r.Stderr}
	g, err := r.evalVars("vars", r.TF.Vars, r.base())
	if err != nil {
		return err
	}
	r.global = g
	r.runs = map[string]*run{}
	return nil
}

// Run runs a task after its deps; each task runs at most once per Runner (later calls wait for it and share its
// result).
func (r *Runner) Run(ctx context.Context, name string) error {
	if err := r.init(); err != nil {
		return err
	}
	return r.run(ctx, name, nil)
}

func (r *Runner) run(ctx context.Context, name string, chain []string) error {
	for _, c := range chain {
		if c == name {
			return fmt.Errorf("task dependency cycle: %s -> %s", strings.Join(chain, " -> "), name)
		}
	}
	t, ok := r.TF.Tasks[name]
	if !ok {
		return fmt.Errorf("task %q does not exist (go tool task --list shows the tasks)", name)
	}
	r.mu.Lock()
	if rn, ok := r.runs[name]; ok {
		r.mu.Unlock()
		select {
		case <-rn.done:
			return rn.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	rn := &run{done: make(chan struct{})}
	r.runs[name] = rn
	r.mu.Unlock()
	rn.err = r.exec(ctx, name, t, append(chain, name))
	close(rn.done)
	return rn.err
}

func (r *Runner) exec(ctx context.Context, name string, t *Task, chain []string) error {
	// Deps run concurrently; the first failure cancels the others.
	if len(t.Deps) > 0 {
		dctx, cancel := context.WithCancel(ctx)
		errs := make([]error, len(t.Deps))
		var wg sync.WaitGroup
		for i, d := range t.Deps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if errs[i] = r.run(dctx, d, chain); errs[i] != nil {
					cancel()
				}
			}()
		}
		wg.Wait()
		cancel()
		for _, err := range errs {
			if err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
	vars, err := r.evalVars("task "+name, t.Vars, r.global)
	if err != nil {
		return err
	}
	vars["TASK"] = name
	dir := r.TF.Dir
	if t.Dir != "" {
		d, err := render(name+".dir", t.Dir, vars)
		if err != nil {
			return err
		}
		if !filepath.IsAbs(d) {
			d = filepath.Join(r.TF.Dir, d)
		}
		dir = d
	}
	for i, c := range t.Cmds {
		line, err := render(fmt.Sprintf("%s.cmds[%d]", name, i), c.Cmd, vars)
		if err != nil {
			return fmt.Errorf("task %q: %w", name, err)
		}
		if err := r.command(ctx, name, dir, line, c); err != nil {
			if c.IgnoreError {
				continue
			}
			return err
		}
	}
	return nil
}

// command runs one command line in the shell, echoing it first unless silent.
func (r *Runner) command(ctx context.Context, task, dir, line string, c Cmd) error {
	if !c.Silent && !r.Silent || r.DryRun {
		fmt.Fprintf(r.Stderr, "task: [%s] %s\n", task, line)
	}
	if r.DryRun {
		return nil
	}
	sh, err := shell()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, sh, "-c", line)
	cmd.Dir = dir
	cmd.Env = r.env()
	cmd.Stdin = os.Stdin
	w := &watch{last: time.Now(), atLineStart: true}
	cmd.Stdout = w.writer(r.Stdout)
	cmd.Stderr = w.writer(r.Stderr)
	// A command that leaves a process behind holding its output (a server started in the background) must not
	// keep the task waiting for that process.
	cmd.WaitDelay = time.Second
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return &TaskError{Task: task, Cmd: line, Code: 1, Err: err}
	}
	stop := make(chan struct{})
	if r.Tick > 0 {
		go w.tick(r.Tick, stop, func(elapsed time.Duration) {
			fmt.Fprintf(r.Stderr, "task: [%s] still running after %s: %s\n", task, elapsed.Round(time.Second), short(line))
		}, start)
	}
	err = cmd.Wait()
	close(stop)
	if errors.Is(err, exec.ErrWaitDelay) && cmd.ProcessState != nil && cmd.ProcessState.Success() {
		err = nil
	}
	if d := time.Since(start); d >= 5*time.Second && !c.Silent && !r.Silent {
		fmt.Fprintf(r.Stderr, "task: [%s] took %s: %s\n", task, d.Round(100*time.Millisecond), short(line))
	}
	if err != nil {
		code := 1
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() > 0 {
			code = ee.ExitCode()
		}
		return &TaskError{Task: task, Cmd: line, Code: code, Err: err}
	}
	return nil
}

func short(line string) string {
	line = strings.Join(strings.Fields(line), " ")
	if len(line) > 100 {
		return line[:97] + "..."
	}
	return line
}

var shellPath struct {
	once sync.Once
	path string
	err  error
}

// shell is bash, or sh where there is no bash.
func shell() (string, error) {
	shellPath.once.Do(func() {
		for _, s := range []string{"bash", "sh"} {
			if p, err := exec.LookPath(s); err == nil {
				shellPath.path = p
				return
			}
		}
		shellPath.err = errors.New("task: neither bash nor sh is on PATH")
	})
	return shellPath.path, shellPath.err
}

// watch records when a command last wrote, so the runner can say that a silent command is still running.
type watch struct {
	mu          sync.Mutex
	last        time.Time
	atLineStart bool
}

type watchWriter struct {
	w   *watch
	out io.Writer
}

func (w *watch) writer(out io.Writer) io.Writer { return &watchWriter{w, out} }

func (ww *watchWriter) Write(p []byte) (int, error) {
	ww.w.mu.Lock()
	defer ww.w.mu.Unlock()
	ww.w.last = time.Now()
	if len(p) > 0 {
		ww.w.atLineStart = p[len(p)-1] == '\n'
	}
	return ww.out.Write(p)
}

// tick calls say each time the command has been silent for every (and its output ends a line), until stop.
func (w *watch) tick(every time.Duration, stop <-chan struct{}, say func(time.Duration), start time.Time) {
	t := time.NewTicker(every / 4)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			w.mu.Lock()
			if now.Sub(w.last) >= every && w.atLineStart {
				say(now.Sub(start))
				w.last = now
			}
			w.mu.Unlock()
		}
	}
}

// List writes the tasks that have a desc, sorted, as go-task's --list does.
func List(w io.Writer, tf *Taskfile, all bool) {
	var names []string
	width := 0
	for n, t := range tf.Tasks {
		if t.Desc == "" && !all {
			continue
		}
		names = append(names, n)
		width = max(width, len(n))
	}
	sort.Strings(names)
	if len(names) == 0 {
		fmt.Fprintln(w, "task: No tasks with description available. Try --list-all to list all tasks")
		return
	}
	fmt.Fprintln(w, "task: Available tasks for this project:")
	for _, n := range names {
		fmt.Fprintf(w, "* %-*s %s\n", width+1, n+":", tf.Tasks[n].Desc)
	}
}

const usage = `Usage: go tool task [flags] [TASK...] [VAR=value...] [-- CLI_ARGS]

Runs tasks of Taskfile.yml (found in this directory or above it).

Flags:
  -l, --list       list the tasks that have a description
  -a, --list-all   list every task
  -n, --dry        print the commands without running them
  -s, --silent     do not print the commands
      --taskfile F use the Taskfile F
  -h, --help       this help
`

func main() {
	os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
}

// Main runs the command line args and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	var (
		list, listAll, dry, silent bool
		taskfile, cliArgs          string
		names                      []string
		cliVars                    = map[string]string{}
	)
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			cliArgs = strings.Join(args[i+1:], " ")
			i = len(args)
		case a == "-l" || a == "--list":
			list = true
		case a == "-a" || a == "--list-all":
			listAll = true
		case a == "-n" || a == "--dry":
			dry = true
		case a == "-s" || a == "--silent":
			silent = true
		case a == "-h" || a == "--help":
			fmt.Fprint(stdout, usage)
			return 0
		case a == "-t" || a == "--taskfile":
			if i+1 >= len(args) {
				fmt.Fprintln(stderr, "task: --taskfile needs a file")
				return 2
			}
			i++
			taskfile = args[i]
		case strings.HasPrefix(a, "--taskfile="):
			taskfile = strings.TrimPrefix(a, "--taskfile=")
		case strings.HasPrefix(a, "-"):
			fmt.Fprintf(stderr, "task: unknown flag %s\n\n%s", a, usage)
			return 2
		case strings.Contains(a, "="):
			k, v, _ := strings.Cut(a, "=")
			cliVars[k] = v
		default:
			names = append(names, a)
		}
	}
	if taskfile == "" {
		wd, err := os.Getwd()
		if err != nil {
			fmt.Fprintln(stderr, "task:", err)
			return 1
		}
		if taskfile, err = Find(wd); err != nil {
			fmt.Fprintln(stderr, "task:", err)
			return 1
		}
	}
	tf, err := Load(taskfile)
	if err != nil {
		fmt.Fprintln(stderr, "task:", err)
		return 1
	}
	if list || listAll {
		List(stdout, tf, listAll)
		return 0
	}
	if len(names) == 0 {
		if _, ok := tf.Tasks["default"]; !ok {
			fmt.Fprintln(stderr, "task: name a task to run")
			List(stderr, tf, false)
			return 1
		}
		names = []string{"default"}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	r := &Runner{TF: tf, CLIVars: cliVars, CLIArgs: cliArgs, Stdout: stdout, Stderr: stderr, Silent: silent,
		DryRun: dry, Tick: tickFromEnv()}
	for _, n := range names {
		if err := r.Run(ctx, n); err != nil {
			fmt.Fprintln(stderr, "task:", err)
			var te *TaskError
			if errors.As(err, &te) {
				return te.Code
			}
			return 1
		}
	}
	return 0
}

// tickFromEnv is how long a command may stay silent before the runner says it is still running: 20s, or
// TASK_PROGRESS (a duration; 0 turns it off).
func tickFromEnv() time.Duration {
	if s := os.Getenv("TASK_PROGRESS"); s != "" {
		if d, err := time.ParseDuration(s); err == nil {
			return d
		}
	}
	return 20 * time.Second
}
