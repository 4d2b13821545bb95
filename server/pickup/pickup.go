// Package pickup deploys modules copied into a server's pickup dir, cluster-wide, as an upload would.
//
// On Linux it watches with inotify for IN_CLOSE_WRITE and IN_MOVED_TO, so a file is taken the moment its writer
// closes it or it is renamed into the directory, never half-written. This uses golang.org/x/sys/unix directly
// rather than fsnotify: fsnotify v1.10 keeps its close-write operation unexported, and without it the only safe
// signal is "writes stopped for a while", which is the 2 s wait we are here to remove. A polling mode covers file
// systems where inotify is silent (network volumes, VM shares, Kubernetes ConfigMap symlink swaps).
package pickup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
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
	Store() odb.Store
}

// Config of a Watcher.
type Config struct {
	Dir         string
	Poll        time.Duration // > 0: poll at this interval instead of inotify
	DeleteAfter bool          // delete_after_pick_up
	Logger      *slog.Logger
}

// Watcher deploys what lands in the pickup dir.
type Watcher struct {
	cfg     Config
	cl      Submitter
	log     *slog.Logger
	ignored map[string]bool       // names already logged as not deployable, to log them once
	seen    map[string]fileState  // polling: last state of each file
	done    map[string]string     // name -> sha256 last submitted
	deploys chan<- odb.Deployment // tests and benchmarks may observe submissions
}

type fileState struct {
	size  int64
	mtime time.Time
	sha   string
}

// New returns a Watcher; Run starts it.
func New(cfg Config, cl Submitter) *Watcher {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Watcher{cfg: cfg, cl: cl, log: cfg.Logger, ignored: map[string]bool{}, seen: map[string]fileState{}, done: map[string]string{}}
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
	events, err := watch(ctx, w.cfg.Dir)
	if err != nil {
		return err
	}
	w.scanAtStart(ctx)
	w.log.Info("Watching the pickup dir", "dir", w.cfg.Dir)
	go func() {
		for name := range events {
			w.pick(ctx, name)
		}
	}()
	return nil
}

// scanAtStart deploys files that differ from the module's current version: dropped while the server was down.
func (w *Watcher) scanAtStart(ctx context.Context) {
	entries, err := os.ReadDir(w.cfg.Dir)
	if err != nil {
		w.log.Error("read pickup dir", "err", err)
		return
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		w.pickIfChanged(ctx, e.Name())
	}
}

func (w *Watcher) pickIfChanged(ctx context.Context, name string) {
	if !cluster.ValidName(name) {
		w.ignore(name)
		return
	}
	src, err := os.ReadFile(filepath.Join(w.cfg.Dir, name))
	if err != nil {
		return
	}
	if m, err := w.cl.Store().Module(ctx, name); err == nil && m.Current != nil && m.Current.SHA256 == shaOf(src) {
		w.done[name] = m.Current.SHA256
		if w.cfg.DeleteAfter {
			w.remove(name)
		}
		return
	}
	w.submit(ctx, name, src)
}

// pick deploys a complete file named by an event.
func (w *Watcher) pick(ctx context.Context, name string) {
	if !cluster.ValidName(name) {
		w.ignore(name)
		return
	}
	path := filepath.Join(w.cfg.Dir, name)
	src, err := os.ReadFile(path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) { // gone already: deleted by us or the user
			w.log.Warn("could not read picked-up file", "file", path, "err", err)
		}
		return
	}
	w.submit(ctx, name, src)
}

func (w *Watcher) submit(ctx context.Context, name string, src []byte) {
	d, err := w.cl.Submit(ctx, cluster.Submission{
		Module: name, Action: odb.ActionDeploy, Source: string(src), Who: "pickup", Origin: "pickup",
	})
	if err != nil {
		w.log.Error(fmt.Sprintf("Could not pick up %s: %v", name, err))
		return
	}
	w.done[name] = shaOf(src)
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

func (w *Watcher) ignore(name string) {
	if w.ignored[name] || strings.HasPrefix(name, ".") { // dot files: editors' and ConfigMaps' own
		return
	}
	w.ignored[name] = true
	w.log.Info(fmt.Sprintf("Ignoring %s in the pickup dir: only flat Python modules (name.py) are deployed", name))
}

// poll lists the directory at each tick. A file is taken once its size and mtime held still for one interval and
// its content differs from what was last submitted; symlinks are followed, so ConfigMap swaps are seen.
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
		for _, e := range entries {
			names = append(names, e.Name())
		}
		sort.Strings(names)
		for _, name := range names {
			if !cluster.ValidName(name) {
				w.ignore(name)
				continue
			}
			path := filepath.Join(w.cfg.Dir, name)
			fi, err := os.Stat(path)
			if err != nil || fi.IsDir() {
				continue
			}
			prev, known := w.seen[name]
			cur := fileState{size: fi.Size(), mtime: fi.ModTime(), sha: prev.sha}
			w.seen[name] = cur
			if first {
				w.pickIfChanged(ctx, name)
				continue
			}
			stable := known && prev.size == cur.size && prev.mtime.Equal(cur.mtime)
			if !stable {
				continue
			}
			src, err := os.ReadFile(path)
			if err != nil {
				continue
			}
			sum := shaOf(src)
			if sum == w.done[name] {
				continue
			}
			w.submit(ctx, name, src)
		}
		first = false
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func shaOf(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
