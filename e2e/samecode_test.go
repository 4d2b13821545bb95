package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/zato-go/zato/internal/testenv"
)

// consumer serves what the hot-deployed module dep_lib says, bound at import.
const consumer = `from zato.server.service import Service
import dep_lib

class Use(Service):
    name = 'consumer.use'
    def handle(self):
        self.response.payload = {'value': dep_lib.VALUE}
`

// Issue 11.4: what a server serves does not depend on when it started. A module that failed for want of a
// hot-deployed module it imports serves on every server once that module deploys (not only on restarted ones), and
// a module bound to another hot-deployed module serves its new version everywhere once it changes.
func TestSameCodeWhateverTheRestartHistory(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{})
	cl := client(t, c, "")
	d := deploy(t, cl, "consumer.py", consumer)
	mustStatus(t, d, "failed")
	if e := d.Servers[0].Error; e == nil || e.Type != "ModuleNotFoundError" {
		t.Fatalf("consumer without its dependency: %+v", d.Servers[0])
	}
	// Restart one server only: the other keeps its history.
	c.Stop(t, "server2")
	c.Start(t, "server2")

	mustStatus(t, deploy(t, cl, "dep_lib.py", "VALUE = 1\n"), "deployed")
	check := func(want float64) {
		t.Helper()
		for _, s := range c.Servers {
			if out := invoke(t, client(t, c, s.URL), "consumer.use", ""); out["value"] != want {
				t.Fatalf("%s serves consumer.use with %v, want %v", s.Name, out, want)
			}
		}
	}
	// The deployer retried the consumer on both servers when dep_lib deployed; its newest deployment says so.
	final, err := cl.Deployment(ctx(t), d.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	mustStatus(t, final, "deployed")
	check(1)

	mustStatus(t, deploy(t, cl, "dep_lib.py", "VALUE = 2\n"), "deployed")
	check(2)

	status, err := c.Zato(t, "status")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(status, "DIFFER") {
		t.Fatalf("status reports servers that differ:\n%s", status)
	}
}

// zato status says which modules servers serve differently (here a deployment that failed on one server only).
func TestStatusShowsServersThatDiffer(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{})
	cl := client(t, c, "")
	mustStatus(t, deploy(t, cl, "differ_mod.py", fmt.Sprintf(greet, 1)), "deployed")
	// Version 2 imports on server1 only: server2 keeps serving version 1.
	v2 := "import os\nassert os.environ.get('ZATO_SERVER_NAME') == 'server1'\n" + fmt.Sprintf(greet, 2)
	mustStatus(t, deploy(t, cl, "differ_mod.py", v2), "partial")
	status, err := c.Zato(t, "status")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(status, "SERVERS DIFFER") || !strings.Contains(status, "differ_mod.py") {
		t.Fatalf("status does not say the servers differ:\n%s", status)
	}
}
