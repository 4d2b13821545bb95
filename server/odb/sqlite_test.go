package odb_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/zato-go/zato/server/odb"
	"github.com/zato-go/zato/server/odb/odbtest"
)

// openPair opens two stores at once, as two servers starting together would (both run the migrations).
func openPair(t *testing.T, open func() (odb.Store, error)) (a, b odb.Store) {
	t.Helper()
	var wg sync.WaitGroup
	var errA, errB error
	wg.Go(func() { a, errA = open() })
	wg.Go(func() { b, errB = open() })
	wg.Wait()
	for _, s := range []odb.Store{a, b} {
		if s != nil {
			t.Cleanup(func() { s.Close() })
		}
	}
	if err := errors.Join(errA, errB); err != nil {
		t.Fatal(err)
	}
	return a, b
}

func TestSQLite(t *testing.T) {
	odbtest.Run(t, func(t *testing.T) (odb.Store, odb.Store) {
		path := filepath.Join(t.TempDir(), "zato.db")
		return openPair(t, func() (odb.Store, error) { return odb.OpenSQLite(t.Context(), path) })
	})
}

func TestOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "zato.db")
	s, err := odb.Open(t.Context(), "sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Reopening an existing database applies nothing twice.
	if s, err = odb.Open(t.Context(), "sqlite", path); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := odb.Open(t.Context(), "mysql", "x"); err == nil {
		t.Fatal("unknown engine: no error")
	}
	for _, bad := range []string{"", ":memory:", "a.db?mode=ro"} {
		if _, err := odb.OpenSQLite(t.Context(), bad); err == nil {
			t.Fatalf("OpenSQLite(%q): no error", bad)
		}
	}
	if _, err := odb.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "missing", "dir", "zato.db")); err == nil {
		t.Fatal("OpenSQLite in a missing directory: no error")
	}
}

const helperEnv = "ODB_TEST_HELPER_DB"

const perProcess = 10

// sqliteHelper is one of TestSQLiteProcesses' server processes: it opens the shared file (maybe creating it) and
// deploys one module perProcess times.
func sqliteHelper() int {
	ctx := context.Background()
	s, err := odb.OpenSQLite(ctx, os.Getenv(helperEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Close()
	for i := range perProcess {
		_, err := s.CreateDeployment(ctx, odb.NewDeployment{Module: "mp.py", Action: odb.ActionDeploy,
			Source: fmt.Sprintf("pid %d deploy %d", os.Getpid(), i), Servers: []odb.ServerStatus{{Server: "s1"}}})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return 0
}

// TestSQLiteProcesses: several processes create one file at once and deploy one module concurrently.
func TestSQLiteProcesses(t *testing.T) {
	const procs = 4
	path := filepath.Join(t.TempDir(), "zato.db")
	var cmds []*exec.Cmd
	for range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), helperEnv+"="+path)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("process %d: %v", i, err)
		}
	}
	s, err := odb.OpenSQLite(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	vs, err := s.Versions(t.Context(), "mp.py")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != procs*perProcess {
		t.Fatalf("%d versions, want %d", len(vs), procs*perProcess)
	}
	for i, v := range vs {
		if v.Number != len(vs)-i {
			t.Fatalf("numbers not gapless: position %d has %d", i, v.Number)
		}
	}
}

func BenchmarkCreateDeployment(b *testing.B) {
	s, err := odb.OpenSQLite(b.Context(), filepath.Join(b.TempDir(), "zato.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	rows := []odb.ServerStatus{{Server: "server1"}, {Server: "server2"}}
	i := 0
	for b.Loop() {
		i++
		if _, err := s.CreateDeployment(b.Context(), odb.NewDeployment{Module: "bench.py", Action: odb.ActionDeploy,
			Source: "src " + strconv.Itoa(i), Servers: rows}); err != nil {
			b.Fatal(err)
		}
	}
}

// A write that comes while the store closes (a goroutine that outlived its server's stop) gets an error, never a race
// on the file lock (the race detector found one) or a write to a closed file.
func TestSQLiteWriteWhileClosing(t *testing.T) {
	for range 20 {
		s, err := odb.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "zato.db"))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.RegisterServer(t.Context(), odb.Server{Name: "server1"}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 20 {
					if err := s.Heartbeat(context.Background(), "server1"); err != nil && !errors.Is(err, odb.ErrUnavailable) && !strings.Contains(err.Error(), "closed") {
						t.Errorf("a write while closing: %v", err)
						return
					}
				}
			})
		}
		s.Close()
		wg.Wait()
	}
}
