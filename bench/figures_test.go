package bench

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/zato-go/zato/internal/benchout"
	"github.com/zato-go/zato/internal/testenv"
	"github.com/zato-go/zato/server/procs"
)

// Figures for BENCHMARKS.md (`go tool task bench`, internal/benchreport): the cluster-size sweep, start-to-live
// against modules held, the machine's floor, and the CPU one deployment costs. These benchmarks use b.Loop, so that
// their set-up (clusters of up to 16 servers, thousands of modules) runs once.

// emit writes a figure to $ZATO_BENCH_OUT; labels are key, value pairs.
func emit(b *testing.B, name string, n int, metrics map[string]float64, labels ...string) {
	b.Helper()
	r := benchout.Record{Name: name, N: n, Metrics: metrics, Labels: map[string]string{}}
	for i := 0; i+1 < len(labels); i += 2 {
		r.Labels[labels[i]] = labels[i+1]
	}
	if err := benchout.Emit(r); err != nil {
		b.Errorf("writing the figure: %v", err)
	}
}

// ints reads a comma-separated list of numbers from env, or def.
func ints(b *testing.B, env string, def []int) []int {
	v := os.Getenv(env)
	if v == "" {
		return def
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			b.Fatalf("%s=%q: %v", env, v, err)
		}
		out = append(out, n)
	}
	return out
}

