package backup

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mholt/archives"
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
	ctx := context.Background()
	file, err := os.Open(filepath.Join(f.cfg.BackupDir, name))
	if err != nil {
		f.t.Fatal(err)
	}
	defer file.Close()
	format, stream, err := archives.Identify(ctx, name, file)
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]string{}
	err = format.(archives.Extractor).Extract(ctx, stream, func(ctx context.Context, fi archives.FileInfo) error {
		r, err := fi.Open()
		if err != nil {
			return err
		}
		defer r.Close()
		b, err := io.ReadAll(r)
		out[fi.NameInArchive] = string(b)
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return out
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
