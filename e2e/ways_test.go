package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zato-go/zato/deployclient"
	"github.com/zato-go/zato/internal/testenv"
)

// waitDeployment waits until a deployment of module's content src newer than after exists and is done.
func waitDeployment(t *testing.T, c *testenv.Cluster, module string, after int64, src string) deployclient.Deployment {
	sum := sha256.Sum256([]byte(src))
	want := hex.EncodeToString(sum[:])
	t.Helper()
	cl := client(t, c, "")
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest("GET", c.URL+"/api/v1/deployments?limit=1&module="+module, nil)
		req.SetBasicAuth(c.Username, c.Password)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var list struct{ Deployments []deployclient.Deployment }
		err = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Deployments) > 0 && list.Deployments[0].ID > after && list.Deployments[0].SHA256 != want {
			after = list.Deployments[0].ID // an earlier content's deployment: keep waiting for ours
		}
		if len(list.Deployments) > 0 && list.Deployments[0].ID > after {
			d, err := cl.Watch(ctx(t), list.Deployments[0].ID, nil)
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
		time.Sleep(10 * time.Millisecond) // condition wait with a deadline: the deployment id is not known in advance
	}
	t.Fatalf("no deployment of %s appeared", module)
	return deployclient.Deployment{}
}

func TestPickupDir(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{})
	pickup := filepath.Join(c.Server(t, "server1").Dir, "pickup/incoming/services")

	// A file written in place is taken when its writer closes it.
	if err := os.WriteFile(filepath.Join(pickup, "picked.py"), []byte(fmt.Sprintf(greet, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	d := waitDeployment(t, c, "picked.py", 0, fmt.Sprintf(greet, 1))
	mustStatus(t, d, "deployed")
	if d.Origin != "pickup" || d.Expected != 2 {
		t.Fatalf("origin %s, expected %d", d.Origin, d.Expected)
	}
	// A second save right after the first is not lost (Zato drops saves within 2 s).
	if err := os.WriteFile(filepath.Join(pickup, "picked.py"), []byte(fmt.Sprintf(greet, 2)), 0o644); err != nil {
		t.Fatal(err)
	}
	d = waitDeployment(t, c, "picked.py", d.ID, fmt.Sprintf(greet, 2))
	mustStatus(t, d, "deployed")
	for _, s := range c.Servers {
		if out := invoke(t, client(t, c, s.URL), "picked.greet", `{"name":"p"}`); out["version"] != float64(2) {
			t.Fatalf("%s: %v", s.Name, out)
		}
	}
	// A rename into the directory, the way `mv` and atomic writers deliver files.
	tmp := filepath.Join(c.Server(t, "server1").Dir, "staged.py")
	if err := os.WriteFile(tmp, []byte(fmt.Sprintf(greet, 3)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(pickup, "moved.py")); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, waitDeployment(t, c, "moved.py", 0, fmt.Sprintf(greet, 3)), "deployed")

	// A bad module gets a failed status with its line, as any other deployment.
	if err := os.WriteFile(filepath.Join(pickup, "picked.py"), []byte("x = (\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d = waitDeployment(t, c, "picked.py", d.ID, "x = (\n")
	mustStatus(t, d, "failed")
	if d.Servers[0].Error == nil || d.Servers[0].Error.Line != 1 {
		t.Fatalf("error: %+v", d.Servers[0].Error)
	}
	// Files that are not flat modules are left alone.
	if err := os.WriteFile(filepath.Join(pickup, "notes.txt"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(pickup, "notes.txt")); err != nil {
		t.Fatal(err)
	}

	// Dropped while the server was down: picked up when it starts.
	c.Stop(t, "server1")
	if err := os.WriteFile(filepath.Join(pickup, "while_down.py"), []byte(fmt.Sprintf(greet, 4)), 0o644); err != nil {
		t.Fatal(err)
	}
	c.Start(t, "server1")
	mustStatus(t, waitDeployment(t, c, "while_down.py", 0, fmt.Sprintf(greet, 4)), "deployed")
	if !strings.Contains(readLog(t, c, "server1"), "Ignoring notes.txt in the pickup dir") {
		t.Fatal("no log line for the ignored file")
	}
}

func TestPickupPollingAndDeleteAfter(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{ServerConf: map[string]string{
		"hot_deploy.pickup_poll_interval": "100ms", "hot_deploy.delete_after_pick_up": "True",
	}})
	pickup := filepath.Join(c.Server(t, "server2").Dir, "pickup/incoming/services")
	// A ConfigMap-style symlink: the file is a link into a data dir.
	data := filepath.Join(pickup, "..configmap") // inside the pickup dir: links that leave it are not followed
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "polled.py"), []byte(fmt.Sprintf(greet, 5)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(data, "polled.py"), filepath.Join(pickup, "polled.py")); err != nil {
		t.Fatal(err)
	}
	d := waitDeployment(t, c, "polled.py", 0, fmt.Sprintf(greet, 5))
	mustStatus(t, d, "deployed")
	if _, err := os.Lstat(filepath.Join(pickup, "polled.py")); !os.IsNotExist(err) {
		t.Fatalf("delete_after_pick_up: the file is still there (%v)", err)
	}
}

func TestServiceSourcesAndExtraPaths(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{Servers: 1, NoStart: true})
	dir := c.Server(t, "server1").Dir
	write := func(rel, body string) { writeFile(t, filepath.Join(dir, rel), body) }
	// A package in zato_extra_paths, used by a service source and by a hot-deployed module.
	write("zato_extra_paths/acme/__init__.py", "")
	write("zato_extra_paths/acme/money.py", "def fmt(x):\n    return 'EUR %.2f' % x\n")
	write("zato_extra_paths/acme_services.py", "from zato.server.service import Service\n\nclass Quote(Service):\n    def handle(self):\n        self.response.payload = {'from': 'dotted'}\n")
	// common* is imported before the rest, so other modules can rely on it.
	write("my-services/common_base.py", "ORDER = ['common']\n")
	write("my-services/orders.py", "from zato.server.service import Service\nimport common_base\ncommon_base.ORDER.append('orders')\n\nclass Place(Service):\n    def handle(self):\n        from acme.money import fmt\n        self.response.payload = {'order': common_base.ORDER, 'total': fmt(3)}\n")
	write("single/one_file.py", "from zato.server.service import Service\n\nclass One(Service):\n    def handle(self):\n        self.response.payload = {'one': 1}\n")
	write("config/repo/service-sources.txt", "# Zato's format\n\n./my-services\nsingle/one_file.py\nacme_services\nno_such_module\n./missing-dir/\n")
	c.Start(t, "server1")
	cl := client(t, c, "")
	if out := invoke(t, cl, "orders.place", ""); fmt.Sprint(out["order"]) != "[common orders]" || out["total"] != "EUR 3.00" {
		t.Fatalf("orders.place: %v", out)
	}
	if out := invoke(t, cl, "one-file.one", ""); out["one"] != float64(1) {
		t.Fatalf("one: %v", out)
	}
	if out := invoke(t, cl, "acme-services.quote", ""); out["from"] != "dotted" {
		t.Fatalf("quote: %v", out)
	}
	// Hot-deployed modules see zato_extra_paths too.
	mustStatus(t, deploy(t, cl, "uses_extra.py", "from zato.server.service import Service\nfrom acme.money import fmt\n\nclass Pay(Service):\n    def handle(self):\n        self.response.payload = {'pay': fmt(1)}\n"), "deployed")
	if out := invoke(t, cl, "uses-extra.pay", ""); out["pay"] != "EUR 1.00" {
		t.Fatalf("pay: %v", out)
	}
	out, err := c.Zato(t, "status", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Sources []struct{ Entry, Status, Message string }
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range st.Sources {
		got[s.Entry] = s.Status
	}
	want := map[string]string{"./my-services": "ok", "single/one_file.py": "ok", "acme_services": "ok", "no_such_module": "failed", "./missing-dir/": "failed"}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("source %s: %q, want %q (all: %+v)", k, got[k], v, st.Sources)
		}
	}
}

func TestBackupsKeepARollingWindow(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{Servers: 1, ServerConf: map[string]string{"hot_deploy.backup_history": "3", "hot_deploy.backup_format": "gztar"}})
	cl := client(t, c, "")
	for i := range 6 {
		mustStatus(t, deploy(t, cl, "backed.py", fmt.Sprintf(greet, i)), "deployed")
	}
	c.Stop(t, "server1") // the server finishes queued archives before it exits
	dir := filepath.Join(c.Server(t, "server1").Dir, "work/hot-deploy/backup")
	entries, _ := os.ReadDir(dir)
	var archives []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tar.gz") {
			archives = append(archives, e.Name())
		}
	}
	if len(archives) != 3 {
		t.Fatalf("archives %v, want the newest 3", archives)
	}
	last, _ := os.ReadDir(filepath.Join(dir, "last"))
	if len(last) != 1 || last[0].Name() != archives[2] {
		t.Fatalf("last %v", last)
	}
}

