package main

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zato-go/zato/internal/benchout"
	"github.com/zato-go/zato/internal/benchplot"
)

// figures indexes a run's records; used marks those a table showed.
type figures struct {
	recs []benchout.Record
	used map[string]bool
}

// get returns the record of a name whose labels include the given key, value pairs.
func (f figures) get(name string, labels ...string) (benchout.Record, bool) {
	for _, r := range f.recs {
		if r.Name != name {
			continue
		}
		ok := true
		for i := 0; i+1 < len(labels); i += 2 {
			if r.Labels[labels[i]] != labels[i+1] {
				ok = false
			}
		}
		if ok {
			f.used[r.Key()] = true
			return r, true
		}
	}
	return benchout.Record{}, false
}

func (f figures) metric(name, metric string, labels ...string) (float64, bool) {
	r, ok := f.get(name, labels...)
	if !ok {
		return 0, false
	}
	v, ok := r.Metrics[metric]
	return v, ok
}

// floors are the p50s of the machine's floor in ms, the mean of the start and end measurements.
type floors struct{ odb, write, py, rtt float64 }

func (f figures) floors() (floors, [][4]float64) {
	var out floors
	var phases [][4]float64
	for _, phase := range []string{"start", "end"} {
		var p [4]float64
		for i, n := range []string{"odb-commit", "atomic-write", "python-compile-exec", "loopback-rtt"} {
			p[i], _ = f.metric("BenchmarkFloor/"+n, "p50_ms", "phase", phase)
		}
		if p != [4]float64{} {
			phases = append(phases, p)
		}
	}
	for _, p := range phases {
		out.odb += p[0] / float64(len(phases))
		out.write += p[1] / float64(len(phases))
		out.py += p[2] / float64(len(phases))
		out.rtt += p[3] / float64(len(phases))
	}
	return out, phases
}

// deploy is the least a deployment's serial path takes here: one ODB commit, the file written atomically, the
// module compiled and run, one round trip.
func (fl floors) deploy() float64 { return fl.odb + fl.write + fl.py + fl.rtt }

func ms(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v < 0.1:
		return fmt.Sprintf("%.3f ms", v)
	case v < 10:
		return fmt.Sprintf("%.2f ms", v)
	case v < 1000:
		return fmt.Sprintf("%.1f ms", v)
	default:
		return fmt.Sprintf("%.2f s", v/1000)
	}
}

func ratio(v, floor float64) string {
	if floor <= 0 || v <= 0 {
		return "–"
	}
	r := v / floor
	if r < 10 {
		return fmt.Sprintf("%.1fx", r)
	}
	return fmt.Sprintf("%.0fx", r)
}

