package pickup

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zato-go/zato/server/cluster"
	"github.com/zato-go/zato/server/odb"
)

// fakeCluster records submissions; the store answers Module and Deployment from maps.
type fakeCluster struct {
	mu      sync.Mutex
	n       int64
	subs    chan cluster.Submission
	entered chan struct{} // receives when Submit starts, if not nil
	gate    chan struct{} // Submit waits for it, if not nil
	store   *fakeStore
}

func newFake() *fakeCluster {
	return &fakeCluster{subs: make(chan cluster.Submission, 1000), store: &fakeStore{modules: map[string]odb.Module{}, deployments: map[int64]odb.Deployment{}, versions: map[string][]odb.Version{}}}
}

func (f *fakeCluster) Submit(ctx context.Context, s cluster.Submission) (odb.Deployment, error) {
	if f.entered != nil {
		select {
		case f.entered <- struct{}{}:
		default:
		}
	}
	if f.gate != nil {
		<-f.gate
	}
	f.mu.Lock()
	f.n++
	id := f.n
	f.mu.Unlock()
	f.subs <- s
	return odb.Deployment{ID: id, Module: s.Module}, nil
}

// CurrentOf is the real cluster's rule, read from the fake store.
func (f *fakeCluster) CurrentOf(ctx context.Context, name string) (cluster.Current, error) {
	return cluster.New(cluster.Config{}, f.store, nil).CurrentOf(ctx, name)
}

// LeftoverOf is the real cluster's rule, read from the fake store.
func (f *fakeCluster) LeftoverOf(ctx context.Context, name, sum string, modTime time.Time) (bool, cluster.Current, error) {
	return cluster.New(cluster.Config{}, f.store, nil).LeftoverOf(ctx, name, sum, modTime)
}

type fakeStore struct {
	odb.Store   // nil: only the methods below are used
	mu          sync.Mutex
	modules     map[string]odb.Module
	deployments map[int64]odb.Deployment
	versions    map[string][]odb.Version // the versions each module has had
}

func (s *fakeStore) Versions(_ context.Context, module string) ([]odb.Version, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.modules[module]; !ok {
		return nil, fmt.Errorf("module %s: %w", module, odb.ErrNotFound)
	}
	return s.versions[module], nil
}

func (s *fakeStore) Module(_ context.Context, name string) (odb.Module, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.modules[name]
	if !ok {
		return odb.Module{}, fmt.Errorf("module %s: %w", name, odb.ErrNotFound)
	}
	return m, nil
}

func (s *fakeStore) Deployment(_ context.Context, id int64) (odb.Deployment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.deployments[id]
	if !ok {
		return odb.Deployment{}, fmt.Errorf("deployment %d: %w", id, odb.ErrNotFound)
	}
	return d, nil
}

// logs captures a Watcher's log lines; wait blocks until one contains a string.
type logs struct {
	mu      sync.Mutex
	lines   []string
	changed chan struct{}
}

func newLogs() *logs { return &logs{changed: make(chan struct{}, 1)} }

func (l *logs) Enabled(context.Context, slog.Level) bool { return true }
func (l *logs) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logs) WithGroup(string) slog.Handler            { return l }
func (l *logs) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		return true
	})
	l.mu.Lock()
	l.lines = append(l.lines, b.String())
	l.mu.Unlock()
	select {
	case l.changed <- struct{}{}:
	default:
	}
	return nil
}

func (l *logs) count(sub string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if strings.Contains(s, sub) {
			n++
		}
	}
	return n
}

func (l *logs) all() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func (l *logs) wait(t *testing.T, sub string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for l.count(sub) == 0 {
		select {
		case <-l.changed:
		case <-deadline:
			t.Fatalf("no log line with %q in:\n%s", sub, l.all())
		}
	}
}

type harness struct {
	t    *testing.T
	poll bool // write files by renaming them in: a poll could see one truncated and not yet written
	dir  string
	f    *fakeCluster
	logs *logs
	w    *Watcher
}

