package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zato-go/zato/deployclient"
	"github.com/zato-go/zato/internal/testenv"
	"github.com/zato-go/zato/wire"
)

// TestDeploymentsDuringStartAreNeverOffline: two deployments of a module made while server2 is starting (its
// service-sources.txt takes a few seconds) are both reported deployed there once it is live. The older one, which
// the start's load of the newer one superseded, used to get an offline row for good: a client waiting on it was
// told "server2 offline" at the moment server2 went live, and the history kept saying so, though server2 was never
// offline.
func TestDeploymentsDuringStartAreNeverOffline(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{NoStart: true})
	s2 := c.Server(t, "server2")
	writeFile(t, filepath.Join(s2.Dir, "slow_start.py"), "import time\ntime.sleep(6)\n")
	writeFile(t, filepath.Join(s2.Dir, "config", "repo", "service-sources.txt"), "./slow_start.py\n")
	c.Start(t, "server1")
	start := exec.Command(c.Bin(), "start", s2.Dir)
	start.Env = c.Env()
	if err := start.Start(); err != nil {
		t.Fatal(err)
	}
	defer start.Wait()

	cl := client(t, c, c.Server(t, "server1").URL)
	deadline := time.Now().Add(30 * time.Second)
	for !memberIs(t, cl, "server2", "starting") {
		if time.Now().After(deadline) {
			t.Fatal("server2 never read starting")
		}
		time.Sleep(20 * time.Millisecond) // bounded: until server2 registers
	}
	var ids []int64
	for v := 1; v <= 2; v++ {
		d, err := cl.Upload(ctx(t), "during_start.py", []byte(fmt.Sprintf(greet, v)), "api")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.ID)
	}
	if memberIs(t, cl, "server2", "live") {
		t.Fatal("server2 was live before both deployments were made: the test proves nothing")
	}
	for i, id := range ids {
		d, err := cl.Watch(ctx(t), id, nil)
		if err != nil {
			t.Fatal(err)
		}
		if d.Status != wire.StatusDeployed {
			t.Errorf("deployment %d (v%d): %s, want deployed on every server: %+v", id, i+1, wire.Outcome(d), d.Servers)
		}
	}
	res, err := cl.InvokeAt(ctx(t), s2.URL, "during-start.greet", []byte(`{"name": "x"}`))
	if err != nil || !strings.Contains(string(res.Body), `"version": 2`) && !strings.Contains(string(res.Body), `"version":2`) {
		t.Fatalf("server2 answers %s %v, want version 2", res.Body, err)
	}
	// Whoever reads the log while the start runs sees it is alive, and what it waits for.
	log := readLog(t, c, "server2")
	for _, want := range []string{`msg="Server starting"`, "Starting: importing slow_start.py has taken 5s so far"} {
		if !strings.Contains(log, want) {
			t.Errorf("server2's log lacks %q", want)
		}
	}
}

// memberIs says whether server reads state in the cluster's members.
func memberIs(t *testing.T, cl *deployclient.Client, server, state string) bool {
	t.Helper()
	ms, err := cl.Servers(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Name == server {
			return m.State == state
		}
	}
	return false
}
