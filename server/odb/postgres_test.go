package odb_test

import (
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/zato-go/zato/internal/pgtest"
	"github.com/zato-go/zato/server/odb"
	"github.com/zato-go/zato/server/odb/odbtest"
)

func TestPostgres(t *testing.T) {
	odbtest.Run(t, func(t *testing.T) (odb.Store, odb.Store) {
		dsn := pgtest.Shared(t)
		return openPair(t, func() (odb.Store, error) { return odb.Open(t.Context(), "postgresql", dsn) })
	})
}

// TestPostgresListenReconnect: Changes survives losing its LISTEN connection.
func TestPostgresListenReconnect(t *testing.T) {
	dsn := pgtest.Shared(t)
	a, b := openPair(t, func() (odb.Store, error) { return odb.OpenPostgres(t.Context(), dsn) })
	ctx := t.Context()
	ch := b.Changes(ctx)

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var killed int
	if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN%'`).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed != 1 {
		t.Fatalf("terminated %d LISTEN connections, want 1", killed)
	}
	// Reconnecting signals once (notifications may have been missed), then NOTIFY works again.
	waitSignal(t, ch)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := a.RegisterServer(ctx, odb.Server{Name: "s1", State: odb.ServerLive}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ch:
			return
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no signal after writes following the reconnect")
		}
	}
}

// TestPostgresChangeKinds: a server's rows notify as rows only, a heartbeat not at all, a deployment as a change.
func TestPostgresChangeKinds(t *testing.T) {
	dsn := pgtest.Shared(t)
	a, b := openPair(t, func() (odb.Store, error) { return odb.OpenPostgres(t.Context(), dsn) })
	ctx := t.Context()
	if err := a.RegisterServer(ctx, odb.Server{Name: "k1", State: odb.ServerLive}); err != nil {
		t.Fatal(err)
	}
	d, err := a.CreateDeployment(ctx, odb.NewDeployment{Module: "kinds.py", Action: odb.ActionDeploy, Source: "x",
		Servers: []odb.ServerStatus{{Server: "k1", Status: odb.StatusPending}}})
	if err != nil {
		t.Fatal(err)
	}
	ch := b.Changes(ctx)
	// NOTIFYs arrive in commit order: had the heartbeat notified, its change would come first (or coalesce into
	// one that is not rows only).
	if err := a.Heartbeat(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	if err := a.SetServerStatus(ctx, d.ID, odb.ServerStatus{Server: "k1", Status: odb.StatusDeployed}); err != nil {
		t.Fatal(err)
	}
	if c := waitChange(t, ch); !c.RowsOnly {
		t.Fatal("a heartbeat, or a status row, was reported as more than rows")
	}
	if _, err := a.CreateDeployment(ctx, odb.NewDeployment{Module: "kinds.py", Action: odb.ActionDeploy, Source: "y",
		Servers: []odb.ServerStatus{{Server: "k1", Status: odb.StatusPending}}}); err != nil {
		t.Fatal(err)
	}
	if c := waitChange(t, ch); c.RowsOnly {
		t.Fatal("a new deployment was reported as rows only")
	}
}

func waitChange(t *testing.T, ch <-chan odb.Change) odb.Change {
	t.Helper()
	select {
	case c, ok := <-ch:
		if !ok {
			t.Fatal("channel closed")
		}
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no signal after 10s")
	}
	return odb.Change{}
}

func waitSignal(t *testing.T, ch <-chan odb.Change) {
	t.Helper()
	select {
	case _, ok := <-ch:
		if !ok {
			t.Fatal("channel closed")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no signal after 10s")
	}
}

// TestPostgresUnavailable: a lost server reads as ErrUnavailable (callers answer 503, try again), not as an internal
// error, for reads and writes alike.
func TestPostgresUnavailable(t *testing.T) {
	srv, err := pgtest.Launch()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	store, err := odb.OpenPostgres(t.Context(), srv.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.RegisterServer(t.Context(), odb.Server{Name: "s1", State: odb.ServerLive}); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	if _, err := store.Servers(t.Context()); !errors.Is(err, odb.ErrUnavailable) {
		t.Fatalf("read with the server gone: %v", err)
	}
	if err := store.Heartbeat(t.Context(), "s1"); !errors.Is(err, odb.ErrUnavailable) {
		t.Fatalf("write with the server gone: %v", err)
	}
	if _, err := store.Modules(t.Context()); !errors.Is(err, odb.ErrUnavailable) {
		t.Fatalf("read in a transaction with the server gone: %v", err)
	}
}