func init() { // before any watcher goroutine reads them
	settleInterval = 30 * time.Millisecond
	rewatchInterval = 20 * time.Millisecond
}

func newHarness(t *testing.T, poll time.Duration) *harness {
	h := &harness{t: t, poll: poll > 0, dir: filepath.Join(t.TempDir(), "pickup"), f: newFake(), logs: newLogs()}
	if err := os.MkdirAll(h.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	h.w = New(Config{Dir: h.dir, Poll: poll, Logger: slog.New(h.logs)}, h.f)
	return h
}

func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.t.Cleanup(cancel)
	if err := h.w.Start(ctx); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) write(name, body string) string {
	h.t.Helper()
	p := filepath.Join(h.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if !h.poll {
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			h.t.Fatal(err)
		}
		return p
	}
	tmp, err := os.CreateTemp(filepath.Dir(h.dir), "staged")
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := tmp.WriteString(body); err != nil {
		h.t.Fatal(err)
	}
	tmp.Close()
	if err := os.Rename(tmp.Name(), p); err != nil {
		h.t.Fatal(err)
	}
	return p
}

// next returns the next submission.
func (h *harness) next() cluster.Submission {
	h.t.Helper()
	select {
	case s := <-h.f.subs:
		return s
	case <-time.After(10 * time.Second):
		h.t.Fatalf("no submission; log:\n%s", h.logs.all())
		return cluster.Submission{}
	}
}

// expect returns the next submission and fails unless it is module with src.
func (h *harness) expect(module, src string) {
	h.t.Helper()
	s := h.next()
	if s.Module != module || s.Source != src {
		h.t.Fatalf("submitted %s %q, want %s %q; log:\n%s", s.Module, s.Source, module, src, h.logs.all())
	}
}

// until discards submissions (duplicates a rescan and an event may both make) until module with src comes.
func (h *harness) until(module, src string) {
	h.t.Helper()
	for {
		if s := h.next(); s.Module == module && s.Source == src {
			return
		}
	}
}

// none fails if a submission is waiting.
func (h *harness) none() {
	h.t.Helper()
	select {
	case s := <-h.f.subs:
		h.t.Fatalf("unexpected submission of %s %q", s.Module, s.Source)
	default:
	}
}

func (h *harness) symlink(target, name string) {
	h.t.Helper()
	if err := os.Symlink(target, filepath.Join(h.dir, name)); err != nil {
		h.t.Fatal(err)
	}
}

// configMap lays the directory out as a ConfigMap volume with x.py at body, then swaps in a new body as kubelet
// does: a new data dir, a temporary symlink to it renamed over ..data.
func (h *harness) configMapInit(body string) {
	h.write("..2026_01/x.py", body)
	h.symlink("..2026_01", "..data")
	h.symlink("..data/x.py", "x.py")
}

func (h *harness) configMapSwap(body string) {
	h.write("..2026_02/x.py", body)
	h.symlink("..2026_02", "..data_tmp")
	if err := os.Rename(filepath.Join(h.dir, "..data_tmp"), filepath.Join(h.dir, "..data")); err != nil {
		h.t.Fatal(err)
	}
}

