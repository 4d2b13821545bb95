package odb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteTime is how times are stored: fixed width, so that they sort as text.
const sqliteTime = "2006-01-02T15:04:05.000000Z"

// sqliteParams apply to every connection: FULL so that a commit survives a power loss; every transaction begins
// IMMEDIATE (takes the write lock at once) because a deferred one that upgrades from read to write gets SQLITE_BUSY
// without waiting when another process committed in between. Read transactions ask for ReadOnly, which the driver
// begins DEFERRED. WAL (readers never wait for the writer) is set once by setWAL: it is stored in the file, and
// switching to it from several connections at once fails with SQLITE_BUSY without waiting.
const sqliteParams = "_busy_timeout=5000&_foreign_keys=1&_synchronous=FULL&_txlock=immediate"

// sqlitePool is small: one process rarely has more than a few queries in flight, and writes take turns anyway.
const sqlitePool = 6

type sqliteBackend struct {
	db    *sql.DB
	stmts stmtCache
	// wlock lets this process's writers take turns in Go (honouring their contexts) instead of polling SQLite's busy
	// handler against each other; other processes still wait on the file lock with busy_timeout.
	wlock chan struct{}
	// flock serializes writers across processes with a kernel lock, which wakes the next writer the moment the
	// previous one commits. Without it, processes meet SQLite's busy handler, which sleeps 1, 2, 5, 10, 15, 20,
	// 25 ms between tries: six servers confirming one deployment at once paid tens of ms in those sleeps.
	flock  *os.File
	closed bool // guarded by wlock
	// wconn is the connection every write of this process uses (writes take turns anyway), and wsync the sync level
	// it was last set to: a write sets the level only when it differs. Both are guarded by wlock.
	wconn *sql.Conn
	wsync durability
	// wstmts are the statements prepared on wconn for writeOne, by query text (guarded by wlock).
	wstmts map[string]*sql.Stmt
}

// OpenSQLite opens (creating if needed) the SQLite ODB at path, which several processes may share.
func OpenSQLite(ctx context.Context, path string) (Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") || strings.HasPrefix(path, ":memory:") {
		return nil, fmt.Errorf("open SQLite ODB: bad path %q (a file path without ? or #)", path)
	}
	db, err := sql.Open("sqlite", path+"?"+sqliteParams)
	if err != nil {
		return nil, fmt.Errorf("open SQLite ODB %s: %w", path, err)
	}
	db.SetMaxOpenConns(sqlitePool)
	db.SetMaxIdleConns(sqlitePool)
	lf, err := os.OpenFile(path+"-wlock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open SQLite ODB write lock: %w", err)
	}
	b := &sqliteBackend{db: db, stmts: stmtCache{db: db, m: map[string]*sql.Stmt{}}, wlock: make(chan struct{}, 1), flock: lf,
		wstmts: map[string]*sql.Stmt{}}
	if err := setWAL(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open SQLite ODB %s: %w", path, err)
	}
	err = migrate(ctx, b, "sqlite", `CREATE TABLE IF NOT EXISTS schema_migrations
		(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`,
		func(context.Context, querier) error { return nil })
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open SQLite ODB %s: %w", path, err)
	}
	return newStore(b), nil
}

// setWAL switches the file to WAL, retrying while other processes hold it busy (they may be doing the same).
func setWAL(ctx context.Context, db *sql.DB) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		var mode string
		err := db.QueryRowContext(ctx, `PRAGMA journal_mode = WAL`).Scan(&mode)
		switch {
		case err == nil && strings.EqualFold(mode, "wal"):
			return nil
		case err == nil:
			return fmt.Errorf("journal_mode is %s, not wal", mode)
		case !isBusy(err):
			return fmt.Errorf("set WAL: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("set WAL: %w (%w)", err, ctx.Err())
		case <-time.After(delay):
		}
	}
}

func (b *sqliteBackend) forUpdate() string { return "" }

func (b *sqliteBackend) close() error {
	b.wlock <- struct{}{} // no write in progress; a later one finds the database closed
	if b.wconn != nil {
		b.dropWriteConn()
	}
	b.closed = true
	b.flock.Close() // under wlock: a writer's lock call must not meet the close
	<-b.wlock
	b.stmts.close()
	return b.db.Close()
}

// busyRetries bounds how often a write that found the database busy for the whole busy_timeout is tried again.
const busyRetries = 3

// syncPragmas set a connection's sync level for the write it is about to begin (SQLite refuses the change inside a
// transaction, and the level belongs to the connection: each write sets its own).
var syncPragmas = map[durability]string{powerSafe: `PRAGMA synchronous = FULL`, crashSafe: `PRAGMA synchronous = NORMAL`}

