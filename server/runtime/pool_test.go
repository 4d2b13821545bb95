package runtime

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func slotGuard(r *Runtime, slot int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ws[slot].cmd.Process.Pid
}

const pinger = "from zato.server.service import Service\nclass Ping(Service):\n    def handle(self):\n        self.response.payload = {'ok': True}\n"

// A service that holds its interpreter (a long call that never gives the GIL up) delays only that interpreter: with
// two workers, another service answers while it runs. With one, nothing would answer until it ends.
func TestServiceHoldingItsInterpreterDelaysNoOther(t *testing.T) {
	r, _ := start(t, Config{Workers: 2, InvokeTimeout: 60 * time.Second})
	marker := filepath.Join(t.TempDir(), "holding")
	if res := load(t, r, "canary.py", pinger); res.Error != nil {
		t.Fatal(res.Error)
	}
	if res := load(t, r, "hog.py", "from zato.server.service import Service\nclass Hold(Service):\n    def handle(self):\n"+
		"        open("+pyString(marker)+", 'w').close()\n        self.response.payload = {'sum': sum(range(10**11))}\n"); res.Error != nil {
		t.Fatal(res.Error)
	}
	held := make(chan error, 1)
	go func() {
		_, err := r.Invoke(context.Background(), "hog.hold", nil, InvokeOptions{})
		held <- err
	}()
	waitFile(t, marker)
	for range 20 {
		if out, err := call(t, r, "canary.ping", ""); err != nil || out["ok"] != true {
			t.Fatalf("the canary while another service holds its interpreter: %v %v", out, err)
		}
	}
	select {
	case err := <-held:
		t.Fatalf("the hog ended first (%v): the test proves nothing", err)
	default:
	}
}

// With two workers, a module that kills the interpreter at import is tried in the first only: the second never
// restarts, and serves all along.
func TestLoadIsProbedInTheFirstWorker(t *testing.T) {
	r, _ := start(t, Config{Workers: 2})
	if res := load(t, r, "canary.py", pinger); res.Error != nil {
		t.Fatal(res.Error)
	}
	second := slotGuard(r, 1)
	for _, src := range []string{"import os\nos._exit(3)\n", "import time\ntime.sleep(60)\n"} {
		res, err := r.Load(context.Background(), "bad.py", "/srv/bad.py", []byte(src))
		if err != nil || res.Error == nil {
			t.Fatalf("%q: %+v %v, want a module error", src, res.Error, err)
		}
		if out, err := call(t, r, "canary.ping", ""); err != nil || out["ok"] != true {
			t.Fatalf("the canary after %q: %v %v", src, out, err)
		}
	}
	if got := slotGuard(r, 1); got != second {
		t.Errorf("the second worker was restarted (guard %d, then %d)", second, got)
	}
	// A good module reaches both: kill the first, and the second serves it.
	if res := load(t, r, "good.py", strings.ReplaceAll(pinger, "Ping", "Good")); res.Error != nil {
		t.Fatal(res.Error)
	}
	r.mu.Lock()
	first := r.ws[0]
	r.mu.Unlock()
	first.kill("the test kills it")
	for range 10 {
		if out, err := call(t, r, "good.good", ""); err != nil || out["ok"] != true {
			t.Fatalf("good.good with the first worker killed: %v %v", out, err)
		}
	}
}

// A restarted worker gets the modules in the one load order (after the modules they import, by name otherwise),
// not in the order they were deployed: the same order a server's start uses.
func TestReplayFollowsTheLoadOrder(t *testing.T) {
	r, _ := start(t, Config{})
	loads := []struct{ name, src string }{
		{"zz_base.py", "VALUE = 7\nloaded = []\n"},
		{"b_mod.py", "import zz_base\nzz_base.loaded.append('b')\n"},
		{"a_user.py", "import zz_base\nzz_base.loaded.append('a')\nfrom zato.server.service import Service\n" +
			"class Get(Service):\n    def handle(self):\n        self.response.payload = {'value': zz_base.VALUE, 'loaded': zz_base.loaded}\n"},
	}
	for _, l := range loads {
		if res := load(t, r, l.name, l.src); res.Error != nil {
			t.Fatalf("%s: %v", l.name, res.Error)
		}
	}
	out, err := call(t, r, "a-user.get", "")
	if err != nil || strings.Join(strs(out["loaded"]), ",") != "b,a" {
		t.Fatalf("before the restart: %v %v", out, err)
	}
	r.mu.Lock()
	w := r.ws[0]
	r.mu.Unlock()
	w.kill("the test kills it")
	out, err = call(t, r, "a-user.get", "")
	if err != nil || out["value"] != float64(7) || strings.Join(strs(out["loaded"]), ",") != "a,b" {
		t.Fatalf("after the restart: %v %v, want value 7 and the load order a,b (zz_base first, as imported)", out, err)
	}
	if q := r.Quarantined(); len(q) > 0 {
		t.Errorf("quarantined after the replay: %+v", q)
	}
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func pyString(s string) string { return "'" + strings.ReplaceAll(s, "'", "\\'") + "'" }

// waitFile waits for a file a module creates to say it got somewhere.
func waitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared", path)
		}
		time.Sleep(5 * time.Millisecond) // bounded: the module creates it as its first step
	}
}

// A load waits (briefly) for the invocations in flight on its worker to end, and sends new ones to the other worker:
// an import holds the interpreter, and what already ran there would otherwise wait for it.
func TestLoadWaitsForTheInvocationsInFlight(t *testing.T) {
	r, _ := start(t, Config{Workers: 2})
	dir := t.TempDir()
	running, ended, imported := filepath.Join(dir, "running"), filepath.Join(dir, "ended"), filepath.Join(dir, "imported")
	if res := load(t, r, "spin.py", "import time\nfrom zato.server.service import Service\nclass Spin(Service):\n    def handle(self):\n"+
		"        open("+pyString(running)+", 'w').close()\n        t = time.time()\n        while time.time() - t < 0.03:\n            pass\n"+
		"        with open("+pyString(ended)+", 'w') as f:\n            f.write(repr(time.time()))\n"); res.Error != nil {
		t.Fatal(res.Error)
	}
	done := make(chan error, 1)
	go func() {
		_, err := r.Invoke(context.Background(), "spin.spin", nil, InvokeOptions{})
		done <- err
	}()
	waitFile(t, running)
	// The first worker to import it writes when its import began (the second finds the file there).
	if res := load(t, r, "heavy.py", "import time, os\ntry:\n    with open("+pyString(imported)+", 'x') as f:\n        f.write(repr(time.time()))\n"+
		"except FileExistsError:\n    pass\n"); res.Error != nil {
		t.Fatal(res.Error)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	end, began := readFloat(t, ended), readFloat(t, imported)
	if end > began {
		t.Errorf("the import began %.1f ms before the invocation in flight on its worker ended", (end-began)*1000)
	}
}

func readFloat(t *testing.T, path string) float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
