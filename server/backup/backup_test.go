package backup

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ulikunitz/xz"
	"github.com/zato-go/zato/server/config"
)

type fixture struct {
	t   *testing.T
	cfg Config
	b   *Backups
}

func newFixture(t *testing.T, format string, history int, quiet time.Duration) *fixture {
	t.Helper()
	dir := t.TempDir()
	cfg := Config{CurrentDir: filepath.Join(dir, "current"), BackupDir: filepath.Join(dir, "backup"),
		LastDir: filepath.Join(dir, "backup", "last"), History: history, Format: format, Quiet: quiet}
	if err := os.MkdirAll(cfg.CurrentDir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, cfg: cfg, b: b}
}

// deploy changes a module as the deployer does: snapshot first, then replace the file by rename (or remove it).
func (f *fixture) deploy(module, content string) {
	f.t.Helper()
	f.b.Snapshot(context.Background(), module)
	path := filepath.Join(f.cfg.CurrentDir, module)
	if content == "" {
		if err := os.Remove(path); err != nil {
			f.t.Fatal(err)
		}
		return
	}
	if err := os.WriteFile(path+".tmp", []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		f.t.Fatal(err)
	}
}

// contents reads an archive back: file name -> content.
func (f *fixture) contents(name string) map[string]string {
	f.t.Helper()
	out, err := readArchive(filepath.Join(f.cfg.BackupDir, name))
	if err != nil {
		f.t.Fatalf("%s: %v", name, err)
	}
	return out
}

// readArchive reads an archive by its extension, with readers independent of the writers where Go has them (the
// standard library's bzip2 reader checks the bzip2 writer's output).
func readArchive(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	if strings.HasSuffix(path, ".zip") {
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return nil, err
		}
		for _, zf := range zr.File {
			r, err := zf.Open()
			if err != nil {
				return nil, err
			}
			b, err := io.ReadAll(r)
			r.Close()
			if err != nil {
				return nil, err
			}
			out[zf.Name] = string(b)
		}
		return out, nil
	}
	var r io.Reader = bytes.NewReader(data)
	switch {
	case strings.HasSuffix(path, ".tar.gz"):
		if r, err = gzip.NewReader(r); err != nil {
			return nil, err
		}
	case strings.HasSuffix(path, ".tar.bz2"):
		r = bzip2.NewReader(r)
	case strings.HasSuffix(path, ".tar.xz"):
		if r, err = xz.NewReader(r); err != nil {
			return nil, err
		}
	case strings.HasSuffix(path, ".tar"):
	default:
		return nil, fmt.Errorf("unknown archive %s", path)
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag != tar.TypeReg || h.Mode&0o777 != 0o644 {
			return nil, fmt.Errorf("%s: type %c mode %o, want a regular file 0644", h.Name, h.Typeflag, h.Mode)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		out[h.Name] = string(b)
	}
}

// Every backup_format of server.conf writes an archive that its usual reader opens, several files in name order.
func TestEveryFormatReadsBack(t *testing.T) {
	want := map[string]string{"a.py": "a = 1\n", "b.py": strings.Repeat("b = 2\n", 2000), "c.py": ""}
	for _, name := range []string{"zip", "tar", "gztar", "bztar", "xztar"} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, name, 10, time.Hour)
			for n, c := range want {
				if err := os.WriteFile(filepath.Join(f.cfg.CurrentDir, n), []byte(c), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { f.b.Run(ctx); close(done) }()
			f.deploy("d.py", "d = 4\n") // the archive is the state before d.py
			cancel()
			<-done
			f.b.Wait()
			list := f.b.List()
			if len(list) != 1 || !strings.HasSuffix(list[0], formats[name].ext) {
				t.Fatalf("archives %v, want one %s", list, formats[name].ext)
			}
			if got := f.contents(list[0]); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%s holds %q, want %q", list[0], got, want)
			}
		})
	}
	if _, err := New(Config{Format: "7z", BackupDir: t.TempDir(), LastDir: t.TempDir()}); err == nil ||
		!strings.Contains(err.Error(), "zip, tar, gztar, bztar or xztar") {
		t.Fatalf("an unknown format: %v", err)
	}
}

func TestRollingWindowEveryFormat(t *testing.T) {
	for name := range formats {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, name, 3, 0)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go f.b.Run(ctx)
			for i := range 5 {
				f.deploy("mod.py", fmt.Sprintf("v = %d\n", i))
			}
			f.b.Wait()
			// Five states before a change: empty (no archive), then v0..v3; the newest three are kept.
			list := f.b.List()
			if len(list) != 3 {
				t.Fatalf("%d archives, want the newest 3: %v", len(list), list)
			}
			last, _ := os.ReadDir(f.cfg.LastDir)
			if len(last) != 1 || last[0].Name() != list[2] {
				t.Fatalf("last dir holds %v, want %s", last, list[2])
			}
			for i, want := range []string{"v = 1\n", "v = 2\n", "v = 3\n"} {
				if got := f.contents(list[i]); len(got) != 1 || got["mod.py"] != want {
					t.Fatalf("archive %s holds %q, want mod.py %q", list[i], got, want)
				}
			}
		})
	}
}

