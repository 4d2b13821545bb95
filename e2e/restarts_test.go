package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zato-go/zato/deployclient"
	"github.com/zato-go/zato/internal/testenv"
	"github.com/zato-go/zato/wire"
)

// Servers restarted (kill -9 and clean stop) in the middle of a stream of deployments from two clients end on the
// ODB's current version of every module, and nothing deployed is reported failed.
func TestRestartsDuringDeploymentStream(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{Servers: 3})
	stream, stop := context.WithCancel(context.Background())
	defer stop()

	type ack struct {
		module string
		d      deployclient.Deployment
	}
	var mu sync.Mutex
	var acks []ack
	var wg sync.WaitGroup
	for n, who := range []string{"a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := client(t, c, c.Server(t, "server1").URL) // server1 stays up: the clients always have a door
			for i := 0; stream.Err() == nil && i < 400; i++ {
				module := fmt.Sprintf("stream_%s%d.py", who, i%4)
				if i%5 == 0 {
					module = "stream_shared.py" // both clients deploy this one
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				d, err := cl.Deploy(ctx, module, []byte(fmt.Sprintf(greet, 1000*n+i)), "api", nil)
				cancel()
				if err != nil {
					t.Errorf("client %s, deploy %d of %s: %v", who, i, module, err)
					return
				}
				mu.Lock()
				acks = append(acks, ack{module, d})
				mu.Unlock()
			}
		}()
	}
	// Restarts meanwhile: kill -9 and clean stops, each server brought back.
	for round := range 3 {
		victim := []string{"server2", "server3"}[round%2]
		c.Kill(t, victim)
		c.Start(t, victim)
		c.Stop(t, "server3")
		c.Start(t, "server3")
	}
	stop()
	wg.Wait()
	if t.Failed() {
		return
	}
	if len(acks) < 10 {
		t.Fatalf("only %d deployments were acknowledged", len(acks))
	}
	for _, a := range acks {
		for _, s := range a.d.Servers {
			if s.Status == wire.StatusFailed {
				t.Fatalf("deployment %d of %s failed on %s: %+v", a.d.ID, a.module, s.Name, s.Error)
			}
		}
	}

	// Every server converges on the ODB's current version of every module.
	cl := client(t, c, "")
	mods, err := cl.Modules(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, m := range mods {
		want[m.Name] = m.SHA256
	}
	deadline := time.Now().Add(60 * time.Second)
	for _, s := range c.Servers {
		sc := client(t, c, s.URL)
		for {
			got, err := sc.Served(ctx(t))
			diff := ""
			if err != nil {
				diff = err.Error()
			} else {
				have := map[string]string{}
				for _, m := range got.Modules {
					have[m.Name] = m.SHA256
				}
				for name, sum := range want {
					if have[name] != sum {
						diff = fmt.Sprintf("%s serves %s at %.12s, the ODB's current is %.12s", s.Name, name, have[name], sum)
						break
					}
				}
			}
			if diff == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s\n%s", diff, newestDeployments(t, cl, want))
			}
			time.Sleep(200 * time.Millisecond) // bounded by the deadline: catching up takes a heartbeat or two
		}
	}
	// Every module's newest deployment reads deployed on every server, and each one's version is the current.
	mods, err = cl.Modules(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mods {
		if m.Status != wire.StatusDeployed {
			t.Errorf("%s: newest deployment %d is %s: %+v", m.Name, m.DeploymentID, m.Status, m.Servers)
		}
	}
	// The acknowledged deployments are all in the history.
	for _, a := range acks {
		ds, err := cl.Deployments(ctx(t), a.module, 1000)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, d := range ds {
			found = found || d.ID == a.d.ID
		}
		if !found {
			t.Fatalf("acknowledged deployment %d of %s is not in the history", a.d.ID, a.module)
		}
	}
}

// newestDeployments says, for a failure's message, what the ODB holds of each module's newest deployments: which
// version and each server's row.
func newestDeployments(t *testing.T, cl *deployclient.Client, modules map[string]string) string {
	var b strings.Builder
	for name := range modules {
		ds, err := cl.Deployments(ctx(t), name, 4)
		if err != nil {
			fmt.Fprintf(&b, "%s: %v\n", name, err)
			continue
		}
		for _, d := range ds {
			fmt.Fprintf(&b, "%s: deployment %d (%s, version %d, %.12s):", name, d.ID, d.Status, d.Version, d.SHA256)
			for _, s := range d.Servers {
				fmt.Fprintf(&b, " %s=%s", s.Name, s.Status)
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}
