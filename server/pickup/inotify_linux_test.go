package pickup

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Item 2: IN_CREATE deploys symlinks and hard links at once, but a new regular file only when its writer closes it.
func TestCreateActsOnlyOnCompleteEntries(t *testing.T) {
	h := newHarness(t, 0)
	h.start()
	f, err := os.Create(filepath.Join(h.dir, "open.py"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("part"); err != nil {
		t.Fatal(err)
	}
	// A symlink is followed only inside the pickup dir (TestSymlinkOutsideNotFollowed), so it points into a subdir.
	inside := h.write("store/linked.py", "linked")
	h.symlink("store/linked.py", "sym.py")
	// sym.py's IN_CREATE came after open.py's: once it is deployed, open.py's IN_CREATE was handled, and ignored.
	h.expect("sym.py", "linked")
	h.none()
	if _, err := f.WriteString("ial"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	h.expect("open.py", "partial")
	if err := os.Link(inside, filepath.Join(h.dir, "hard.py")); err != nil {
		t.Fatal(err)
	}
	h.expect("hard.py", "linked")
	h.write("barrier.py", "b")
	h.expect("barrier.py", "b")
	h.none()
}

// Item 2: when the directory is deleted or moved away and replaced, one warning, then the new one is watched.
func TestDirDeletedOrReplaced(t *testing.T) {
	h := newHarness(t, 0)
	h.start()
	if err := os.RemoveAll(h.dir); err != nil {
		t.Fatal(err)
	}
	h.logs.wait(t, "no longer watched")
	h.write("back.py", "back") // taken by the rescan after the watch is set again, or by its own event
	h.until("back.py", "back")
	h.logs.wait(t, "Watching the pickup dir again")

	// Moved away and replaced by another directory: the watch must not stay on the old one.
	if err := os.Rename(h.dir, h.dir+".old"); err != nil {
		t.Fatal(err)
	}
	next := filepath.Join(filepath.Dir(h.dir), "next")
	if err := os.MkdirAll(next, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(next, "replaced.py"), []byte("replaced"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(next, h.dir); err != nil {
		t.Fatal(err)
	}
	h.until("replaced.py", "replaced")
	h.write("after.py", "after")
	h.until("after.py", "after")
	if err := os.WriteFile(filepath.Join(h.dir+".old", "stale.py"), []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.write("barrier.py", "b")
	h.until("barrier.py", "b")
	h.none() // stale.py, in the old directory, is not deployed
	if n := h.logs.count("no longer watched"); n != 2 {
		t.Fatalf("%d warnings, want one per loss:\n%s", n, h.logs.all())
	}
	if n := h.logs.count("Ignoring  in"); n != 0 {
		t.Fatalf("an event without a name was logged:\n%s", h.logs.all())
	}
}

// Item 2: a queue overflow rescans the directory, so a file whose event was lost is still deployed.
func TestQueueOverflowRescans(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/fs/inotify/max_queued_events")
	if err != nil {
		t.Skip(err)
	}
	max, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || max > 100000 {
		t.Skipf("max_queued_events %q", b)
	}
	h := newHarness(t, 0)
	h.f.entered, h.f.gate = make(chan struct{}, 1), make(chan struct{})
	h.start()
	h.write("first.py", "first")
	<-h.f.entered // the watcher is now stuck in Submit: events pile up in the kernel's queue
	names := [2]string{filepath.Join(h.dir, "a.txt"), filepath.Join(h.dir, "b.txt")}
	for i := range max + 2000 { // alternate names: the kernel merges an event equal to the last queued one
		f, err := os.OpenFile(names[i%2], os.O_WRONLY|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	h.write("lost.py", "lost") // its IN_CLOSE_WRITE does not fit in the full queue
	close(h.f.gate)
	h.expect("first.py", "first")
	h.logs.wait(t, "some events were lost: rescanning")
	h.until("lost.py", "lost")
}
