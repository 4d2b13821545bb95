//go:build faults

package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/zato-go/zato/deployclient"
	"github.com/zato-go/zato/internal/pgtest"
	"github.com/zato-go/zato/wire"
)

// Two clients deploy one module at once, each its own versions: one through the CLI (`zato deploy --force`, a process
// per deployment, talking to server1), one through the raw HTTP API (POST /api/v1/deploy with an idempotency key, then a
// long-poll, talking to server2). CI: 2 x 40 deployments per engine; full: 2 x 100, the number. Every upload
// makes one version, and every server ends on the newest version of the history.
func TestConcurrentDeploymentsOfOneModule(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgresql"} {
		t.Run(engine, func(t *testing.T) { concurrentOneModule(t, engine, sized(40, 100)) })
	}
}

func concurrentOneModule(t *testing.T, engine string, n int) {
	o := clusterOpts{Servers: 3}
	if engine == "postgresql" {
		o.DSN = pgtest.Start(t)
	}
	c := newCluster(t, o)
	const module = "contended.py"
	var tk tokens
	var wg sync.WaitGroup
	started := time.Now()

	wg.Go(func() { // the CLI
		dir := t.TempDir()
		file := filepath.Join(dir, module)
		for i := range n {
			if err := os.WriteFile(file, tk.source(module, "cli-"+strconv.Itoa(i)), 0o644); err != nil {
				t.Error(err)
				return
			}
			// --force: zato deploy refuses a module someone else deployed since this client's last deploy of it,
			// which here is every time; the two clients race on purpose.
			out, err := c.zato(nil, "deploy", "--force", "--url", c.Servers[0].URL, file)
			if err != nil {
				t.Errorf("zato deploy %d: %v\n%s", i, err, out)
				return
			}
		}
	})
	wg.Go(func() { // the raw API
		hc := &http.Client{Timeout: 30 * time.Second}
		base := c.Servers[1].URL
		for i := range n {
			src := tk.source(module, "api-"+strconv.Itoa(i))
			body, _ := json.Marshal(map[string]string{"name": module, "source": string(src), "origin": "api"})
			req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/deploy", bytes.NewReader(body))
			req.SetBasicAuth(c.User, c.Password)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(wire.IdempotencyHeader, deployclient.NewKey())
			resp, err := hc.Do(req)
			if err != nil {
				t.Errorf("raw deploy %d: %v", i, err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var d wire.Deployment
			if resp.StatusCode != http.StatusAccepted || json.Unmarshal(b, &d) != nil {
				t.Errorf("raw deploy %d: %d %s", i, resp.StatusCode, b)
				return
			}
			req, _ = http.NewRequest(http.MethodGet, fmt.Sprintf("%s/api/v1/deployments/%d?wait=10s", base, d.ID), nil)
			req.SetBasicAuth(c.User, c.Password)
			if resp, err = hc.Do(req); err != nil {
				t.Errorf("raw wait %d: %v", i, err)
				return
			}
			b, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if json.Unmarshal(b, &d) != nil || d.Status != wire.StatusDeployed {
				t.Errorf("raw deploy %d: %s", i, b)
				return
			}
		}
	})
	wg.Wait()
	elapsed := time.Since(started)
	figure(t, engine+".concurrent_deployments", 2*n, "deployments")
	figure(t, engine+".concurrent_elapsed", ms(elapsed), "ms")
	figure(t, engine+".concurrent_rate", float64(2*n)/elapsed.Seconds(), "deployments/s")
	if t.Failed() {
		return
	}
	cl := c.Client("", 0)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	vs, err := cl.Versions(ctx, module)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2*n {
		t.Errorf("%d uploads of distinct sources made %d versions", 2*n, len(vs))
	}
	newest := vs[0]
	for _, v := range vs {
		if v.Version > newest.Version {
			newest = v
		}
	}
	diff, mods := converge(t, c, &tk, 30*time.Second)
	if diff != "" {
		t.Fatalf("servers differ from the ODB 30 s after the last deployment: %s", diff)
	}
	m := mods[module]
	if m.Version != newest.Version || m.SHA256 != newest.SHA256 {
		t.Fatalf("the current version is %d (%.12s), the newest in the history %d (%.12s)", m.Version, m.SHA256, newest.Version, newest.SHA256)
	}
	if m.Status != wire.StatusDeployed {
		t.Errorf("newest deployment %d is %s: %+v", m.DeploymentID, m.Status, m.Servers)
	}
}
