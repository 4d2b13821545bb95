//go:build faults

package faults

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/zato-go/zato/deployclient"
	"github.com/zato-go/zato/internal/pgtest"
	"github.com/zato-go/zato/wire"
)

// Right after a PostgreSQL outage longer than the heartbeat limit (3 s), the servers write their first heartbeats
// again one after another. A deployment made in that moment, on a server that has written its heartbeat, to peers
// that have not yet, must not tell its client "offline" for a peer that then applies it: those servers were live
// throughout and were only waiting for their beat. Each round halts PostgreSQL, resumes it, waits for the moment some
// members have written a heartbeat and some not (read from GET /api/v1/servers), deploys there, and compares what the
// client was told (the upload's answer, every event of the stream, its end) with where the row ends deployed.
func TestNoOfflineForLiveServersRightAfterPostgreSQLOutage(t *testing.T) {
	pg := launchPG(t, pgtest.Options{})
	c := newCluster(t, clusterOpts{Servers: 3, DSN: pg.DSN("postgres")})
	var tk tokens
	warm := c.Client("", 0)
	if d, err := warm.Upload(timeout(t, 30*time.Second), "outage_warm.py", tk.source("outage_warm.py", "w"), "api"); err != nil {
		t.Fatal(err)
	} else if d, err = warm.Watch(timeout(t, 30*time.Second), d.ID, nil); err != nil || d.Status != wire.StatusDeployed {
		t.Fatalf("warm-up deployment: %v %+v", err, d)
	}

	tested, rounds := 0, sized(3, 6)
	var wrong []string
	for r := 0; r < rounds+3 && tested < rounds; r++ {
		// Longer than MaxAge: every heartbeat written before the outage is stale once PostgreSQL is back.
		if err := pg.Restart(4 * time.Second); err != nil {
			t.Fatal(err)
		}
		back := time.Now()
		via, behind := splitMoment(t, c, back)
		if via == "" {
			t.Logf("round %d: every server wrote its heartbeat before the moment could be caught", r)
			continue
		}
		tested++
		module := fmt.Sprintf("outage_r%d.py", r)
		cl := c.Client(c.Server(via).URL, 0)
		told := map[string]bool{} // servers the client was told are offline
		note := func(d deployclient.Deployment) {
			for _, s := range d.Servers {
				if s.Status == wire.StatusOffline {
					told[s.Name] = true
				}
			}
		}
		d, err := cl.Upload(timeout(t, 30*time.Second), module, tk.source(module, fmt.Sprint(r)), "api")
		if err != nil {
			t.Fatalf("round %d: upload to %s: %v", r, via, err)
		}
		note(d)
		end, err := cl.Watch(timeout(t, 30*time.Second), d.ID, note)
		if err != nil {
			t.Fatalf("round %d: watch: %v", r, err)
		}
		note(end)
		t.Logf("round %d: deployed via %s while %v had not written a heartbeat since PostgreSQL was back: told %s (%s)",
			r, via, behind, end.Status, wire.Outcome(end))
		// Where the row ends: every server was live throughout, so every one applies it.
		final := deployedEverywhereWithin(t, cl, d.ID, 30*time.Second)
		for _, s := range final.Servers {
			if told[s.Name] && s.Status == wire.StatusDeployed {
				wrong = append(wrong, fmt.Sprintf("round %d: %s told offline, then deployed", r, s.Name))
			}
		}
	}
	figure(t, "pg_outage.rounds_tested", tested, "rounds")
	if tested == 0 {
		t.Fatal("no round caught the moment after the outage when some servers had written their heartbeat and some not")
	}
	if len(wrong) > 0 {
		t.Errorf("DEFECT server/cluster: a client was told offline for a live server right after a PostgreSQL outage: %v", wrong)
	}
}

// splitMoment reads the members (from each server in turn) until some have written a heartbeat since back and some
// not, and returns a server that has (to deploy through) and those that have not; "" when all wrote one first.
func splitMoment(t *testing.T, c *cluster, back time.Time) (string, []string) {
	t.Helper()
	deadline := back.Add(5 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		cl := c.Client(c.Servers[i%len(c.Servers)].URL, 0)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		ms, err := cl.Servers(ctx)
		cancel()
		if err != nil {
			continue // 503 while the server's connections come back
		}
		var fresh, stale []string
		for _, m := range ms {
			if m.HeartbeatAt.After(back) {
				fresh = append(fresh, m.Name)
			} else {
				stale = append(stale, m.Name)
			}
		}
		switch {
		case len(stale) == 0:
			return "", nil
		case len(fresh) > 0:
			return fresh[0], stale
		}
	}
	t.Fatalf("no server wrote a heartbeat within 5 s of PostgreSQL being back")
	return "", nil
}

// deployedEverywhereWithin reads a deployment until every row is deployed, or within runs out.
func deployedEverywhereWithin(t *testing.T, cl *deployclient.Client, id int64, within time.Duration) deployclient.Deployment {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		d, err := cl.Deployment(timeout(t, within+10*time.Second), id, 0)
		if err != nil {
			t.Fatalf("deployment %d: %v", id, err)
		}
		if deployedEverywhere(d) || time.Now().After(deadline) {
			return d
		}
		time.Sleep(100 * time.Millisecond) // bounded by the deadline: rows are applied at the servers' next beat
	}
}
