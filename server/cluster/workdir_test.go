package cluster

import (
	"os"
	"path/filepath"
	"testing"
)

// Issue 11.7: a deployed file's mode is the same whatever the version (it alternated 600/644).
func TestWriteAtomicModeIsStable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.py")
	for i, src := range []string{"v = 1\n", "v = 2\n", "v = 3\n", "v = 4\n"} {
		if err := writeAtomic(path, []byte(src)); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o644 {
			t.Fatalf("version %d has mode %o, want 644", i+1, fi.Mode().Perm())
		}
		if b, _ := os.ReadFile(path); string(b) != src {
			t.Fatalf("version %d reads %q", i+1, b)
		}
	}
}
