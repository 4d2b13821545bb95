// Package testenv builds the real zato binary and starts real clusters of server processes for tests.
package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zato-go/zato/deployclient"
	"github.com/zato-go/zato/internal/pgtest"
	"github.com/zato-go/zato/internal/ports"
	"github.com/zato-go/zato/server/config"
	"github.com/zato-go/zato/server/procs"
)

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// ZatoBinary builds cmd/zato once per test process and returns its path. Main removes it when the tests end; a
// build left by a test process that died (a timeout's panic, a kill) is removed by the next one.
func ZatoBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		removeStaleBuilds()
		dir, err := os.MkdirTemp("", fmt.Sprintf("zato-testbin-%d-", os.Getpid()))
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "zato")
		cmd := exec.Command("go", "build", "-o", buildPath, "github.com/zato-go/zato/cmd/zato")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// Main runs a package's tests, then removes the binary ZatoBinary built (about 40 MB a test process); a package
// whose tests start clusters calls it from its TestMain.
func Main(m *testing.M) int {
	code := m.Run()
	if buildPath != "" {
		_ = os.RemoveAll(filepath.Dir(buildPath))
	}
	return code
}

// removeStaleBuilds removes the builds of test processes that are gone: zato-testbin-<pid>-*.
func removeStaleBuilds() {
	if _, err := os.Stat("/proc/self"); err != nil {
		return // no /proc to tell which processes run
	}
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "zato-testbin-*"))
	for _, d := range dirs {
		f := strings.Split(filepath.Base(d), "-")
		if len(f) != 4 {
			continue
		}
		pid, err := strconv.Atoi(f[2])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat("/proc/" + f[2]); !errors.Is(err, os.ErrNotExist) {
			continue // its process runs
		}
		_ = os.RemoveAll(d)
	}
}

// Options of StartCluster.
type Options struct {
	Servers int    // default 2
	ODB     string // "sqlite" (default) or "postgresql" (a throwaway PostgreSQL is started)
	// ServerConf overrides "section.key" -> value in every server.conf.
	ServerConf map[string]string
	// NoStart creates the environment without starting it.
	NoStart bool
	// IDEUser creates Zato's IDE user too (zato quickstart create --ide-user).
	IDEUser bool
}

// Server is one server of a Cluster.
type Server struct {
	Name, URL, Dir string
}

// Cluster is a running environment.
type Cluster struct {
	Dir, URL, Username, Password string
	IDEUsername, IDEPassword     string // Zato's IDE user, with Options.IDEUser
	Servers                      []Server
	ClientConfig                 string // path of zato-client.yaml
	bin                          string
}

// StartCluster creates an environment in a temp dir and starts every server; all stop when the test ends (and,
// through ZATO_PARENT_PID, if the test process dies).
func StartCluster(t testing.TB, o Options) *Cluster {
	t.Helper()
	if o.Servers <= 0 {
		o.Servers = 2
	}
	bin := ZatoBinary(t)
	dir := filepath.Join(t.TempDir(), "env")
	args := []string{"quickstart", "create", dir, "--servers", strconv.Itoa(o.Servers), "--base-port", strconv.Itoa(FreePorts(t, o.Servers))}
	if o.ODB == "postgresql" {
		args = append(args, "--odb", "postgresql", "--odb-dsn", pgtest.Start(t))
	}
	if o.IDEUser {
		args = append(args, "--ide-user")
	}
	for k, v := range o.ServerConf {
		args = append(args, "--set", k+"="+v)
	}
	c := &Cluster{Dir: dir, bin: bin, ClientConfig: filepath.Join(dir, config.ClientFileName)}
	if out, err := c.run(args...); err != nil {
		t.Fatalf("quickstart create: %v\n%s", err, out)
	}
	cf, err := deployclient.LoadConfig(c.ClientConfig)
	if err != nil {
		t.Fatal(err)
	}
	c.URL, c.Username, c.Password = cf.URL, cf.Username, cf.Password
	if cf.IDE != nil {
		c.IDEUsername, c.IDEPassword = cf.IDE.Username, cf.IDE.Password
	}
	for _, s := range cf.Servers {
		c.Servers = append(c.Servers, Server{Name: s.Name, URL: s.URL, Dir: s.Dir})
	}
	t.Cleanup(func() {
		if out, err := c.run("stop", dir); err != nil {
			t.Logf("stop: %v\n%s", err, out)
		}
		if t.Failed() {
			for _, s := range c.Servers {
				b, _ := os.ReadFile(filepath.Join(s.Dir, config.LogRel))
				t.Logf("--- %s log ---\n%s", s.Name, LastLines(string(b), 60))
			}
		}
	})
	if !o.NoStart {
		if out, err := c.run("start", dir); err != nil {
			t.Fatalf("start: %v\n%s", err, out)
		}
	}
	return c
}

// Server returns a server by name.
func (c *Cluster) Server(t testing.TB, name string) Server {
	t.Helper()
	for _, s := range c.Servers {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no server %q", name)
	return Server{}
}

// Start starts one server (or all with name "").
func (c *Cluster) Start(t testing.TB, name string) {
	t.Helper()
	dir := c.Dir
	if name != "" {
		dir = c.Server(t, name).Dir
	}
	if out, err := c.run("start", dir); err != nil {
		t.Fatalf("start %s: %v\n%s", name, err, out)
	}
}

// Stop stops one server gracefully.
func (c *Cluster) Stop(t testing.TB, name string) {
	t.Helper()
	if out, err := c.run("stop", c.Server(t, name).Dir); err != nil {
		t.Fatalf("stop %s: %v\n%s", name, err, out)
	}
}

// Kill kills one server with SIGKILL and waits until it is gone.
func (c *Cluster) Kill(t testing.TB, name string) {
	t.Helper()
	pid, ok := procs.Running(c.Server(t, name).Dir)
	if !ok {
		t.Fatalf("%s is not running", name)
	}
	if err := procs.Kill(pid, 10*time.Second); err != nil {
		t.Fatalf("kill %s: %v", name, err)
	}
}

// Zato runs the zato binary against this cluster (ZATO_CONFIG set) and returns its stdout; err carries stderr.
func (c *Cluster) Zato(t testing.TB, args ...string) (string, error) {
	t.Helper()
	return c.run(args...)
}

// Env is the environment commands run with.
func (c *Cluster) Env() []string {
	return append(os.Environ(), "ZATO_CONFIG="+c.ClientConfig, procs.ParentPIDEnv+"="+strconv.Itoa(os.Getpid()))
}

// Bin is the zato binary.
func (c *Cluster) Bin() string { return c.bin }

func (c *Cluster) run(args ...string) (string, error) {
	cmd := exec.Command(c.bin, args...)
	cmd.Env = c.Env()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("zato %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
	}
	return stdout.String(), err
}

// FreePorts finds n consecutive free ports on 127.0.0.1, below the ephemeral range (see package ports), and returns
// the first.
func FreePorts(t testing.TB, n int) int {
	t.Helper()
	base, err := ports.Free(n)
	if err != nil {
		t.Fatal(err)
	}
	return base
}

// LastLines is the last n lines of s (a log's tail for a failing test).
func LastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
