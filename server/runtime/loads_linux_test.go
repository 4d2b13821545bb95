package runtime

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// loadsOrSkip checks that this system lets the runtime put imports at idle CPU priority; in CI it must.
func loadsOrSkip(t *testing.T) {
	t.Helper()
	g, err := newLoadsGroup("probe")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI runs as root with cgroup v1's cpu hierarchy, yet: %v", err)
		}
		t.Skipf("this system does not let the test make an idle cpu cgroup: %v", err)
	}
	g.remove()
}

// cpuCgroup is the cpu cgroup a thread is in, from /proc/<tid>/cgroup.
func cpuCgroup(t *testing.T, tid int) string {
	t.Helper()
	p, ok := cgroupPaths("/proc/" + strconv.Itoa(tid) + "/cgroup")["cpu"]
	if !ok {
		t.Fatalf("thread %d is in no cpu cgroup", tid)
	}
	return p
}

// The thread that imports, and what an import starts, run in the runtime's idle cpu cgroup; the threads that read
// requests and run services do not.
func TestImportsRunAtIdlePriority(t *testing.T) {
	loadsOrSkip(t)
	r, _ := start(t, Config{Workers: 2, Server: "idle-loads"})
	child := filepath.Join(t.TempDir(), "child")
	src := pinger + "import os, time\nif os.fork() == 0:\n    open(" + strconv.Quote(child) + ", 'w').write(str(os.getpid()))\n    time.sleep(60)\n    os._exit(0)\n"
	if res := load(t, r, "forker.py", src); res.Error != nil {
		t.Fatal(res.Error)
	}
	if _, err := call(t, r, "forker.ping", ""); err != nil {
		t.Fatal(err)
	}
	idle := filepath.Base(r.loads.dir)
	for slot := range r.ws {
		r.mu.Lock()
		w := r.ws[slot]
		r.mu.Unlock()
		pid := int(w.pid.Load())
		if got := cpuCgroup(t, pid); filepath.Base(got) != idle {
			t.Errorf("worker %d's main thread is in %s, want the idle cgroup %s", slot, got, idle)
		}
		tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
		if err != nil {
			t.Fatal(err)
		}
		others := 0
		for _, e := range tasks {
			tid, _ := strconv.Atoi(e.Name())
			if tid == pid {
				continue
			}
			others++
			if got := cpuCgroup(t, tid); filepath.Base(got) == idle {
				t.Errorf("worker %d's thread %d, which reads requests or runs services, is in the idle cgroup", slot, tid)
			}
		}
		if others == 0 {
			t.Errorf("worker %d has no thread but its main one", slot)
		}
	}
	var pid int
	for deadline := time.Now().Add(10 * time.Second); pid == 0; {
		b, _ := os.ReadFile(child)
		pid, _ = strconv.Atoi(string(b))
		if pid == 0 && time.Now().After(deadline) {
			t.Fatal("the module's child never wrote its pid")
		}
		if pid == 0 {
			time.Sleep(10 * time.Millisecond) // bounded by the deadline: the child writes once it runs
		}
	}
	if got := cpuCgroup(t, pid); filepath.Base(got) != idle {
		t.Errorf("the process the import forked is in %s, want the idle cgroup %s", got, idle)
	}
	r.Close()
	if _, err := os.Stat(r.loads.dir); !os.IsNotExist(err) {
		t.Errorf("the idle cgroup %s outlived the runtime: %v", r.loads.dir, err)
	}
}

// An import that starves at idle priority, because other work keeps every CPU busy, has its cgroup made an ordinary
// one: it ends within the import timeout (at idle priority it would need minutes), and the next load starts idle
// again.
func TestAStarvingImportIsBoosted(t *testing.T) {
	loadsOrSkip(t)
	r, _ := start(t, Config{Workers: 2, Server: "boost", ImportTimeout: 20 * time.Second})
	// Every CPU busy at normal priority, in processes of their own, until the boosted load is over.
	var hogs []*exec.Cmd
	stopHogs := func() {
		for _, hog := range hogs {
			_ = hog.Process.Kill()
			_ = hog.Wait()
		}
		hogs = nil
	}
	t.Cleanup(stopHogs)
	for range runtime.NumCPU() {
		hog := exec.Command("sh", "-c", "while :; do :; done")
		if err := hog.Start(); err != nil {
			t.Fatal(err)
		}
		hogs = append(hogs, hog)
	}
	// About 0.3 s of CPU at import: at idle priority against the hogs it would get a few ms of CPU a second.
	src := pinger + "n = 0\nfor i in range(3_000_000):\n    n += i\n"
	if res := load(t, r, "busy_import.py", src); res.Error != nil {
		t.Fatalf("the import under load: %v", res.Error)
	}
	if got := readIdle(t, r.loads.dir); got != "0" {
		t.Errorf("the starving import was not boosted: cpu.idle is %s", got)
	}
	// The next load starts idle again (the check is made at its start: a loader that waits for its next request
	// does not wait for a CPU, so nothing boosts it meanwhile). The loader never left the idle cgroup.
	stopHogs()
	r.mu.Lock()
	w := r.ws[0]
	r.mu.Unlock()
	end := r.loads.during(w)
	idle, got := readIdle(t, r.loads.dir), cpuCgroup(t, int(w.pid.Load()))
	end()
	if idle != "1" {
		t.Errorf("after a boosted load the next one starts with cpu.idle %s", idle)
	}
	if filepath.Base(got) != filepath.Base(r.loads.dir) {
		t.Errorf("the loader runs in %s, not the idle cgroup", got)
	}
}

func readIdle(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "cpu.idle"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
