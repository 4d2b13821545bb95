package e2e

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zato-go/zato/deployclient"
	"github.com/zato-go/zato/internal/hostile"
	"github.com/zato-go/zato/internal/testenv"
)

// TestHostileModulesDoNotHarmTheCluster deploys the corpus to a cluster while a canary service is invoked on every
// server, then checks that the canary never failed, that a huge reply fails only its own invocation, that the log
// did not grow with the flood, and that no process of the cluster outlives its server (clean stop and kill -9).
func TestHostileModulesDoNotHarmTheCluster(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{} /* the default import timeout, 10 s: a loaded machine prints a 20 MB flood slowly */)
	cl := client(t, c, "")
	mustStatus(t, deploy(t, cl, "canary_svc.py", fmt.Sprintf(greet, 1)), "deployed")

	// The canary: every server, all along.
	clients := map[string]*deployclient.Client{}
	for _, s := range c.Servers {
		sc := client(t, c, s.URL)
		if _, err := sc.Invoke(ctx(t), "canary-svc.greet", []byte(`{"name": "c"}`)); err != nil { // pays for bcrypt
			t.Fatal(err)
		}
		clients[s.Name] = sc
	}
	canary := hostile.StartCanary(clients, "canary-svc.greet", []byte(`{"name": "c"}`))

	for _, h := range hostile.Corpus {
		canary.During(h.Name)
		d, err := cl.Deploy(ctx(t), h.Name, []byte(h.Source), "api", nil)
		if err != nil {
			t.Fatalf("deploy %s: %v", h.Name, err)
		}
		t.Logf("%s: %s", h.Name, d.Status)
		if d.Status != "deployed" { // each imports cleanly: what it does to the process must not fail it, or others
			t.Errorf("%s: %s, want deployed", h.Name, d.Status)
		}
		for _, s := range d.Servers {
			if s.Error != nil {
				t.Logf("  %s: %s: %.200s", s.Name, s.Error.Type, s.Error.Message)
			}
		}
	}
	canary.During("huge_reply.get")
	// A huge reply fails its own invocation, clearly.
	_, err := cl.Invoke(ctx(t), "huge-reply.get", nil)
	var ae *deployclient.APIError
	if !errors.As(err, &ae) || !strings.Contains(ae.Code+ae.Message, "ResponseTooLarge") {
		t.Errorf("a 70 MiB reply: %v", err)
	}
	// The canary ends with the corpus: the checks below make new clients, whose first calls pay for checking a
	// password (bcrypt), which is the API's door and not what the corpus does to the cluster.
	samples, canaryErrs := canary.Stop()
	// A module deployed after the corpus deploys and serves everywhere.
	mustStatus(t, deploy(t, cl, "after_corpus.py", fmt.Sprintf(greet, 2)), "deployed")
	for _, s := range c.Servers {
		if out := invoke(t, client(t, c, s.URL), "after-corpus.greet", `{"name": "x"}`); out["version"] != float64(2) {
			t.Fatalf("%s after the corpus answered %v", s.Name, out)
		}
	}
	if len(canaryErrs) > 0 {
		t.Errorf("the canary failed %d times while the corpus deployed, first: %s", len(canaryErrs), canaryErrs[0])
	}
	if n := len(samples); n > 0 {
		slices.SortFunc(samples, func(a, b hostile.Sample) int { return cmp.Compare(a.Took, b.Took) })
		t.Logf("FIGURE canary-p50 %.2f ms, p99 %.2f ms, max %.2f ms over %d invocations", ms(samples[n/2].Took), ms(samples[n*99/100].Took), ms(samples[n-1].Took), n)
		for _, x := range slices.Backward(samples[max(0, n-5):]) {
			t.Logf("  slow: %.2f ms on %s while %s deployed", ms(x.Took), x.Server, x.During)
		}
	}

	// 20 MB printed at import did not reach the log.
	for _, s := range c.Servers {
		if fi, err := os.Stat(filepath.Join(s.Dir, "logs", "server.log")); err == nil && fi.Size() > 8<<20 {
			t.Errorf("%s's log grew to %d bytes", s.Name, fi.Size())
		}
	}

	// No process outlives its server: kill -9 of one, a clean stop of the other.
	c.Kill(t, "server1")
	c.Stop(t, "server2")
	deadline := time.Now().Add(15 * time.Second)
	for {
		left := processesUnder(c.Dir)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes outlived their servers: %v", left)
		}
		time.Sleep(100 * time.Millisecond) // bounded: the guard takes the tree down once the server is gone
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// processesUnder lists the live processes (pid: command line) whose command line or working directory names dir,
// or that a module of it started (sleep 100000): what a cluster in dir left behind.
func processesUnder(dir string) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		cmd := strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")
		cwd, _ := os.Readlink("/proc/" + e.Name() + "/cwd")
		stat, _ := os.ReadFile("/proc/" + e.Name() + "/stat")
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			continue // exited, waiting for its parent
		}
		if strings.Contains(cmd, dir) || strings.HasPrefix(cwd, dir) {
			out = append(out, fmt.Sprintf("%d: %s", pid, cmd))
		}
	}
	return out
}
