package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zato-go/zato/internal/testenv"
)

// defaultTarget is what zato rollback --help and README say a rollback without --to goes to: what the servers do
// (cluster.LastGood).
const defaultTarget = "the most recently deployed other version that loaded on every server that took it"

// zato rollback --help and README say the same true thing of a rollback without --to: it goes to the most recently
// deployed other version that loaded on every server that took it. The help said "what was serving before the current
// version", which is not it: here version 2 was serving on server1 before version 3, but failed on server2, and the
// rollback goes to version 1. README said "the newest other version that loaded on every server": not the highest
// number, as the end shows.
func TestRollbackHelpSaysWhatTheServersDo(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{})
	help := mustZato(t, c, "rollback", "--help")
	if !strings.Contains(strings.Join(strings.Fields(help), " "), defaultTarget) {
		t.Errorf("zato rollback --help does not say %q:\n%s", defaultTarget, help)
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(line, "bin/zato rollback ") && !strings.Contains(line, "# default: "+defaultTarget) {
			t.Errorf("README's line of zato rollback does not say %q:\n%s", defaultTarget, line)
		}
	}

	dir := t.TempDir()
	mustZato(t, c, "deploy", module(t, dir, "rb_help.py", 1))
	m := writeFile(t, dir, "rb_help.py", "import os\nif os.environ.get('ZATO_SERVER_NAME') == 'server2':\n    raise RuntimeError('not on server2')\n"+
		strings.Replace(greet, "%d", "2", 1))
	if out, err := c.Zato(t, "deploy", m); err == nil || !strings.Contains(out, "deployed on 1 of 2 servers; server2 failed") {
		t.Fatalf("version 2, failing on server2: %v\n%s", err, out)
	}
	mustZato(t, c, "deploy", module(t, dir, "rb_help.py", 3))
	if out := mustZato(t, c, "rollback", "rb_help.py"); !strings.Contains(out, "rb_help.py: version 1 deployed on every server (2/2)") {
		t.Fatalf("rollback without --to after a version that failed on one server:\n%s", out)
	}
	// Most recently deployed, not the highest number: after version 1 again and version 2 again, it is version 1
	// (version 3 loaded everywhere too, but before them).
	if out, err := c.Zato(t, "rollback", "rb_help.py", "--to", "2"); err == nil || !strings.Contains(out, "version 2 deployed on 1 of 2 servers; server2 failed") {
		t.Fatalf("rollback --to 2: %v\n%s", err, out)
	}
	if out := mustZato(t, c, "rollback", "rb_help.py"); !strings.Contains(out, "rb_help.py: version 1 deployed on every server (2/2)") {
		t.Fatalf("rollback without --to after versions 1 and 2 again:\n%s", out)
	}
}
