// Package pickup deploys modules copied into a server's pickup dir, cluster-wide, as an upload would.
//
// On Linux it watches with inotify for IN_CLOSE_WRITE and IN_MOVED_TO, so a file is taken the moment its writer
// closes it or it is renamed into the directory, never half-written; IN_CREATE is acted on only for entries that
// are complete when created (symlinks, hard links). This uses golang.org/x/sys/unix directly rather than fsnotify:
// fsnotify v1.10 keeps its close-write operation unexported, and without it the only safe signal is "writes stopped
// for a while". Other systems use fsnotify with exactly that signal: a file is taken once its size and mtime held
// still across two checks a short interval apart. A polling mode covers file systems where events are silent
// (network volumes, VM shares).
//
// Kubernetes ConfigMap mounts (x.py -> ..data/x.py, updated by atomically swapping the ..data symlink) are followed
// in every mode: a change to a dot entry that is a symlink or a directory rescans the directory and deploys each
// module whose content changed since it was last picked.
//
// Symbolic links are followed only while they stay inside the pickup dir (resolved through os.Root at each stat and
// read, so a link swapped in between cannot lead out either): a link to any other file of the machine would put
// that file in the ODB's history and on every server. Such a link is skipped with a warning.
package pickup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/zato-go/zato/server/cluster"
	"github.com/zato-go/zato/server/odb"
)

// Submitter is what pickup needs of the cluster.
type Submitter interface {
	Submit(ctx context.Context, s cluster.Submission) (odb.Deployment, error)
	CurrentOf(ctx context.Context, name string) (cluster.Current, error)
	LeftoverOf(ctx context.Context, name, sum string, modTime time.Time) (bool, cluster.Current, error)
}

// Config of a Watcher.
type Config struct {
	Dir         string
	Poll        time.Duration // > 0: poll at this interval instead of watching for events
	DeleteAfter bool          // delete_after_pick_up
	Logger      *slog.Logger
}

// settleInterval separates the two checks that tell a file is no longer being written (fsnotify watcher, rescans).
var settleInterval = 100 * time.Millisecond

// rewatchInterval is how often a lost watch on the pickup dir is tried again.
var rewatchInterval = 250 * time.Millisecond

// evKind is what an event from a watcher asks for.
type evKind int

const (
	evFile   evKind = iota // name was completed in the directory (written and closed, moved in, linked): look at it
	evGone                 // name left the directory
	evRescan               // events may have been lost: look at the whole directory
)

type event struct {
	kind evKind
	name string
}

// watchFunc reports what happens in dir until ctx ends, then closes its channel.
type watchFunc func(ctx context.Context, dir string, log *slog.Logger) (<-chan event, error)

// Watcher deploys what lands in the pickup dir.
type Watcher struct {
	cfg     Config
	cl      Submitter
	log     *slog.Logger
	watch   watchFunc
	ignored map[string]bool       // entries present now and already logged as not deployable
	seen    map[string]fileState  // polling: last state of each file
	done    map[string]picked     // what was last submitted (or found current) of each module
	deploys chan<- odb.Deployment // tests and benchmarks may observe submissions
}

// picked is a file as it was when submitted: an event about the very same file (a rescan and the file's own event
// may both report it) deploys nothing, a new save does.
type picked struct {
	sha   string
	size  int64
	mtime time.Time
}

func pickedOf(sha string, fi fs.FileInfo) picked {
	return picked{sha: sha, size: fi.Size(), mtime: fi.ModTime()}
}

// fileState is what polling compares between ticks to tell a file that stopped changing.
type fileState struct {
	size  int64
	mtime time.Time
}

// New returns a Watcher; Run starts it.
func New(cfg Config, cl Submitter) *Watcher {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Watcher{cfg: cfg, cl: cl, log: cfg.Logger, watch: watch,
		ignored: map[string]bool{}, seen: map[string]fileState{}, done: map[string]picked{}}
}

