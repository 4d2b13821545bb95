package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/zato-go/zato/internal/testenv"
	"github.com/zato-go/zato/server/procs"
)

// TestStalePIDFileIsNotAServer: after a server dies without removing its pid file (kill -9, OOM, a reboot), its pid
// can belong to another process. zato stop used to signal that process (and kill it at --timeout), and zato start
// refused to start the server, "already running". Another process, a sleep, stands in for the pid's new owner, in a
// pid file of today's form (pid and start time: the dead server's start time) and in the older form (pid alone).
func TestStalePIDFileIsNotAServer(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{Servers: 1})
	dir := c.Server(t, "server1").Dir
	pidPath := filepath.Join(dir, "pidfile")
	for _, form := range []string{"pid and the dead server's start time", "pid alone"} {
		_, stamp, ok := procs.PIDInFile(pidPath)
		if !ok {
			t.Fatal("server1 has no pid file")
		}
		c.Kill(t, "server1")
		if _, err := os.Stat(pidPath); err != nil {
			t.Fatalf("the killed server's pid file: %v", err)
		}
		sleep := exec.Command("sleep", "300")
		if err := sleep.Start(); err != nil {
			t.Fatal(err)
		}
		pid := sleep.Process.Pid
		t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL); sleep.Wait() })
		content := strconv.Itoa(pid)
		if form != "pid alone" {
			content += " " + stamp
		}
		if err := os.WriteFile(pidPath, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}

		out, err := c.Zato(t, "stop", dir)
		// stop returns once what it signalled has ended: had it signalled the sleep, the sleep is a zombie now.
		var ws syscall.WaitStatus
		if got, _ := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); got == pid {
			t.Fatalf("%s: zato stop killed pid %d, which is not a zato server (%v): %s %v", form, pid, ws, out, err)
		}
		if err != nil || !strings.Contains(out, "not running") {
			t.Errorf("%s: zato stop: %v %q, want that server1 was not running", form, err, out)
		}
		out, err = c.Zato(t, "start", dir)
		if err != nil || !strings.Contains(out, "server1 started") {
			t.Fatalf("%s: zato start: %v %q, want server1 started", form, err, out)
		}
		if p, _, ok := procs.PIDInFile(pidPath); !ok || p == pid {
			t.Fatalf("%s: after the start the pid file names %d", form, p)
		}
	}
}