func (b *sqliteBackend) write(ctx context.Context, d durability, _ notice, fn func(q querier) error) error {
	return b.writeWith(ctx, d, func(conn *sql.Conn) error { return b.tx(ctx, conn, false, fn) })
}

// writeOne runs fn's statement in autocommit mode: no BEGIN, no COMMIT, no transaction goroutine. It cannot meet
// another writer between its read and its write, which IMMEDIATE exists to prevent: the file lock is held.
func (b *sqliteBackend) writeOne(ctx context.Context, d durability, _ notice, fn func(q querier) error) error {
	return b.writeWith(ctx, d, func(conn *sql.Conn) error {
		return fn(sqliteQuerier{run: conn, conn: conn, connStmts: b.wstmts, stmts: &b.stmts})
	})
}

// writeWith runs do on the write connection at sync level d, holding this process's and the file's write locks.
func (b *sqliteBackend) writeWith(ctx context.Context, d durability, do func(conn *sql.Conn) error) error {
	select {
	case b.wlock <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-b.wlock }()
	if b.closed {
		return errStoreClosed
	}
	if err := lockFile(ctx, b.flock); err != nil {
		return err
	}
	defer unlock(b.flock)
	conn, err := b.writeConn(ctx, d)
	if err != nil {
		return err
	}
	for range busyRetries {
		if err = do(conn); !isBusy(err) || ctx.Err() != nil {
			break
		}
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) {
		b.dropWriteConn() // the next write opens another
	}
	return err
}

// dropWriteConn closes the write connection and its statements. The caller holds wlock.
func (b *sqliteBackend) dropWriteConn() {
	for _, st := range b.wstmts {
		st.Close()
	}
	clear(b.wstmts)
	b.wconn.Close()
	b.wconn = nil
}

// writeConn is the write connection at sync level d. The caller holds wlock.
func (b *sqliteBackend) writeConn(ctx context.Context, d durability) (*sql.Conn, error) {
	if b.wconn == nil {
		conn, err := b.db.Conn(ctx)
		if err != nil {
			return nil, fmt.Errorf("begin: %w", err)
		}
		b.wconn, b.wsync = conn, -1
	}
	if b.wsync != d {
		if _, err := b.wconn.ExecContext(ctx, syncPragmas[d]); err != nil {
			b.dropWriteConn()
			return nil, fmt.Errorf("set sync level: %w", err)
		}
		b.wsync = d
	}
	return b.wconn, nil
}

func (b *sqliteBackend) read(ctx context.Context, fn func(q querier) error) error {
	return b.tx(ctx, b.db, true, fn)
}

func (b *sqliteBackend) readOne(ctx context.Context, fn func(q querier) error) error {
	return fn(sqliteQuerier{run: b.db, stmts: &b.stmts})
}

