package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/zato-go/zato/internal/testenv"
)

// TestStoppedServerServesNothing: which servers a version serves on (GET .../versions served_by, what zato history's
// "Serving:" line and the web admin say) leaves out a server that is offline now. A stopped server2 used to be
// listed as serving v1.
func TestStoppedServerServesNothing(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{})
	cl := client(t, c, c.Server(t, "server1").URL)
	mustStatus(t, deploy(t, cl, "served_mod.py", fmt.Sprintf(greet, 1)), "deployed")
	c.Stop(t, "server2")
	vs, err := cl.Versions(ctx(t), "served_mod.py")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 || !slices.Equal(vs[0].ServedBy, []string{"server1"}) {
		t.Fatalf("with server2 stopped, v1 is served by %+v, want server1 only", vs)
	}
	if out, err := c.Zato(t, "history", "served_mod.py"); err != nil || !strings.Contains(out, "Serving: v1 on server1; server2 offline.") {
		t.Errorf("zato history with server2 stopped: %v\n%s", err, out)
	}
	if out, err := c.Zato(t, "status"); err != nil || !strings.Contains(out, "server1=deployed server2=offline") {
		t.Errorf("zato status with server2 stopped: %v\n%s", err, out)
	}
	c.Start(t, "server2")
	if vs, err = cl.Versions(ctx(t), "served_mod.py"); err != nil || !slices.Equal(vs[0].ServedBy, []string{"server1", "server2"}) {
		t.Fatalf("once server2 is back, v1 is served by %+v (%v), want both", vs, err)
	}
}
