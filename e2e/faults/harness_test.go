//go:build faults

// Package faults holds the fault, partition, concurrency and load suites of issue 15: real server processes (the
// real zato binary), real python3, real SQLite and PostgreSQL, killed, partitioned and loaded from outside.
//
// Sizes: ZATO_FAULTS_SCALE=ci (the default, what CI runs: a few minutes on 2 cores) or full (the sizes: 50
// kills per engine, 2 x 100 concurrent deployments, 60 s of load per engine). Each suite says its numbers at both.
// Every measured figure goes to the test log as "FIGURE name value unit", for grep.
//
// The files carry the build tag faults, so that `go test ./...` and test:e2e do not run these minutes-long suites a
// second time: `go tool task test:faults` and `go tool task test:load` run them (and .ci/run runs those), or
// `go test -tags faults ./e2e/faults/`.
package faults

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/zato-go/zato/deployclient"
	"github.com/zato-go/zato/internal/pgtest"
	"github.com/zato-go/zato/internal/testenv"
	"github.com/zato-go/zato/server/config"
	"github.com/zato-go/zato/server/procs"
	"github.com/zato-go/zato/wire"
	"go.yaml.in/yaml/v3"
)

// full reports whether the full sizes were asked for (ZATO_FAULTS_SCALE=full).
func full() bool { return os.Getenv("ZATO_FAULTS_SCALE") == "full" }

// sized picks the CI or the full size.
func sized(ci, fullSize int) int {
	if full() {
		return fullSize
	}
	return ci
}

func figure(t *testing.T, name string, value any, unit string) {
	t.Helper()
	switch v := value.(type) {
	case float64:
		t.Logf("FIGURE %s %.3f %s", name, v, unit)
	default:
		t.Logf("FIGURE %s %v %s", name, v, unit)
	}
}

// ---- clusters ----

type server struct{ Name, URL, Dir string }

// cluster is an environment made by `zato quickstart create` whose servers this test starts, kills and stops.
type cluster struct {
	t              *testing.T
	Dir, bin       string
	User, Password string
	CA             string // CA file when the servers speak TLS
	Servers        []server
	ClientFile     string
	wrap           map[string][]string // a command prefix per server (ip netns exec NS)
	starts         atomic.Int64
	startTime      atomic.Int64 // ns spent in zato start
}

// meanStart is how long a zato start of one server took on average.
func (c *cluster) meanStart() time.Duration {
	if n := c.starts.Load(); n > 0 {
		return time.Duration(c.startTime.Load() / n)
	}
	return 0
}

type clusterOpts struct {
	Servers int
	DSN     string            // PostgreSQL when set, else SQLite
	Conf    map[string]string // section.key for every server.conf
	// PerServer gives section.key overrides for one server's server.conf (its host, public_url).
	PerServer func(i int, name string) map[string]string
	Wrap      func(name string) []string
	CA        string
	NoStart   bool
}

