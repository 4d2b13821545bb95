// Command benchreport runs the benchmarks of `go tool task bench` with $ZATO_BENCH_OUT set (bench/ writes its
// figures there as JSON lines; lsp/'s standard benchmark output is read too) and turns the figures into
// BENCHMARKS.md and the plots under docs/bench/. With -report it only rewrites the report from an earlier run's
// figures.
//
//	go run ./internal/benchreport            # the full run, about 15 minutes on 2 cores
//	go run ./internal/benchreport -quick     # 3 samples of each, small sweeps: a smoke test of the whole chain
//	go run ./internal/benchreport -report    # BENCHMARKS.md and the plots again from test-artifacts/bench
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/zato-go/zato/internal/benchout"
)

// step is one `go test` of the run.
type step struct {
	name, pkg, bench, benchtime string
	env                         []string
	text                        bool // read the standard benchmark lines (lsp/ writes no JSON figures)
}

func steps(quick bool) []step {
	n := func(full, q string) string {
		if quick {
			return q
		}
		return full
	}
	return []step{
		{name: "floor (start)", pkg: "./bench/", bench: "^BenchmarkFloor$", benchtime: n("200x", "20x"), env: []string{"ZATO_BENCH_PHASE=start"}},
		{name: "deploy, status, pickup", pkg: "./bench/", bench: "DeployConfirmed|Status|Pickup", benchtime: n("200x", "3x")},
		{name: "restart", pkg: "./bench/", bench: "Restart", benchtime: "3x"},
		{name: "canary", pkg: "./bench/", bench: "^BenchmarkCanaryDuringCorpus$", benchtime: n("15x", "1x")},
		{name: "cluster size", pkg: "./bench/", bench: "^BenchmarkClusterSize$", benchtime: n("30x", "3x"),
			env: []string{"ZATO_BENCH_SIZES=" + n("2,4,8,16", "2,4")}},
		{name: "start to live", pkg: "./bench/", bench: "^BenchmarkStartToLive$", benchtime: "2x",
			env: []string{"ZATO_BENCH_MODULES=" + n("100,500,2000,5000", "100,300")}},
		{name: "lsp", pkg: "./lsp/", bench: ".", benchtime: n("1s", "3x"), text: true},
		{name: "floor (end)", pkg: "./bench/", bench: "^BenchmarkFloor$", benchtime: n("200x", "20x"), env: []string{"ZATO_BENCH_PHASE=end"}},
	}
}

func main() {
	var (
		quick  = flag.Bool("quick", false, "3 samples of each benchmark and small sweeps (a smoke test); the report says so")
		only   = flag.Bool("report", false, "do not run the benchmarks: rewrite the report from -figures")
		dir    = flag.String("figures", "test-artifacts/bench", "where the run's figures and logs go")
		md     = flag.String("md", "BENCHMARKS.md", "the report")
		docs   = flag.String("docs", "docs/bench", "where the plots (and a copy of the figures) go")
		filter = flag.String("steps", "", "run only the steps whose names contain this (development)")
	)
	flag.Parse()
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		fatal(err)
	}
	figures, _ := filepath.Abs(filepath.Join(*dir, "figures.jsonl"))
	failed := []string{}
	if !*only {
		if err := os.Remove(figures); err != nil && !os.IsNotExist(err) {
			fatal(err)
		}
		os.Setenv(benchout.Env, figures)
		emitRun("start", *quick)
		for _, s := range steps(*quick) {
			if *filter != "" && !strings.Contains(s.name, *filter) {
				continue
			}
			if err := run(s, *dir); err != nil {
				fmt.Fprintf(os.Stderr, "benchreport: %s: %v\n", s.name, err)
				failed = append(failed, s.name)
				emit(benchout.Record{Name: "run/failed", Labels: map[string]string{"step": s.name}, Metrics: map[string]float64{}})
			}
		}
		emitRun("end", *quick)
	}
	recs, err := benchout.Read(figures)
	if err != nil {
		fatal(err)
	}
	if err := write(recs, *md, *docs); err != nil {
		fatal(err)
	}
	if b, err := os.ReadFile(figures); err == nil {
		_ = os.WriteFile(filepath.Join(*docs, "figures.jsonl"), b, 0o644)
	}
	fmt.Printf("benchreport: wrote %s and %s/*.png from %d figures\n", *md, *docs, len(recs))
	if len(failed) > 0 {
		fmt.Fprintf(os.Stderr, "benchreport: failed: %s (the report lists them)\n", strings.Join(failed, ", "))
		os.Exit(1)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "benchreport:", err)
	os.Exit(1)
}

func emit(r benchout.Record) {
	if err := benchout.Emit(r); err != nil {
		fatal(err)
	}
}

// emitRun records the load average and the time at the start and end of the run.
func emitRun(phase string, quick bool) {
	m := map[string]float64{"unix": float64(time.Now().Unix())}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		for i, k := range []string{"load1", "load5", "load15"} {
			if i < len(f) {
				m[k], _ = strconv.ParseFloat(f[i], 64)
			}
		}
	}
	if quick {
		m["quick"] = 1
	}
	emit(benchout.Record{Name: "run/" + phase, Metrics: m})
}

// run runs one step, its output to the terminal and to a log; a text step's benchmark lines become records.
func run(s step, dir string) error {
	args := []string{"test", "-run", "^$", "-bench", s.bench, "-benchtime", s.benchtime, "-count=1", "-timeout", "30m", s.pkg}
	fmt.Printf("== %s: go %s\n", s.name, strings.Join(args, " "))
	logName := filepath.Join(dir, strings.NewReplacer(" ", "-", ",", "", "(", "", ")", "").Replace(s.name)+".log")
	log, err := os.Create(logName)
	if err != nil {
		return err
	}
	defer log.Close()
	var out bytes.Buffer
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), s.env...)
	w := io.MultiWriter(os.Stdout, log, &out)
	cmd.Stdout, cmd.Stderr = w, w
	start := time.Now()
	err = cmd.Run()
	fmt.Printf("== %s: %s\n", s.name, time.Since(start).Round(time.Second))
	emit(benchout.Record{Name: "run/step", Labels: map[string]string{"step": s.name},
		Metrics: map[string]float64{"seconds": time.Since(start).Seconds()}})
	if s.text {
		for _, r := range parseBench(out.String()) {
			emit(r)
		}
	}
	return err
}

// parseBench reads Go's benchmark result lines ("BenchmarkX-2  N  v unit  v unit ...") as records; units become
// metric names with '-' as '_' ("p50-ms" -> "p50_ms").
func parseBench(out string) []benchout.Record {
	var recs []benchout.Record
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		r := benchout.Record{Name: name, N: n, Metrics: map[string]float64{}, At: time.Now()}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			r.Metrics[strings.NewReplacer("-", "_", "/", "_per_").Replace(f[i+1])] = v
		}
		recs = append(recs, r)
	}
	return recs
}