// Item 4: a file left in the directory is deployed at start only if its module is unknown, the file is newer than
// the module's current state, or its content is no version the module ever had (a copy that kept an old time); a
// rollback counts as newer than the file.
func TestLeftoversAtStart(t *testing.T) {
	for _, mode := range []struct {
		name string
		poll time.Duration
	}{{"events", 0}, {"polling", 20 * time.Millisecond}} {
		t.Run(mode.name, func(t *testing.T) {
			h := newHarness(t, mode.poll)
			now := time.Now()
			hourAgo, twoHoursAgo := now.Add(-time.Hour), now.Add(-2*time.Hour)
			st := h.f.store
			// older.py: picked an hour ago, then deployed from elsewhere just now.
			st.modules["older.py"] = odb.Module{Name: "older.py", Current: &odb.Version{SHA256: "api", CreatedAt: now}, LastDeployment: 10}
			st.versions["older.py"] = []odb.Version{{Number: 2, SHA256: "api"}, {Number: 1, SHA256: shaOf([]byte("older"))}}
			st.deployments[10] = odb.Deployment{ID: 10, CreatedAt: now}
			// rolled.py: its file picked as v2, then rolled back just now to v1, from two hours ago.
			st.modules["rolled.py"] = odb.Module{Name: "rolled.py", Current: &odb.Version{SHA256: "v1", CreatedAt: twoHoursAgo}, LastDeployment: 11}
			st.versions["rolled.py"] = []odb.Version{{Number: 2, SHA256: shaOf([]byte("rolled"))}, {Number: 1, SHA256: "v1"}}
			st.deployments[11] = odb.Deployment{ID: 11, CreatedAt: now}
			// copied.py: deployed just now; the file, copied in with cp -p while the server was down, keeps the
			// time of an hour ago, but its content is no version the module ever had.
			st.modules["copied.py"] = odb.Module{Name: "copied.py", Current: &odb.Version{SHA256: "cur", CreatedAt: now}, LastDeployment: 14}
			st.versions["copied.py"] = []odb.Version{{Number: 1, SHA256: "cur"}}
			st.deployments[14] = odb.Deployment{ID: 14, CreatedAt: now}
			// newer.py: deployed two hours ago, the file changed an hour ago while the server was down.
			st.modules["newer.py"] = odb.Module{Name: "newer.py", Current: &odb.Version{SHA256: "old", CreatedAt: twoHoursAgo}, LastDeployment: 12}
			st.deployments[12] = odb.Deployment{ID: 12, CreatedAt: twoHoursAgo}
			// same.py: the file is the current version.
			st.modules["same.py"] = odb.Module{Name: "same.py", Current: &odb.Version{SHA256: shaOf([]byte("same")), CreatedAt: twoHoursAgo}, LastDeployment: 13}
			for _, name := range []string{"older.py", "rolled.py", "newer.py", "same.py", "unknown.py", "copied.py"} {
				p := h.write(name, strings.TrimSuffix(name, ".py"))
				if err := os.Chtimes(p, hourAgo, hourAgo); err != nil {
					t.Fatal(err)
				}
			}
			h.start()
			got := map[string]bool{h.next().Module: true, h.next().Module: true, h.next().Module: true}
			if !got["newer.py"] || !got["unknown.py"] || !got["copied.py"] {
				t.Fatalf("deployed at start: %v", got)
			}
			h.logs.wait(t, "Not picking up rolled.py")
			h.logs.wait(t, "Not picking up older.py")
			if mode.poll > 0 { // later passes leave them alone too: a barrier file takes two passes
				h.write("barrier.py", "b")
				h.expect("barrier.py", "b")
			}
			h.none()
			if n := h.logs.count("the ODB holds a newer state"); n != 2 {
				t.Fatalf("%d skip lines:\n%s", n, h.logs.all())
			}
			// A change after start is deployed as usual.
			h.write("older.py", "changed")
			h.expect("older.py", "changed")
		})
	}
}