// Start watches the directory and picks up what was dropped while the server was down, then keeps watching until
// ctx ends. It returns once watching has begun, so a file copied after the server says it is ready is never missed.
func (w *Watcher) Start(ctx context.Context) error {
	if err := os.MkdirAll(w.cfg.Dir, 0o755); err != nil {
		return fmt.Errorf("create pickup dir: %w", err)
	}
	if w.cfg.Poll > 0 {
		w.log.Info("Watching the pickup dir by polling", "dir", w.cfg.Dir, "interval", w.cfg.Poll)
		go w.poll(ctx)
		return nil
	}
	events, err := w.watch(ctx, w.cfg.Dir, w.log)
	if err != nil {
		return err
	}
	w.scanAtStart(ctx)
	w.log.Info("Watching the pickup dir", "dir", w.cfg.Dir)
	go func() {
		for ev := range events {
			w.handle(ctx, ev)
		}
	}()
	return nil
}

func (w *Watcher) handle(ctx context.Context, ev event) {
	switch ev.kind {
	case evGone:
		delete(w.ignored, ev.name)
	case evRescan:
		w.rescan(ctx)
	case evFile:
		w.pick(ctx, ev.name)
	}
}

// scanAtStart deploys files dropped or changed while the server was down. A file left in the directory from an
// earlier pick-up is not deployed again when the ODB holds a newer deployment of its module (see pickLeftover).
func (w *Watcher) scanAtStart(ctx context.Context) {
	entries, err := os.ReadDir(w.cfg.Dir)
	if err != nil {
		w.log.Error("read pickup dir", "err", err)
		return
	}
	for _, e := range entries {
		name := e.Name()
		fi, ok := w.classify(name)
		if ok {
			w.pickLeftover(ctx, name, fi)
		}
	}
}

// classify logs an entry that is not a flat module (once while it stays) and returns the stat of one that is.
func (w *Watcher) classify(name string) (fs.FileInfo, bool) {
	if name == "" {
		return nil, false
	}
	fi, err := w.stat(name)
	if err != nil {
		path := filepath.Join(w.cfg.Dir, name)
		li, lerr := os.Lstat(path)
		switch {
		case lerr != nil: // gone already
		case li.Mode()&fs.ModeSymlink != 0:
			if _, serr := os.Stat(path); serr == nil {
				w.skipLink(name) // it leads to something, but not inside the pickup dir
			} else {
				w.ignore(name, "it is a symbolic link that leads nowhere")
			}
		case !errors.Is(err, fs.ErrNotExist):
			w.log.Warn("could not stat a file in the pickup dir", "file", name, "err", err)
		}
		return nil, false
	}
	if why := notAModule(name, fi); why != "" {
		w.ignore(name, why)
		return nil, false
	}
	return fi, true
}

// notAModule says why an entry of the pickup dir is no module to deploy, in the words a user who dropped it needs:
// a name with a hyphen gets the naming rule, not "only flat Python modules".
func notAModule(name string, fi fs.FileInfo) string {
	flat := "only flat Python modules (name.py) are deployed"
	switch {
	case strings.HasPrefix(name, "."):
		return "hidden files are skipped"
	case fi.IsDir():
		return "it is a directory; " + flat + " (a package goes to zato_extra_paths)"
	case !strings.HasSuffix(name, ".py"):
		return flat
	case !cluster.ValidName(name):
		return fmt.Sprintf("a module's name is letters, digits and _ only, with .py (%s is not; rename it, e.g. %s)",
			name, strings.NewReplacer("-", "_", " ", "_", ".", "_").Replace(strings.TrimSuffix(name, ".py"))+".py")
	case !fi.Mode().IsRegular():
		return "it is not a regular file"
	}
	return ""
}

