// Package pgtest starts throwaway PostgreSQL servers for tests from the machine's binaries (PostgreSQL 15 by
// default). Without the binaries a test is skipped, except with CI=true, where it fails.
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) } // optional: stops the shared server at the end
//	func TestX(t *testing.T) { dsn := pgtest.Shared(t) /* a fresh database */ }
package pgtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/zato-go/zato/internal/ports"
)

// ErrUnavailable is returned (wrapped) when this machine cannot run PostgreSQL: no binaries, or running as root
// without a postgres user.
var ErrUnavailable = errors.New("PostgreSQL binaries unavailable")

// BinDir returns where the PostgreSQL binaries are: $PGTEST_BINDIR, /usr/lib/postgresql/15/bin, or else the newest
// /usr/lib/postgresql/*/bin.
func BinDir() (string, error) {
	if d := os.Getenv("PGTEST_BINDIR"); d != "" {
		return d, checkBin(d)
	}
	const preferred = "/usr/lib/postgresql/15/bin"
	if checkBin(preferred) == nil {
		return preferred, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	best, bestV := "", -1
	for _, d := range dirs {
		v, err := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		if err == nil && v > bestV && checkBin(d) == nil {
			best, bestV = d, v
		}
	}
	if best == "" {
		return "", fmt.Errorf("%w: no initdb and postgres in %s or /usr/lib/postgresql/*/bin (set PGTEST_BINDIR)",
			ErrUnavailable, preferred)
	}
	return best, nil
}

func checkBin(dir string) error {
	for _, b := range []string{"initdb", "postgres", "psql"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
	}
	return nil
}

// Server is one running PostgreSQL server.
type Server struct {
	Port int    // TCP port on Host
	Dir  string // holds data/, the Unix socket and postgres.log
	Host string // the address postgres listens on: 127.0.0.1 unless Options.Host says otherwise

	netns   string // the network namespace postgres runs in ("": this process's)
	bin     string
	cred    *syscall.Credential // nil unless running as root
	pid     int
	exited  chan struct{} // closed when postgres exited
	waitErr error
	dbs     atomic.Int64
	stop    sync.Once
}

// DSN returns the URL of database db over TCP.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable", net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), db)
}

// Options of LaunchWith.
type Options struct {
	// Host is the address postgres listens on (default 127.0.0.1); with NetNS, an address of that namespace that
	// this process can reach.
	Host string
	// NetNS runs postgres in that network namespace (a name under /var/run/netns, as `ip netns add` makes;
	// Linux only, needs CAP_SYS_ADMIN).
	NetNS string
}

// Launch starts a server that runs until Stop, or until this process dies (the kernel sends postgres SIGQUIT then).
func Launch() (*Server, error) { return LaunchWith(Options{}) }