// BenchmarkClusterSize is upload to every server confirmed, paced (each deploy on a settled cluster, 10 ms apart),
// against cluster size: 2, 4, 8 and 16 servers ($ZATO_BENCH_SIZES), on SQLite and PostgreSQL
// ($ZATO_BENCH_ODBS). One cluster at a time; -benchtime sets the deploys per size (30x in `go tool task bench`).
func BenchmarkClusterSize(b *testing.B) {
	engines := strings.Split(cmp(os.Getenv("ZATO_BENCH_ODBS"), "sqlite,postgresql"), ",")
	for _, engine := range engines {
		for _, n := range ints(b, "ZATO_BENCH_SIZES", []int{2, 4, 8, 16}) {
			b.Run(fmt.Sprintf("odb=%s/servers=%d", engine, n), func(b *testing.B) {
				c := testenv.StartCluster(b, testenv.Options{Servers: n, ODB: engine})
				cl := newClient(b, c)
				for i := range 3 { // warm-up: the first import of the module on every server
					deployTo(b, cl, n, -1-i)
				}
				var lat []time.Duration
				i := 0
				for b.Loop() {
					time.Sleep(10 * time.Millisecond)
					lat = append(lat, deployTo(b, cl, n, i))
					i++
				}
				report(b, lat, 0, "", "servers", strconv.Itoa(n), "odb", engine)
			})
		}
	}
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// BenchmarkStartToLive is a server's start (`zato start` of a stopped server, returning once it is live) against
// the modules it holds: 100, 500, 2000 and 5000 ($ZATO_BENCH_MODULES). One single-server SQLite cluster is filled
// step by step through the API; -benchtime sets the starts per step (2x in `go tool task bench`).
func BenchmarkStartToLive(b *testing.B) {
	c := testenv.StartCluster(b, testenv.Options{Servers: 1})
	cl := newClient(b, c)
	ctx := context.Background()
	held := 0
	for _, want := range ints(b, "ZATO_BENCH_MODULES", []int{100, 500, 2000, 5000}) {
		fill := time.Now()
		var wg sync.WaitGroup
		var mu sync.Mutex
		var failed error
		next := make(chan int)
		for range 4 {
			wg.Go(func() {
				for i := range next {
					if _, err := cl.Upload(ctx, fmt.Sprintf("held_%04d.py", i), []byte(fmt.Sprintf(module, i)), "api"); err != nil {
						mu.Lock()
						failed = err
						mu.Unlock()
					}
				}
			})
		}
		for ; held < want; held++ {
			next <- held
		}
		close(next)
		wg.Wait()
		if failed != nil {
			b.Fatal(failed)
		}
		// Deployments apply in order: once this one is confirmed, every upload before it is applied.
		if d, err := cl.Deploy(ctx, "held_sentinel.py", []byte(fmt.Sprintf(module, want)), "api", nil); err != nil || d.Status != "deployed" {
			b.Fatalf("%v %+v", err, d)
		}
		entries, _ := os.ReadDir(filepath.Join(c.Servers[0].Dir, "work/hot-deploy/current"))
		if len(entries) < want {
			b.Fatalf("%d modules in the work dir, want %d", len(entries), want)
		}
		b.Logf("%d modules held (filled in %s)", want, time.Since(fill).Round(time.Millisecond))
		b.Run(fmt.Sprintf("modules=%d", want), func(b *testing.B) {
			var lat []time.Duration
			for b.Loop() {
				c.Stop(b, "server1")
				start := time.Now()
				c.Start(b, "server1")
				lat = append(lat, time.Since(start))
			}
			report(b, lat, 0, "", "modules", strconv.Itoa(want))
		})
	}
}

// floorModule is a 50-line Python module without imports of Zato: what python3 alone takes to compile and run a
// module of that size is the floor of a deployment's import.
var floorModule = func() string {
	var s strings.Builder
	s.WriteString("import json\n\n")
	for k := range 6 {
		fmt.Fprintf(&s, "\nclass Handler%d:\n    name = 'floor.handler-%d'\n\n    def handle(self, payload):\n", k, k)
		fmt.Fprintf(&s, "        out = {'n': %d, 'items': [x * 2 for x in payload]}\n        return json.dumps(out)\n", k)
	}
	return s.String()
}()

// pythonFloor is a python3 that compiles and runs floorModule once per line read and answers the nanoseconds it
// took (measured inside python3: no pipe in the figure).
const pythonFloor = `
import sys, time
src = open(sys.argv[1]).read()
for _ in sys.stdin:
    t0 = time.perf_counter_ns()
    exec(compile(src, 'floor_mod.py', 'exec'), {'__name__': 'floor_mod'})
    sys.stdout.write('%d\n' % (time.perf_counter_ns() - t0))
    sys.stdout.flush()
`

// BenchmarkFloor measures what this machine takes at the least for the steps of a deployment, so that the report
// can give each latency as a multiple of it: an fsync'd SQLite WAL commit (synchronous=FULL, as the ODB), an atomic
// file write with fsync (temp file, fsync, rename, fsync of the dir, as the work dir), compiling and running a
// 50-line module in python3, and a loopback TCP round trip.
func BenchmarkFloor(b *testing.B) {
	b.Run("odb-commit", func(b *testing.B) {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(b.TempDir(), "floor.db")+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)")
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		db.SetMaxOpenConns(1)
		if _, err := db.Exec(`CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)`); err != nil {
			b.Fatal(err)
		}
		var mode string
		var sync int
		if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
			b.Fatalf("journal_mode %q: %v", mode, err)
		}
		if err := db.QueryRow(`PRAGMA synchronous`).Scan(&sync); err != nil || sync != 2 {
			b.Fatalf("synchronous %d: %v", sync, err)
		}
		var lat []time.Duration
		i := 0
		for b.Loop() {
			i++
			start := time.Now()
			if _, err := db.Exec(`INSERT INTO t (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`, i%16, floorModule); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		floor(b, lat)
	})
	b.Run("atomic-write", func(b *testing.B) {
		dir := b.TempDir()
		var lat []time.Duration
		for b.Loop() {
			start := time.Now()
			if err := atomicWrite(dir, "floor_mod.py", []byte(floorModule)); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		floor(b, lat)
	})
	b.Run("python-compile-exec", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "floor_mod.py")
		if err := os.WriteFile(path, []byte(floorModule), 0o644); err != nil {
			b.Fatal(err)
		}
		cmd := exec.Command("python3", "-c", pythonFloor, path)
		in, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() { in.Close(); cmd.Wait() }()
		r := bufio.NewScanner(out)
		var lat []time.Duration
		for b.Loop() {
			if _, err := in.Write([]byte("\n")); err != nil || !r.Scan() {
				b.Fatalf("python3: %v %v", err, r.Err())
			}
			ns, err := strconv.ParseInt(strings.TrimSpace(r.Text()), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Duration(ns))
		}
		floor(b, lat)
	})
	b.Run("loopback-rtt", func(b *testing.B) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		go func() {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			buf := make([]byte, 64)
			for {
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				if _, err := c.Write(buf[:n]); err != nil {
					return
				}
			}
		}()
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		buf := make([]byte, 64)
		var lat []time.Duration
		for b.Loop() {
			start := time.Now()
			if _, err := c.Write(buf[:1]); err != nil {
				b.Fatal(err)
			}
			if _, err := c.Read(buf); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		floor(b, lat)
	})
}