// A deployment that leaves the work dir as it was (the same file saved again, a rollback to what serves) takes no
// backup archive: it would push a real earlier state out of the window.
func TestBackupOnlyWhenTheWorkDirChanges(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{Servers: 1, ServerConf: map[string]string{"hot_deploy.backup_history": "10", "hot_deploy.backup_format": "tar"}})
	cl := client(t, c, "")
	for i := range 3 { // the first into an empty dir: no archive; then one per change
		mustStatus(t, deploy(t, cl, "same.py", fmt.Sprintf(greet, i)), "deployed")
	}
	for range 2 {
		mustStatus(t, deploy(t, cl, "same.py", fmt.Sprintf(greet, 2)), "deployed")
	}
	if out, err := c.Zato(t, "rollback", "same.py", "--to", "3"); err != nil {
		t.Fatalf("rollback to the version serving: %v\n%s", err, out)
	}
	c.Stop(t, "server1") // the server finishes queued archives before it exits
	entries, _ := os.ReadDir(filepath.Join(c.Server(t, "server1").Dir, "work/hot-deploy/backup"))
	var archives []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tar") {
			archives = append(archives, e.Name())
		}
	}
	if len(archives) != 2 {
		t.Fatalf("archives %v, want 2: one per change of the work dir", archives)
	}
}
