package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/zato-go/zato/deployclient"
	"github.com/zato-go/zato/internal/testenv"
)

const hangAtImport = "import time\ntime.sleep(600)\n"

// Issue 12.1: a deployment made right after a server's start returns reaches it, even when modules of that server
// failed at import (hang) before: the start no longer imports them again with its heartbeats stopped.
func TestDeploymentReachesServerThatJustStarted(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{ServerConf: map[string]string{"hot_deploy.import_timeout": "4s"}})
	cl := client(t, c, c.Server(t, "server1").URL)
	for _, m := range []string{"hang_a.py", "hang_b.py"} {
		mustStatus(t, deploy(t, cl, m, hangAtImport), "failed")
	}
	c.Stop(t, "server2")
	c.Start(t, "server2")
	d := deploy(t, cl, "after_start.py", fmt.Sprintf(greet, 1))
	mustStatus(t, d, "deployed")
	if out := invoke(t, client(t, c, c.Server(t, "server2").URL), "after-start.greet", `{"name": "x"}`); out["version"] != float64(1) {
		t.Fatalf("server2 answered %v", out)
	}
}

// Issue 12.2: a deploy made while the servers start waits for them and succeeds, rather than reporting a failure
// for something that deploys a moment later.
func TestDeployWhileServersStartSucceeds(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{})
	if out, err := c.Zato(t, "stop", c.Dir); err != nil {
		t.Fatalf("stop: %v %s", err, out)
	}
	start := exec.Command(c.Bin(), "start", c.Dir)
	start.Env = c.Env()
	if err := start.Start(); err != nil {
		t.Fatal(err)
	}
	defer start.Wait()
	file := filepath.Join(t.TempDir(), "during_start.py")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(greet, 7)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := c.Zato(t, "deploy", file)
	if err != nil {
		t.Fatalf("deploy during start: %v\n%s", err, out)
	}
	if !strings.Contains(out, "deployed on every server (2/2)") {
		t.Fatalf("deploy during start said:\n%s", out)
	}
}

// Issue 12.3: a start imports a module that failed here at most once (not at all when its current version
// already failed), logs it once, and writes no backup archive when the work dir did not change.
func TestStartDoesNotRepeatBrokenModules(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{ServerConf: map[string]string{"hot_deploy.import_timeout": "4s"}})
	cl := client(t, c, c.Server(t, "server1").URL)
	mustStatus(t, deploy(t, cl, "good_mod.py", fmt.Sprintf(greet, 1)), "deployed")
	for name, src := range map[string]string{
		"hang_mod.py":   hangAtImport,
		"exit_mod.py":   "import os\nos._exit(3)\n",
		"syntax_mod.py": "def broken(:\n",
	} {
		mustStatus(t, deploy(t, cl, name, src), "failed")
	}
	s2 := c.Server(t, "server2")
	backups := func() int {
		es, _ := os.ReadDir(filepath.Join(s2.Dir, "work", "hot-deploy", "backup"))
		return len(es)
	}
	before := backups()
	logBefore := len(readLog(t, c, "server2"))
	for range 2 {
		c.Stop(t, "server2")
		c.Start(t, "server2")
	}
	log := readLog(t, c, "server2")[logBefore:]
	for _, m := range []string{"hang_mod.py", "exit_mod.py", "syntax_mod.py"} {
		if n := strings.Count(log, "Could not deploy "+m); n != 0 {
			t.Errorf("%s was imported again at start (%d times):\n%s", m, n, log)
		}
	}
	if n := strings.Count(log, "Reconciled"); n != 2 {
		t.Errorf("two starts reconciled %d times", n)
	}
	if after := backups(); after != before {
		t.Errorf("two starts that changed nothing wrote %d backup archives", after-before)
	}
	if out := invoke(t, client(t, c, s2.URL), "good-mod.greet", `{"name": "x"}`); out["version"] != float64(1) {
		t.Fatalf("server2 answered %v", out)
	}
	// The failed rows keep their errors.
	ms, err := cl.Modules(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Name == "hang_mod.py" {
			if s, _ := m.Servers[1], 0; s.Status != "failed" || s.Error == nil || s.Error.Type != "ImportTimeout" {
				t.Fatalf("hang_mod.py on server2 after restarts: %+v", s)
			}
		}
	}
}

