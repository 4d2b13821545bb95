package odb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgChannel is the LISTEN/NOTIFY channel every write transaction notifies.
const pgChannel = "zato_odb"

// pgMigrationLock is the advisory lock key that makes concurrent opens migrate one at a time.
const pgMigrationLock int64 = 0x7a61746f5f6f6462 // "zato_odb"

type pgBackend struct {
	pool   *pgxpool.Pool
	listen *pgx.ConnConfig // for Changes' dedicated connection
}

// OpenPostgres opens the PostgreSQL ODB at dsn (URL or key=value string).
func OpenPostgres(ctx context.Context, dsn string) (Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open PostgreSQL ODB: parse DSN: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open PostgreSQL ODB: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open PostgreSQL ODB %s:%d/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port,
			cfg.ConnConfig.Database, pgAvailability(err))
	}
	b := &pgBackend{pool: pool, listen: cfg.ConnConfig.Copy()}
	err = migrate(ctx, b, "postgresql", `CREATE TABLE IF NOT EXISTS schema_migrations
		(version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)`,
		func(ctx context.Context, q querier) error {
			_, err := q.exec(ctx, `SELECT pg_advisory_xact_lock($1)`, pgMigrationLock)
			return err
		})
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("open PostgreSQL ODB: %w", pgAvailability(err))
	}
	return newStore(b), nil
}

// forUpdate: writers of one module take turns on its row (READ COMMITTED then sees what the previous one committed).
func (b *pgBackend) forUpdate() string { return " FOR UPDATE" }

func (b *pgBackend) close() error {
	b.pool.Close()
	return nil
}

// pgRetries bounds how often a write that hit a serialization failure or a deadlock is tried again.
const pgRetries = 3

// pgBegins begin a write with the durability asked for, in one round trip.
var pgBegins = map[durability]string{powerSafe: `BEGIN`, crashSafe: `BEGIN; SET LOCAL synchronous_commit = off`}

// pgPayloads are the NOTIFY payloads of the notices (noticeNone sends none).
var pgPayloads = map[notice]string{noticeAny: "", noticeRows: "rows"}

func (b *pgBackend) write(ctx context.Context, d durability, n notice, fn func(q querier) error) error {
	return pgAvailability(b.writeTries(ctx, d, n, fn))
}

func (b *pgBackend) writeTries(ctx context.Context, d durability, n notice, fn func(q querier) error) error {
	var err error
	for range pgRetries {
		err = b.tx(ctx, pgx.TxOptions{BeginQuery: pgBegins[d]}, func(q querier) error {
			if err := fn(q); err != nil {
				return err
			}
			payload, ok := pgPayloads[n]
			if !ok {
				return nil
			}
			_, err := q.exec(ctx, `SELECT pg_notify('`+pgChannel+`', $1)`, payload)
			return err
		})
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || (pe.Code != "40001" && pe.Code != "40P01") || ctx.Err() != nil {
			return err
		}
	}
	return err
}

func (b *pgBackend) read(ctx context.Context, fn func(q querier) error) error {
	return pgAvailability(b.tx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn))
}

// writeOne is write: the NOTIFY makes even one statement a transaction of two.
func (b *pgBackend) writeOne(ctx context.Context, d durability, n notice, fn func(q querier) error) error {
	return b.write(ctx, d, n, fn)
}

func (b *pgBackend) readOne(ctx context.Context, fn func(q querier) error) error {
	return pgAvailability(fn(pgQuerier{b.pool}))
}

// pgAvailability marks err as ErrUnavailable when it says the server cannot be reached or is going away (a
// restart, a network cut), so that callers answer "try again shortly" instead of an internal error.
func pgAvailability(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	var ce *pgconn.ConnectError
	var pe *pgconn.PgError
	var ne net.Error
	switch {
	case errors.As(err, &ce), pgconn.SafeToRetry(err), errors.As(err, &ne) && !ne.Timeout(),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.As(err, &pe) && (strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

func (b *pgBackend) tx(ctx context.Context, opts pgx.TxOptions, fn func(q querier) error) error {
	tx, err := b.pool.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(pgQuerier{tx}); err != nil {
		tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// watch LISTENs on a dedicated connection, reconnecting with backoff; after a reconnect it signals once, since
// notifications sent while it was away are lost.
func (b *pgBackend) watch(ctx context.Context, ready func(), changed func(Change)) {
	const minBackoff, maxBackoff = 100 * time.Millisecond, 5 * time.Second
	backoff := minBackoff
	connected := false
	for ctx.Err() == nil {
		conn, err := pgx.ConnectConfig(ctx, b.listen.Copy())
		if err == nil {
			_, err = conn.Exec(ctx, `LISTEN `+pgChannel)
		}
		if err == nil {
			if connected {
				changed(Change{})
			}
			connected = true
			backoff = minBackoff
			ready()
			for {
				var n *pgconn.Notification
				if n, err = conn.WaitForNotification(ctx); err != nil {
					break
				}
				changed(Change{RowsOnly: n.Payload == pgPayloads[noticeRows]})
			}
		}
		if conn != nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			conn.Close(cctx)
			cancel()
		}
		ready() // the first attempt failed: do not keep Changes waiting
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// pgQuerier runs statements in a transaction or, one at a time, on the pool.
type pgQuerier struct{ tx pgxRunner }

// pgxRunner is a pgx.Tx or the pool.
type pgxRunner interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (q pgQuerier) exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := q.tx.Exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (q pgQuerier) query(ctx context.Context, query string, args ...any) (rows, error) {
	return q.tx.Query(ctx, query, args...)
}

func (q pgQuerier) queryRow(ctx context.Context, query string, args ...any) row {
	return q.tx.QueryRow(ctx, query, args...)
}
