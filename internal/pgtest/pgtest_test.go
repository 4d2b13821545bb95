package pgtest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if os.Getenv("PGTEST_HELPER") == "1" {
		helperServer()
	}
	os.Exit(Run(m))
}

func psql(t *testing.T, dsn, sql string) string {
	t.Helper()
	bin, err := BinDir()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(bin, "psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-c", sql).CombinedOutput()
	if err != nil {
		t.Fatalf("psql %q: %v: %s", sql, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestStart(t *testing.T) {
	dsn := Start(t)
	if got := psql(t, dsn, "SELECT current_setting('server_version_num')::int / 10000 >= 15"); got != "t" {
		t.Fatalf("version check = %q", got)
	}
}

func TestSharedFreshDatabases(t *testing.T) {
	a, b := Shared(t), Shared(t)
	if a == b {
		t.Fatalf("same DSN twice: %s", a)
	}
	psql(t, a, "CREATE TABLE x (id int)")
	if got := psql(t, b, "SELECT count(*) FROM pg_tables WHERE tablename = 'x'"); got != "0" {
		t.Fatalf("second database sees the first one's table: %s", got)
	}
}

// helperServer is TestServerDiesWithProcess's child: it starts a server, says its pid and dir, and waits to be killed.
func helperServer() {
	s, err := Launch()
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Printf("%d %s\n", s.pid, s.Dir)
	select {}
}

func TestServerDiesWithProcess(t *testing.T) {
	if _, err := BinDir(); err != nil {
		unavailable(t, err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PGTEST_HELPER=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper: %v", err)
	}
	f := strings.Fields(line)
	pid, err := strconv.Atoi(f[0])
	if err != nil || len(f) != 2 {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper said %q", line)
	}
	t.Cleanup(func() { os.RemoveAll(f[1]) })
	if !alive(pid) {
		t.Fatalf("postgres %d not running", pid)
	}
	cmd.Process.Kill() // SIGKILL: no cleanup runs in the helper
	cmd.Wait()
	deadline := time.Now().Add(20 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("postgres %d still running 20s after its test process was killed", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Restart keeps the data and the port: a DSN taken before it works after it, and sees what was written before.
func TestRestartKeepsDataAndPort(t *testing.T) {
	s, err := Launch()
	if err != nil {
		unavailable(t, err)
	}
	t.Cleanup(s.Stop)
	dsn := s.DSN("postgres")
	psql(t, dsn, "CREATE TABLE kept (id int); INSERT INTO kept VALUES (7)")
	port := s.Port
	if err := s.Restart(200 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if s.Port != port {
		t.Fatalf("port %d after the restart, %d before", s.Port, port)
	}
	if got := psql(t, dsn, "SELECT id FROM kept"); got != "7" {
		t.Fatalf("after the restart: %q", got)
	}
	if err := s.Resume(); err == nil {
		t.Fatal("Resume of a running server did not fail")
	}
}
