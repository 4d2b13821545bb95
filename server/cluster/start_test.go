package cluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zato-go/zato/server/odb"
)

// TestStartDoesNotGoBackToAnOlderVersion: two deployments of a module made while a server starts leave it two
// pending rows; the start loads the module's current version (the newer one), and the older deployment must not be
// applied after it. CI's TestRestartsDuringDeploymentStream found a restarted server serving the older version, with
// both rows saying deployed.
func TestStartDoesNotGoBackToAnOlderVersion(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	store, err := odb.OpenSQLite(ctx, filepath.Join(t.TempDir(), "zato.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	rt := &loads{}
	dir := t.TempDir()
	c := New(Config{Name: "server3", Secret: "s3cret", CurrentDir: dir,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, store, rt)
	if err := c.Register(ctx, os.Getpid(), "test"); err != nil {
		t.Fatal(err)
	}
	var ds []odb.Deployment
	for _, src := range []string{"v1", "v2"} { // while server3 starts: a pending row each
		d, err := store.CreateDeployment(ctx, odb.NewDeployment{Module: "m.py", Action: odb.ActionDeploy, Source: src,
			ReceivedBy: "server1", Servers: []odb.ServerStatus{{Server: "server3", Status: odb.StatusPending}}})
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	if err := c.Start(ctx, os.Getpid(), "test"); err != nil {
		t.Fatal(err)
	}
	// The older deployment's row leaves pending once the start dealt with it, whichever way.
	deadline := time.Now().Add(10 * time.Second)
	for {
		rows, err := store.ServerStatuses(ctx, ds[0].ID)
		if err == nil && len(rows) == 1 && rows[0].Status != odb.StatusPending {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deployment %d still pending: %+v %v", ds[0].ID, rows, err)
		}
		select {
		case <-c.Hub().Wait():
		case <-time.After(50 * time.Millisecond):
		}
	}
	if got := rt.all(); !slices.Equal(got, []string{"v2"}) {
		t.Fatalf("loaded %q, want only the current version, v2", got)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "m.py")); err != nil || string(b) != "v2" {
		t.Fatalf("the work dir holds %q (%v), want v2", b, err)
	}
	rows, err := store.ServerStatuses(ctx, ds[1].ID)
	if err != nil || len(rows) != 1 || rows[0].Status != odb.StatusDeployed {
		t.Fatalf("the newest deployment's row: %+v %v", rows, err)
	}
	// The older one took the start's result: server3 was starting, never offline.
	if rows, err := store.ServerStatuses(ctx, ds[0].ID); err != nil || len(rows) != 1 || rows[0].Status != odb.StatusDeployed {
		t.Fatalf("the superseded deployment's row: %+v %v", rows, err)
	}
}

// flakyStatusStore fails its first fails status writes, as an ODB outage does after an import succeeded.
type flakyStatusStore struct {
	odb.Store
	fails atomic.Int32
}

func (s *flakyStatusStore) SetServerStatus(ctx context.Context, id int64, st odb.ServerStatus) error {
	if s.fails.Add(-1) >= 0 {
		return fmt.Errorf("set status: %w", odb.ErrUnavailable)
	}
	return s.Store.SetServerStatus(ctx, id, st)
}

// TestStatusWriteRetriedWithoutImportingAgain: a deployment applied while its status could not be written (the ODB
// went away between the import and the write) is recorded once the ODB is back, without importing the module
// again: module-level side effects ran twice, and the client waited for a second import.
func TestStatusWriteRetriedWithoutImportingAgain(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	base, err := odb.OpenSQLite(ctx, filepath.Join(t.TempDir(), "zato.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	store := &flakyStatusStore{Store: base}
	rt := &loads{}
	c := New(Config{Name: "server2", Secret: "s3cret", CurrentDir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, store, rt)
	d, err := store.CreateDeployment(ctx, odb.NewDeployment{Module: "m.py", Action: odb.ActionDeploy, Source: "v1",
		ReceivedBy: "server1", Servers: []odb.ServerStatus{{Server: "server2", Status: odb.StatusPending}}})
	if err != nil {
		t.Fatal(err)
	}
	store.fails.Store(2)
	go c.deployLoop(ctx)
	deadline := time.Now().Add(20 * time.Second)
	for {
		rows, err := base.ServerStatuses(ctx, d.ID)
		if err == nil && len(rows) == 1 && rows[0].Status == odb.StatusDeployed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deployment %d not recorded: %+v %v", d.ID, rows, err)
		}
		c.kick() // as the server's heartbeat does: the deployer looks at its pending list again
		select {
		case <-c.Hub().Wait():
		case <-time.After(50 * time.Millisecond):
		}
	}
	if got := rt.all(); !slices.Equal(got, []string{"v1"}) {
		t.Fatalf("imported %q, want v1 once", got)
	}
}
