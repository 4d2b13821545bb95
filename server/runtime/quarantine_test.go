//go:build linux

package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// quarantines collects what OnQuarantine is told.
type quarantines chan Quarantine

func (q quarantines) hook(module string, err *ModuleError) {
	q <- Quarantine{Module: module, Error: err}
}

func (q quarantines) wait(t testing.TB, module string, timeout time.Duration) *ModuleError {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case got := <-q:
			if got.Module == module {
				return got.Error
			}
			t.Logf("quarantined too: %s %v", got.Module, got.Error)
		case <-deadline.C:
			t.Fatalf("%s was not quarantined within %s", module, timeout)
		}
	}
}

const bomb = "import os, threading\nfrom zato.server.service import Service\n" +
	"threading.Timer(0.3, lambda: os._exit(1)).start()\n" +
	"class Tick(Service):\n    def handle(self):\n        self.response.payload = {'tick': True}\n"

// A module that kills the worker a while after its import is quarantined after CrashLimit deaths: unloaded, not
// replayed, reported; the same version is refused, a new one loads.
func TestTimeBombQuarantined(t *testing.T) {
	q := make(quarantines, 16)
	r, _ := start(t, Config{OnQuarantine: q.hook})
	load(t, r, "canary.py", canary)
	if res := load(t, r, "bomb.py", bomb); res.Error != nil {
		t.Fatal(res.Error)
	}
	start := time.Now()
	me := q.wait(t, "bomb.py", 30*time.Second)
	if me.Type != "Quarantined" || !strings.Contains(me.Message, "3 times") {
		t.Fatalf("%+v", me)
	}
	t.Logf("quarantined after %s: %s", time.Since(start), me.Message)
	ping(t, r)
	var ie *InvokeError
	if _, err := call(t, r, "bomb.tick", ""); !errors.As(err, &ie) || ie.Status != 404 {
		t.Fatalf("the quarantined module still serves: %v", err)
	}
	for _, s := range r.Services() {
		if s.Module == "bomb.py" {
			t.Fatalf("%+v", s)
		}
	}
	if qs := r.Quarantined(); len(qs) != 1 || qs[0].Module != "bomb.py" || qs[0].Error.Type != "Quarantined" {
		t.Fatalf("%+v", qs)
	}
	res := load(t, r, "bomb.py", bomb)
	if res.Error == nil || res.Error.Type != "Quarantined" {
		t.Fatalf("the same version loaded again: %+v", res)
	}
	fixed := strings.Replace(bomb, "threading.Timer(0.3, lambda: os._exit(1)).start()\n", "", 1)
	if res := load(t, r, "bomb.py", fixed); res.Error != nil {
		t.Fatal(res.Error)
	}
	if out, err := call(t, r, "bomb.tick", ""); err != nil || out["tick"] != true {
		t.Fatalf("%v %v", out, err)
	}
	if qs := r.Quarantined(); len(qs) != 0 {
		t.Fatalf("%+v", qs)
	}
}

// A module whose import kills the worker is not imported again: not at the next restart, not when the same version
// comes again.
func TestImportCrashNotReplayed(t *testing.T) {
	marks := filepath.Join(t.TempDir(), "marks")
	r, _ := start(t, Config{})
	load(t, r, "canary.py", canary)
	load(t, r, "boom.py", "import os\nfrom zato.server.service import Service\nclass Now(Service):\n    def handle(self):\n        os._exit(4)\n")
	crasher := noter(marks) + "note('import', os.getpid())\nos._exit(5)\n"
	if res := load(t, r, "crasher.py", crasher); res.Error == nil || res.Error.Type != "WorkerExited" {
		t.Fatalf("%+v", res.Error)
	}
	if _, err := call(t, r, "boom.now", ""); err == nil {
		t.Fatal("boom.now answered")
	}
	ping(t, r) // after the restart and its replay
	if res := load(t, r, "crasher.py", crasher); res.Error == nil || res.Error.Type != "WorkerExited" {
		t.Fatalf("%+v", res.Error)
	}
	if n := notes(t, marks, "import"); len(n["import"]) != 1 {
		t.Fatalf("imported %d times", len(n["import"]))
	}
	if qs := r.Quarantined(); len(qs) != 1 || qs[0].Module != "crasher.py" {
		t.Fatalf("%+v", qs)
	}
}

