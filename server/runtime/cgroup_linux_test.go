package runtime

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cgroupsOrSkip checks that this system lets the test make the cgroups; in CI it must.
func cgroupsOrSkip(t *testing.T) {
	t.Helper()
	cg, err := cgroupLimits("probe", 1<<30, 100)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI runs as root with cgroups, yet: %v", err)
		}
		t.Skipf("this system does not let the test make cgroups: %v", err)
	}
	cg.remove()
}

// A worker's memory and process limits hold: a module that allocates past memory_max fails with a message that says
// so, one that starts processes past pids_max fails its import, and the services go on answering.
func TestWorkerLimits(t *testing.T) {
	cgroupsOrSkip(t)
	r, _ := start(t, Config{Workers: 2, MemoryMax: 200 << 20, PidsMax: 64, Server: "limits"})
	if res := load(t, r, "pinger.py", pinger); res.Error != nil {
		t.Fatal(res.Error)
	}
	r.mu.Lock()
	dirs := r.ws[0].cg.dirs
	r.mu.Unlock()
	if len(dirs) == 0 {
		t.Fatal("the worker has no cgroup")
	}
	for _, d := range dirs {
		if b, err := os.ReadFile(d + "/cgroup.procs"); err != nil || len(strings.Fields(string(b))) < 2 {
			t.Fatalf("%s holds %q (%v), want the guard and the worker", d, b, err)
		}
	}

	res := load(t, r, "hog.py", "data = b'x' * (600 << 20)\n")
	if res.Error == nil || res.Error.Type != "MemoryLimit" || !strings.Contains(res.Error.Message, "200 MiB") {
		t.Fatalf("600 MiB at import with a 200 MiB limit: %+v", res.Error)
	}
	if out, err := call(t, r, "pinger.ping", ""); err != nil || out["ok"] != true {
		t.Fatalf("after the memory hog: %v %v", out, err)
	}

	res = load(t, r, "spawner.py", "import subprocess\nps = [subprocess.Popen(['sleep', '1000']) for _ in range(100)]\n")
	if res.Error == nil || !strings.Contains(res.Error.Type+res.Error.Message, "BlockingIOError") && !strings.Contains(res.Error.Message, "Resource temporarily unavailable") {
		t.Fatalf("100 processes at import with a limit of 64: %+v", res.Error)
	}
	// What the failed import started stays in the first worker until it restarts; the second never saw it.
	r.mu.Lock()
	first := r.ws[0]
	r.mu.Unlock()
	first.kill("the test clears what spawner.py left")
	if out, err := call(t, r, "pinger.ping", ""); err != nil || out["ok"] != true {
		t.Fatalf("after the spawner: %v %v", out, err)
	}
	r.Close()
	for _, d := range dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s is left after the worker: %v", d, err)
		}
	}
}

// Two environments on one machine may each have a server1: a server's start removes the cgroups its dead
// predecessors left, never those of a live server of the same name (its workers would run without their limits).
func TestStaleCgroupsOfLiveServersStay(t *testing.T) {
	cgroupsOrSkip(t)
	live, err := cgroupLimits("twin", 1<<30, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer live.remove()
	// A cgroup left by a process that is gone: a pid no process has (above the kernel's pid_max).
	dead := strings.Replace(live.dirs[0], "-"+strconv.Itoa(os.Getpid())+"-", "-99999999-", 1)
	if err := os.Mkdir(dead, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(dead)
	// Another server named twin, in another process, starts.
	removeStaleAs(t, "twin")
	for _, d := range live.dirs {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("the live server's cgroup %s was removed: %v", d, err)
		}
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("the dead server's cgroup %s is still there: %v", dead, err)
	}
}

// removeStaleAs runs removeStale in another process (this test binary), as another server's start would.
func removeStaleAs(t *testing.T, server string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestHelperRemoveStale$")
	cmd.Env = append(os.Environ(), "ZATO_REMOVE_STALE="+server)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

func TestHelperRemoveStale(t *testing.T) {
	if s := os.Getenv("ZATO_REMOVE_STALE"); s != "" {
		removeStale(s)
	}
}

// A worker whose process limit a module used up with threads goes on answering: a request that finds no thread free
// and none that can start runs on the thread that read it, and the others wait their turn, none lost.
func TestRequestsWithoutThreadsLeft(t *testing.T) {
	cgroupsOrSkip(t)
	r, _ := start(t, Config{Workers: 1, PidsMax: 24, InvokeTimeout: 20 * time.Second, Server: "threads"})
	if res := load(t, r, "slow.py", "import time\nfrom zato.server.service import Service\n"+
		"class Slow(Service):\n    def handle(self):\n        time.sleep(0.2)\n        self.response.payload = {'ok': True}\n"); res.Error != nil {
		t.Fatal(res.Error)
	}
	if res := load(t, r, "threads.py", "import threading, time\nts = []\nwhile True:\n    try:\n"+
		"        t = threading.Thread(target=time.sleep, args=(1000,), daemon=True)\n        t.start()\n"+
		"    except RuntimeError:\n        break\n    ts.append(t)\nassert ts\n"); res.Error != nil {
		t.Fatal(res.Error)
	}
	const calls = 4
	errs := make(chan error, calls)
	for range calls {
		go func() {
			out, err := call(t, r, "slow.slow", "")
			if err == nil && out["ok"] != true {
				err = fmt.Errorf("answer %v", out)
			}
			errs <- err
		}()
	}
	for range calls {
		if err := <-errs; err != nil {
			t.Fatalf("with every thread the limit allows started: %v", err)
		}
	}
}