// Item 5: an entry that is not a flat module gets one log line each time it appears.
func TestIgnoredEntriesLoggedOncePerAppearance(t *testing.T) {
	for _, mode := range []struct {
		name string
		poll time.Duration
	}{{"events", 0}, {"polling", 20 * time.Millisecond}} {
		t.Run(mode.name, func(t *testing.T) {
			h := newHarness(t, mode.poll)
			h.start()
			h.write("notes.txt", "1")
			h.write("notes.txt", "2")
			h.write(".hidden.py", "x")
			h.write("crm-channel.py", "x")
			if err := os.Mkdir(filepath.Join(h.dir, "sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(filepath.Join(h.dir, "dir.py"), 0o755); err != nil {
				t.Fatal(err)
			}
			h.write("barrier1.py", "b")
			h.expect("barrier1.py", "b") // events are handled in order: everything above was seen
			for _, name := range []string{"notes.txt", ".hidden.py", "sub", "dir.py", "crm-channel.py"} {
				h.logs.wait(t, "Ignoring "+name+" in the pickup dir")
			}
			// Each says why in its own words: a hyphen is the naming rule, not "only flat Python modules".
			for _, want := range []string{
				"Ignoring crm-channel.py in the pickup dir: a module's name is letters, digits and _ only, with .py (crm-channel.py is not; rename it, e.g. crm_channel.py)",
				"Ignoring dir.py in the pickup dir: it is a directory",
				"Ignoring notes.txt in the pickup dir: only flat Python modules (name.py) are deployed",
			} {
				h.logs.wait(t, want)
			}
			h.write("notes.txt", "3")
			h.write("barrier2.py", "b")
			h.expect("barrier2.py", "b")
			for _, name := range []string{"notes.txt", ".hidden.py", "sub", "dir.py"} {
				if n := h.logs.count("Ignoring " + name + " in"); n != 1 {
					t.Fatalf("%s logged %d times:\n%s", name, n, h.logs.all())
				}
			}
			// Gone and back: logged again, once.
			if err := os.Remove(filepath.Join(h.dir, "notes.txt")); err != nil {
				t.Fatal(err)
			}
			if mode.poll > 0 {
				h.write("barrier3.py", "b")
				h.expect("barrier3.py", "b")
			}
			h.write("notes.txt", "4")
			h.write("notes.txt", "5")
			h.write("barrier4.py", "b")
			h.expect("barrier4.py", "b")
			if n := h.logs.count("Ignoring notes.txt in"); n != 2 {
				t.Fatalf("notes.txt logged %d times, want 2:\n%s", n, h.logs.all())
			}
			if n := h.logs.count("Ignoring  in"); n != 0 {
				t.Fatalf("an empty name was logged:\n%s", h.logs.all())
			}
		})
	}
}

// Item 3: a ConfigMap update (the ..data symlink swapped) deploys the changed modules, in every mode.
func TestConfigMapSwap(t *testing.T) {
	for _, mode := range []struct {
		name  string
		poll  time.Duration
		watch watchFunc
	}{{"events", 0, nil}, {"fsnotify", 0, watchFsnotify}, {"polling", 20 * time.Millisecond, nil}} {
		t.Run(mode.name, func(t *testing.T) {
			h := newHarness(t, mode.poll)
			if mode.watch != nil {
				h.w.watch = mode.watch
			}
			h.start()
			h.configMapInit("v1")
			h.expect("x.py", "v1")
			h.configMapSwap("v2")
			h.expect("x.py", "v2")
			h.write("barrier.py", "b")
			h.expect("barrier.py", "b")
			h.none() // x.py once per content
		})
	}
}

// Item 1: the fsnotify watcher takes a file once it stopped changing, and follows later saves and renames.
func TestFsnotifyWatcher(t *testing.T) {
	h := newHarness(t, 0)
	h.w.watch = watchFsnotify
	h.start()
	h.write("saved.py", "first")
	h.expect("saved.py", "first")
	h.write("saved.py", "second")
	h.expect("saved.py", "second")
	tmp := filepath.Join(filepath.Dir(h.dir), "staged.py")
	if err := os.WriteFile(tmp, []byte("moved"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(h.dir, "moved.py")); err != nil {
		t.Fatal(err)
	}
	h.expect("moved.py", "moved")
	h.write("notes.txt", "n")
	h.write("barrier.py", "b")
	h.expect("barrier.py", "b")
	h.logs.wait(t, "Ignoring notes.txt in the pickup dir")
	h.none()
}

// Item 1: the fsnotify watcher watches the directory again when it is deleted and created anew.
func TestFsnotifyDirReplaced(t *testing.T) {
	h := newHarness(t, 0)
	h.w.watch = watchFsnotify
	h.start()
	if err := os.RemoveAll(h.dir); err != nil {
		t.Fatal(err)
	}
	h.logs.wait(t, "no longer watched")
	h.write("back.py", "back")
	h.expect("back.py", "back")
	h.logs.wait(t, "Watching the pickup dir again")
	if n := h.logs.count("no longer watched"); n != 1 {
		t.Fatalf("%d warnings:\n%s", n, h.logs.all())
	}
}

// A symbolic link in the pickup dir is followed only while it stays inside it (a ConfigMap's links do): one that
// leads outside (a link to /etc/hostname stored that file in the ODB history) is skipped with a warning, once.
func TestSymlinkOutsideNotFollowed(t *testing.T) {
	for _, mode := range []struct {
		name string
		poll time.Duration
	}{{"events", 0}, {"polling", 20 * time.Millisecond}} {
		t.Run(mode.name, func(t *testing.T) {
			h := newHarness(t, mode.poll)
			outside := filepath.Join(filepath.Dir(h.dir), "outside")
			if err := os.MkdirAll(outside, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(outside, "secret.py"), []byte("password = 'x'\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			h.symlink(filepath.Join(outside, "secret.py"), "abs_leftover.py") // there at start
			h.start()
			h.symlink(filepath.Join(outside, "secret.py"), "abs.py")
			h.symlink("../outside/secret.py", "rel.py")
			h.write("sub/real.py", "inside = 1\n")
			h.symlink("sub/real.py", "inside.py")
			h.expect("inside.py", "inside = 1\n")
			h.symlink(filepath.Join(h.dir, "sub", "real.py"), "abs_inside.py") // absolute, but inside
			h.expect("abs_inside.py", "inside = 1\n")
			h.write("barrier.py", "b")
			h.expect("barrier.py", "b")
			h.write("barrier2.py", "b") // a poll sees the links again: still once
			h.expect("barrier2.py", "b")
			h.none()
			h.symlink("abs_inside.py", "chain.py") // inside, through another link: fine
			h.expect("chain.py", "inside = 1\n")
			h.symlink("rel.py", "chain_out.py") // inside, then out
			h.write("barrier3.py", "b")
			h.expect("barrier3.py", "b")
			h.none()
			for _, name := range []string{"abs_leftover.py", "abs.py", "rel.py", "chain_out.py"} {
				if n := h.logs.count("Not following " + name + " in the pickup dir"); n != 1 {
					t.Errorf("%s: %d warnings, want 1:\n%s", name, n, h.logs.all())
				}
			}
			if !strings.Contains(h.logs.all(), "WARN") {
				t.Errorf("not a warning:\n%s", h.logs.all())
			}
		})
	}
}

// A file left from before delete_after_pick_up was turned on, holding its module's current version, is deleted at
// start, and the log says so: it used to vanish without a word.
func TestDeleteAfterSaysWhatItDeletesAtStart(t *testing.T) {
	h := newHarness(t, 0)
	h.w = New(Config{Dir: h.dir, DeleteAfter: true, Logger: slog.New(h.logs)}, h.f)
	h.f.store.modules["kept.py"] = odb.Module{Name: "kept.py", Current: &odb.Version{SHA256: shaOf([]byte("kept")), CreatedAt: time.Now()}, LastDeployment: 1}
	h.f.store.deployments[1] = odb.Deployment{ID: 1, CreatedAt: time.Now()}
	p := h.write("kept.py", "kept")
	h.start()
	h.logs.wait(t, "Deleting kept.py from "+h.dir+": it is the current version of its module, deployed already (delete_after_pick_up)")
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("kept.py is still there: %v", err)
	}
	h.none()
}
