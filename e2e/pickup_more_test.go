package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zato-go/zato/internal/testenv"
)

// A Kubernetes ConfigMap volume in the pickup dir, watched with inotify: the module is a symlink through ..data,
// and an update swaps ..data atomically. The new content goes live on every server.
func TestPickupConfigMapSwap(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{})
	pickup := filepath.Join(c.Server(t, "server1").Dir, "pickup/incoming/services")
	write := func(rel, body string) { writeFile(t, filepath.Join(pickup, rel), body) }
	symlink := func(target, name string) {
		if err := os.Symlink(target, filepath.Join(pickup, name)); err != nil {
			t.Fatal(err)
		}
	}
	write("..2026_01/configmapped.py", fmt.Sprintf(greet, 1))
	symlink("..2026_01", "..data")
	symlink("..data/configmapped.py", "configmapped.py")
	d := waitDeployment(t, c, "configmapped.py", 0, fmt.Sprintf(greet, 1))
	mustStatus(t, d, "deployed")

	// kubelet's update: a new data dir, a temporary symlink to it, renamed over ..data.
	write("..2026_02/configmapped.py", fmt.Sprintf(greet, 2))
	symlink("..2026_02", "..data_tmp")
	if err := os.Rename(filepath.Join(pickup, "..data_tmp"), filepath.Join(pickup, "..data")); err != nil {
		t.Fatal(err)
	}
	d = waitDeployment(t, c, "configmapped.py", d.ID, fmt.Sprintf(greet, 2))
	mustStatus(t, d, "deployed")
	if d.Origin != "pickup" {
		t.Fatalf("origin %s", d.Origin)
	}
	for _, s := range c.Servers {
		if out := invoke(t, client(t, c, s.URL), "configmapped.greet", `{"name":"cm"}`); out["version"] != float64(2) {
			t.Fatalf("%s: %v", s.Name, out)
		}
	}
}

// A file left in the pickup dir (delete_after_pick_up off) does not undo, when its server restarts, a later
// deployment of its module: here a rollback to a version older than the file. A file changed while the server was
// down is still deployed when it starts.
func TestPickupRestartKeepsNewerVersion(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{})
	pickup := filepath.Join(c.Server(t, "server1").Dir, "pickup/incoming/services")
	cl := client(t, c, "")
	v0 := fmt.Sprintf(greet, 10)
	mustStatus(t, deploy(t, cl, "kept.py", v0), "deployed") // version 1, older than the file

	if err := os.WriteFile(filepath.Join(pickup, "kept.py"), []byte(fmt.Sprintf(greet, 11)), 0o644); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, waitDeployment(t, c, "kept.py", 0, fmt.Sprintf(greet, 11)), "deployed")
	rb, err := cl.Rollback(ctx(t), "kept.py", 1)
	if err != nil {
		t.Fatal(err)
	}
	rb, err = cl.Watch(ctx(t), rb.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustStatus(t, rb, "deployed")

	// The server's start returns once its pickup dir was scanned.
	c.Stop(t, "server1")
	c.Start(t, "server1")
	if log := readLog(t, c, "server1"); !strings.Contains(log, "Not picking up kept.py left in") {
		t.Fatalf("no log line for the leftover file:\n%s", log)
	}
	list, err := cl.Deployments(ctx(t), "kept.py", 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != rb.ID {
		t.Fatalf("newest deployment %+v, want the rollback %d", list, rb.ID)
	}
	for _, s := range c.Servers {
		if out := invoke(t, client(t, c, s.URL), "kept.greet", `{"name":"k"}`); out["version"] != float64(10) {
			t.Fatalf("%s: %v", s.Name, out)
		}
	}

	// Changed while the server was down: newer than the rollback, so deployed at start.
	c.Stop(t, "server1")
	if err := os.WriteFile(filepath.Join(pickup, "kept.py"), []byte(fmt.Sprintf(greet, 12)), 0o644); err != nil {
		t.Fatal(err)
	}
	c.Start(t, "server1")
	mustStatus(t, waitDeployment(t, c, "kept.py", rb.ID, fmt.Sprintf(greet, 12)), "deployed")
	for _, s := range c.Servers {
		if out := invoke(t, client(t, c, s.URL), "kept.greet", `{"name":"k"}`); out["version"] != float64(12) {
			t.Fatalf("%s: %v", s.Name, out)
		}
	}
}