// Each archive is the whole directory as it was before its change: new modules, replaced ones and undeployed ones.
func TestStatesAreRebuiltWholeDirectory(t *testing.T) {
	f := newFixture(t, "zip", 10, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.b.Run(ctx); close(done) }()
	f.deploy("a.py", "a1")
	f.deploy("b.py", "b1")
	f.deploy("a.py", "a2")
	f.deploy("b.py", "") // undeploy
	f.deploy("c.py", "c1")
	if len(f.b.List()) != 0 {
		t.Fatal("compressed before a pause")
	}
	cancel() // a stopping server archives what is queued
	<-done
	f.b.Wait()
	list := f.b.List()
	want := []map[string]string{
		{"a.py": "a1"},               // before b.py arrived
		{"a.py": "a1", "b.py": "b1"}, // before a2
		{"a.py": "a2", "b.py": "b1"}, // before the undeploy
		{"a.py": "a2"},               // before c.py
	}
	if len(list) != len(want) {
		t.Fatalf("archives %v", list)
	}
	for i := range want {
		if got := f.contents(list[i]); fmt.Sprint(got) != fmt.Sprint(want[i]) {
			t.Errorf("%s: %v, want %v", list[i], got, want[i])
		}
	}
}

// Deployments that never pause: the queue keeps only the snapshots the rolling window would keep, and nothing is
// compressed in the middle of the burst.
func TestQueueBoundedWithoutAPause(t *testing.T) {
	f := newFixture(t, "tar", 3, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.b.Run(ctx); close(done) }()
	for i := range 50 {
		f.deploy("mod.py", fmt.Sprintf("v = %d\n", i))
	}
	if len(f.b.List()) != 0 {
		t.Fatal("compressed in the middle of the burst")
	}
	cancel()
	<-done
	f.b.Wait()
	list := f.b.List()
	if len(list) != 3 || f.contents(list[2])["mod.py"] != "v = 48\n" {
		t.Fatalf("archives %v", list)
	}
	if !strings.HasSuffix(list[0], "-mod.tar") {
		t.Fatalf("name %s", list[0])
	}
}

// A stopping server does not wait on the whole queue: each state is an archive of every module, and with thousands
// of modules a queue of History states took longer than zato stop waits (the server was killed). It archives the
// newest state, then older ones only within StopWithin.
func TestStopArchivesNewestStateWithoutWaitingOnTheRest(t *testing.T) {
	f := newFixture(t, "bztar", 30, time.Hour)
	f.b.cfg.StopWithin = time.Nanosecond // no time for more than the newest
	for i := range 200 {
		if err := os.WriteFile(filepath.Join(f.cfg.CurrentDir, fmt.Sprintf("held_%04d.py", i)), []byte(fmt.Sprintf("x = %d\n", i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.b.Run(ctx); close(done) }()
	for i := range 30 {
		f.deploy("mod.py", fmt.Sprintf("v = %d\n", i))
	}
	t0 := time.Now()
	cancel()
	<-done
	f.b.Wait()
	t.Logf("stop archived for %v", time.Since(t0))
	list := f.b.List()
	if len(list) != 1 {
		t.Fatalf("a stop archived %d states, want only the newest: %v", len(list), list)
	}
	got := f.contents(list[0])
	if len(got) != 201 || got["mod.py"] != "v = 28\n" {
		t.Fatalf("the newest archive holds %d modules, mod.py %q", len(got), got["mod.py"])
	}
	if last, _ := os.ReadDir(f.cfg.LastDir); len(last) != 1 || last[0].Name() != list[0] {
		t.Fatalf("last dir holds %v, want %s", last, list[0])
	}
}

// A copy into the last dir that fails (here its source cannot be read; a full disk fails part way) leaves the previous
// last archive in place, whole, and nothing else: the old one went first, and a truncated copy replaced it.
func TestLastKeptWhenItsCopyFails(t *testing.T) {
	f := newFixture(t, "tar", 10, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.b.Run(ctx)
	f.deploy("mod.py", "v = 0\n")
	f.deploy("mod.py", "v = 1\n")
	f.b.Wait()
	before, _ := os.ReadDir(f.cfg.LastDir)
	if len(before) != 1 {
		t.Fatalf("last dir holds %v", before)
	}
	if err := f.b.setLast(filepath.Join(f.cfg.BackupDir, "20990101T000000.000000-gone.tar")); err == nil {
		t.Fatal("a copy of an archive that is not there succeeded")
	}
	after, _ := os.ReadDir(f.cfg.LastDir)
	if len(after) != 1 || after[0].Name() != before[0].Name() {
		t.Fatalf("after a failed copy the last dir holds %v, want %s", after, before[0].Name())
	}
	if got := f.contents(filepath.Join("last", after[0].Name())); got["mod.py"] != "v = 0\n" {
		t.Fatalf("the last archive holds %q", got)
	}
}

// After backup_format changes, the archives of the old format count in the window and leave it in turn.
func TestWindowSpansFormats(t *testing.T) {
	f := newFixture(t, "gztar", 2, 0)
	ctx, cancel := context.WithCancel(context.Background())
	go f.b.Run(ctx)
	for i := range 3 {
		f.deploy("mod.py", fmt.Sprintf("v = %d\n", i))
	}
	f.b.Wait()
	cancel()
	cfg := f.cfg
	cfg.Format = "zip"
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go b.Run(ctx)
	f.b = b
	f.deploy("mod.py", "v = 3\n")
	b.Wait()
	entries, _ := os.ReadDir(cfg.BackupDir)
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	if len(names) != 2 || !strings.HasSuffix(names[0], ".tar.gz") || !strings.HasSuffix(names[1], ".zip") {
		t.Fatalf("backup dir holds %v, want the newest 2 archives whatever their format", names)
	}
}

// server.conf accepts the formats this package writes, and no other.
func TestFormatsAreServerConfs(t *testing.T) {
	if len(formats) != len(config.BackupFormats) {
		t.Fatalf("formats %d, server.conf's %v", len(formats), config.BackupFormats)
	}
	for _, name := range config.BackupFormats {
		if _, ok := formats[name]; !ok {
			t.Errorf("server.conf accepts backup_format=%s, which this package does not write", name)
		}
	}
}
