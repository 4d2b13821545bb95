package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zato-go/zato/internal/testenv"
	"github.com/zato-go/zato/server/procs"
)

// zato start --timeout that runs out says the server was stopped, points at its log and suggests a longer --timeout,
// with the log's tail when it has one and no dangling colon or empty line when it has none. It said "server in DIR
// was not ready within 1s:" and an empty line.
func TestStartTimeoutSaysTheServerWasStopped(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{Servers: 1, NoStart: true})
	dir := c.Server(t, "server1").Dir
	check := func(what string, timeout string, want ...string) {
		t.Helper()
		cmd := exec.Command(c.Bin(), "start", dir, "--timeout", timeout)
		cmd.Env = c.Env()
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err == nil {
			t.Fatalf("%s: started within %s\n%s", what, timeout, stdout.String())
		}
		msg := strings.TrimSuffix(stderr.String(), "\n") // the message's own line end
		t.Logf("%s: zato start said:\n%s", what, msg)
		for _, w := range append(want, "was stopped", filepath.Join(dir, "logs", "server.log"), "--timeout") {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: the message lacks %q:\n%s", what, w, msg)
			}
		}
		lines := strings.Split(msg, "\n")
		for i, l := range lines {
			if strings.TrimSpace(l) == "" || strings.HasSuffix(l, ":") && i == len(lines)-1 {
				t.Errorf("%s: line %d of the message is empty or ends it with a colon:\n%s", what, i+1, msg)
			}
		}
		if pid, ok := procs.Running(dir); ok {
			t.Errorf("%s: the server runs (pid %d) after the message", what, pid)
		}
	}
	// Before it has said anything: nothing in its log yet.
	check("no step yet", "1ms")
	// Slow in one import of service-sources.txt: the log has lines by then.
	writeFile(t, dir, "slow/slow_start.py", "import time\ntime.sleep(30)\n")
	writeFile(t, dir, "config/repo/service-sources.txt", "./slow\n")
	check("a slow import", "3s")
}