// beginner is a *sql.DB or a *sql.Conn.
type beginner interface {
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

func (b *sqliteBackend) tx(ctx context.Context, on beginner, readOnly bool, fn func(q querier) error) error {
	tx, err := on.BeginTx(ctx, &sql.TxOptions{ReadOnly: readOnly})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(sqliteQuerier{run: tx, tx: tx, stmts: &b.stmts}); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func isBusy(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_BUSY
}

// watch polls PRAGMA data_version, which changes when another connection (of this process or another) commits.
func (b *sqliteBackend) watch(ctx context.Context, ready func(), changed func(Change)) {
	const every = 50 * time.Millisecond
	var conn *sql.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	last, broken := int64(-1), false
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		var v int64
		var err error
		if conn == nil {
			conn, err = b.db.Conn(ctx)
		}
		if err == nil {
			err = conn.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&v)
		}
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			// A new connection has its own counter: start over, and tell the subscribers once it works again.
			if conn != nil {
				conn.Close()
				conn = nil
			}
			last, broken = -1, true
		case broken || (last >= 0 && v != last):
			changed(Change{}) // any commit: data_version cannot tell which
			last, broken = v, false
		default:
			last = v
		}
		ready()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sqliteQuerier runs statements in a transaction (tx set), one at a time on the write connection (conn set), or
// one at a time on the pool.
type sqliteQuerier struct {
	run   sqlRunner
	tx    *sql.Tx
	stmts *stmtCache
	// conn and connStmts: statements prepared on the write connection, kept with it.
	conn      *sql.Conn
	connStmts map[string]*sql.Stmt
}

// sqlRunner is a *sql.Tx, a *sql.Conn or a *sql.DB.
type sqlRunner interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// stmtCache keeps one prepared statement per query text. Parsing SQL is a good share of the CPU a deployment costs
// each server (the queries are few and fixed); a statement prepared on the pool is reused by every transaction
// whose connection has already prepared it.
type stmtCache struct {
	db        *sql.DB
	mu        sync.Mutex
	m         map[string]*sql.Stmt
	preparing sync.WaitGroup // background prepares, waited for before the database closes
}

// maxCachedStmts bounds the cache should a caller ever build query texts on the fly.
const maxCachedStmts = 256

// get returns the cached statement for query, or nil the first time: then the query runs unprepared and the
// statement is prepared in the background. Preparing on the pool from inside a transaction could wait for a
// connection that only the waiting transactions would free.
func (c *stmtCache) get(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[query]; ok {
		return st // nil while it is being prepared
	}
	if c.m == nil || len(c.m) >= maxCachedStmts {
		return nil
	}
	c.m[query] = nil
	c.preparing.Add(1)
	go func() {
		defer c.preparing.Done()
		st, err := c.db.Prepare(query)
		c.mu.Lock()
		defer c.mu.Unlock()
		switch {
		case err != nil:
			delete(c.m, query) // the query itself reports the error; try again next time
		case c.m == nil: // closed meanwhile
			st.Close()
		default:
			c.m[query] = st
		}
	}()
	return nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	stmts := c.m
	c.m = nil // from now on get prepares nothing, and a prepare that finishes closes its statement
	c.mu.Unlock()
	c.preparing.Wait()
	for _, st := range stmts {
		if st != nil {
			st.Close()
		}
	}
}

// stmt is the statement for query prepared where q runs it (the transaction's copy of the cached one, or the
// write connection's own), or nil to run query unprepared.
func (q sqliteQuerier) stmt(ctx context.Context, query string) *sql.Stmt {
	if q.conn != nil {
		if st, ok := q.connStmts[query]; ok {
			return st
		}
		if len(q.connStmts) >= maxCachedStmts {
			return nil
		}
		st, err := q.conn.PrepareContext(ctx, query)
		if err != nil {
			return nil // the statement runs unprepared and reports the error
		}
		q.connStmts[query] = st
		return st
	}
	st := q.stmts.get(query)
	if st == nil || q.tx == nil {
		return st
	}
	return q.tx.StmtContext(ctx, st)
}

// sqliteArgs stores times as fixed-width UTC text.
func sqliteArgs(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		if t, ok := a.(time.Time); ok {
			a = t.UTC().Format(sqliteTime)
		}
		out[i] = a
	}
	return out
}

func (q sqliteQuerier) exec(ctx context.Context, query string, args ...any) (int64, error) {
	ctx = statementContext(ctx)
	var r sql.Result
	var err error
	if st := q.stmt(ctx, query); st != nil {
		r, err = st.ExecContext(ctx, sqliteArgs(args)...)
	} else {
		r, err = q.run.ExecContext(ctx, query, sqliteArgs(args)...)
	}
	if err != nil {
		return 0, err
	}
	return r.RowsAffected()
}

func (q sqliteQuerier) query(ctx context.Context, query string, args ...any) (rows, error) {
	ctx = statementContext(ctx)
	var rs *sql.Rows
	var err error
	if st := q.stmt(ctx, query); st != nil {
		rs, err = st.QueryContext(ctx, sqliteArgs(args)...)
	} else {
		rs, err = q.run.QueryContext(ctx, query, sqliteArgs(args)...)
	}
	if err != nil {
		return nil, err
	}
	return sqliteRows{rs}, nil
}

func (q sqliteQuerier) queryRow(ctx context.Context, query string, args ...any) row {
	ctx = statementContext(ctx)
	if st := q.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, sqliteArgs(args)...)
	}
	return q.run.QueryRowContext(ctx, query, sqliteArgs(args)...)
}

// statementContext drops ctx's cancellation for one statement. The driver would start a goroutine and a progress
// handler per statement to interrupt it; ours are short and indexed, the wait for the write lock (lockFile) and
// the transaction itself still end with ctx, and busy_timeout bounds any wait inside SQLite.
func statementContext(ctx context.Context) context.Context {
	return context.WithoutCancel(ctx)
}

type sqliteRows struct{ *sql.Rows }

func (r sqliteRows) Close() { r.Rows.Close() }

// lockFile takes an exclusive flock, giving up when ctx ends. The blocking call runs on its own goroutine so a
// cancelled caller is not held; if the lock arrives after that, it is released at once.
func lockFile(ctx context.Context, f *os.File) error {
	if err := tryLock(f); err == nil {
		return nil
	}
	got := make(chan error, 1)
	go func() { got <- waitLock(f) }()
	select {
	case err := <-got:
		if err != nil {
			return fmt.Errorf("lock the ODB for writing: %w", err)
		}
		return nil
	case <-ctx.Done():
		go func() {
			if <-got == nil {
				unlock(f)
			}
		}()
		return ctx.Err()
	}
}
