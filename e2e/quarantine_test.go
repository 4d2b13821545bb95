package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/zato-go/zato/internal/testenv"
)

// Issue 11.5: a module that crashes the worker some time after its import (a time bomb) is quarantined on every
// server: its newest deployment reads failed with the reason, the other services keep answering, and a restart does
// not bring it back until a new version is deployed.
func TestTimeBombIsQuarantinedEverywhere(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{})
	cl := client(t, c, "")
	mustStatus(t, deploy(t, cl, "canary_mod.py", fmt.Sprintf(greet, 1)), "deployed")
	bomb := "import os, threading\nthreading.Timer(0.5, lambda: os._exit(1)).start()\n" + fmt.Sprintf(greet, 9)
	d := deploy(t, cl, "bomb_mod.py", bomb)
	deadline := time.Now().Add(90 * time.Second)
	for {
		cur, err := cl.Deployment(ctx(t), d.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		quarantined := 0
		for _, s := range cur.Servers {
			if s.Status == "failed" && s.Error != nil && s.Error.Type == "Quarantined" {
				quarantined++
			}
		}
		if quarantined == len(c.Servers) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the time bomb was not quarantined everywhere: %+v", cur.Servers)
		}
		time.Sleep(250 * time.Millisecond) // bounded by the deadline: three crashes with back-off take seconds
	}
	for _, s := range c.Servers {
		if out := invoke(t, client(t, c, s.URL), "canary-mod.greet", `{"name": "x"}`); out["version"] != float64(1) {
			t.Fatalf("%s: the canary answered %v", s.Name, out)
		}
	}
	// A restart does not import the quarantined version again.
	c.Stop(t, "server2")
	c.Start(t, "server2")
	if out := invoke(t, client(t, c, c.Server(t, "server2").URL), "canary-mod.greet", `{"name": "x"}`); out["version"] != float64(1) {
		t.Fatalf("after a restart the canary answered %v", out)
	}
	if _, err := client(t, c, c.Server(t, "server2").URL).Invoke(ctx(t), "bomb-mod.greet", []byte(`{"name": "x"}`)); err == nil {
		t.Fatal("the quarantined module serves again after a restart")
	}
}
