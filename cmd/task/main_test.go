package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func writeTaskfile(t *testing.T, text string) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "Taskfile.yml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// runMain runs Main in dir and returns its exit code, stdout and stderr.
func runMain(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	t.Chdir(dir)
	var out, errOut bytes.Buffer
	code := Main(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// The repository's own Taskfile parses, lists its tasks as go-task did, and every command renders.
func TestRepositoryTaskfile(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	tf, err := Load(filepath.Join(root, "Taskfile.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"quickstart", "test", "build", "bench:setup"} {
		if tf.Tasks[name] == nil || tf.Tasks[name].Desc == "" {
			t.Errorf("task %s missing or without desc", name)
		}
	}
	code, out, _ := runMain(t, filepath.Join(root, "cmd"), "--list") // found from a subdirectory, as go-task does
	if code != 0 || !strings.HasPrefix(out, "task: Available tasks for this project:\n") ||
		!strings.Contains(out, "\n* quickstart: ") || !strings.Contains(out, "\n* test:e2e: ") {
		t.Fatalf("--list: %d\n%s", code, out)
	}
	code, _, errOut := runMain(t, root, "--dry", "quickstart", "BASE_PORT=27099", "QS_DIR=/tmp/qs x")
	if code != 0 || !strings.Contains(errOut, "task: [build] go build") || !strings.Contains(errOut, root+"/bin/zato") ||
		!strings.Contains(errOut, "27099") || !strings.Contains(errOut, "/tmp/qs x") {
		t.Fatalf("--dry quickstart: %d\n%s", code, errOut)
	}
}

func TestParseAndTemplates(t *testing.T) {
	p := writeTaskfile(t, `version: '3'
vars:
  A: '{{.ROOT_DIR}}/a'
  B: '{{.A}}/b'
  PORT: '{{.PORT_IN | default "17010"}}'
tasks:
  show:
    desc: Show vars
    vars:
      C: '{{.B}}/c'
    cmds:
      - echo "{{.C}} {{.PORT}} {{.TASK}} {{.NOPE}}|{{.FROM_ENV}}|{{.CLI_ARGS}}"
      - cmd: echo silent-one
        silent: true
  ns:colon:
    cmds: [echo colon]
`)
	dir := filepath.Dir(p)
	t.Setenv("FROM_ENV", "env")
	code, out, errOut := runMain(t, dir, "show")
	if want := dir + "/a/b/c 17010 show |env|\nsilent-one\n"; code != 0 || out != want {
		t.Fatalf("%d %q, want %q\n%s", code, out, want, errOut)
	}
	if !strings.Contains(errOut, "task: [show] echo ") || strings.Contains(errOut, "silent-one") {
		t.Fatalf("echo of commands: %q", errOut)
	}
	// A command-line variable wins over the Taskfile's and over the environment.
	t.Setenv("A", "from-env")
	code, out, _ = runMain(t, dir, "-s", "show", "A=/x", "PORT_IN=27010", "--", "one", "two")
	if want := "/x/b/c 27010 show |env|one two\nsilent-one\n"; code != 0 || out != want {
		t.Fatalf("%d %q, want %q", code, out, want)
	}
	if code, out, _ = runMain(t, dir, "ns:colon"); code != 0 || out != "colon\n" {
		t.Fatalf("task with a colon: %d %q", code, out)
	}
	if code, out, _ = runMain(t, dir, "--list"); code != 0 || out != "task: Available tasks for this project:\n* show: Show vars\n" {
		t.Fatalf("--list: %q", out)
	}
	if code, out, _ = runMain(t, dir, "--list-all"); code != 0 || !strings.Contains(out, "* ns:colon: \n") {
		t.Fatalf("--list-all: %q", out)
	}
}

// What the runner does not support is an error naming it, not silently ignored.
func TestRejectsUnsupported(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"version: '3'\ntasks:\n  a:\n    cmds:\n      - task: b\n", "cmd:"},
		{"version: '3'\ntasks:\n  a:\n    sources: [x]\n", "sources"},
		{"version: '3'\nvars:\n  X:\n    sh: date\ntasks: {}\n", "sh:"},
		{"version: '3'\ntasks:\n  a:\n    deps: [nope]\n", `"nope", which does not exist`},
		{"version: '2'\ntasks: {}\n", "version 3"},
	} {
		_, err := Load(writeTaskfile(t, tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error with %q", tc.yaml, err, tc.want)
		}
	}
}

// Deps run before the task, each once even when several tasks depend on it, and concurrently with each other.
func TestDepsOrderOnceConcurrent(t *testing.T) {
	p := writeTaskfile(t, `version: '3'
tasks:
  all:
    deps: [left, right]
    cmds: [echo all >> log]
  left:
    deps: [base]
    cmds: ['echo left >> log; while [ ! -e right.started ]; do sleep 0.01; done']
  right:
    deps: [base]
    cmds: ['touch right.started; echo right >> log']
  base:
    cmds: [echo base >> log]
`)
	dir := filepath.Dir(p)
	done := make(chan int, 1)
	go func() {
		var out, errOut bytes.Buffer
		tf, _ := Load(p)
		r := &Runner{TF: tf, Stdout: &out, Stderr: &errOut}
		if err := r.Run(context.Background(), "all"); err != nil {
			t.Error(err)
		}
		done <- 0
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("deps did not run concurrently (left waits for right)")
	}
	b, _ := os.ReadFile(filepath.Join(dir, "log"))
	lines := strings.Fields(string(b))
	if len(lines) != 4 || lines[0] != "base" || lines[3] != "all" || !slices.Contains(lines, "left") || !slices.Contains(lines, "right") {
		t.Fatalf("order %v, want base, left and right, all", lines)
	}
}

func TestFailingCommandExitsWithItsCodeAndShowsIt(t *testing.T) {
	p := writeTaskfile(t, `version: '3'
tasks:
  main:
    deps: [dep]
    cmds:
      - echo before
      - cmd: exit 3
        ignore_error: true
      - 'false && true; exit 7'
      - echo never
  dep:
    cmds: [echo dep]
  broken:
    deps: [fails]
    cmds: [echo never]
  fails:
    cmds: ['sh -c "exit 5"']
`)
	code, out, errOut := runMain(t, filepath.Dir(p), "main")
	if code != 7 || out != "dep\nbefore\n" {
		t.Fatalf("code %d out %q", code, out)
	}
	if !strings.Contains(errOut, `task: task "main" failed (exit status 7): false && true; exit 7`) {
		t.Fatalf("stderr does not show the failed command:\n%s", errOut)
	}
	code, out, errOut = runMain(t, filepath.Dir(p), "broken")
	if code != 5 || out != "" || !strings.Contains(errOut, `task "fails" failed (exit status 5): sh -c "exit 5"`) {
		t.Fatalf("a failing dep: %d %q\n%s", code, out, errOut)
	}
	if code, _, errOut = runMain(t, filepath.Dir(p), "nope"); code != 1 || !strings.Contains(errOut, `task "nope" does not exist`) {
		t.Fatalf("unknown task: %d %s", code, errOut)
	}
}

// A command that stays silent is reported as still running; one that leaves a process behind holding its output
// does not keep the task waiting.
func TestProgressAndBackgroundProcess(t *testing.T) {
	p := writeTaskfile(t, `version: '3'
tasks:
  slow:
    cmds: ['echo start; sleep 0.5; echo end']
  daemon:
    cmds: ['sleep 30 & echo $! > pid']
`)
	tf, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	r := &Runner{TF: tf, Stdout: &out, Stderr: &errOut, Tick: 150 * time.Millisecond}
	if err := r.Run(context.Background(), "slow"); err != nil {
		t.Fatal(err)
	}
	if out.String() != "start\nend\n" || !strings.Contains(errOut.String(), "task: [slow] still running after ") {
		t.Fatalf("out %q err %q", out.String(), errOut.String())
	}
	start := time.Now()
	if err := r.Run(context.Background(), "daemon"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("waited %s for a background process", d)
	}
	if b, err := os.ReadFile(filepath.Join(filepath.Dir(p), "pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
			if proc, err := os.FindProcess(pid); err == nil {
				proc.Kill() // the sleep this test started
			}
		}
	}
}