// Issue 12.4: an undeploy reads "undeployed" everywhere, never "deployed".
func TestUndeployReadsUndeployed(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{})
	cl := client(t, c, "")
	mustStatus(t, deploy(t, cl, "gone_mod.py", fmt.Sprintf(greet, 1)), "deployed")
	out, err := c.Zato(t, "undeploy", "gone_mod.py")
	if err != nil {
		t.Fatalf("undeploy: %v\n%s", err, out)
	}
	if strings.Contains(out, " deployed") || !strings.Contains(out, "undeployed from every server (2/2)") {
		t.Fatalf("undeploy said:\n%s", out)
	}
	status, err := c.Zato(t, "status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(status, "\n") {
		if strings.HasPrefix(line, "gone_mod.py") && (strings.Contains(line, "=deployed") || strings.Contains(line, " deployed")) {
			t.Fatalf("status says an undeployed module is deployed: %q", line)
		}
	}
	ds, err := cl.Deployments(ctx(t), "gone_mod.py", 1)
	if err != nil || len(ds) != 1 || ds[0].Status != "undeployed" || ds[0].Servers[0].Status != "undeployed" {
		t.Fatalf("undeploy deployment: %+v %v", ds, err)
	}
}

// Issue 12.5, through the API: a rollback without a version goes to the last version that loaded everywhere.
func TestRollbackDefaultIsLastVersionThatLoaded(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{})
	cl := client(t, c, "")
	mustStatus(t, deploy(t, cl, "rb_mod.py", fmt.Sprintf(greet, 1)), "deployed")
	mustStatus(t, deploy(t, cl, "rb_mod.py", "def broken(:\n"), "failed")
	mustStatus(t, deploy(t, cl, "rb_mod.py", fmt.Sprintf(greet, 3)), "deployed")
	out, err := c.Zato(t, "rollback", "rb_mod.py")
	if err != nil || !strings.Contains(out, "version 1 deployed on every server (2/2)") {
		t.Fatalf("rollback: %v\n%s", err, out)
	}
	if _, err := c.Zato(t, "rollback", "rb_mod.py", "--to", "99"); err == nil || !strings.Contains(err.Error(), "versions 1-3") {
		t.Fatalf("rollback to 99 should name the versions: %v", err)
	}
	// After an undeploy nothing serves, so no version is the current one to step away from: a rollback brings back
	// the newest version that loaded everywhere (here version 1, through the rollback above).
	if out, err := c.Zato(t, "undeploy", "rb_mod.py"); err != nil {
		t.Fatalf("undeploy: %v\n%s", err, out)
	}
	if ds, err := cl.Deployments(ctx(t), "rb_mod.py", 1); err != nil || len(ds) != 1 || ds[0].Action != "undeploy" || ds[0].Origin != "cli" {
		t.Fatalf("the undeploy made with the command line: %+v %v", ds, err)
	}
	out, err = c.Zato(t, "rollback", "rb_mod.py")
	if err != nil || !strings.Contains(out, "version 1 deployed on every server (2/2)") {
		t.Fatalf("rollback after an undeploy: %v\n%s", err, out)
	}
	for _, s := range c.Servers {
		if got := invoke(t, client(t, c, s.URL), "rb-mod.greet", `{"name": "Al"}`); got["version"] != float64(1) {
			t.Fatalf("%s serves %v after the rollback", s.Name, got)
		}
	}
	// A version that failed on every server is no default: with nothing else that loaded, the rollback is refused
	// (it used to deploy the failed version 1 again, and fail on every server).
	mustStatus(t, deploy(t, cl, "rb_once.py", "def broken(:\n"), "failed")
	mustStatus(t, deploy(t, cl, "rb_once.py", fmt.Sprintf(greet, 2)), "deployed")
	if out, err := c.Zato(t, "rollback", "rb_once.py"); err == nil || !strings.Contains(err.Error(), "no other version that loaded on any server") {
		t.Fatalf("rollback with only a failed version to go back to: %v\n%s", err, out)
	}
}

