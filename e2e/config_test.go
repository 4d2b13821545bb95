package e2e

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zato-go/zato/internal/testenv"
	"github.com/zato-go/zato/server/config"
	"github.com/zato-go/zato/server/procs"
)

// setConfLine replaces the line of a server's server.conf that starts with prefix and returns the path and the line's
// number (1-based).
func setConfLine(t *testing.T, serverDir, prefix, repl string) (string, int) {
	t.Helper()
	p := filepath.Join(serverDir, config.ConfRel)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, prefix) {
			lines[i] = repl
			if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
				t.Fatal(err)
			}
			return p, i + 1
		}
	}
	t.Fatalf("%s has no line %q", p, prefix)
	return "", 0
}

// notServing checks that nothing runs for a server: no live process in its pid file, nothing on its port.
func notServing(t *testing.T, s testenv.Server) {
	t.Helper()
	if pid, ok := procs.Running(s.Dir); ok {
		t.Fatalf("%s is running (pid %d) with a broken server.conf", s.Name, pid)
	}
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	if conn, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
		conn.Close()
		t.Fatalf("something answers on %s's port %s", s.Name, u.Host)
	}
}

// Issue 12, server.conf read strictly: a typo in a number or a key makes `zato start` fail with the file, the
// section and key and the line, and no server is left running. Before, viper read `backup_history=1OO` as 0 (the
// default of 100 then applied) and `port=80a` as 0, and ignored unknown keys: the server started on settings its
// owner did not write.
func TestStartRefusesTyposInServerConf(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{NoStart: true})
	s1, s2 := c.Servers[0], c.Servers[1]

	// One server, a typo in a number.
	p2, n2 := setConfLine(t, s2.Dir, "backup_history=", "backup_history=1OO")
	out, err := c.Zato(t, "start", s2.Dir)
	want := fmt.Sprintf("%s line %d: [hot_deploy] backup_history=1OO is not a whole number", p2, n2)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("zato start with backup_history=1OO: %v\n%s\nwant %q", err, out, want)
	}
	notServing(t, s2)

	// The whole environment: a typo in the port of one server, an unknown key in the other's; each is told.
	p1, n1 := setConfLine(t, s1.Dir, "port=", "port=80a")
	_, n2k := setConfLine(t, s2.Dir, "backup_history=", "backup_histroy=3")
	out, err = c.Zato(t, "start", c.Dir)
	for _, want := range []string{
		fmt.Sprintf("%s line %d: [http] port=80a is not a whole number", p1, n1),
		fmt.Sprintf("%s line %d: unknown key backup_histroy in [hot_deploy]", p2, n2k),
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("zato start ENV: %v\n%s\nwant %q", err, out, want)
		}
	}
	t.Logf("zato start ENV said: %v", err)
	notServing(t, s1)
	notServing(t, s2)

	// Put right, they start.
	u, _ := url.Parse(s1.URL)
	setConfLine(t, s1.Dir, "port=", "port="+u.Port())
	setConfLine(t, s2.Dir, "backup_histroy=", "backup_history=3")
	if out, err := c.Zato(t, "start", c.Dir); err != nil {
		t.Fatalf("start after the fix: %v\n%s", err, out)
	}
	for _, s := range c.Servers {
		if _, ok := procs.Running(s.Dir); !ok {
			t.Fatalf("%s is not running after the fix", s.Name)
		}
	}

	// A start that fails after one that ran shows this start's reasons, not the last run's log lines.
	c.Stop(t, "server2")
	p3, n3 := setConfLine(t, s2.Dir, "backup_format=", "backup_format=rar")
	_, err = c.Zato(t, "start", s2.Dir)
	want = fmt.Sprintf("%s line %d: [hot_deploy] backup_format=rar is not zip, tar, gztar, bztar or xztar", p3, n3)
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "Server started") {
		t.Fatalf("zato start with backup_format=rar after a run: %v\nwant %q and none of the last run's lines", err, want)
	}
}