// A module that loaded but hangs when replayed into a restarted worker is dropped after the import timeout and
// reported; the others serve.
func TestReplayHangQuarantined(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "imported")
	q := make(quarantines, 16)
	r, _ := start(t, Config{ImportTimeout: 3 * time.Second, OnQuarantine: q.hook})
	load(t, r, "canary.py", canary)
	load(t, r, "boom.py", "import os\nfrom zato.server.service import Service\nclass Now(Service):\n    def handle(self):\n        os._exit(4)\n")
	src := fmt.Sprintf("import os, time\nif os.path.exists(%q):\n    time.sleep(10**6)\nopen(%q, 'w').close()\n", marker, marker)
	if res := load(t, r, "second.py", src); res.Error != nil {
		t.Fatal(res.Error)
	}
	if _, err := call(t, r, "boom.now", ""); err == nil {
		t.Fatal("boom.now answered")
	}
	if me := q.wait(t, "second.py", 20*time.Second); me.Type != "ImportTimeout" {
		t.Fatalf("%+v", me)
	}
	ping(t, r)
}

// A reply over Config.MaxResponse is ResponseTooLarge (502) for that invocation only.
func TestMaxResponse(t *testing.T) {
	r, _ := start(t, Config{MaxResponse: 1 << 20})
	load(t, r, "canary.py", canary)
	load(t, r, "big.py", "from zato.server.service import Service\nclass Two(Service):\n    def handle(self):\n"+
		"        self.response.payload = 'b' * (2 << 20)\nclass Half(Service):\n    def handle(self):\n        self.response.payload = 'h' * (512 << 10)\n")
	var ie *InvokeError
	if _, err := call(t, r, "big.two", ""); !errors.As(err, &ie) || ie.Type != "ResponseTooLarge" || ie.Status != 502 {
		t.Fatalf("%v", err)
	}
	if out, err := r.Invoke(context.Background(), "big.half", nil, InvokeOptions{}); err != nil || len(out) != 512<<10+2 {
		t.Fatalf("%d %v", len(out), err)
	}
	ping(t, r)
}

