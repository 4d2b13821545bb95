package cluster

import (
	"os"
	"path/filepath"
	"testing"
)

// writeAtomic replaces a module's content; on Linux it alternates between two files (the module and its twin)
// instead of creating a file per deployment.
func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mod.py")
	var inodes []os.FileInfo
	// Lengths vary: a twin that gets shorter content must be cut to length.
	for _, v := range []string{"v1 long first version", "v2", "v3 longer than v2", "v4"} {
		if err := writeAtomic(path, []byte(v)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != v {
			t.Fatalf("after writing %s: %q %v", v, got, err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		inodes = append(inodes, fi)
	}
	entries, _ := os.ReadDir(dir)
	if !exchangeSupported {
		if len(entries) != 1 {
			t.Fatalf("left behind: %v", entries)
		}
		return
	}
	// mod.py and its twin, which holds the previous version, and nothing else.
	if len(entries) != 2 {
		t.Fatalf("entries %v", entries)
	}
	if prev, err := os.ReadFile(twinOf(path)); err != nil || string(prev) != "v3 longer than v2" {
		t.Fatalf("twin holds %q %v", prev, err)
	}
	if !os.SameFile(inodes[1], inodes[3]) || os.SameFile(inodes[2], inodes[3]) {
		t.Fatal("the module does not alternate between two files")
	}
}