func newCluster(t *testing.T, o clusterOpts) *cluster {
	t.Helper()
	bin := testenv.ZatoBinary(t)
	dir := filepath.Join(t.TempDir(), "env")
	args := []string{"quickstart", "create", dir, "--servers", strconv.Itoa(o.Servers), "--base-port", strconv.Itoa(testenv.FreePorts(t, o.Servers))}
	if o.DSN != "" {
		args = append(args, "--odb", "postgresql", "--odb-dsn", o.DSN)
	}
	for k, v := range o.Conf {
		args = append(args, "--set", k+"="+v)
	}
	c := &cluster{t: t, Dir: dir, bin: bin, ClientFile: filepath.Join(dir, config.ClientFileName), CA: o.CA, wrap: map[string][]string{}}
	if out, err := c.zato(nil, args...); err != nil {
		t.Fatalf("quickstart create: %v\n%s", err, out)
	}
	cf := readClientFile(t, c.ClientFile)
	if o.PerServer != nil {
		for i := range cf.Servers {
			s := &cf.Servers[i]
			conf := filepath.Join(s.Dir, config.ConfRel)
			for k, v := range o.PerServer(i, s.Name) {
				setConf(t, conf, k, v)
			}
			sc, err := config.Load(s.Dir)
			if err != nil {
				t.Fatal(err)
			}
			s.URL = sc.PublicURL
		}
		cf.URL = cf.Servers[0].URL
		b, err := yaml.Marshal(cf)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(c.ClientFile, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c.User, c.Password = cf.Username, cf.Password
	for _, s := range cf.Servers {
		c.Servers = append(c.Servers, server{s.Name, s.URL, s.Dir})
		if o.Wrap != nil {
			c.wrap[s.Name] = o.Wrap(s.Name)
		}
	}
	t.Cleanup(func() {
		c.StopAll()
		if t.Failed() {
			for _, s := range c.Servers {
				b, _ := os.ReadFile(filepath.Join(s.Dir, config.LogRel))
				t.Logf("--- %s log (tail) ---\n%s", s.Name, testenv.LastLines(string(b), 40))
			}
		}
		// Whatever is left of ours (a worker that outlived its server) is ended here, by pid, and reported.
		if left := processesUnder(dir); len(left) > 0 {
			for _, p := range left {
				_ = syscall.Kill(p.pid, syscall.SIGKILL)
			}
			t.Errorf("processes outlived the cluster's stop: %v", left)
		}
	})
	if !o.NoStart {
		for _, s := range c.Servers {
			c.Start(s.Name)
		}
	}
	return c
}

// clientFile is what this package needs of zato-client.yaml (read here, so that the suites do not depend on
// which package owns the file's reader).
type clientFile struct {
	URL      string `yaml:"url"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	Servers  []struct {
		Name string `yaml:"name"`
		URL  string `yaml:"url"`
		Dir  string `yaml:"dir,omitempty"`
	} `yaml:"servers"`
	IDE any `yaml:"ide,omitempty"`
}

func readClientFile(t *testing.T, path string) clientFile {
	t.Helper()
	var cf clientFile
	b, err := os.ReadFile(path)
	if err == nil {
		err = yaml.Unmarshal(b, &cf)
	}
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return cf
}

// setConf sets key=value in [section] of an INI file (adding the key when missing).
func setConf(t *testing.T, path, sectionKey, value string) {
	t.Helper()
	section, key, _ := strings.Cut(sectionKey, ".")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	cur, at, done := "", -1, false
	for i, l := range lines {
		tl := strings.TrimSpace(l)
		if strings.HasPrefix(tl, "[") && strings.HasSuffix(tl, "]") {
			cur = strings.Trim(tl, "[]")
			if cur == section {
				at = i + 1
			}
			continue
		}
		if cur == section && strings.HasPrefix(tl, key+"=") {
			lines[i] = key + "=" + value
			done = true
		}
	}
	if !done {
		if at < 0 {
			t.Fatalf("%s has no [%s]", path, section)
		}
		lines = append(lines[:at], append([]string{key + "=" + value}, lines[at:]...)...)
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (c *cluster) Server(name string) server {
	for _, s := range c.Servers {
		if s.Name == name {
			return s
		}
	}
	c.t.Fatalf("no server %q", name)
	return server{}
}

func (c *cluster) env() []string {
	return append(os.Environ(), "ZATO_CONFIG="+c.ClientFile, procs.ParentPIDEnv+"="+strconv.Itoa(os.Getpid()))
}

// zato runs the zato binary (behind prefix, when given) and returns its stdout; err carries stderr.
func (c *cluster) zato(prefix []string, args ...string) (string, error) {
	argv := append(append([]string{}, prefix...), c.bin)
	argv = append(argv, args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = c.env()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("zato %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), err
}

// Start starts one server and returns once it is live.
func (c *cluster) Start(name string) {
	c.t.Helper()
	if err := c.TryStart(name); err != nil {
		c.t.Fatal(err)
	}
}

func (c *cluster) TryStart(name string) error {
	t0 := time.Now()
	defer func() { c.startTime.Add(int64(time.Since(t0))); c.starts.Add(1) }()
	out, err := c.zato(c.wrap[name], "start", c.Server(name).Dir)
	if err != nil {
		return fmt.Errorf("start %s: %v\n%s", name, err, out)
	}
	return nil
}

// StartAsync starts one server without waiting; the channel gets the start's result.
func (c *cluster) StartAsync(name string) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- c.TryStart(name) }()
	return ch
}

// Stop stops one server gracefully.
func (c *cluster) Stop(name string) {
	c.t.Helper()
	if out, err := c.zato(nil, "stop", c.Server(name).Dir); err != nil {
		c.t.Fatalf("stop %s: %v\n%s", name, err, out)
	}
}

// StopAll stops every server (zato stop of the environment).
func (c *cluster) StopAll() {
	if out, err := c.zato(nil, "stop", c.Dir); err != nil {
		c.t.Logf("stop: %v\n%s", err, out)
	}
}

// PID is a server's pid (from its pid file) when it runs.
func (c *cluster) PID(name string) (int, bool) { return procs.Running(c.Server(name).Dir) }

// Kill sends SIGKILL to a server and waits until it is gone; false when it was not running.
func (c *cluster) Kill(name string) bool {
	c.t.Helper()
	pid, ok := c.PID(name)
	if !ok {
		return false
	}
	if err := procs.Kill(pid, 10*time.Second); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return false
		}
		c.t.Fatalf("kill %s: %v", name, err)
	}
	return true
}

func (c *cluster) Client(url string, retries int) *deployclient.Client {
	c.t.Helper()
	if url == "" {
		url = c.Servers[0].URL
	}
	cl, err := deployclient.New(deployclient.Config{URL: url, Username: c.User, Password: c.Password, CAFile: c.CA,
		Timeout: 20 * time.Second, Retries: retries})
	if err != nil {
		c.t.Fatal(err)
	}
	return cl
}

func timeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// launchPG starts a PostgreSQL of the test's own, stopped when it ends. Without PostgreSQL binaries the test is
// skipped, except under CI=true, where it fails.
func launchPG(t *testing.T, o pgtest.Options) *pgtest.Server {
	t.Helper()
	pg, err := pgtest.LaunchWith(o)
	if err != nil {
		if errors.Is(err, pgtest.ErrUnavailable) && os.Getenv("CI") != "true" {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	return pg
}

// ---- modules ----

// moduleSource is a module with one service, <module>.version, that answers the token it was deployed with.
func moduleSource(module, token string) []byte {
	return []byte(fmt.Sprintf(`from zato.server.service import Service

class Version(Service):
    name = '%s'

    def handle(self):
        self.response.payload = {'module': %q, 'token': %q}
`, serviceOf(module), module, token))
}

func serviceOf(module string) string {
	return "faults." + strings.TrimSuffix(module, ".py") + ".version"
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// tokens maps the sha256 of every source a test uploaded to its token.
type tokens struct {
	mu    sync.Mutex
	bySum map[string]string
}

func (tk *tokens) source(module, token string) []byte {
	src := moduleSource(module, token)
	tk.mu.Lock()
	defer tk.mu.Unlock()
	if tk.bySum == nil {
		tk.bySum = map[string]string{}
	}
	tk.bySum[sum(src)] = token
	return src
}

func (tk *tokens) token(sha string) string {
	tk.mu.Lock()
	defer tk.mu.Unlock()
	return tk.bySum[sha]
}

// ack is a deployment the API acknowledged (202).
type ack struct {
	Module string
	ID     int64
	Sum    string
}

// ---- checks ----

// converge waits until every server serves each module's current ODB version: by GET /api/v1/served, by invoking
// the module's service on that server, and by the sha256 of work/hot-deploy/current/<module>. It returns the last
// difference seen, "" once there is none.
func converge(t *testing.T, c *cluster, tk *tokens, within time.Duration) (string, map[string]wire.Module) {
	t.Helper()
	deadline := time.Now().Add(within)
	cl := c.Client("", 0)
	for {
		diff, mods := differences(c, cl, tk)
		if diff == "" || time.Now().After(deadline) {
			return diff, mods
		}
		time.Sleep(200 * time.Millisecond) // polling, bounded by the deadline
	}
}

func differences(c *cluster, cl *deployclient.Client, tk *tokens) (string, map[string]wire.Module) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ms, err := cl.Modules(ctx)
	if err != nil {
		return "modules: " + err.Error(), nil
	}
	mods := map[string]wire.Module{}
	for _, m := range ms {
		mods[m.Name] = m
	}
	for _, s := range c.Servers {
		sc := c.Client(s.URL, 0)
		served, err := sc.Served(ctx)
		if err != nil {
			return s.Name + ": served: " + err.Error(), mods
		}
		have := map[string]string{}
		for _, m := range served.Modules {
			have[m.Name] = m.SHA256
		}
		for _, m := range ms {
			if !m.Deployed {
				continue
			}
			if have[m.Name] != m.SHA256 {
				return fmt.Sprintf("%s serves %s at %.12s, the ODB's current (v%d) is %.12s", s.Name, m.Name, have[m.Name], m.Version, m.SHA256), mods
			}
			b, err := os.ReadFile(filepath.Join(s.Dir, config.CurrentRel, m.Name))
			if err != nil || sum(b) != m.SHA256 {
				return fmt.Sprintf("%s: current/%s is %.12s (%v), the ODB's current is %.12s", s.Name, m.Name, sum(b), err, m.SHA256), mods
			}
			if tk != nil {
				want := tk.token(m.SHA256)
				out, err := sc.Invoke(ctx, serviceOf(m.Name), nil)
				if err != nil {
					return fmt.Sprintf("%s: invoke %s: %v", s.Name, serviceOf(m.Name), err), mods
				}
				var got struct{ Token string }
				if json.Unmarshal(out, &got) != nil || got.Token != want {
					return fmt.Sprintf("%s: %s answered %s, the ODB's current has token %q", s.Name, serviceOf(m.Name), out, want), mods
				}
			}
		}
	}
	return "", mods
}

// wholeFiles checks that every file in each server's current/ is a whole version of a module from its history.
func wholeFiles(t *testing.T, c *cluster) {
	t.Helper()
	cl := c.Client("", 0)
	ctx := timeout(t, time.Minute)
	history := map[string]map[string]bool{}
	for _, s := range c.Servers {
		dir := filepath.Join(s.Dir, config.CurrentRel)
		es, err := os.ReadDir(dir)
		if err != nil {
			t.Errorf("%s: %v", s.Name, err)
			continue
		}
		for _, e := range es {
			name := e.Name()
			// Dot files are not modules: .NAME.swap is a module's twin, where its next version is written before
			// the two names are exchanged (server/cluster/workdir.go); a start removes them.
			if e.IsDir() || strings.HasPrefix(name, ".") {
				continue
			}
			if _, ok := history[name]; !ok && strings.HasSuffix(name, ".py") {
				vs, err := cl.Versions(ctx, name)
				if err == nil {
					history[name] = map[string]bool{}
					for _, v := range vs {
						history[name][v.SHA256] = true
					}
				}
			}
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Errorf("%s: read current/%s: %v", s.Name, name, err)
				continue
			}
			if !history[name][sum(b)] {
				t.Errorf("%s: current/%s (%d bytes, sha256 %.12s) is not a version in the history: half written or a stray file",
					s.Name, name, len(b), sum(b))
			}
		}
	}
}

// inHistory checks that every acknowledged deployment is in its module's history.
func inHistory(t *testing.T, c *cluster, acks []ack) {
	t.Helper()
	cl := c.Client("", 0)
	ctx := timeout(t, time.Minute)
	byModule := map[string]map[int64]bool{}
	for _, a := range acks {
		ids, ok := byModule[a.Module]
		if !ok {
			ds, err := cl.Deployments(ctx, a.Module, 100000)
			if err != nil {
				t.Fatal(err)
			}
			ids = map[int64]bool{}
			for _, d := range ds {
				ids[d.ID] = true
			}
			byModule[a.Module] = ids
		}
		if !ids[a.ID] {
			t.Errorf("acknowledged deployment %d of %s is not in the history", a.ID, a.Module)
		}
	}
}

// ---- processes (/proc) ----

type proc struct {
	pid  int
	comm string
	cmd  string
}

func (p proc) String() string { return fmt.Sprintf("%d %s [%s]", p.pid, p.comm, p.cmd) }

// processesUnder lists live processes whose command line mentions dir.
func processesUnder(dir string) []proc {
	var out []proc
	es, _ := os.ReadDir("/proc")
	for _, e := range es {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || len(b) == 0 {
			continue
		}
		cmd := strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")
		if !strings.Contains(cmd, dir) || zombie(pid) {
			continue
		}
		comm, _ := os.ReadFile("/proc/" + e.Name() + "/comm")
		out = append(out, proc{pid, strings.TrimSpace(string(comm)), cmd})
	}
	return out
}

func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && (b[i+2] == 'Z' || b[i+2] == 'X')
}

// pythonsOf lists the python processes of one server (its worker and the worker's guard).
func pythonsOf(dir string) []proc {
	var out []proc
	for _, p := range processesUnder(dir) {
		if strings.HasPrefix(p.comm, "python") {
			out = append(out, p)
		}
	}
	return out
}

// goneWithin waits until none of pids is alive.
func goneWithin(pids []proc, d time.Duration) []proc {
	deadline := time.Now().Add(d)
	for {
		var alive []proc
		for _, p := range pids {
			if err := syscall.Kill(p.pid, 0); err == nil && !zombie(p.pid) {
				alive = append(alive, p)
			}
		}
		if len(alive) == 0 || time.Now().After(deadline) {
			return alive
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// usage is a process's resident set (kB) and open file descriptors.
type usage struct {
	RSSkB int
	FDs   int
}

func usageOf(pid int) (usage, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return usage{}, false
	}
	var u usage
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			u.RSSkB, _ = strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
		}
	}
	fds, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return usage{}, false
	}
	u.FDs = len(fds)
	return u, true
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(p * float64(len(s)-1))
	return s[i]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