// Issue 12.6: a hot-deployed module named like a service-sources module fails with both named, and the
// service-sources module keeps serving, also after undeploy and restart.
func TestHotDeployDoesNotReplaceServiceSourcesModule(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{NoStart: true})
	for _, s := range c.Servers {
		dir := filepath.Join(s.Dir, "src")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		svc := "from zato.server.service import Service\n\nclass A(Service):\n    name = 'src.util-a'\n    def handle(self):\n        self.response.payload = {'from': 'sources'}\n"
		if err := os.WriteFile(filepath.Join(dir, "util_a.py"), []byte(svc), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(s.Dir, "config", "repo", "service-sources.txt"), []byte("./src\nacme.crm_svc\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		// A package in zato_extra_paths, listed by its dotted name.
		for name, body := range map[string]string{"__init__.py": "", "crm_svc.py": strings.ReplaceAll(strings.ReplaceAll(svc, "src.util-a", "acme.crm"), "A(Service)", "C(Service)")} {
			writeFile(t, filepath.Join(s.Dir, "zato_extra_paths", "acme", name), body)
		}
	}
	c.Start(t, "")
	cl := client(t, c, "")
	d := deploy(t, cl, "util_a.py", "from zato.server.service import Service\n\nclass B(Service):\n    name = 'hot.util-b'\n    def handle(self):\n        pass\n")
	mustStatus(t, d, "failed")
	if e := d.Servers[0].Error; e == nil || !strings.Contains(e.Message, "service-sources.txt") || !strings.Contains(e.Message, "./src") {
		t.Fatalf("clash error: %+v", e)
	}
	// A module named like the package a dotted entry is imported from would take its place at the next start.
	d = deploy(t, cl, "acme.py", "x = 1\n")
	mustStatus(t, d, "failed")
	if e := d.Servers[0].Error; e == nil || e.Type != "ModuleNameConflict" || !strings.Contains(e.Message, "acme.crm_svc") {
		t.Fatalf("acme.py's clash error: %+v", e)
	}
	check := func(when string) {
		for _, s := range c.Servers {
			for svc := range map[string]bool{"src.util-a": true, "acme.crm": true} {
				if out := invoke(t, client(t, c, s.URL), svc, ""); out["from"] != "sources" {
					t.Fatalf("%s: %s's %s answered %v", when, s.Name, svc, out)
				}
			}
		}
	}
	check("after the hot deploy")
	for _, m := range []string{"util_a.py", "acme.py"} {
		if _, err := cl.Undeploy(ctx(t), m, ""); err != nil {
			t.Fatal(err)
		}
	}
	c.Stop(t, "server1")
	c.Start(t, "server1")
	check("after undeploy and restart")
}

// Issue 12.7: a write retried after its answer was lost makes no second deployment: the client sends an
// idempotency key, and the server answers a repeat with the first deployment.
func TestRetriedWritesAreIdempotent(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{})
	target, _ := url.Parse(c.URL)
	var writes atomic.Int32
	// A proxy that forwards every request but answers the first try of each write with a 502, as a load balancer
	// does when the upstream's answer is lost: the write was committed, the client does not know.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, target.String()+r.URL.RequestURI(), bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if r.Method != http.MethodGet && writes.Add(1)%2 == 1 {
			http.Error(w, "upstream answer lost", http.StatusBadGateway)
			return
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		w.Write(out)
	}))
	defer proxy.Close()
	cl := client(t, c, proxy.URL)
	d := deploy(t, cl, "once_mod.py", fmt.Sprintf(greet, 1))
	mustStatus(t, d, "deployed")
	direct := client(t, c, "")
	vs, err := direct.Versions(ctx(t), "once_mod.py")
	if err != nil {
		t.Fatal(err)
	}
	ds, err := direct.Deployments(ctx(t), "once_mod.py", 10)
	if err != nil || len(ds) != 1 || len(vs) != 1 {
		t.Fatalf("one upload retried made %d deployments and %d versions", len(ds), len(vs))
	}
	u, err := cl.Undeploy(ctx(t), "once_mod.py", "")
	if err != nil {
		t.Fatalf("retried undeploy: %v", err)
	}
	if u.ID == 0 || u.Action != "undeploy" {
		t.Fatalf("undeploy answer: %+v", u)
	}
	// A repeat with the same key, by hand, returns the first deployment.
	do := func() deployclient.Deployment {
		body, _ := json.Marshal(map[string]string{"name": "key_mod.py", "source": fmt.Sprintf(greet, 2)})
		req, _ := http.NewRequest(http.MethodPost, c.URL+"/api/v1/deploy", bytes.NewReader(body))
		req.SetBasicAuth(c.Username, c.Password)
		req.Header.Set("Idempotency-Key", "k-12345")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var d deployclient.Deployment
		if err := json.NewDecoder(resp.Body).Decode(&d); err != nil || resp.StatusCode != http.StatusAccepted {
			t.Fatalf("deploy with a key: %d %v", resp.StatusCode, err)
		}
		return d
	}
	first, second := do(), do()
	if first.ID != second.ID || !second.Repeated {
		t.Fatalf("a repeat with the same key made deployment %d after %d (repeated=%v)", second.ID, first.ID, second.Repeated)
	}
}

