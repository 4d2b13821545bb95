// Package backup archives work/hot-deploy/current before each change, keeping a rolling window of archives.
//
// Zato archives synchronously and wipes every archive once backup_history is reached; we keep the newest N instead.
// To stay off the deploy's hot path, a snapshot is taken by hard-linking the current files (the deployer replaces
// files by rename, so a link keeps the old content) and compressed by a background worker.
package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mholt/archives"
)

// Formats as named in server.conf (Python's shutil.make_archive names, as in Zato).
var formats = map[string]struct {
	ext string
	arc archives.CompressedArchive
}{
	"zip":   {".zip", archives.CompressedArchive{Archival: archives.Zip{}}},
	"tar":   {".tar", archives.CompressedArchive{Archival: archives.Tar{}}},
	"gztar": {".tar.gz", archives.CompressedArchive{Compression: archives.Gz{}, Archival: archives.Tar{}}},
	"bztar": {".tar.bz2", archives.CompressedArchive{Compression: archives.Bz2{}, Archival: archives.Tar{}}},
	"xztar": {".tar.xz", archives.CompressedArchive{Compression: archives.Xz{}, Archival: archives.Tar{}}},
}

// Config of Backups.
type Config struct {
	CurrentDir string
	BackupDir  string
	LastDir    string
	History    int
	Format     string
	Logger     *slog.Logger
	// Quiet overrides the pause compression waits for (default Quiet).
	Quiet time.Duration
}

// Backups takes snapshots and archives them in the background.
type Backups struct {
	cfg  Config
	ext  string
	arc  archives.CompressedArchive
	log  *slog.Logger
	jobs chan string // snapshot dirs to archive
	wg   sync.WaitGroup
	mu   sync.Mutex // one snapshot at a time, so names stay ordered
}

// New checks the configuration.
func New(cfg Config) (*Backups, error) {
	f, ok := formats[cfg.Format]
	if !ok {
		return nil, fmt.Errorf("unknown backup_format %q (zip, tar, gztar, bztar or xztar)", cfg.Format)
	}
	if cfg.History <= 0 {
		cfg.History = 100
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Quiet <= 0 {
		cfg.Quiet = Quiet
	}
	for _, d := range []string{cfg.BackupDir, cfg.LastDir, filepath.Join(cfg.BackupDir, ".staging")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", d, err)
		}
	}
	return &Backups{cfg: cfg, ext: f.ext, arc: f.arc, log: cfg.Logger, jobs: make(chan string, 1024)}, nil
}

// Snapshot records the current dir's state before module changes. It costs one hard link per deployed module.
func (b *Backups) Snapshot(_ context.Context, module string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	entries, err := os.ReadDir(b.cfg.CurrentDir)
	if err != nil {
		b.log.Warn("backup: read current dir", "err", err)
		return
	}
	var files []string
	for _, e := range entries {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			files = append(files, e.Name())
		}
	}
	if len(files) == 0 {
		return // nothing deployed yet: nothing to lose
	}
	name := time.Now().UTC().Format("20060102T150405.000000") + "-" + strings.TrimSuffix(module, ".py")
	snap := filepath.Join(b.cfg.BackupDir, ".staging", name)
	if err := os.Mkdir(snap, 0o755); err != nil {
		b.log.Warn("backup: staging", "err", err)
		return
	}
	for _, f := range files {
		if err := os.Link(filepath.Join(b.cfg.CurrentDir, f), filepath.Join(snap, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			b.log.Warn("backup: link", "file", f, "err", err)
		}
	}
	b.wg.Add(1)
	select {
	case b.jobs <- snap:
	default: // the worker is far behind: archive inline rather than lose the snapshot
		b.archive(context.Background(), snap)
	}
}

// Quiet is how long the server must see no new snapshot before it compresses what is queued. A snapshot is already
// a complete backup (hard links); compressing it (bzip2 by default) costs more CPU than a deployment, so it waits
// for a pause instead of competing with the deployments and confirmations of a busy moment.
const Quiet = 250 * time.Millisecond

// maxQueued bounds the snapshots waiting for a pause.
const maxQueued = 64

// Run archives snapshots once deployments pause, until ctx ends; then it finishes what is queued.
func (b *Backups) Run(ctx context.Context) {
	b.recover(ctx)
	var queue []string
	timer := time.NewTimer(b.cfg.Quiet)
	timer.Stop()
	for {
		select {
		case snap := <-b.jobs:
			queue = append(queue, snap)
			if len(queue) >= maxQueued {
				// Deployments never pause: compress now rather than let staging grow without bound.
				for _, s := range queue {
					b.archive(ctx, s)
				}
				queue = nil
				timer.Stop()
				continue
			}
			timer.Reset(b.cfg.Quiet)
		case <-timer.C:
			for _, snap := range queue {
				b.archive(ctx, snap)
			}
			queue = nil
		case <-ctx.Done():
			for _, snap := range queue {
				b.archive(context.Background(), snap)
			}
			for {
				select {
				case snap := <-b.jobs:
					b.archive(context.Background(), snap)
				default:
					return
				}
			}
		}
	}
}

// Wait blocks until every snapshot taken so far is archived (tests).
func (b *Backups) Wait() { b.wg.Wait() }

// recover archives snapshots left by a server that stopped before its worker caught up.
func (b *Backups) recover(ctx context.Context) {
	entries, _ := os.ReadDir(filepath.Join(b.cfg.BackupDir, ".staging"))
	for _, e := range entries {
		b.wg.Add(1)
		b.archive(ctx, filepath.Join(b.cfg.BackupDir, ".staging", e.Name()))
	}
}

func (b *Backups) archive(ctx context.Context, snap string) {
	defer b.wg.Done()
	defer os.RemoveAll(snap)
	name := filepath.Base(snap) + b.ext
	dst := filepath.Join(b.cfg.BackupDir, name)
	if err := b.write(ctx, snap, dst); err != nil {
		b.log.Warn("backup failed", "archive", dst, "err", err)
		return
	}
	if err := b.setLast(dst); err != nil {
		b.log.Warn("backup: last", "err", err)
	}
	b.prune()
}

func (b *Backups) write(ctx context.Context, snap, dst string) error {
	files, err := archives.FilesFromDisk(ctx, nil, map[string]string{snap + string(os.PathSeparator): ""})
	if err != nil {
		return err
	}
	tmp := dst + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := b.arc.Archive(ctx, f, files); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

// setLast makes LastDir hold only the newest archive.
func (b *Backups) setLast(src string) error {
	entries, _ := os.ReadDir(b.cfg.LastDir)
	for _, e := range entries {
		os.Remove(filepath.Join(b.cfg.LastDir, e.Name()))
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(filepath.Join(b.cfg.LastDir, filepath.Base(src)))
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// prune keeps the newest History archives: a rolling window, where Zato wipes them all.
func (b *Backups) prune() {
	list := b.List()
	for len(list) > b.cfg.History {
		os.Remove(filepath.Join(b.cfg.BackupDir, list[0]))
		list = list[1:]
	}
}

// List returns archive names, oldest first.
func (b *Backups) List() []string {
	entries, _ := os.ReadDir(b.cfg.BackupDir)
	var out []string
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), b.ext) {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out) // names start with a UTC timestamp
	return out
}
