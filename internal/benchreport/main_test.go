package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zato-go/zato/internal/benchout"
)

const lspOut = `goos: linux
BenchmarkSaveToAllConfirmed-2   	     412	   2866111 ns/op	         2.512 lsp-elapsed-p50-ms	         2.745 p50-ms	         3.800 p95-ms
BenchmarkBurst50Saves-2         	       1	1234567890 ns/op	         2.000 uploads/burst
--- FAIL: BenchmarkX
PASS
`

func TestParseBench(t *testing.T) {
	recs := parseBench(lspOut)
	if len(recs) != 2 {
		t.Fatalf("%+v", recs)
	}
	if r := recs[0]; r.Name != "BenchmarkSaveToAllConfirmed" || r.N != 412 || r.Metrics["p50_ms"] != 2.745 || r.Metrics["lsp_elapsed_p50_ms"] != 2.512 {
		t.Fatalf("%+v", r)
	}
	if r := recs[1]; r.Metrics["uploads_per_burst"] != 2 {
		t.Fatalf("%+v", r)
	}
}

// TestWrite renders a report from a few figures: the floor ratios and both plots come out.
func TestWrite(t *testing.T) {
	dir := t.TempDir()
	recs := []benchout.Record{
		{Name: "run/start", Metrics: map[string]float64{"unix": 1.7e9, "load1": 9}},
		{Name: "BenchmarkFloor/odb-commit", Labels: map[string]string{"phase": "start"}, Metrics: map[string]float64{"p50_ms": 0.2}},
		{Name: "BenchmarkFloor/atomic-write", Labels: map[string]string{"phase": "start"}, Metrics: map[string]float64{"p50_ms": 0.3}},
		{Name: "BenchmarkFloor/python-compile-exec", Labels: map[string]string{"phase": "start"}, Metrics: map[string]float64{"p50_ms": 0.4}},
		{Name: "BenchmarkFloor/loopback-rtt", Labels: map[string]string{"phase": "start"}, Metrics: map[string]float64{"p50_ms": 0.1}},
		{Name: "BenchmarkDeployConfirmed/paced", Labels: map[string]string{"servers": "2", "odb": "sqlite"}, N: 200, Metrics: map[string]float64{"p50_ms": 3, "p95_ms": 4, "p99_ms": 5}},
		{Name: "BenchmarkClusterSize/odb=sqlite/servers=2", Labels: map[string]string{"servers": "2", "odb": "sqlite"}, N: 30, Metrics: map[string]float64{"p50_ms": 3, "p99_ms": 6}},
		{Name: "BenchmarkClusterSize/odb=sqlite/servers=4", Labels: map[string]string{"servers": "4", "odb": "sqlite"}, N: 30, Metrics: map[string]float64{"p50_ms": 4, "p99_ms": 8}},
		{Name: "BenchmarkStartToLive/modules=100", Labels: map[string]string{"modules": "100"}, N: 2, Metrics: map[string]float64{"min_ms": 100, "mean_ms": 110, "max_ms": 120}},
		{Name: "BenchmarkStartToLive/modules=500", Labels: map[string]string{"modules": "500"}, N: 2, Metrics: map[string]float64{"min_ms": 300, "mean_ms": 310, "max_ms": 320}},
	}
	md := filepath.Join(dir, "BENCHMARKS.md")
	if err := write(recs, md, filepath.Join(dir, "docs")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(md)
	for _, want := range []string{"| **deploy floor** (the four in a row) | | | 1.00 ms |", "| 200 | 3.00 ms | 4.00 ms | 5.00 ms | 3.0x |",
		"other engineers were using this machine", "start to live, 500 modules held", "1.5x"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("no %q in\n%s", want, b)
		}
	}
	for _, png := range []string{"deploy-vs-servers.png", "start-vs-modules.png"} {
		if st, err := os.Stat(filepath.Join(dir, "docs", png)); err != nil || st.Size() < 1000 {
			t.Errorf("%s: %v", png, err)
		}
	}
}