// pickLeftover deploys a file found at start unless an earlier pick-up left it there (cluster.LeftoverOf): with
// delete_after_pick_up off, a picked file stays in the directory, and deploying it at every start would undo any
// later deployment or rollback of its module.
func (w *Watcher) pickLeftover(ctx context.Context, name string, fi fs.FileInfo) {
	src, err := w.read(name)
	if err != nil {
		return
	}
	sum := shaOf(src)
	left, cur, err := w.cl.LeftoverOf(ctx, name, sum, fi.ModTime())
	switch {
	case err != nil:
		w.log.Error(fmt.Sprintf("Could not pick up %s: %v", name, err))
		return
	case left && cur.SHA256 == sum:
		w.done[name] = pickedOf(sum, fi)
		if w.cfg.DeleteAfter {
			// Picked before delete_after_pick_up was on: what it holds serves already.
			w.log.Info(fmt.Sprintf("Deleting %s from %s: it is the current version of its module, deployed already (delete_after_pick_up)",
				name, w.cfg.Dir))
			w.remove(name)
		}
		return
	case left:
		w.done[name] = pickedOf(sum, fi) // it is not new: only a later change deploys it
		w.log.Info(fmt.Sprintf("Not picking up %s left in %s: the ODB holds a newer state of it (deployment %d at %s, the file is an earlier version, from %s)",
			name, w.cfg.Dir, cur.Deployment, cur.Since.Format(time.RFC3339), fi.ModTime().UTC().Format(time.RFC3339)))
		return
	}
	w.submit(ctx, name, src, fi)
}

// pick looks at an entry named by an event: a module is deployed, a changed dot entry that is a symlink or a
// directory (a ConfigMap's ..data swap) rescans the directory, anything else is logged once.
func (w *Watcher) pick(ctx context.Context, name string) {
	if name == "" {
		return
	}
	path := filepath.Join(w.cfg.Dir, name)
	if strings.HasPrefix(name, ".") {
		if li, err := os.Lstat(path); err == nil {
			w.ignore(name, "hidden files are skipped")
			if li.Mode()&fs.ModeSymlink != 0 || li.IsDir() {
				w.rescan(ctx)
			}
		}
		return
	}
	fi, ok := w.classify(name)
	if !ok {
		return
	}
	src, err := w.read(name)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) { // gone already: deleted by us or the user
			w.log.Warn("could not read picked-up file", "file", path, "err", err)
		}
		return
	}
	if pickedOf(shaOf(src), fi) == w.done[name] {
		return // submitted already, by a rescan
	}
	w.submit(ctx, name, src, fi)
}

// rescan deploys every module whose content differs from what was last picked and from the module's current
// version. A file still changing across two checks settleInterval apart is left for its own event.
func (w *Watcher) rescan(ctx context.Context) {
	entries, err := os.ReadDir(w.cfg.Dir)
	if err != nil {
		w.log.Warn("read pickup dir", "err", err)
		return
	}
	present := map[string]bool{}
	first := map[string]fs.FileInfo{}
	for _, e := range entries {
		name := e.Name()
		present[name] = true
		if fi, ok := w.classify(name); ok {
			first[name] = fi
		}
	}
	w.forgetGone(present) // events of entries that left may have been lost
	if len(first) == 0 {
		return
	}
	select {
	case <-ctx.Done():
		return
	case <-time.After(settleInterval):
	}
	names := make([]string, 0, len(first))
	for name := range first {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fi, err := w.stat(name)
		if err != nil || fi.Size() != first[name].Size() || !fi.ModTime().Equal(first[name].ModTime()) {
			continue
		}
		src, err := w.read(name)
		if err != nil {
			continue
		}
		sum := shaOf(src)
		if sum == w.done[name].sha {
			continue
		}
		if cur, err := w.cl.CurrentOf(ctx, name); err == nil && cur.SHA256 == sum {
			w.done[name] = pickedOf(sum, fi)
			continue
		}
		w.submit(ctx, name, src, fi)
	}
}

func (w *Watcher) submit(ctx context.Context, name string, src []byte, fi fs.FileInfo) {
	d, err := w.cl.Submit(ctx, cluster.Submission{
		Module: name, Action: odb.ActionDeploy, Source: string(src), Who: "pickup", Origin: "pickup",
	})
	if err != nil {
		w.log.Error(fmt.Sprintf("Could not pick up %s: %v", name, err))
		return
	}
	w.done[name] = pickedOf(shaOf(src), fi)
	w.log.Info(fmt.Sprintf("Picked up %s from %s, deployment %d", name, w.cfg.Dir, d.ID))
	if w.cfg.DeleteAfter {
		w.remove(name)
	}
}

