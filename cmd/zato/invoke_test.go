package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zato-go/zato/internal/testenv"
)

const invokeMod = `import time
from zato.server.service import Service

class Echo(Service):
    name = 'inv.echo'

    def handle(self):
        self.response.payload = {'got': self.request.payload}

class Boom(Service):
    name = 'inv.boom'

    def handle(self):
        return 1 / 0

class Slow(Service):
    name = 'inv.slow'

    def handle(self):
        time.sleep(4)
`

// zato invoke as a developer uses it daily: the payload from a file or stdin (--data @FILE, -), the traceback of a
// service that raised (it printed only "server answered 500 ZeroDivisionError"), and a service slower than the
// client waits, told as such (it read "unreachable: no answer within 30s", with no --timeout to change it).
func TestInvokeDailyUse(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{})
	dir := t.TempDir()
	mustZato(t, c, "deploy", writeFile(t, dir, "inv_mod.py", invokeMod))
	payload := writeFile(t, dir, "p.json", `{"n": 7}`)
	if out := mustZato(t, c, "invoke", "inv.echo", "--data", "@"+payload); !strings.Contains(out, `"n": 7`) && !strings.Contains(out, `"n":7`) {
		t.Errorf("--data @FILE: %s", out)
	}
	cmd := exec.Command(c.Bin(), "invoke", "inv.echo", "--data", "-")
	cmd.Env, cmd.Stdin = c.Env(), strings.NewReader(`{"n": 8}`)
	if out, err := cmd.Output(); err != nil || !strings.Contains(string(out), "8") {
		t.Errorf("--data -: %v %s", err, out)
	}
	if _, err := c.Zato(t, "invoke", "inv.echo", "--data", "@"+filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("--data @missing: %v", err)
	}
	_, err := c.Zato(t, "invoke", "inv.boom")
	if err == nil || !strings.Contains(err.Error(), "Traceback") || !strings.Contains(err.Error(), "inv_mod.py") || !strings.Contains(err.Error(), "line 14") {
		t.Errorf("a service that raised: %v", err)
	}
	// The server's log says it too, on one line, with where it raised: the log had nothing of it.
	var logs string
	for _, s := range c.Servers {
		b, _ := os.ReadFile(filepath.Join(s.Dir, "logs", "server.log"))
		logs += string(b)
	}
	if !strings.Contains(logs, `Service inv.boom raised ZeroDivisionError: division by zero (at \"`) || !strings.Contains(logs, `inv_mod.py\", line 14, in handle)`) {
		t.Errorf("no server's log says inv.boom raised, and where")
	}
	// zato status MODULE shows that module only (it was "unknown command").
	if out := mustZato(t, c, "status", "inv_mod"); !strings.Contains(out, "inv_mod.py") {
		t.Errorf("zato status inv_mod:\n%s", out)
	}
	if _, err := c.Zato(t, "status", "nope.py"); err == nil || !strings.Contains(err.Error(), "nope.py has never been deployed") {
		t.Errorf("zato status nope.py: %v", err)
	}
	_, err = c.Zato(t, "invoke", "inv.slow", "--timeout", "1s")
	if err == nil || !strings.Contains(err.Error(), "no answer within --timeout 1s") || strings.Contains(err.Error(), "unreachable") {
		t.Errorf("a slow service: %v", err)
	}
}
