//go:build linux

package runtime

// The hostile module corpus: modules that close or write to the worker's standard streams, fork, spawn, leave
// threads behind, print without end, answer with too much, or stop the worker from reading. Each case is a real
// python3 worker; every process a test starts ends by its pid.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const helperEnv = "ZATO_RUNTIME_TEST_HELPER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		os.Exit(helperMain(dir))
	}
	os.Exit(m.Run())
}

const canary = "from zato.server.service import Service\nclass Ping(Service):\n    def handle(self):\n        self.response.payload = {'ok': True}\n"

func ping(t testing.TB, r *Runtime) {
	t.Helper()
	if out, err := call(t, r, "canary.ping", ""); err != nil || out["ok"] != true {
		t.Fatalf("the canary does not answer: %v %v", out, err)
	}
}

// noter is Python that appends "kind pid" lines to a file, for the test to learn the pids of what a module started.
func noter(file string) string {
	return fmt.Sprintf("import os\ndef note(kind, pid):\n    with open(%q, 'a') as f:\n        f.write('%%s %%d\\n' %% (kind, pid))\n", file)
}

// spawner starts everything a module may leave behind: a non-daemon thread, a forked child, a subprocess, and a
// daemon that left the worker's session (setsid and a double fork).
func spawner(file string) string {
	return noter(file) + `import subprocess, threading, time
note('worker', os.getpid())
threading.Thread(target=lambda: time.sleep(10**6)).start()
pid = os.fork()
if pid == 0:
    time.sleep(10**6)
    os._exit(0)
note('fork', pid)
note('popen', subprocess.Popen(['sleep', '1000000']).pid)
pid = os.fork()
if pid == 0:
    os.setsid()
    if os.fork() == 0:
        note('daemon', os.getpid())
        time.sleep(10**6)
    os._exit(0)
os.waitpid(pid, 0)
`
}