func (w *Watcher) remove(name string) {
	if err := os.Remove(filepath.Join(w.cfg.Dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		w.log.Warn("could not delete picked-up file", "file", name, "err", err)
	}
}

// forgetGone drops what is remembered of entries no longer in the directory: one that comes back is logged (or
// watched for stability) anew.
func (w *Watcher) forgetGone(present map[string]bool) {
	for name := range w.ignored {
		if !present[name] {
			delete(w.ignored, name)
		}
	}
	for name := range w.seen {
		if !present[name] {
			delete(w.seen, name)
		}
	}
}

// ignore logs an entry that is not a flat module once for as long as it stays in the directory.
func (w *Watcher) ignore(name, why string) {
	if name == "" || w.ignored[name] {
		return
	}
	w.ignored[name] = true
	msg := fmt.Sprintf("Ignoring %s in the pickup dir: %s", name, why)
	if strings.HasSuffix(name, ".py") && !strings.HasPrefix(name, ".") {
		w.log.Warn(msg) // meant as a module, most likely: it must not go unseen
		return
	}
	w.log.Info(msg)
}

// poll lists the directory at each tick. A file is taken once its size and mtime held still for one interval and
// its content differs from what was last submitted; symlinks inside the directory are followed, so ConfigMap swaps
// are seen.
func (w *Watcher) poll(ctx context.Context) {
	t := time.NewTicker(w.cfg.Poll)
	defer t.Stop()
	first := true
	for {
		entries, err := os.ReadDir(w.cfg.Dir)
		if err != nil {
			w.log.Warn("read pickup dir", "err", err)
		}
		names := make([]string, 0, len(entries))
		present := map[string]bool{}
		for _, e := range entries {
			names = append(names, e.Name())
			present[e.Name()] = true
		}
		sort.Strings(names)
		w.forgetGone(present)
		for _, name := range names {
			fi, ok := w.classify(name)
			if !ok {
				continue
			}
			prev, known := w.seen[name]
			cur := fileState{size: fi.Size(), mtime: fi.ModTime()}
			w.seen[name] = cur
			if first {
				w.pickLeftover(ctx, name, fi)
				continue
			}
			stable := known && prev.size == cur.size && prev.mtime.Equal(cur.mtime)
			if !stable {
				continue
			}
			src, err := w.read(name)
			if err != nil {
				continue
			}
			if shaOf(src) == w.done[name].sha {
				continue
			}
			w.submit(ctx, name, src, fi)
		}
		first = false
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// stat and read see an entry of the pickup dir through os.Root, which follows symbolic links only while they stay
// inside the directory, whatever is swapped meanwhile (see inRoot).
func (w *Watcher) stat(name string) (fi fs.FileInfo, err error) {
	err = w.inRoot(name, func(root *os.Root, name string) (err error) {
		fi, err = root.Stat(name)
		return err
	})
	return fi, err
}

func (w *Watcher) read(name string) (b []byte, err error) {
	err = w.inRoot(name, func(root *os.Root, name string) (err error) {
		b, err = root.ReadFile(name)
		return err
	})
	return b, err
}

// inRoot calls f with the pickup dir as an os.Root (opened at each call: the directory may be replaced) and name.
// os.Root follows relative links only; an absolute link whose target is inside the directory is followed by
// calling f again with the target's path relative to it, still through the root.
func (w *Watcher) inRoot(name string, f func(root *os.Root, name string) error) error {
	root, err := os.OpenRoot(w.cfg.Dir)
	if err != nil {
		return err
	}
	defer root.Close()
	err = f(root, name)
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return err
	}
	target, terr := filepath.EvalSymlinks(filepath.Join(w.cfg.Dir, name))
	base, berr := filepath.EvalSymlinks(w.cfg.Dir)
	if terr != nil || berr != nil {
		return err
	}
	rel, rerr := filepath.Rel(base, target)
	if rerr != nil || !filepath.IsLocal(rel) {
		return err
	}
	return f(root, rel)
}

// skipLink warns, once for as long as it stays, of a symbolic link that is not followed.
func (w *Watcher) skipLink(name string) {
	if w.ignored[name] {
		return
	}
	w.ignored[name] = true
	target, _ := os.Readlink(filepath.Join(w.cfg.Dir, name))
	w.log.Warn(fmt.Sprintf("Not following %s in the pickup dir %s: it is a symbolic link to %s, outside the pickup dir; "+
		"only links that stay inside the pickup dir are followed", name, w.cfg.Dir, target))
}

func shaOf(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