// LaunchWith is Launch with options.
func LaunchWith(o Options) (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	s := &Server{bin: bin, exited: make(chan struct{}), Host: o.Host, netns: o.NetNS}
	if os.Geteuid() == 0 { // postgres refuses to run as root
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("%w: running as root needs a postgres user: %v", ErrUnavailable, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	if s.Dir, err = makeDir(s.cred); err != nil {
		return nil, err
	}
	data := filepath.Join(s.Dir, "data")
	out, err := s.command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
		"--locale=C", "--no-sync").CombinedOutput()
	if err != nil {
		os.RemoveAll(s.Dir)
		return nil, fmt.Errorf("initdb: %w: %s", err, out)
	}
	if o.Host != "127.0.0.1" { // initdb trusts only loopback: let the (test's own) other hosts in too
		if err := appendFile(filepath.Join(data, "pg_hba.conf"), "host all all 0.0.0.0/0 trust\n"); err != nil {
			os.RemoveAll(s.Dir)
			return nil, err
		}
	}
	// A free port may be taken by someone else before postgres binds it: try again then.
	for attempt := 1; ; attempt++ {
		retry, err := s.start(data, 0)
		if err == nil {
			return s, nil
		}
		if !retry || attempt == 3 {
			os.RemoveAll(s.Dir)
			return nil, err
		}
		s.exited = make(chan struct{})
	}
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// makeDir creates the server's directory, one that postgres (cred) can enter, and sweeps those of dead test processes.
func makeDir(cred *syscall.Credential) (string, error) {
	tmp := os.TempDir()
	if len(tmp) > 60 { // the socket path must fit in 107 bytes
		tmp = "/tmp"
	}
	sweep(tmp)
	dir, err := os.MkdirTemp(tmp, "pgtest-")
	if err != nil {
		return "", fmt.Errorf("make PostgreSQL dir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return "", fmt.Errorf("make PostgreSQL dir: %w", err)
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return "", fmt.Errorf("make PostgreSQL dir: %w", err)
		}
		// Every parent must be searchable by postgres.
		for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
			if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o001 == 0 {
				if err := os.Chmod(p, fi.Mode().Perm()|0o111); err != nil {
					return "", fmt.Errorf("make %s searchable for postgres: %w", p, err)
				}
			}
			if p == filepath.Dir(p) {
				break
			}
		}
	}
	return dir, nil
}

// sweep removes the directories of servers whose test process died without cleaning up.
func sweep(tmp string) {
	dirs, _ := filepath.Glob(filepath.Join(tmp, "pgtest-*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "owner.pid"))
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(string(b)); err == nil && !alive(pid) {
			os.RemoveAll(d)
		}
	}
}

// alive reports whether pid is a running (not zombie) process.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !os.IsNotExist(err)
	}
	// "pid (comm) S ...": the state follows the last ')'.
	if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
		return b[i+2] != 'Z' && b[i+2] != 'X'
	}
	return true
}

func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = s.Dir
	cmd.Env = []string{"LC_ALL=C", "PATH=" + os.Getenv("PATH"), "TZ=UTC"}
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	return cmd
}

func freePort() (int, error) { return ports.Free(1) }