// notes reads the "kind pid" lines of file once want kinds are there (the daemon writes its own line, late).
func notes(t testing.TB, file string, want ...string) map[string][]int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := map[string][]int{}
		b, _ := os.ReadFile(file)
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if kind, pid, ok := strings.Cut(l, " "); ok {
				n, _ := strconv.Atoi(pid)
				got[kind] = append(got[kind], n)
			}
		}
		missing := false
		for _, k := range want {
			missing = missing || len(got[k]) == 0
		}
		if !missing {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has %v, want %v", file, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// alive tells whether pid is a process that has not been reaped (a zombie counts: somebody failed to reap it).
func alive(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}

// tree lists the processes in process group pgid or session sid.
func tree(pgid, sid int) []int {
	var out []int
	names, _ := os.ReadDir("/proc")
	for _, n := range names {
		pid, err := strconv.Atoi(n.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + n.Name() + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) < 4 {
			continue
		}
		pg, _ := strconv.Atoi(f[2])
		s, _ := strconv.Atoi(f[3])
		if (pgid > 0 && pg == pgid) || (sid > 0 && s == sid) {
			out = append(out, pid)
		}
	}
	return out
}

// gone waits until none of pids is left, nor any process of the guard's group or the worker's session; on failure it
// kills what is left (every one of them was started by this test).
func gone(t testing.TB, guard, worker int, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var left []int
		for _, p := range pids {
			if alive(p) {
				left = append(left, p)
			}
		}
		for _, p := range tree(guard, worker) {
			if p != os.Getpid() {
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, p := range left {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
			t.Fatalf("processes left behind: %v", left)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func guardPID(r *Runtime) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ws[0].cmd.Process.Pid
}

// A module may close or write to stdin, stdout and stderr at import, or close every low fd: the protocol is not on
// them, so every later invocation and load answers.
func TestHostileStandardStreams(t *testing.T) {
	for _, c := range []struct{ name, src string }{
		{"close-stdin", "import os\nos.close(0)\n"},
		{"close-stdout", "import os\nos.close(1)\n"},
		{"close-stderr", "import os\nos.close(2)\n"},
		{"garbage-on-stdout", "import os\nos.write(1, b'{\"id\": 1, \"ok\": true}\\nnot json\\n')\n"},
		{"close-low-fds", "import os\nos.closerange(0, 10)\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, _ := start(t, Config{InvokeTimeout: 5 * time.Second, ImportTimeout: 5 * time.Second})
			load(t, r, "canary.py", canary)
			if res := load(t, r, "hostile.py", c.src); res.Error != nil {
				t.Fatalf("%+v", res.Error)
			}
			ping(t, r)
			if res := load(t, r, "after.py", canary); res.Error != nil || len(res.Services) != 1 {
				t.Fatalf("a load after it: %+v %v", res, res.Error)
			}
			ping(t, r)
		})
	}
}

// A module that forks at import keeps the worker's pipes open in its child: the worker's death is still noticed at
// once (not at the timeout), and the child goes with it.
func TestForkAtImportDeathNoticed(t *testing.T) {
	pids := filepath.Join(t.TempDir(), "pids")
	r, _ := start(t, Config{ImportTimeout: 20 * time.Second, InvokeTimeout: 20 * time.Second})
	load(t, r, "canary.py", canary)
	if res := load(t, r, "forker.py", noter(pids)+"import time\npid = os.fork()\nif pid == 0:\n    time.sleep(10**6)\nnote('fork', pid)\n"); res.Error != nil {
		t.Fatal(res.Error)
	}
	child := notes(t, pids, "fork")["fork"][0]
	res := load(t, r, "exits.py", "import os\nos._exit(3)\n")
	if res.Error == nil || res.Error.Type != "WorkerExited" || res.Duration > 10*time.Second {
		t.Fatalf("%+v in %s", res.Error, res.Duration)
	}
	gone(t, 0, 0, child)
	ping(t, r)
	// Again, the death coming during an invocation.
	load(t, r, "boom.py", "import os\nfrom zato.server.service import Service\nclass Now(Service):\n    def handle(self):\n        os._exit(4)\n")
	child2 := notes(t, pids, "fork")["fork"]
	start := time.Now()
	var ie *InvokeError
	if _, err := call(t, r, "boom.now", ""); !errors.As(err, &ie) || ie.Type != "WorkerExited" || time.Since(start) > 10*time.Second {
		t.Fatalf("%v after %s", err, time.Since(start))
	}
	gone(t, 0, 0, child2...)
	ping(t, r)
}

// A module that forks at import leaves a child sharing the worker's memory, each page copied on the worker's first
// write to it (copy on write). The load copies them all before it ends, in the kernel and at the import's CPU priority,
// so that the services' invocations do not pay for it afterwards, page by page. Before, the worker still shared 94 of
// its 98 MB with the child.
func TestForkAtImportSharesNoMemory(t *testing.T) {
	r, _ := start(t, Config{Workers: 1})
	load(t, r, "canary.py", canary)
	load(t, r, "big.py", "data = [dict(a=i, b=str(i)) for i in range(200000)]\n")
	load(t, r, "forker.py", "import os, time\nif os.fork() == 0:\n    time.sleep(10**6)\n")
	kb := workerMemory(t, r)
	if kb["Anonymous"] < 50<<10 || kb["Shared_Dirty"] > kb["Anonymous"]/20 {
		t.Errorf("the worker shares %d kB of its %d kB with the child it forked at import", kb["Shared_Dirty"], kb["Anonymous"])
	}
	ping(t, r)
}

// Close takes every process a module started with it: a forked child, a subprocess, a daemon in a session of its own,
// and the worker, which a non-daemon thread would keep alive.
func TestNoProcessOutlivesClose(t *testing.T) {
	pids := filepath.Join(t.TempDir(), "pids")
	r, _ := start(t, Config{})
	if res := load(t, r, "spawner.py", spawner(pids)); res.Error != nil {
		t.Fatal(res.Error)
	}
	n := notes(t, pids, "worker", "fork", "popen", "daemon")
	guard := guardPID(r)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	gone(t, guard, n["worker"][0], guard, n["worker"][0], n["fork"][0], n["popen"][0], n["daemon"][0])
}

// helperMain is a server in a process of its own, for the test to kill -9: it starts a runtime, loads the spawner,
// starts a load that hangs at import, says "ready" and waits (a minute at most) to be killed.
func helperMain(dir string) int {
	r, err := Start(context.Background(), Config{Dir: filepath.Join(dir, "runtime"), ModuleDir: dir,
		ImportTimeout: time.Minute, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println("start:", err)
		return 1
	}
	pids := filepath.Join(dir, "pids")
	if res, err := r.Load(context.Background(), "spawner.py", filepath.Join(dir, "spawner.py"), []byte(spawner(pids))); err != nil || res.Error != nil {
		fmt.Println("load:", err, res.Error)
		return 1
	}
	go r.Load(context.Background(), "hangs.py", filepath.Join(dir, "hangs.py"), []byte(noter(pids)+"import threading, time\n"+
		"threading.Thread(target=lambda: time.sleep(10**6)).start()\nnote('hangs', os.getpid())\ntime.sleep(10**6)\n"))
	fmt.Println("ready", guardPID(r))
	time.Sleep(time.Minute)
	return 0
}

// kill -9 of the server leaves nothing behind: neither the worker (in the middle of an import that hangs, with a
// non-daemon thread) nor anything a module started.
func TestNoProcessOutlivesKilledServer(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var guard int
	select {
	case l := <-lines:
		if _, err := fmt.Sscanf(l, "ready %d", &guard); err != nil {
			t.Fatalf("helper: %q", l)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the helper did not get ready")
	}
	n := notes(t, filepath.Join(dir, "pids"), "worker", "fork", "popen", "daemon", "hangs")
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	gone(t, guard, n["worker"][0], guard, n["worker"][0], n["fork"][0], n["popen"][0], n["daemon"][0], n["hangs"][0])
}

// A start that times out leaves nothing behind either, even when the interpreter never runs the worker's code.
func TestStartTimeoutLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	python := filepath.Join(dir, "python")
	script := fmt.Sprintf("#!/bin/sh\nsleep 1000000 &\necho \"sleep $!\" >> %s\necho \"shell $$\" >> %s\nexec python3 -c 'import time; time.sleep(10**6)'\n", pids, pids)
	if err := os.WriteFile(python, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	r, err := Start(context.Background(), Config{Python: python, Dir: filepath.Join(dir, "runtime"), StartTimeout: time.Second,
		Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		r.Close()
		t.Fatal("started")
	}
	n := notes(t, pids, "sleep", "shell")
	gone(t, 0, 0, n["sleep"][0], n["shell"][0])
}

// What a module prints at import without end reaches the log bounded, with a note of what was dropped.
func TestOutputFlood(t *testing.T) {
	r, rec := start(t, Config{ImportTimeout: 60 * time.Second})
	load(t, r, "canary.py", canary)
	before := rec.bytes()
	res := load(t, r, "flood.py", "import sys\nline = 'x' * 99 + '\\n'\nfor _ in range(500000):\n    sys.stdout.write(line)\n")
	if res.Error != nil {
		t.Fatal(res.Error)
	}
	ping(t, r)
	rec.waitFor(t, "bytes of output dropped", 10*time.Second)
	if logged := rec.bytes() - before; logged > 2<<20 {
		t.Fatalf("50 MB printed, %d bytes logged", logged)
	}
}

// One line of 5 MiB, at import and at each invocation, neither stalls nor breaks anything; the log gets its start.
func TestLongOutputLine(t *testing.T) {
	r, rec := start(t, Config{ImportTimeout: 20 * time.Second, InvokeTimeout: 20 * time.Second})
	load(t, r, "canary.py", canary)
	res := load(t, r, "long.py", "from zato.server.service import Service\nprint('y' * (5 << 20))\n"+
		"class Say(Service):\n    def handle(self):\n        print('z' * (5 << 20))\n        self.response.payload = {'said': True}\n")
	if res.Error != nil {
		t.Fatal(res.Error)
	}
	for range 2 {
		if out, err := call(t, r, "long.say", ""); err != nil || out["said"] != true {
			t.Fatalf("%v %v", out, err)
		}
	}
	ping(t, r)
	rec.waitFor(t, "a line of 5242880 bytes", 10*time.Second)
}

// A reply over the limit fails that invocation only, with ResponseTooLarge; the reader of replies goes on (a reply
// over 64 MiB stalled every invocation).
func TestHugeReply(t *testing.T) {
	r, _ := start(t, Config{InvokeTimeout: 30 * time.Second})
	load(t, r, "canary.py", canary)
	load(t, r, "huge.py", "from zato.server.service import Service\nclass Big(Service):\n    def handle(self):\n"+
		"        self.response.payload = {'x': 'a' * (70 << 20)}\n")
	var ie *InvokeError
	if _, err := call(t, r, "huge.big", ""); !errors.As(err, &ie) || ie.Type != "ResponseTooLarge" || ie.Status != 502 {
		t.Fatalf("%v", err)
	}
	ping(t, r)
}

// A worker that stops reading its requests does not block a caller beyond the invocation's timeout.
func TestStoppedWorkerDoesNotBlockWrites(t *testing.T) {
	r, _ := start(t, Config{InvokeTimeout: 2 * time.Second})
	load(t, r, "canary.py", canary)
	load(t, r, "pid.py", "import os\nfrom zato.server.service import Service\nclass Get(Service):\n    def handle(self):\n        self.response.payload = {'pid': os.getpid()}\n")
	out, err := call(t, r, "pid.get", "")
	if err != nil {
		t.Fatal(err)
	}
	pid := int(out["pid"].(float64))
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	payload := []byte(`{"x": "` + strings.Repeat("p", 4<<20) + `"}`)
	done := make(chan error, 1)
	go func() { _, err := r.Invoke(context.Background(), "canary.ping", payload, InvokeOptions{}); done <- err }()
	var ie *InvokeError
	select {
	case err := <-done:
		if !errors.As(err, &ie) || ie.Type != "InvokeTimeout" {
			t.Fatalf("%v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the invocation is still blocked writing to a worker that does not read")
	}
	ping(t, r)
}