// write renders BENCHMARKS.md and the plots.
func write(recs []benchout.Record, mdPath, docs string) error {
	f := figures{recs: recs, used: map[string]bool{}}
	fl, phases := f.floors()
	var md bytes.Buffer
	p := func(format string, a ...any) { fmt.Fprintf(&md, format, a...) }

	start, _ := f.get("run/start")
	end, _ := f.get("run/end")
	quick := start.Metrics["quick"] == 1
	p("# Benchmarks\n\n")
	p("Written by `go tool task bench` (`go run ./internal/benchreport`), which runs the benchmarks of `bench/` and\n")
	p("`lsp/` against real clusters on this machine and draws the plots. Every figure below comes from one run; the\n")
	p("figures as JSON lines are in [docs/bench/figures.jsonl](docs/bench/figures.jsonl).\n\n")
	if quick {
		p("**This is a smoke run (`-quick`): 3 samples of most figures and small sweeps. Do not quote it.**\n\n")
	}
	if failed := f.all("run/failed"); len(failed) > 0 {
		p("**Steps that failed in this run** (a figure missed its target, or a benchmark broke; see the logs under\n")
		p("test-artifacts/bench/):")
		for _, r := range failed {
			p(" %s;", r.Labels["step"])
		}
		p("\n\n")
	}

	// Machine.
	p("## Machine\n\n")
	p("| | |\n|---|---|\n")
	p("| CPU | %s |\n", cpuModel())
	p("| cores | %d |\n", runtime.NumCPU())
	p("| kernel | %s |\n", strings.TrimSpace(readFile("/proc/sys/kernel/osrelease")))
	p("| Go | %s |\n", strings.TrimPrefix(output("go", "env", "GOVERSION"), "go"))
	p("| python3 | %s |\n", strings.TrimPrefix(output("python3", "--version"), "Python "))
	if t := start.Metrics["unix"]; t > 0 {
		st := time.Unix(int64(t), 0).UTC()
		p("| date | %s |\n", st.Format("2006-01-02 15:04 MST"))
		if e := end.Metrics["unix"]; e > 0 {
			p("| run took | %s (`go tool task bench`, build included) |\n", (time.Duration(e-t) * time.Second).String())
		}
	}
	p("| commit | %s |\n", commit())
	p("| load average at start | %s |\n", load(start))
	p("| load average at end | %s |\n", load(end))
	p("\n")
	if l := math.Max(start.Metrics["load1"], end.Metrics["load1"]); l > float64(runtime.NumCPU()) {
		p("The load average was above the number of cores: other engineers were using this machine (builds, test\n")
		p("suites) while it ran, so every figure here includes waiting for a core. The floor below was measured in the\n")
		p("same conditions, at the start and at the end, and the ratios to it are the figures to compare between\n")
		p("machines.\n\n")
	}

	// Floor.
	p("## The machine's floor\n\n")
	p("What the steps of a deployment take at the least on this machine (p50 of 200, measured at the start and at\n")
	p("the end of the run; ratios below are to their mean). *Deploy floor* is one of each in a row: the least a\n")
	p("deployment's serial path can take here, before any server talks to another.\n\n")
	p("| floor | start | end | used |\n|---|---|---|---|\n")
	names := []string{"fsync'd ODB commit (SQLite WAL, synchronous=FULL)", "atomic file write (temp, fsync, rename, fsync dir)",
		"python3 compile() + exec() of a 50-line module", "loopback TCP round trip"}
	used := []float64{fl.odb, fl.write, fl.py, fl.rtt}
	for i, n := range names {
		cells := []string{"–", "–"}
		for j := range phases {
			cells[j] = ms(phases[j][i])
		}
		p("| %s | %s | %s | %s |\n", n, cells[0], cells[1], ms(used[i]))
	}
	p("| **deploy floor** (the four in a row) | | | %s |\n\n", ms(fl.deploy()))

	// Latencies.
	p("## Latency\n\n")
	p("p50 / p95 / p99 of each figure, and p50 as a multiple of its floor (deploys: the deploy floor; round trips:\n")
	p("the loopback round trip; starts: one compile and run of a module per module held).\n\n")
	p("| figure | n | p50 | p95 | p99 | p50 / floor | target |\n|---|---|---|---|---|---|---|\n")
	row := func(what string, r benchout.Record, ok bool, floor float64, floorName, target string, keys ...string) {
		if !ok {
			p("| %s | – | not measured | | | | %s |\n", what, target)
			return
		}
		if len(keys) == 0 {
			keys = []string{"p50_ms", "p95_ms", "p99_ms"}
		}
		cells := []string{}
		for _, k := range keys {
			if v, ok := r.Metrics[k]; ok {
				cells = append(cells, ms(v))
			} else {
				cells = append(cells, "")
			}
		}
		p("| %s | %d | %s | %s | %s | %s | %s |\n", what, r.N, cells[0], cells[1], cells[2],
			ratio(r.Metrics[keys[0]], floor)+floorName, target)
	}
	dep, rtt := fl.deploy(), fl.rtt
	for _, odb := range []string{"sqlite", "postgresql"} {
		name := map[string]string{"sqlite": "BenchmarkDeployConfirmed/paced", "postgresql": "BenchmarkDeployConfirmed/paced-postgresql"}[odb]
		for _, n := range []string{"2", "6"} {
			r, ok := f.get(name, "servers", n)
			target := ""
			if n == "2" {
				target = "p50 < 30 ms"
			} else if odb == "sqlite" {
				target = "< 2x 2 servers"
			}
			row(fmt.Sprintf("deploy to all confirmed, paced, %s servers, %s", n, engine(odb)), r, ok, dep, "", target)
		}
	}
	for _, n := range []string{"2", "6"} {
		r, ok := f.get("BenchmarkDeployConfirmed/back-to-back/servers="+n, "servers", n)
		row(fmt.Sprintf("deploy to all confirmed, back to back, %s servers, SQLite", n), r, ok, dep, "", "")
	}
	for _, odb := range []string{"sqlite", "postgresql"} {
		for _, r := range f.sweep(odb) {
			row(fmt.Sprintf("cluster-size sweep, paced, %s servers, %s", r.Labels["servers"], engine(odb)), r, true, dep, "", "")
		}
	}
	r, ok := f.get("BenchmarkPickupConfirmed")
	row("pickup dir: file closed to every server confirmed (2 servers)", r, ok, dep, "", "p50 < 100 ms")
	r, ok = f.get("BenchmarkStatus")
	row("`zato status` round trip", r, ok, rtt, " RTT", "")
	r, ok = f.get("BenchmarkRestart500", "modules", "500")
	row("restart of a server holding 500 modules", r, ok, 500*fl.py, "", "< 5 s")
	r, ok = f.get("BenchmarkRestart500Broken", "modules", "500")
	row("the same, with 3 broken modules (hang, exit, syntax error)", r, ok, 500*fl.py, "", "< 2 s")
	r, ok = f.get("BenchmarkWorkerRestart") // modules: 500, the corpus's and one that hangs, as many as the corpus has
	row("python worker restart, 500 modules and the hostile corpus held (invoke timeout to serving again)", r, ok, float64(r.Label("modules"))*fl.py, "", "")
	r, ok = f.get("BenchmarkCanaryDuringCorpus", "servers", "2")
	row("a service on every server while the hostile corpus deploys (the canary, 2 servers)", r, ok, rtt, " RTT", "p99 < 10 ms")
	for _, r := range f.all("BenchmarkStartToLive") {
		n := r.Label("modules")
		row(fmt.Sprintf("start to live, %d modules held (fastest / mean / slowest)", n), r, true, float64(n)*fl.py, "", "",
			"min_ms", "mean_ms", "max_ms")
	}
	r, ok = f.get("BenchmarkSaveToAllConfirmed")
	row("editor save to 2/2 confirmed through `zato lsp` (p50 / p95 / language server's own p50)", r, ok, dep, "", "p50 < 30 ms",
		"p50_ms", "p95_ms", "lsp_elapsed_p50_ms")
	r, ok = f.get("BenchmarkHoverAndCodeLensWhileDeploying")
	row("hover while deploys run (p99 / code lens p99)", r, ok, rtt, " RTT", "p99 < 10 ms", "hover_p99_ms", "codelens_p99_ms", "none")
	r, ok = f.get("BenchmarkInvokeRoundTrip")
	row("invoke through `zato lsp` (p50 / p99)", r, ok, rtt, " RTT", "", "p50_ms", "p99_ms", "none")
	r, ok = f.get("BenchmarkCompletion1000Services")
	row("completion with 1000 services (p50 / p99)", r, ok, rtt, " RTT", "p99 <= 20 ms", "p50_ms", "p99_ms", "none")
	r, ok = f.get("BenchmarkConflictCheckCost")
	row("a save naming its base: the conflict check's cost (cost / save with base p50 / without)", r, ok, dep, "", "<= 1 ms",
		"check_cost_ms", "with_base_p50_ms", "no_base_p50_ms")
	p("\n")
	if r, ok := f.get("BenchmarkDeployConfirmed/paced", "servers", "6"); ok {
		if r2, ok := f.get("BenchmarkDeployConfirmed/paced", "servers", "2"); ok && r2.Metrics["p50_ms"] > 0 {
			p("Paced, 6 servers take %.2fx the 2-server p50 on SQLite", r.Metrics["p50_ms"]/r2.Metrics["p50_ms"])
			if a, ok := f.get("BenchmarkDeployConfirmed/paced-postgresql", "servers", "6"); ok {
				if b, ok := f.get("BenchmarkDeployConfirmed/paced-postgresql", "servers", "2"); ok && b.Metrics["p50_ms"] > 0 {
					p(" and %.2fx on PostgreSQL", a.Metrics["p50_ms"]/b.Metrics["p50_ms"])
				}
			}
			p(".\n\n")
		}
	}

	// Plots.
	if err := os.MkdirAll(docs, 0o755); err != nil {
		return err
	}
	p("## Plots\n\n")
	if err := f.plotSweep(filepath.Join(docs, "deploy-vs-servers.png")); err != nil {
		return err
	}
	p("![deploy to all confirmed, p50 and p99, against cluster size](%s)\n\n", filepath.ToSlash(filepath.Join(docs, "deploy-vs-servers.png")))
	if err := f.plotStarts(filepath.Join(docs, "start-vs-modules.png"), fl.py); err != nil {
		return err
	}
	p("![start to live against modules held](%s)\n\n", filepath.ToSlash(filepath.Join(docs, "start-vs-modules.png")))

	// CPU.
	p("## CPU one deployment costs\n\n")
	p("Back to back on SQLite: user + system CPU from /proc/<pid>/stat before and after the run, divided by the\n")
	p("deployments. A server's figure includes its Python worker (every descendant, and the reaped ones); the\n")
	p("client is the benchmark process, which does nothing else meanwhile; the machine is /proc/stat's total, all\n")
	p("other work on the machine included. /proc counts in 10 ms ticks, so each figure is good to 10 ms / deploys.\n\n")
	p("| servers | deploys | each server | mean per server | all servers | client | whole machine |\n|---|---|---|---|---|---|---|\n")
	for _, n := range []string{"2", "6"} {
		r, ok := f.get("BenchmarkDeployConfirmed/back-to-back/servers="+n+"/cpu", "servers", n)
		if !ok {
			p("| %s | not measured | | | | | |\n", n)
			continue
		}
		var each []string
		keys := []string{}
		for k := range r.Metrics {
			if strings.HasPrefix(k, "server_ms_") {
				keys = append(keys, k)
			}
		}
		slices.SortFunc(keys, func(a, b string) int { return cmpNum(a, b) })
		for _, k := range keys {
			each = append(each, fmt.Sprintf("%.2f", r.Metrics[k]))
		}
		machine := "–"
		if v, ok := r.Metrics["machine_ms"]; ok {
			machine = ms(v)
		}
		p("| %s | %d | %s ms | %s | %s | %s | %s |\n", n, r.N, strings.Join(each, " / "), ms(r.Metrics["server_mean_ms"]),
			ms(r.Metrics["servers_total_ms"]), ms(r.Metrics["client_ms"]), machine)
	}
	p("\n")

	// Other figures.
	p("## Other figures\n\n| figure | value | target |\n|---|---|---|\n")
	if v, ok := f.metric("BenchmarkBurst50Saves", "uploads_per_burst"); ok {
		p("| burst of 50 saves of one module in a second: uploads | %.1f | <= 3 |\n", v)
	}
	if v, ok := f.metric("BenchmarkLSPProcessRSS", "rss_MB"); ok {
		peak, _ := f.metric("BenchmarkLSPProcessRSS", "peak_rss_MB")
		p("| `zato lsp` resident memory (peak) | %.1f MB (%.1f MB) | < 40 MB |\n", v, peak)
	}
	if v, ok := f.metric("BenchmarkHoverAndCodeLensWhileDeploying", "deploys_meanwhile"); ok {
		p("| deploys that ran during the hover benchmark | %.0f | |\n", v)
	}
	for _, r := range f.all("run/step") {
		p("| step \"%s\" took | %.0f s | |\n", r.Labels["step"], r.Metrics["seconds"])
	}
	p("\n")

	// Whatever no table above showed (a benchmark added since), as measured.
	var rest []string
	for _, r := range recs {
		if f.used[r.Key()] || strings.HasPrefix(r.Name, "run/") || strings.HasPrefix(r.Name, "BenchmarkFloor/") {
			continue
		}
		keys := make([]string, 0, len(r.Metrics))
		for k := range r.Metrics {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var cells []string
		for _, k := range keys {
			cells = append(cells, fmt.Sprintf("%s %.4g", k, r.Metrics[k]))
		}
		rest = append(rest, fmt.Sprintf("| `%s` | %d | %s |", r.Key(), r.N, strings.Join(cells, ", ")))
	}
	if len(rest) > 0 {
		p("## Every other figure of the run\n\n| benchmark | n | metrics |\n|---|---|---|\n%s\n\n", strings.Join(rest, "\n"))
	}

	p(method)
	return os.WriteFile(mdPath, md.Bytes(), 0o644)
}

const method = `## Method

- **Clusters** are real: ` + "`zato quickstart create`" + ` in a temp dir, every server a process of the zato binary
  with its python3 worker, on 127.0.0.1 (internal/testenv); PostgreSQL is a throwaway server on the same machine
  (internal/pgtest). A deployment is timed as a client sees it: from the upload to the event stream saying every
  server confirmed.
- **Paced** deploys arrive as saves from an IDE do, each on a settled cluster (10 ms apart). The 2- and 6-server
  clusters of ` + "`BenchmarkDeployConfirmed/paced`" + ` run side by side and take turns, 200 deploys each; **back
  to back**, one cluster at a time, each deploy starts the moment the previous one is confirmed (200 deploys).
- **Cluster-size sweep** (` + "`BenchmarkClusterSize`" + `): 2, 4, 8 and 16 servers on SQLite and on PostgreSQL, one
  cluster at a time, 3 warm-up deploys then 30 paced deploys each; kept to 30 so that the whole run stays near 15
  minutes on 2 cores, so its p99 is the second-slowest of 30 and moves from run to run.
- **Start to live** (` + "`BenchmarkStartToLive`" + `): one server, filled through the API to 100, 500, 2000 and
  5000 modules; at each step it is stopped and ` + "`zato start`" + ` is timed until the server is live, 2 starts per
  step (the table gives the fastest, the mean and the slowest).
- **Restart** with 500 modules (and with 3 broken ones besides): 3 restarts each. **Worker restart**
  (` + "`BenchmarkWorkerRestart`" + `): one server with one python worker holding 500 modules and issue 11's hostile corpus
  (fork, spawn, threads, closed fds, 25 MB printed at import); a service that never answers has the worker killed at
  the invoke timeout (1 s), and the figure is the time from then until the replay is over, 3 times. **Canary**
  (` + "`BenchmarkCanaryDuringCorpus`" + `): a trivial service invoked on each server of a 2-server cluster every 20 ms
  while the whole corpus is deployed 15 times over (a new version of each module each round, so each is imported
  again) and its 70 MiB reply asked for; the figure is every answer of the canary.
- **Language server** benchmarks (lsp/) run for Go's default benchtime (1 s each) against a 2-server cluster.
- **Floor**: 200 samples each, at the start and at the end of the run, in the same temp dir filesystem as the
  clusters: an SQLite WAL commit with synchronous=FULL of a row holding the module, an atomic write (temp file,
  fsync, rename, fsync of the directory), compile()+exec() of a 50-line module timed inside python3, a 1-byte
  TCP round trip over loopback.
- Each percentile is a sample of the sorted run (p99 of 200 is the 198th): figures of 30 samples or fewer have no
  real p99. Every benchmark that has a target fails the run when it misses it; the report is written anyway and
  names the failed steps.
`

func (f figures) all(name string) []benchout.Record {
	var out []benchout.Record
	for _, r := range f.recs {
		if r.Name == name || strings.HasPrefix(r.Name, name+"/") && !strings.HasPrefix(r.Name, "run/") {
			f.used[r.Key()] = true
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b benchout.Record) int {
		return a.Label("modules") - b.Label("modules")
	})
	return out
}

// sweep is the cluster-size sweep on one engine, by size.
func (f figures) sweep(odb string) []benchout.Record {
	var out []benchout.Record
	for _, r := range f.all("BenchmarkClusterSize") {
		if r.Labels["odb"] == odb {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b benchout.Record) int { return a.Label("servers") - b.Label("servers") })
	return out
}

func (f figures) plotSweep(path string) error {
	c := benchplot.Chart{Title: "DEPLOY TO ALL CONFIRMED, PACED", XLabel: "servers in the cluster", YLabel: "ms", LogX: true}
	for _, s := range []struct {
		odb, metric, name string
		color             int
		dashed            bool
	}{{"sqlite", "p50_ms", "sqlite p50", 0, false}, {"sqlite", "p99_ms", "sqlite p99", 0, true},
		{"postgresql", "p50_ms", "postgresql p50", 1, false}, {"postgresql", "p99_ms", "postgresql p99", 1, true}} {
		var pts []benchplot.Point
		for _, r := range f.sweep(s.odb) {
			pts = append(pts, benchplot.Point{X: float64(r.Label("servers")), Y: r.Metrics[s.metric]})
		}
		if len(pts) > 0 {
			c.Series = append(c.Series, benchplot.Series{Name: s.name, Color: []color.RGBA{benchplot.Blue, benchplot.Orange}[s.color],
				Dashed: s.dashed, Points: pts})
		}
	}
	return savePNG(path, c)
}

func (f figures) plotStarts(path string, py float64) error {
	c := benchplot.Chart{Title: "START TO LIVE", XLabel: "modules held", YLabel: "s", LogX: true}
	var fast, slow, floor []benchplot.Point
	for _, r := range f.all("BenchmarkStartToLive") {
		n := float64(r.Label("modules"))
		fast = append(fast, benchplot.Point{X: n, Y: r.Metrics["min_ms"] / 1000})
		slow = append(slow, benchplot.Point{X: n, Y: r.Metrics["max_ms"] / 1000})
		floor = append(floor, benchplot.Point{X: n, Y: n * py / 1000})
	}
	c.Series = []benchplot.Series{
		{Name: "fastest start", Color: benchplot.Blue, Points: fast},
		{Name: "slowest start", Color: benchplot.Blue, Dashed: true, Points: slow},
		{Name: "floor: python3 compile+exec x modules", Color: benchplot.Green, Dashed: true, Points: floor},
	}
	return savePNG(path, c)
}

func savePNG(path string, c benchplot.Chart) error {
	var b bytes.Buffer
	if err := c.PNG(&b); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

func engine(odb string) string {
	if odb == "postgresql" {
		return "PostgreSQL"
	}
	return "SQLite"
}

func load(r benchout.Record) string {
	if _, ok := r.Metrics["load1"]; !ok {
		return "–"
	}
	return fmt.Sprintf("%.2f, %.2f, %.2f (1, 5, 15 min)", r.Metrics["load1"], r.Metrics["load5"], r.Metrics["load15"])
}

func cpuModel() string {
	for _, line := range strings.Split(readFile("/proc/cpuinfo"), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func output(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// commit names HEAD, marked dirty (with the changed paths) when the tree is.
func commit() string {
	c := output("git", "log", "-1", "--format=%h %s")
	if len(c) > 90 {
		c = c[:90] + "…"
	}
	raw, err := exec.Command("git", "status", "--porcelain", "--untracked-files=normal").Output()
	st := strings.TrimRight(string(raw), "\n")
	if err != nil || st == "" {
		return "`" + c + "`"
	}
	var paths []string
	for _, l := range strings.Split(st, "\n") {
		if len(l) > 3 {
			paths = append(paths, "`"+strings.TrimSpace(l[3:])+"`")
		}
	}
	if len(paths) > 8 {
		paths = append(paths[:8], fmt.Sprintf("%d more", len(paths)-8))
	}
	return "`" + c + "`, **dirty**: " + strings.Join(paths, ", ")
}

// cmpNum orders "server_ms_server10" after "server_ms_server9".
func cmpNum(a, b string) int {
	na, _ := strconv.Atoi(strings.TrimLeft(a, "abcdefghijklmnopqrstuvwxyz_"))
	nb, _ := strconv.Atoi(strings.TrimLeft(b, "abcdefghijklmnopqrstuvwxyz_"))
	if na != nb {
		return na - nb
	}
	return strings.Compare(a, b)
}