// Issue 13: tracebacks start at the module's own code; the runtime's frames that lead to it are left out.
func TestTracebacksLeaveOutTheRuntime(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{Servers: 1})
	cl := client(t, c, "")
	d := deploy(t, cl, "raises_mod.py", "x = 1\nraise ValueError('at import')\n")
	mustStatus(t, d, "failed")
	tb := d.Servers[0].Error.Traceback
	if strings.Contains(tb, "zato_worker") || !strings.Contains(tb, "raises_mod.py") || !strings.Contains(tb, "ValueError: at import") {
		t.Errorf("import traceback:\n%s", tb)
	}
	mustStatus(t, deploy(t, cl, "raises_svc.py", "from zato.server.service import Service\n\nclass R(Service):\n    name = 'raises.svc'\n    def handle(self):\n        1 / 0\n"), "deployed")
	_, err := cl.Invoke(ctx(t), "raises.svc", nil)
	var ae *deployclient.APIError
	if !errors.As(err, &ae) || strings.Contains(ae.Traceback, "zato_worker") || !strings.Contains(ae.Traceback, "raises_svc.py") || !strings.Contains(ae.Traceback, "ZeroDivisionError") {
		t.Errorf("invoke traceback: %v\n%s", err, func() string {
			if ae != nil {
				return ae.Traceback
			}
			return ""
		}())
	}
}

// A version that failed for want of something in the server's environment (a package missing from zato_extra_paths)
// is imported again when the server starts: adding the package and restarting, as the README says, brings it in,
// without deploying the same file again.
func TestStartRetriesWhatTheEnvironmentBroke(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{Servers: 1})
	cl := client(t, c, "")
	src := "from zato.server.service import Service\nfrom acme2.money import fmt\n\nclass Total(Service):\n    def handle(self):\n        self.response.payload = {'total': fmt(2)}\n"
	d := deploy(t, cl, "invoice_fmt.py", src)
	mustStatus(t, d, "failed")
	if e := d.Servers[0].Error; e == nil || e.Type != "ModuleNotFoundError" {
		t.Fatalf("without acme2: %+v", d.Servers[0])
	}
	dir := c.Server(t, "server1").Dir
	for name, body := range map[string]string{"__init__.py": "", "money.py": "def fmt(x):\n    return 'EUR %.2f' % x\n"} {
		writeFile(t, filepath.Join(dir, "zato_extra_paths", "acme2", name), body)
	}
	c.Stop(t, "server1")
	c.Start(t, "server1")
	if out := invoke(t, cl, "invoice-fmt.total", ""); out["total"] != "EUR 2.00" {
		t.Fatalf("after the restart: %v", out)
	}
	ms, err := cl.Modules(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Name == "invoice_fmt.py" && (m.Status != "deployed" || m.Servers[0].Status != "deployed") {
			t.Fatalf("after the restart: %s %+v", m.Status, m.Servers)
		}
	}
}

// A start that takes longer in all than zato start's timeout, because service-sources.txt lists modules that take
// their time to import each, is not killed: the timeout counts from the server's last step (README: an entry never
// stops the server).
func TestSlowStartThatMovesIsNotKilled(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{Servers: 1, NoStart: true})
	dir := c.Server(t, "server1").Dir
	write := func(rel, body string) { writeFile(t, filepath.Join(dir, rel), body) }
	const modules = 8 // 0.5 s each in each of the two python workers: 8 s at least, against a timeout of 6 s
	for i := range modules {
		write(fmt.Sprintf("slow/slow_%d.py", i), fmt.Sprintf("import time\ntime.sleep(0.5)\nfrom zato.server.service import Service\n\n"+
			"class Ping(Service):\n    def handle(self):\n        self.response.payload = {'slow': %d}\n", i))
	}
	write("config/repo/service-sources.txt", "./slow\n")
	if out, err := c.Zato(t, "start", dir, "--timeout", "6s"); err != nil {
		t.Fatalf("zato start: %v\n%s", err, out)
	}
	cl := client(t, c, "")
	for i := range modules {
		if out := invoke(t, cl, fmt.Sprintf("slow-%d.ping", i), ""); out["slow"] != float64(i) {
			t.Fatalf("slow-%d.ping: %v", i, out)
		}
	}
}