// A line from the worker that is over the limit, or not JSON, fails the one request it belongs to (when its id can be
// read) and the reader goes on.
func TestBadLinesFailOneRequest(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	rec := &recorder{}
	r := &Runtime{cfg: Config{MaxResponse: 1024}, log: slog.New(rec)}
	w := &worker{pending: map[int64]chan reply{}, pl: &plumbing{replies: pr}, gate: newOutputGate(r.log, 1<<20, 1<<20)}
	r.logGate = w.gate
	chans := map[int64]chan reply{}
	for id := int64(1); id <= 4; id++ {
		chans[id] = make(chan reply, 1)
		w.pending[id] = chans[id]
	}
	done := make(chan struct{})
	go func() { r.readReplies(w); close(done) }()
	go func() {
		defer pw.Close()
		fmt.Fprintf(pw, "{\"id\": 1, \"ok\": true, \"response\": \"%s\"}\n", strings.Repeat("x", 3<<20))
		fmt.Fprintf(pw, "{\"id\": 2, \"ok\": tru\n")
		fmt.Fprintf(pw, "garbage without an id\n")
		fmt.Fprintf(pw, "{\"id\": 3, \"ok\": true, \"response\": 7}\n")
		fmt.Fprintf(pw, "{\"id\": 4, \"ok\": true, \"response\": 8}") // the last line, without its newline
	}()
	want := map[int64]string{1: "ResponseTooLarge", 2: "BadReply", 3: "7", 4: "8"}
	for id := int64(1); id <= 4; id++ {
		select {
		case rep := <-chans[id]:
			got := string(rep.Response)
			if rep.Error != nil {
				got = rep.Error.Type
			}
			if got != want[id] {
				t.Fatalf("request %d: %s, want %s", id, got, want[id])
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("request %d got no reply", id)
		}
	}
	<-done
	if !rec.has("unreadable line") || !rec.has("over the limit") {
		t.Fatalf("%v", rec.lines)
	}
}

// With the whole hostile corpus loaded one module after another, a canary service keeps answering (it fails only when
// a crash takes the worker down under it), and Close leaves no process of the tree behind.
func TestCorpusCanaryKeepsAnswering(t *testing.T) {
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	q := make(quarantines, 16)
	r, rec := start(t, Config{ImportTimeout: 30 * time.Second, InvokeTimeout: 30 * time.Second, OnQuarantine: q.hook})
	load(t, r, "canary.py", canary)
	began := time.Now()

	stop := make(chan struct{})
	type stats struct {
		ok, crashed int
		lat         []time.Duration
		err         error
	}
	result := make(chan stats, 1)
	go func() {
		var s stats
		defer func() { result <- s }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			t0 := time.Now()
			out, err := r.Invoke(context.Background(), "canary.ping", nil, InvokeOptions{})
			var ie *InvokeError
			switch {
			case err == nil && string(out) == `{"ok": true}`:
				s.ok++
				s.lat = append(s.lat, time.Since(t0))
			case errors.As(err, &ie) && ie.Type == "WorkerExited":
				s.crashed++
			default:
				s.err = fmt.Errorf("canary: %s %v", out, err)
				return
			}
		}
	}()

	corpus := []struct{ module, src, fails string }{
		{"close_stdin.py", "import os\nos.close(0)\n", ""},
		{"forker.py", noter(pids) + "import time\npid = os.fork()\nif pid == 0:\n    time.sleep(10**6)\nnote('fork', pid)\n", ""},
		{"spawner.py", spawner(pids), ""},
		{"flood.py", "import sys\nline = 'x' * 99 + '\\n'\nfor _ in range(500000):\n    sys.stdout.write(line)\n", ""},
		{"long_line.py", "print('y' * (5 << 20))\n", ""},
		{"huge.py", "from zato.server.service import Service\nclass Big(Service):\n    def handle(self):\n        self.response.payload = 'a' * (40 << 20)\n", ""},
		{"exits.py", "import os\nos._exit(3)\n", "WorkerExited"},
		{"bomb.py", bomb, ""}, // last: until it is quarantined, any call may meet one of its crashes
	}
	for _, c := range corpus {
		res := load(t, r, c.module, c.src)
		if (res.Error == nil) != (c.fails == "") || (res.Error != nil && res.Error.Type != c.fails) {
			t.Fatalf("%s: %+v", c.module, res.Error)
		}
		if c.module == "bomb.py" {
			break
		}
		ping(t, r)
		if c.module == "huge.py" {
			var ie *InvokeError
			if _, err := call(t, r, "huge.big", ""); !errors.As(err, &ie) || ie.Type != "ResponseTooLarge" {
				t.Fatalf("%v", err)
			}
		}
	}
	q.wait(t, "bomb.py", 30*time.Second)
	ping(t, r)
	close(stop)
	s := <-result
	if s.err != nil {
		t.Fatal(s.err)
	}
	sort.Slice(s.lat, func(i, j int) bool { return s.lat[i] < s.lat[j] })
	p := func(f float64) time.Duration { return s.lat[int(f*float64(len(s.lat)-1))] }
	t.Logf("canary: %d answers (p50 %s, p99 %s, max %s), %d cut by a crash; %d bytes logged", s.ok, p(0.5), p(0.99), p(1), s.crashed, rec.bytes())
	// What reaches the log is bounded by the bucket: its size, and its rate over the time the corpus ran (plus what
	// the log adds to each line, " stream=stdout").
	if limit := 512<<10 + int(time.Since(began).Seconds()*(64<<10)*1.3) + 64<<10; rec.bytes() > limit {
		kinds := map[string]int{}
		rec.mu.Lock()
		for _, l := range rec.lines {
			kinds[clipText(l, 60)] += len(l)
		}
		rec.mu.Unlock()
		for k, n := range kinds {
			if n > 100<<10 {
				t.Logf("%d bytes: %q", n, k)
			}
		}
		t.Fatalf("%d bytes logged, over %d", rec.bytes(), limit)
	}

	n := notes(t, pids, "worker", "fork", "popen", "daemon")
	guard := guardPID(r)
	all := []int{guard}
	for _, ps := range n {
		all = append(all, ps...)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	var sids sync.Map
	for _, w := range n["worker"] {
		sids.Store(w, true)
	}
	gone(t, guard, 0, all...)
	sids.Range(func(k, _ any) bool { gone(t, 0, k.(int)); return true })
}

// With several workers, quarantining a time bomb takes what it started away from every worker that imported it (each
// is replaced without it): no worker dies of it after the quarantine, and no invocation fails.
func TestTimeBombGoesWithEveryWorker(t *testing.T) {
	q := make(quarantines, 16)
	r, _ := start(t, Config{Workers: 2, OnQuarantine: q.hook})
	load(t, r, "canary.py", canary)
	if res := load(t, r, "bomb.py", bomb); res.Error != nil {
		t.Fatal(res.Error)
	}
	q.wait(t, "bomb.py", 30*time.Second)
	pids := func() []int64 {
		var out []int64
		for slot := range r.ws {
			w, err := r.acquire(context.Background(), slot, false)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, w.pid.Load())
		}
		return out
	}
	before := pids()
	// Three times the fuse (0.3 s): a worker still holding the bomb's timer would die meanwhile.
	for end := time.Now().Add(900 * time.Millisecond); time.Now().Before(end); {
		if _, err := call(t, r, "canary.ping", ""); err != nil {
			t.Fatalf("an invocation failed after the quarantine: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // the canary's pace; the loop is bounded by end
	}
	if after := pids(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("a worker died after the quarantine: pids %v, then %v", before, after)
	}
}
