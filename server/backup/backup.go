// Package backup archives work/hot-deploy/current before each change, keeping a rolling window of archives.
//
// Zato archives synchronously and wipes every archive once backup_history is reached; we keep the newest N instead.
// To stay off the deploy's hot path, a snapshot only records the content the changing module had (one small read,
// no file created) and a background worker, once deployments pause, rebuilds each state of the directory by
// reverting those changes from the current files, newest first, and compresses it. Snapshots not yet compressed
// live in memory: a server killed within the pause loses those archives (the ODB keeps every version regardless).
package backup

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
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
	"testing/fstest"
	"time"

	"github.com/dsnet/compress/bzip2"
	"github.com/ulikunitz/xz"
)

// format is one backup_format: the archive's extension and how to compress a tar stream (nil: zip, or plain tar).
type format struct {
	ext string
	zip bool
	// compressor makes the writer that compresses a tar stream; Backups keeps it from one archive to the next.
	compressor func() (compressor, error)
}

// compressor compresses a tar stream onto the writer it was last Reset to; Close flushes the compressed stream (not
// the file). It is reused, because a new one allocates its buffers each time: a bzip2 writer's 1.4 MB cost each
// backup 2 ms of CPU, and as much again in the server's garbage collection, at the services' CPU priority.
type compressor interface {
	io.WriteCloser
	Reset(io.Writer) error
}

// Formats as named in server.conf (Python's shutil.make_archive names, as in Zato). The standard library writes
// zip, tar and gzip; bzip2 (the default, as in Zato) and xz each take one small module, as Go has no writer for them.
var formats = map[string]format{
	"zip": {ext: ".zip", zip: true},
	"tar": {ext: ".tar"},
	"gztar": {ext: ".tar.gz", compressor: func() (compressor, error) {
		return gzipCompressor{gzip.NewWriter(io.Discard)}, nil
	}},
	"bztar": {ext: ".tar.bz2", compressor: func() (compressor, error) {
		return bzip2.NewWriter(io.Discard, &bzip2.WriterConfig{Level: bzip2.BestCompression})
	}},
	// xz's default 8 MiB dictionary costs its allocation on every archive; a module directory is rarely larger. Its
	// writer cannot be reset: each archive gets a new one.
	"xztar": {ext: ".tar.xz", compressor: func() (compressor, error) { return &xzCompressor{}, nil }},
}

type gzipCompressor struct{ *gzip.Writer }

func (g gzipCompressor) Reset(w io.Writer) error { g.Writer.Reset(w); return nil }

type xzCompressor struct{ io.WriteCloser }

func (x *xzCompressor) Reset(w io.Writer) (err error) {
	x.WriteCloser, err = xz.WriterConfig{DictCap: 1 << 20}.NewWriter(w)
	return err
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
	// StopWithin is how long a stop archives queued states after the newest (default StopWithin).
	StopWithin time.Duration
}

// Backups takes snapshots and archives them in the background.
type Backups struct {
	cfg Config
	ext string
	fmt format
	cw  compressor // fmt's, kept between archives; nil for zip and tar, and until the first archive
	log *slog.Logger
	wg  sync.WaitGroup
	// mu orders snapshots and lets the worker read the current dir with every snapshot taken so far in hand. It
	// guards queue and last.
	mu    sync.Mutex
	queue []change  // snapshots not archived yet, oldest first, at most History
	last  time.Time // when the newest was taken
	// wake tells Run that snapshots arrived while it had no pause to wait for: only the first of a busy moment
	// wakes it, the others just join the queue.
	wake  chan struct{}
	armed bool // Run is waiting for a pause (guarded by mu)
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
	if cfg.StopWithin <= 0 {
		cfg.StopWithin = StopWithin
	}
	for _, d := range []string{cfg.BackupDir, cfg.LastDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", d, err)
		}
	}
	os.RemoveAll(filepath.Join(cfg.BackupDir, ".staging")) // hard-link snapshots of an earlier version
	return &Backups{cfg: cfg, ext: f.ext, fmt: f, log: cfg.Logger, wake: make(chan struct{}, 1)}, nil
}

// change is what a snapshot records: the content a module had just before it changed.
type change struct {
	name   string // the archive's name without extension: <UTC time>-<module>
	module string
	old    []byte
	absent bool // the module was not deployed
}