// floor reports a floor figure in microseconds (its p50 is what ratios are taken to), labelled with
// $ZATO_BENCH_PHASE: the report measures the floor at the start and at the end of its run.
func floor(b *testing.B, lat []time.Duration) {
	m := benchout.Latencies(lat)
	b.ReportMetric(m["p50_ms"]*1000, "p50-us")
	b.ReportMetric(m["p99_ms"]*1000, "p99-us")
	emit(b, b.Name(), len(lat), m, "phase", cmp(os.Getenv("ZATO_BENCH_PHASE"), "start"))
}

func atomicWrite(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, "."+name+".tmp*")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// cpuWatch is the CPU time (user + system) of each server of a cluster, with its descendants (the Python
// workers), and of this process (the client), from /proc/<pid>/stat.
type cpuWatch struct {
	names  []string
	pids   []int
	start  []time.Duration
	client time.Duration
}

func startCPU(b *testing.B, c *testenv.Cluster) *cpuWatch {
	w := &cpuWatch{}
	for _, s := range c.Servers {
		pid, ok := procs.Running(s.Dir)
		if !ok {
			b.Fatalf("%s is not running", s.Name)
		}
		w.names, w.pids = append(w.names, s.Name), append(w.pids, pid)
	}
	all := procTable()
	for _, pid := range w.pids {
		w.start = append(w.start, treeCPU(all, pid))
	}
	w.client = selfCPU()
	return w
}

// report emits ms of CPU per deployment for each server, their mean, the client and the machine (-1: unknown).
func (w *cpuWatch) report(b *testing.B, n int, machine float64, labels ...string) {
	if n <= 0 || w.client < 0 {
		return
	}
	all := procTable()
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(n) }
	m := map[string]float64{"client_ms": per(selfCPU() - w.client)}
	var sum float64
	for i, pid := range w.pids {
		v := per(treeCPU(all, pid) - w.start[i])
		m["server_ms_"+w.names[i]] = v
		sum += v
	}
	m["server_mean_ms"] = sum / float64(len(w.pids))
	m["servers_total_ms"] = sum
	if machine >= 0 {
		m["machine_ms"] = machine
	}
	b.ReportMetric(m["server_mean_ms"], "cpu-ms/op/server")
	b.ReportMetric(m["client_ms"], "cpu-ms/op/client")
	emit(b, b.Name()+"/cpu", n, m, labels...)
}

type procStat struct {
	ppid int
	cpu  time.Duration // utime + stime + cutime + cstime
}

// procTable reads every process's parent and CPU time (the children's fields hold the CPU of reaped children).
func procTable() map[int]procStat {
	out := map[int]procStat{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := readStat(pid, true); ok {
			out[pid] = st
		}
	}
	return out
}

func readStat(pid int, children bool) (procStat, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, false
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(string(b[i+1:])) // state ppid ... utime(11) stime(12) cutime(13) cstime(14)
	if len(f) < 15 {
		return procStat{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	last := 12
	if children {
		last = 14
	}
	var ticks int64
	for k := 11; k <= last; k++ {
		v, _ := strconv.ParseInt(f[k], 10, 64)
		ticks += v
	}
	return procStat{ppid: ppid, cpu: time.Duration(ticks) * 10 * time.Millisecond}, true // USER_HZ is 100
}

// treeCPU sums the CPU of pid and its descendants.
func treeCPU(all map[int]procStat, pid int) time.Duration {
	kids := map[int][]int{}
	for p, st := range all {
		kids[st.ppid] = append(kids[st.ppid], p)
	}
	var sum time.Duration
	todo := []int{pid}
	for len(todo) > 0 {
		p := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		sum += all[p].cpu
		todo = append(todo, kids[p]...)
	}
	return sum
}

// selfCPU is this process's own CPU time (the client: the zato commands it runs are not part of it), -1 without
// /proc.
func selfCPU() time.Duration {
	st, ok := readStat(os.Getpid(), false)
	if !ok {
		return -1
	}
	return st.cpu
}
