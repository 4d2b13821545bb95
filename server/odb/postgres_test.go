package odb_test

import (
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

func waitSignal(t *testing.T, ch <-chan struct{}) {
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