// Snapshot records the current dir's state before module changes: it reads that one module.
func (b *Backups) Snapshot(_ context.Context, module string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := change{name: time.Now().UTC().Format("20060102T150405.000000") + "-" + strings.TrimSuffix(module, ".py"), module: module}
	var err error
	c.old, err = os.ReadFile(filepath.Join(b.cfg.CurrentDir, module))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			b.log.Warn("backup: read module", "module", module, "err", err)
		}
		c.absent = true
	}
	b.wg.Add(1)
	b.queue = b.trim(append(b.queue, c))
	b.last = time.Now()
	if !b.armed {
		b.armed = true
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
}

// Quiet is how long the server must see no new snapshot before it compresses what is queued: compressing (bzip2 by
// default) costs more CPU than a deployment, so it waits for a pause instead of competing with the deployments and
// confirmations of a busy moment.
const Quiet = 250 * time.Millisecond

// StopWithin is how long a stopping server goes on archiving queued states once the newest is archived.
const StopWithin = time.Second

// Run archives snapshots once deployments pause, until ctx ends; then it archives what is queued.
func (b *Backups) Run(ctx context.Context) {
	timer := time.NewTimer(b.cfg.Quiet)
	timer.Stop()
	for {
		select {
		case <-b.wake:
			timer.Reset(b.cfg.Quiet)
		case <-timer.C:
			b.mu.Lock()
			wait := b.cfg.Quiet - time.Since(b.last)
			if wait > 0 { // snapshots kept coming: wait for the pause after the newest
				b.mu.Unlock()
				timer.Reset(wait)
				continue
			}
			b.armed = false
			b.mu.Unlock()
			b.archive(ctx, time.Time{})
		case <-ctx.Done():
			// A stopping server archives what is queued, newest first, but does not wait on the rest: with thousands
			// of modules each state is an archive of all of them, and a queue of History states took longer than
			// zato stop waits (15 s with 5000 modules), so the server was killed and even the newest state lost.
			b.archive(context.Background(), time.Now().Add(b.cfg.StopWithin))
			return
		}
	}
}

// trim keeps only the newest History changes: older states would be pruned as soon as they were compressed.
// Dropping the oldest changes loses nothing the newer states need.
func (b *Backups) trim(queue []change) []change {
	for len(queue) > b.cfg.History {
		b.wg.Done()
		queue = queue[1:]
	}
	return queue
}

// Wait blocks until every snapshot taken so far is archived or dropped (tests).
func (b *Backups) Wait() { b.wg.Wait() }

// archive rebuilds the state before each queued change, newest first, compresses each non-empty one, then points
// LastDir at the newest and prunes once. With a deadline (not zero), it archives the newest state, then older ones
// only until the deadline; the others are dropped, with a log line.
func (b *Backups) archive(ctx context.Context, deadline time.Time) {
	b.mu.Lock()
	// Every snapshot taken so far is in the queue: with all of them, reverting from the current files gives each
	// state. (A change snapshotted but not applied yet reverts to the content the file still has.)
	queue := b.queue
	b.queue = nil
	state, err := b.readCurrent()
	b.mu.Unlock()
	defer func() { // after the pruning, so that Wait sees the window as it ends up
		for range queue {
			b.wg.Done()
		}
	}()
	if err != nil {
		b.log.Warn("backup: read current dir", "err", err)
		return
	}
	newest := ""
	for i := len(queue) - 1; i >= 0; i-- {
		c := queue[i]
		if c.absent {
			delete(state, c.module)
		} else {
			state[c.module] = &fstest.MapFile{Data: c.old, Mode: 0o644, ModTime: time.Now()}
		}
		if len(state) == 0 {
			continue // nothing deployed yet: nothing to lose
		}
		if newest != "" && !deadline.IsZero() && time.Now().After(deadline) {
			b.log.Warn("backup: stopping: older states not archived", "dropped", i+1, "archived_by", b.cfg.StopWithin)
			break
		}
		dst := filepath.Join(b.cfg.BackupDir, c.name+b.ext)
		if err := b.write(ctx, state, dst); err != nil {
			b.log.Warn("backup failed", "archive", dst, "err", err)
		} else if newest == "" {
			newest = dst
		}
	}
	if newest == "" {
		return
	}
	if err := b.setLast(newest); err != nil {
		b.log.Warn("backup: last", "err", err)
	}
	b.prune()
}

