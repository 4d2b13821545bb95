package benchout

import (
	"path/filepath"
	"testing"
	"time"
)

func TestEmitRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "figures.jsonl")
	t.Setenv(Env, path)
	lat := []time.Duration{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond}
	for _, r := range []Record{
		{Name: "BenchmarkX", Labels: map[string]string{"servers": "2"}, N: 1, Metrics: Latencies(lat[:1])},
		{Name: "BenchmarkX", Labels: map[string]string{"servers": "6"}, N: 3, Metrics: Latencies(lat)},
		{Name: "BenchmarkX", Labels: map[string]string{"servers": "2"}, N: 3, Metrics: Latencies(lat)}, // the real run after b.N = 1
	} {
		if err := Emit(r); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Label("servers") != 2 || recs[0].N != 3 || recs[1].Label("servers") != 6 {
		t.Fatalf("%+v", recs)
	}
	if m := recs[0].Metrics; m["p50_ms"] != 2 || m["p99_ms"] != 2 || m["min_ms"] != 1 || m["max_ms"] != 3 || m["mean_ms"] != 2 {
		t.Fatalf("%v", m)
	}
}

func TestEmitWithoutEnv(t *testing.T) {
	t.Setenv(Env, "")
	if err := Emit(Record{Name: "x"}); err != nil {
		t.Fatal(err)
	}
}
