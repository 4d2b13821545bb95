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
	jobs chan snapshot // to archive
	// leftover are snapshots a server that stopped left unarchived; Run archives them first.
	leftover []snapshot
	wg       sync.WaitGroup
	mu       sync.Mutex // one snapshot at a time, so names stay ordered
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
	b := &Backups{cfg: cfg, ext: f.ext, arc: f.arc, log: cfg.Logger, jobs: make(chan snapshot, 1024)}
	b.leftover = b.staged() // before any new snapshot can be taken, which Run will hear of anyway
	b.wg.Add(len(b.leftover))
	return b, nil
}

// snapshot is one staged state of the current dir: hard links named "<name>~<file>" in the staging dir. Links in
// one flat directory cost no inode each, where a directory per snapshot did (mkdir was most of a snapshot's cost).
type snapshot struct {
	name  string   // <UTC time>-<module>, the archive's name without its extension
	files []string // module file names
}

const linkSep = "~"

func (b *Backups) staging() string { return filepath.Join(b.cfg.BackupDir, ".staging") }

func (b *Backups) linkPath(s snapshot, file string) string {
	return filepath.Join(b.staging(), s.name+linkSep+file)
}

// drop removes a snapshot's links.
func (b *Backups) drop(s snapshot) {
	for _, f := range s.files {
		os.Remove(b.linkPath(s, f))
	}
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
	snap := snapshot{name: time.Now().UTC().Format("20060102T150405.000000") + "-" + strings.TrimSuffix(module, ".py")}
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		err := os.Link(filepath.Join(b.cfg.CurrentDir, e.Name()), b.linkPath(snap, e.Name()))
		switch {
		case err == nil:
			snap.files = append(snap.files, e.Name())
		case !errors.Is(err, os.ErrNotExist):
			b.log.Warn("backup: link", "file", e.Name(), "err", err)
		}
	}
	if len(snap.files) == 0 {
		return // nothing deployed yet: nothing to lose
	}
	b.wg.Add(1)
	select {
	case b.jobs <- snap:
	default: // the worker is far behind: archive inline rather than lose the snapshot
		b.archive(context.Background(), []snapshot{snap})
	}
}

// Quiet is how long the server must see no new snapshot before it compresses what is queued. A snapshot is already
// a complete backup (hard links); compressing it (bzip2 by default) costs more CPU than a deployment, so it waits
// for a pause instead of competing with the deployments and confirmations of a busy moment.
const Quiet = 250 * time.Millisecond

// Run archives snapshots once deployments pause, until ctx ends; then it finishes what is queued.
func (b *Backups) Run(ctx context.Context) {
	b.archive(ctx, b.leftover)
	b.leftover = nil
	var queue []snapshot
	timer := time.NewTimer(b.cfg.Quiet)
	timer.Stop()
	for {
		select {
		case snap := <-b.jobs:
			queue = append(queue, snap)
			// Only the newest History archives are kept: older queued snapshots would be pruned as soon as they
			// were compressed, so they are dropped now. This also bounds the queue when deployments never pause.
			for len(queue) > b.cfg.History {
				b.drop(queue[0])
				b.wg.Done()
				queue = queue[1:]
			}
			timer.Reset(b.cfg.Quiet)
		case <-timer.C:
			b.archive(ctx, queue)
			queue = nil
		case <-ctx.Done():
		drain:
			for {
				select {
				case snap := <-b.jobs:
					queue = append(queue, snap)
				default:
					break drain
				}
			}
			b.archive(context.Background(), queue)
			return
		}
	}
}

// Wait blocks until every snapshot taken so far is archived or dropped (tests).
func (b *Backups) Wait() { b.wg.Wait() }

// staged lists the snapshots in the staging dir, oldest first.
func (b *Backups) staged() []snapshot {
	entries, _ := os.ReadDir(b.staging())
	files := map[string][]string{}
	for _, e := range entries {
		name, file, ok := strings.Cut(e.Name(), linkSep)
		if !ok {
			os.RemoveAll(filepath.Join(b.staging(), e.Name())) // a directory of an older layout, or debris
			continue
		}
		files[name] = append(files[name], file)
	}
	snaps := make([]snapshot, 0, len(files))
	for name, fs := range files {
		snaps = append(snaps, snapshot{name: name, files: fs})
	}
	sort.Slice(snaps, func(i, j int) bool { return snaps[i].name < snaps[j].name })
	return snaps
}

// archive compresses snapshots, oldest first, then points LastDir at the newest and prunes once.
func (b *Backups) archive(ctx context.Context, snaps []snapshot) {
	defer func() { // after the pruning, so that Wait sees the window as it ends up
		for range snaps {
			b.wg.Done()
		}
	}()
	newest := ""
	for _, s := range snaps {
		dst := filepath.Join(b.cfg.BackupDir, s.name+b.ext)
		if err := b.write(ctx, s, dst); err != nil {
			b.log.Warn("backup failed", "archive", dst, "err", err)
		} else {
			newest = dst
		}
		b.drop(s)
	}
	if newest == "" {
		return
	}
	if err := b.setLast(newest); err != nil {
		b.log.Warn("backup: last", "err", err)
	}
	b.prune()
}

func (b *Backups) write(ctx context.Context, snap snapshot, dst string) error {
	names := make(map[string]string, len(snap.files))
	for _, f := range snap.files {
		names[b.linkPath(snap, f)] = f
	}
	files, err := archives.FilesFromDisk(ctx, nil, names)
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