// readCurrent reads the deployed modules (dot files are the deployer's own).
func (b *Backups) readCurrent() (fstest.MapFS, error) {
	entries, err := os.ReadDir(b.cfg.CurrentDir)
	if err != nil {
		return nil, err
	}
	state := fstest.MapFS{}
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(b.cfg.CurrentDir, e.Name())
		data, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue // undeployed meanwhile; its change is queued
		}
		if err != nil {
			return nil, err
		}
		mt := time.Now()
		if fi, err := e.Info(); err == nil {
			mt = fi.ModTime()
		}
		state[e.Name()] = &fstest.MapFile{Data: data, Mode: 0o644, ModTime: mt}
	}
	return state, nil
}

// write compresses one state (an in-memory fs.FS: the state exists on no disk) into dst, through a temporary file
// renamed into place.
func (b *Backups) write(_ context.Context, state fstest.MapFS, dst string) error {
	names := make([]string, 0, len(state))
	for n := range state {
		names = append(names, n)
	}
	sort.Strings(names)
	if b.cw == nil && b.fmt.compressor != nil {
		cw, err := b.fmt.compressor()
		if err != nil {
			return err
		}
		b.cw = cw
	}
	tmp := dst + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := writeArchive(f, b.fmt.zip, b.cw, state, names); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}

// writeArchive writes names of state to w: a zip, or a tar compressed by cw (nil: plain tar).
func writeArchive(w io.Writer, zipped bool, cw compressor, state fstest.MapFS, names []string) error {
	if zipped {
		zw := zip.NewWriter(w)
		for _, n := range names {
			file := state[n]
			h := &zip.FileHeader{Name: n, Method: zip.Deflate, Modified: file.ModTime}
			h.SetMode(file.Mode)
			fw, err := zw.CreateHeader(h)
			if err != nil {
				return err
			}
			if _, err := fw.Write(file.Data); err != nil {
				return err
			}
		}
		return zw.Close()
	}
	if cw != nil {
		if err := cw.Reset(w); err != nil {
			return err
		}
		w = cw
	}
	tw := tar.NewWriter(w)
	for _, n := range names {
		file := state[n]
		h := &tar.Header{Typeflag: tar.TypeReg, Name: n, Mode: int64(file.Mode.Perm()), Size: int64(len(file.Data)),
			ModTime: file.ModTime.Truncate(time.Second)}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(file.Data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if cw != nil {
		return cw.Close()
	}
	return nil
}

// setLast makes LastDir hold only the newest archive.
func (b *Backups) setLast(src string) error {
	// The copy is made beside the old one and takes its place whole: a copy cut short (a full disk) leaves the
	// previous archive there, never a truncated one.
	dst := filepath.Join(b.cfg.LastDir, filepath.Base(src))
	tmp := filepath.Join(b.cfg.LastDir, "."+filepath.Base(src)+".tmp")
	if err := copyFile(src, tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	entries, _ := os.ReadDir(b.cfg.LastDir)
	for _, e := range entries {
		if name := filepath.Join(b.cfg.LastDir, e.Name()); name != tmp {
			os.Remove(name)
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// copyFile copies src to dst, synced to disk.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// isArchive reports whether name ends as an archive of one of the formats does.
func isArchive(name string) bool {
	for _, f := range formats {
		if strings.HasSuffix(name, f.ext) {
			return true
		}
	}
	return false
}

// prune keeps the newest History archives: a rolling window, where Zato wipes them all.
func (b *Backups) prune() {
	list := b.List()
	for len(list) > b.cfg.History {
		os.Remove(filepath.Join(b.cfg.BackupDir, list[0]))
		list = list[1:]
	}
}

// List returns archive names, oldest first, in every format: after backup_format changes, the archives of the old
// one stay in the window until newer ones push them out.
func (b *Backups) List() []string {
	entries, _ := os.ReadDir(b.cfg.BackupDir)
	var out []string
	for _, e := range entries {
		if e.Type().IsRegular() && isArchive(e.Name()) {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out) // names start with a UTC timestamp
	return out
}
