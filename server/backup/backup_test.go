package backup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mholt/archives"
)

func TestRollingWindowEveryFormat(t *testing.T) {
	for name := range formats {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := Config{CurrentDir: filepath.Join(dir, "current"), BackupDir: filepath.Join(dir, "backup"),
				LastDir: filepath.Join(dir, "backup", "last"), History: 3, Format: name}
			if err := os.MkdirAll(cfg.CurrentDir, 0o755); err != nil {
				t.Fatal(err)
			}
			b, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go b.Run(ctx)
			b.Snapshot(ctx, "x.py") // empty: no archive
			for i := range 5 {
				path := filepath.Join(cfg.CurrentDir, "mod.py")
				if err := os.WriteFile(path+".tmp", []byte(fmt.Sprintf("v = %d\n", i)), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(path+".tmp", path); err != nil { // as the deployer does
					t.Fatal(err)
				}
				b.Snapshot(ctx, "mod.py")
			}
			b.Wait()
			list := b.List()
			if len(list) != 3 {
				t.Fatalf("%d archives, want the newest 3: %v", len(list), list)
			}
			last, _ := os.ReadDir(cfg.LastDir)
			if len(last) != 1 || last[0].Name() != list[2] {
				t.Fatalf("last dir holds %v, want %s", last, list[2])
			}
			// The newest archive holds the content as it was at its snapshot.
			f, err := os.Open(filepath.Join(cfg.BackupDir, list[2]))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			format, stream, err := archives.Identify(ctx, list[2], f)
			if err != nil {
				t.Fatal(err)
			}
			var got string
			err = format.(archives.Extractor).Extract(ctx, stream, func(ctx context.Context, fi archives.FileInfo) error {
				if fi.NameInArchive == "mod.py" {
					r, err := fi.Open()
					if err != nil {
						return err
					}
					defer r.Close()
					b := make([]byte, 64)
					n, _ := r.Read(b)
					got = string(b[:n])
				}
				return nil
			})
			if err != nil || got != "v = 4\n" {
				t.Fatalf("newest archive holds %q (%v)", got, err)
			}
		})
	}
}

// Deployments that never pause: the queue keeps only the snapshots the rolling window would keep, so staging stays
// bounded without compressing in the middle of the burst.
func TestQueueBoundedWithoutAPause(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{CurrentDir: filepath.Join(dir, "current"), BackupDir: filepath.Join(dir, "backup"),
		LastDir: filepath.Join(dir, "backup", "last"), History: 3, Format: "tar", Quiet: time.Hour}
	if err := os.MkdirAll(cfg.CurrentDir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.Run(ctx); close(done) }()
	for i := range 10 {
		path := filepath.Join(cfg.CurrentDir, "mod.py")
		if err := os.WriteFile(path+".tmp", []byte(fmt.Sprintf("v = %d\n", i)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
		b.Snapshot(ctx, "mod.py")
	}
	// No pause comes (Quiet is an hour): staging shrinks to the newest three anyway.
	deadline := time.Now().Add(time.Minute)
	for {
		staged, _ := os.ReadDir(filepath.Join(cfg.BackupDir, ".staging"))
		if len(staged) == cfg.History {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d snapshots staged, want %d", len(staged), cfg.History)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(b.List()) != 0 {
		t.Fatal("compressed in the middle of the burst")
	}
	cancel() // a stopping server archives what is queued
	<-done
	b.Wait()
	if list := b.List(); len(list) != 3 {
		t.Fatalf("archives %v", list)
	}
}

// A server that stopped before compressing leaves its snapshots staged; the next start archives them.
func TestLeftoverSnapshotsAreArchived(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{CurrentDir: filepath.Join(dir, "current"), BackupDir: filepath.Join(dir, "backup"),
		LastDir: filepath.Join(dir, "backup", "last"), History: 10, Format: "zip", Quiet: time.Hour}
	if err := os.MkdirAll(cfg.CurrentDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.CurrentDir, "a.py"), []byte("a = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	first, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	first.Snapshot(context.Background(), "a.py") // never archived: no Run
	second, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go second.Run(ctx)
	second.Wait()
	if list := second.List(); len(list) != 1 || !strings.HasSuffix(list[0], "-a.zip") {
		t.Fatalf("archives %v", list)
	}
	if staged, _ := os.ReadDir(filepath.Join(cfg.BackupDir, ".staging")); len(staged) != 0 {
		t.Fatalf("staging still holds %d entries", len(staged))
	}
}