// start runs postgres on port (0: a free one) and waits until it accepts connections; retry says the port was taken.
func (s *Server) start(data string, port int) (retry bool, err error) {
	if port == 0 {
		if port, err = freePort(); err != nil {
			return false, fmt.Errorf("free port: %w", err)
		}
	}
	s.Port = port
	logPath := filepath.Join(s.Dir, "postgres.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return false, fmt.Errorf("postgres log: %w", err)
	}
	defer logf.Close()
	cmd := s.command(filepath.Join(s.bin, "postgres"), "-D", data, "-p", strconv.Itoa(port), "-k", s.Dir,
		"-c", "listen_addresses="+s.Host, "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=300", "-c", "shared_buffers=32MB",
		"-c", "wal_level=minimal", "-c", "max_wal_senders=0", "-c", "logging_collector=off")
	cmd.Stdout, cmd.Stderr = logf, logf
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// Kill postgres when this process dies, however it dies (Linux only). The signal is tied to the thread that
	// forked, so that thread stays locked (and alive) until postgres exits.
	setPdeathsig(cmd.SysProcAttr)
	cmd.SysProcAttr.Setpgid = true // a terminal's Ctrl-C goes to the tests, which then stop postgres in order
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if s.netns != "" {
			// This thread joins the namespace and postgres, forked from it, starts there. The thread is never
			// unlocked, so it ends with this goroutine and no other goroutine runs in the namespace.
			if err := enterNetNS(s.netns); err != nil {
				started <- err
				close(s.exited)
				return
			}
		}
		if err := cmd.Start(); err != nil {
			started <- err
			close(s.exited)
			return
		}
		s.pid = cmd.Process.Pid
		started <- nil
		s.waitErr = cmd.Wait()
		close(s.exited)
		// Returning while locked ends the thread, which is what we want once postgres is gone.
	}()
	if err := <-started; err != nil {
		return false, fmt.Errorf("start postgres: %w", err)
	}
	deadline := time.After(60 * time.Second)
	for {
		if ready(filepath.Join(data, "postmaster.pid")) {
			conn, err := net.DialTimeout("tcp", net.JoinHostPort(s.Host, strconv.Itoa(port)), time.Second)
			if err == nil {
				conn.Close()
				return false, nil
			}
		}
		select {
		case <-s.exited:
			log := tail(logPath)
			return strings.Contains(log, "could not bind"), fmt.Errorf("postgres exited at start (%v): %s", s.waitErr, log)
		case <-deadline:
			syscall.Kill(s.pid, syscall.SIGKILL)
			<-s.exited
			return false, fmt.Errorf("postgres not ready after 60s: %s", tail(logPath))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// ready reports whether postmaster.pid says the server accepts connections (its 8th line is "ready").
func ready(pidFile string) bool {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return false
	}
	lines := strings.Split(string(b), "\n")
	return len(lines) >= 8 && strings.TrimSpace(lines[7]) == "ready"
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Stop shuts the server down (fast shutdown, then SIGKILL after 15 s) and removes its directory.
func (s *Server) Stop() {
	s.stop.Do(func() {
		if s.pid != 0 {
			select {
			case <-s.exited:
			default:
				syscall.Kill(s.pid, syscall.SIGINT)
				select {
				case <-s.exited:
				case <-time.After(15 * time.Second):
					syscall.Kill(s.pid, syscall.SIGKILL)
					<-s.exited
				}
			}
		}
		os.RemoveAll(s.Dir)
	})
}

// Restart stops the server (fast shutdown: clients are disconnected), leaves it down for downtime, and starts it
// again on the same data dir and port. It returns once the server accepts connections again.
func (s *Server) Restart(downtime time.Duration) error {
	if err := s.Halt(); err != nil {
		return err
	}
	time.Sleep(downtime)
	return s.Resume()
}

// Halt stops the server as Stop does but keeps its directory, for Resume.
func (s *Server) Halt() error {
	if s.pid == 0 {
		return errors.New("postgres is not running")
	}
	select {
	case <-s.exited:
		return errors.New("postgres is not running")
	default:
	}
	syscall.Kill(s.pid, syscall.SIGINT)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		syscall.Kill(s.pid, syscall.SIGKILL)
		<-s.exited
	}
	return nil
}

// Resume starts a halted server again on the same data dir and port.
func (s *Server) Resume() error {
	select {
	case <-s.exited:
	default:
		return errors.New("postgres is running")
	}
	s.exited = make(chan struct{})
	s.pid = 0
	var err error
	for range 50 { // the port may linger a moment after the old postmaster exited
		var retry bool
		if retry, err = s.start(filepath.Join(s.Dir, "data"), s.Port); err == nil || !retry {
			return err
		}
		s.exited = make(chan struct{})
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// Exec runs SQL on database db with psql.
func (s *Server) Exec(db, sql string) error {
	cmd := exec.Command(filepath.Join(s.bin, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", s.DSN(db), "-c", sql)
	cmd.Env = []string{"LC_ALL=C", "PATH=" + os.Getenv("PATH"), "PGCONNECT_TIMEOUT=10"}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("psql %q: %w: %s", sql, err, out)
	}
	return nil
}

// CreateDB creates a fresh database, dropped when t ends, and returns its DSN.
func (s *Server) CreateDB(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("test_%d", s.dbs.Add(1))
	if err := s.Exec("postgres", "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Exec("postgres", "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Log(err)
		}
	})
	return s.DSN(name)
}

// unavailable skips t, or fails it under CI=true, where every test must run.
func unavailable(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrUnavailable) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	t.Fatal(err)
}

// Start starts a server of t's own, stopped when t ends, and returns the DSN of its postgres database.
func Start(t testing.TB) string {
	t.Helper()
	s, err := Launch()
	if err != nil {
		unavailable(t, err)
	}
	t.Cleanup(s.Stop)
	return s.DSN("postgres")
}

// The server shared by the test binary: started by the first Shared, stopped by Run (or killed with the process).
var shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// Shared returns the DSN of a fresh database, dropped when t ends, on a server shared by the whole test binary.
func Shared(t testing.TB) string {
	t.Helper()
	shared.once.Do(func() { shared.srv, shared.err = Launch() })
	if shared.err != nil {
		unavailable(t, shared.err)
	}
	return shared.srv.CreateDB(t)
}

// Run runs the tests and then stops the shared server, if one was started; use it from TestMain:
// os.Exit(pgtest.Run(m)).
func Run(m *testing.M) int {
	code := m.Run()
	if shared.srv != nil {
		shared.srv.Stop()
	}
	return code
}
