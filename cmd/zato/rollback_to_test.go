package main

import (
	"strings"
	"testing"

	"github.com/zato-go/zato/internal/testenv"
)

// zato rollback --to 0 is refused as --to -1 is: versions are numbered 1, 2, 3... It used to roll back to the
// default target, since 0 is the flag's unset value.
func TestRollbackToZeroIsRefused(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{})
	dir := t.TempDir()
	mustZato(t, c, "deploy", module(t, dir, "rb_to.py", 1))
	mustZato(t, c, "deploy", module(t, dir, "rb_to.py", 2))
	for _, to := range []string{"0", "-1", "00"} {
		out, err := c.Zato(t, "rollback", "rb_to.py", "--to", to)
		if err == nil || !strings.Contains(err.Error(), "versions are numbered 1, 2, 3...") {
			t.Errorf("rollback --to %s: %v\n%s", to, err, out)
		}
	}
	if hist := mustZato(t, c, "history", "rb_to.py"); !strings.Contains(hist, "Serving: v2 on server1, server2.") {
		t.Fatalf("a refused rollback changed what serves:\n%s", hist)
	}
}
