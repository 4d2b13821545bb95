// Package benchout is the file the benchmarks write their figures to: one JSON object a line, appended to the file
// named by $ZATO_BENCH_OUT (nothing is written when it is unset). internal/benchreport turns the file into
// BENCHMARKS.md and its plots.
package benchout

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Env names the file figures are appended to.
const Env = "ZATO_BENCH_OUT"

// Record is one figure: a named measurement (with labels such as servers=2, odb=sqlite) and its metrics
// (p50_ms, p95_ms, p99_ms, ...). A later record with the same Key replaces an earlier one: Go runs a benchmark
// once with b.N = 1 before the real run.
type Record struct {
	Name    string             `json:"name"`
	Labels  map[string]string  `json:"labels,omitempty"`
	N       int                `json:"n"`
	Metrics map[string]float64 `json:"metrics"`
	At      time.Time          `json:"at"`
}

// Key identifies a figure: its name and labels.
func (r Record) Key() string {
	keys := make([]string, 0, len(r.Labels))
	for k := range r.Labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var s strings.Builder
	s.WriteString(r.Name)
	for _, k := range keys {
		fmt.Fprintf(&s, " %s=%s", k, r.Labels[k])
	}
	return s.String()
}

// Label returns a label as an int (0 when missing or not a number).
func (r Record) Label(k string) int {
	n, _ := strconv.Atoi(r.Labels[k])
	return n
}

var mu sync.Mutex

// Emit appends r to $ZATO_BENCH_OUT; without it, it does nothing.
func Emit(r Record) error {
	path := os.Getenv(Env)
	if path == "" {
		return nil
	}
	if r.At.IsZero() {
		r.At = time.Now()
	}
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Latencies returns p50, p95, p99, min, max and mean of lat in milliseconds (p50_ms, ...), sorting lat.
func Latencies(lat []time.Duration) map[string]float64 {
	m := map[string]float64{}
	if len(lat) == 0 {
		return m
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
	at := func(p float64) float64 { return ms(lat[int(p*float64(len(lat)-1))]) }
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	m["p50_ms"], m["p95_ms"], m["p99_ms"] = at(0.50), at(0.95), at(0.99)
	m["min_ms"], m["max_ms"] = ms(lat[0]), ms(lat[len(lat)-1])
	m["mean_ms"] = ms(sum / time.Duration(len(lat)))
	return m
}

// Read reads a file of records; later records replace earlier ones with the same Key, keeping the first one's
// place.
func Read(path string) ([]Record, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []Record
	at := map[string]int{}
	for i, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var r Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, i+1, err)
		}
		if j, ok := at[r.Key()]; ok {
			out[j] = r
			continue
		}
		at[r.Key()] = len(out)
		out = append(out, r)
	}
	return out, nil
}
