//go:build faults

package faults

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zato-go/zato/deployclient"
	"github.com/zato-go/zato/internal/pgtest"
	"github.com/zato-go/zato/wire"
)

// Kill -9 at random moments of a stream of deployments of 10 modules to 3 servers: the server that just answered
// an upload, a server still starting, any server. CI: 10 kills per engine; full (ZATO_FAULTS_SCALE=full): 50, the
// issue's number. Afterwards every server serves each module's current ODB version (asked, invoked, and by the
// sha256 of its work dir), no file in current/ is half written, no worker outlives its server, and every
// acknowledged deployment is in the history.
func TestKillDuringDeploymentStream(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgresql"} {
		t.Run(engine, func(t *testing.T) { killStream(t, engine, sized(10, 50)) })
	}
}

func killStream(t *testing.T, engine string, kills int) {
	o := clusterOpts{Servers: 3}
	if engine == "postgresql" {
		o.DSN = pgtest.Start(t)
	}
	c := newCluster(t, o)
	var tk tokens
	var mu sync.Mutex
	var acks []ack
	received := make(chan string, 64) // who answered each acknowledged upload, for the killer
	var stopped atomic.Bool
	var wg sync.WaitGroup
	var uploads, watchedFailed, status5xx atomic.Int64
	const modules = 10
	for n := range 2 {
		wg.Go(func() {
			clients := map[string]*deployclient.Client{}
			for _, s := range c.Servers {
				clients[s.Name] = c.Client(s.URL, 0)
			}
			for i := 0; !stopped.Load(); i++ {
				module := fmt.Sprintf("kill_m%d.py", rand.IntN(modules))
				src := tk.source(module, fmt.Sprintf("c%d-%d", n, i))
				key := deployclient.NewKey()
				// One write, one key: tried on each server in turn until one acknowledges it (a repeat answers the
				// deployment the first try made, whichever server it reaches).
				var d deployclient.Deployment
				var err error
				deadline := time.Now().Add(60 * time.Second)
				for ok := false; !ok; {
					for _, j := range rand.Perm(len(c.Servers)) {
						s := c.Servers[j]
						ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
						d, err = clients[s.Name].UploadKeyed(ctx, module, src, "api", key)
						cancel()
						var ae *deployclient.APIError
						if errors.As(err, &ae) && ae.Status >= 500 {
							status5xx.Add(1)
							if ae.Status != http.StatusServiceUnavailable {
								t.Errorf("%s answered an upload %d: %v", s.Name, ae.Status, err)
							}
						}
						if err == nil {
							ok = true
							break
						}
					}
					if !ok && time.Now().After(deadline) {
						t.Errorf("client %d: no server acknowledged an upload of %s within a minute: %v", n, module, err)
						return
					}
				}
				uploads.Add(1)
				mu.Lock()
				acks = append(acks, ack{module, d.ID, sum(src)})
				mu.Unlock()
				select {
				case received <- d.ReceivedBy:
				default:
				}
				// Follow it on the server that took it (which may be killed meanwhile: then it is left to the checks).
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				if _, err := clients[d.ReceivedBy].Watch(ctx, d.ID, nil); err != nil {
					watchedFailed.Add(1)
				}
				cancel()
			}
		})
	}

	names := []string{}
	for _, s := range c.Servers {
		names = append(names, s.Name)
	}
	var killedReceiver, killedStarting, killedOther int
	for k := 0; k < kills && !t.Failed(); k++ {
		time.Sleep(time.Duration(100+rand.IntN(500)) * time.Millisecond) // a random moment, not a wait for anything
		victim := names[rand.IntN(len(names))]
		switch k % 3 {
		case 0: // the server that just answered an upload, before it had time to push it
			for drained := false; !drained; {
				select {
				case <-received:
				default:
					drained = true
				}
			}
			select {
			case victim = <-received:
			case <-time.After(10 * time.Second):
				t.Fatal("no upload was acknowledged for 10 s")
			}
			killedReceiver++
			killAndCheck(t, c, victim)
			c.Start(victim)
		case 1: // a server that is still starting
			killAndCheck(t, c, victim)
			started := c.StartAsync(victim)
			deadline := time.Now().Add(20 * time.Second)
			for {
				if _, ok := c.PID(victim); ok {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s wrote no pid file within 20 s of its start", victim)
				}
				time.Sleep(5 * time.Millisecond)
			}
			// A server goes from its pid file to live in some tens of ms here: kill it within that window.
			time.Sleep(time.Duration(rand.IntN(30)) * time.Millisecond)
			select {
			case err := <-started:
				if err != nil {
					t.Fatalf("start of %s: %v", victim, err)
				}
				killedOther++ // it made it to live first
				killAndCheck(t, c, victim)
			default:
				killedStarting++
				killAndCheck(t, c, victim)
				<-started // fails: the server was killed before it was live
			}
			c.Start(victim)
		default: // any server at any moment
			killedOther++
			killAndCheck(t, c, victim)
			c.Start(victim)
		}
	}
	stopped.Store(true)
	wg.Wait()
	figure(t, engine+".kills", kills, "kills")
	figure(t, engine+".kills_of_server_that_just_answered", killedReceiver, "kills")
	figure(t, engine+".kills_of_starting_server", killedStarting, "kills")
	figure(t, engine+".kills_other", killedOther, "kills")
	figure(t, engine+".acknowledged_uploads", uploads.Load(), "deployments")
	figure(t, engine+".watches_cut_by_kills", watchedFailed.Load(), "watches")
	figure(t, engine+".answers_5xx", status5xx.Load(), "answers")
	figure(t, engine+".mean_zato_start", ms(c.meanStart()), "ms")
	if t.Failed() {
		return
	}
	if len(acks) < kills {
		t.Fatalf("only %d deployments were acknowledged during %d kills", len(acks), kills)
	}

	start := time.Now()
	diff, mods := converge(t, c, &tk, 60*time.Second)
	if diff != "" {
		t.Fatalf("after 60 s the servers still differ from the ODB: %s", diff)
	}
	figure(t, engine+".converged_after_last_restart", ms(time.Since(start)), "ms")
	if len(mods) != modules {
		t.Errorf("%d modules in the ODB, %d deployed", len(mods), modules)
	}
	for _, m := range mods {
		if m.Status != wire.StatusDeployed {
			t.Errorf("%s: newest deployment %d is %s: %+v", m.Name, m.DeploymentID, m.Status, m.Servers)
		}
	}
	wholeFiles(t, c)
	mu.Lock()
	defer mu.Unlock()
	inHistory(t, c, acks)
	// Nothing acknowledged is reported failed anywhere (a kill leaves a row offline, never failed).
	cl := c.Client("", 0)
	ctx := timeout(t, time.Minute)
	failed := 0
	for _, m := range mods {
		ds, err := cl.Deployments(ctx, m.Name, 100000)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			for _, s := range d.Servers {
				if s.Status == wire.StatusFailed && failed < 5 {
					failed++
					t.Errorf("deployment %d of %s failed on %s: %+v", d.ID, d.Module, s.Name, s.Error)
				}
			}
		}
	}

	// No process outlives its server: after the stop, no python3 of this cluster remains.
	c.StopAll()
	if left := goneWithin(processesUnder(c.Dir), 10*time.Second); len(left) > 0 {
		t.Errorf("processes outlived the cluster's stop by 10 s: %v", left)
	}
}

// killAndCheck kills a server with SIGKILL and checks that its python processes follow it within 10 s.
func killAndCheck(t *testing.T, c *cluster, name string) {
	t.Helper()
	pys := pythonsOf(c.Server(name).Dir)
	if !c.Kill(name) {
		return
	}
	if left := goneWithin(pys, 10*time.Second); len(left) > 0 {
		t.Errorf("%s was killed; 10 s later its python processes still run: %v", name, left)
	}
}
