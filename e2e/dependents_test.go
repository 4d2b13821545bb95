package e2e

import (
	"strings"
	"testing"

	"github.com/zato-go/zato/internal/testenv"
)

const usesHelper = `from zato.server.service import Service
from dep_helper import fmt

class UseHelper(Service):
    name = 'dep.use-helper'

    def handle(self):
        self.response.payload = {'fmt': fmt(1)}
`

// TestDependentThatNoLongerImportsStopsEverywhere: a helper module changed (or undeployed) so that a module importing
// it no longer imports. The dependent used to go on serving its old import on the servers that ran, bound to the
// helper's old code, while a server that started again could not import it: the cluster served two ways, and status
// said failed where it served. Now it stops serving on every server, its row says why, and it comes back on every
// server once the helper is right again.
func TestDependentThatNoLongerImportsStopsEverywhere(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{})
	cl := client(t, c, "")
	mustStatus(t, deploy(t, cl, "dep_helper.py", "def fmt(x):\n    return 'v1:%s' % x\n"), "deployed")
	mustStatus(t, deploy(t, cl, "dep_user.py", usesHelper), "deployed")
	answers := func(want bool) {
		t.Helper()
		for _, s := range c.Servers {
			res, err := client(t, c, s.URL).InvokeAt(ctx(t), s.URL, "dep.use-helper", nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Status == 200; got != want {
				t.Fatalf("%s: dep.use-helper answers %d %s, want serving=%v", s.Name, res.Status, res.Body, want)
			}
		}
	}
	answers(true)

	// The helper changes so that dep_user.py cannot import it: no server serves dep_user.py any longer.
	mustStatus(t, deploy(t, cl, "dep_helper.py", "def fmt_renamed(x):\n    return 'v2:%s' % x\n"), "deployed")
	answers(false)
	ms, err := cl.Modules(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Name != "dep_user.py" {
			continue
		}
		for _, s := range m.Servers {
			if s.Status != "failed" || s.Error == nil || !strings.Contains(s.Error.Message, "dep_helper.py has just deployed") {
				t.Errorf("dep_user.py on %s: %+v", s.Name, s)
			}
		}
	}
	// A server that starts again serves the same: nothing of dep_user.py.
	c.Stop(t, "server2")
	c.Start(t, "server2")
	answers(false)

	// The helper is right again: dep_user.py serves on every server.
	mustStatus(t, deploy(t, cl, "dep_helper.py", "def fmt(x):\n    return 'v3:%s' % x\n"), "deployed")
	answers(true)

	// Undeploying the helper stops dep_user.py at once on every server, as a restart would.
	d, err := cl.Undeploy(ctx(t), "dep_helper.py", "api")
	if err != nil {
		t.Fatal(err)
	}
	if d, err = cl.Watch(ctx(t), d.ID, nil); err != nil {
		t.Fatal(err)
	}
	answers(false)
}
