//go:build faults

package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zato-go/zato/deployclient"
	"github.com/zato-go/zato/internal/pgtest"
	"github.com/zato-go/zato/wire"
)

// PostgreSQL restarted (fast shutdown: every connection cut, then down for a while) in the middle of a stream of
// deployments from two deploy clients as the CLI and the language server build them (deployclient's defaults).
// CI: 2 restarts, 1.5 s down each; full: 5. Every acknowledged deployment completes on every server; the clients
// lose no write (they retry what is answered 503); a prober that keeps writing and reading through the outage sees
// 503 with Retry-After, never a 500.
func TestPostgreSQLRestartMidStream(t *testing.T) {
	pg := launchPG(t, pgtest.Options{})
	c := newCluster(t, clusterOpts{Servers: 3, DSN: pg.DSN("postgres")})
	var tk tokens
	var mu sync.Mutex
	var acks []ack
	var stopped atomic.Bool
	var wg sync.WaitGroup
	var clientErrors atomic.Int64
	for n := range 2 {
		wg.Go(func() {
			cl := c.Client(c.Servers[n].URL, 0) // deployclient's defaults, as zato deploy and the language server
			for i := 0; !stopped.Load(); i++ {
				module := fmt.Sprintf("pg_c%d_m%d.py", n, i%5)
				src := tk.source(module, fmt.Sprintf("c%d-%d", n, i))
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				d, err := cl.Upload(ctx, module, src, "api")
				cancel()
				if err != nil {
					clientErrors.Add(1)
					t.Logf("client %d: upload %d of %s gave up: %v", n, i, module, err)
					continue
				}
				mu.Lock()
				acks = append(acks, ack{module, d.ID, sum(src)})
				mu.Unlock()
				ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
				if _, err := cl.Watch(ctx, d.ID, nil); err != nil {
					clientErrors.Add(1)
					t.Logf("client %d: watch of deployment %d gave up: %v", n, d.ID, err)
				}
				cancel()
			}
		})
	}

	// The prober: raw requests with no retries, a write and a read in turn, each to the next server.
	var mu2 sync.Mutex
	codes := map[int]int{}
	var without503RetryAfter, probes atomic.Int64
	wg.Go(func() {
		hc := &http.Client{Timeout: 10 * time.Second}
		for i := 0; !stopped.Load(); i++ {
			base := c.Servers[i%len(c.Servers)].URL
			var req *http.Request
			if i%2 == 0 {
				module := fmt.Sprintf("pg_probe_m%d.py", i%4)
				body, _ := json.Marshal(map[string]string{"name": module, "source": string(tk.source(module, fmt.Sprintf("p-%d", i)))})
				req, _ = http.NewRequest(http.MethodPost, base+"/api/v1/deploy", bytes.NewReader(body))
				req.Header.Set(wire.IdempotencyHeader, deployclient.NewKey())
			} else {
				req, _ = http.NewRequest(http.MethodGet, base+"/api/v1/modules", nil)
			}
			req.SetBasicAuth(c.User, c.Password)
			resp, err := hc.Do(req)
			probes.Add(1)
			if err != nil {
				t.Errorf("probe %s %s: %v", req.Method, req.URL.Path, err)
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			mu2.Lock()
			codes[resp.StatusCode]++
			mu2.Unlock()
			switch {
			case resp.StatusCode == http.StatusServiceUnavailable:
				if resp.Header.Get("Retry-After") == "" {
					without503RetryAfter.Add(1)
				}
			case resp.StatusCode >= 300:
				t.Errorf("probe %s %s during the outage: %d %s", req.Method, req.URL.Path, resp.StatusCode, b)
			}
			time.Sleep(20 * time.Millisecond) // the probing rate
		}
	})

	restarts, down := sized(2, 5), 1500*time.Millisecond
	waitAcks := func(n int) {
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			got := len(acks)
			mu.Unlock()
			if got >= n || time.Now().After(deadline) {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	var outage time.Duration
	for r := range restarts {
		waitAcks(10 * (r + 1)) // mid-stream: deployments flowing before each restart
		t0 := time.Now()
		if err := pg.Restart(down); err != nil {
			t.Fatal(err)
		}
		outage += time.Since(t0)
	}
	waitAcks(10 * (restarts + 1)) // and after the last one
	stopped.Store(true)
	wg.Wait()
	mu2.Lock()
	figure(t, "pg_restart.restarts", restarts, "restarts")
	figure(t, "pg_restart.outage_total", ms(outage), "ms")
	figure(t, "pg_restart.acknowledged", len(acks), "deployments")
	figure(t, "pg_restart.client_errors", clientErrors.Load(), "errors")
	figure(t, "pg_restart.probes", probes.Load(), "requests")
	figure(t, "pg_restart.probes_503", codes[http.StatusServiceUnavailable], "answers")
	figure(t, "pg_restart.probes_500", codes[http.StatusInternalServerError], "answers")
	t.Logf("probe answers by status: %v", codes)
	if codes[http.StatusServiceUnavailable] == 0 {
		t.Errorf("no probe saw the outage (no 503 in %d probes over %d restarts of %s each)", probes.Load(), restarts, down)
	}
	mu2.Unlock()
	if n := without503RetryAfter.Load(); n > 0 {
		t.Errorf("%d answers 503 had no Retry-After", n)
	}
	// The deploy client waits out a 503 as its Retry-After says (it gave up after about a second before, and a
	// PostgreSQL restart of a couple of seconds made `zato deploy` and the language server report failures).
	if n := clientErrors.Load(); n > 0 {
		t.Errorf("DEFECT deployclient: %d writes or watches gave up during %d PostgreSQL restarts of %s down (503 with Retry-After not retried long enough)", n, restarts, down)
	}

	// Every acknowledged deployment completes on every server. Each deployment is read again until every row is
	// deployed, within one deadline for all (a server applies its pending rows by its next beat at the latest); that
	// no client is told "offline" for such a server right after the outage is pgoutage_test.go's claim.
	cl := c.Client("", 0)
	var notEverywhere []string
	deadline := time.Now().Add(30 * time.Second)
	for _, a := range acks {
		var d deployclient.Deployment
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			var err error
			d, err = cl.Deployment(ctx, a.ID, time.Until(deadline))
			cancel()
			if err != nil {
				t.Errorf("deployment %d of %s: %v", a.ID, a.Module, err)
				break
			}
			if deployedEverywhere(d) || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond) // bounded by the deadline: a server applies its pending rows each beat
		}
		if !d.Done {
			t.Errorf("acknowledged deployment %d of %s is not done 30 s after the stream: %+v", d.ID, d.Module, d.Servers)
		}
		if len(d.Servers) != len(c.Servers) {
			t.Errorf("deployment %d of %s has %d rows for %d servers", d.ID, d.Module, len(d.Servers), len(c.Servers))
		}
		for _, s := range d.Servers {
			if s.Status != wire.StatusDeployed {
				notEverywhere = append(notEverywhere, fmt.Sprintf("%d of %s: %s on %s", d.ID, d.Module, s.Status, s.Name))
			}
		}
	}
	figure(t, "pg_restart.rows_not_deployed", len(notEverywhere), "rows")
	// A live server whose heartbeat could not be written during the outage was counted offline for up to 3 s after
	// PostgreSQL was back, and deployments made then got offline rows for it: rows are now pending for every member
	// that has not said it stops, and time the ODB was away is not counted against a server's heartbeat (cluster.Clock).
	if len(notEverywhere) > 0 {
		t.Errorf("DEFECT server/cluster: %d rows of acknowledged deployments never read deployed (servers were live throughout): %v",
			len(notEverywhere), notEverywhere[:min(len(notEverywhere), 8)])
	}
	inHistory(t, c, acks)
	diff, mods := converge(t, c, &tk, 30*time.Second)
	if diff != "" {
		t.Errorf("servers differ from the ODB 30 s after the stream: %s", diff)
	}
	for _, m := range mods { // each module's newest deployment reached every server, caught up or not
		if m.Status != wire.StatusDeployed {
			// Read again: the servers serve it (converge), and its rows are written right after.
			if d, err := cl.Deployment(context.Background(), m.DeploymentID, 0); err == nil && deployedEverywhere(d) {
				continue
			}
			t.Errorf("%s: newest deployment %d is %s: %+v", m.Name, m.DeploymentID, m.Status, m.Servers)
		}
	}
}

func deployedEverywhere(d deployclient.Deployment) bool {
	for _, s := range d.Servers {
		if s.Status != wire.StatusDeployed {
			return false
		}
	}
	return len(d.Servers) > 0
}
