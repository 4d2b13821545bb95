package odb

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// Open opens the ODB of engine "sqlite" (dsn = file path) or "postgresql" (dsn = libpq URL or key=value string) and
// applies pending migrations.
func Open(ctx context.Context, engine, dsn string) (Store, error) {
	switch engine {
	case "sqlite":
		return OpenSQLite(ctx, dsn)
	case "postgresql", "postgres":
		return OpenPostgres(ctx, dsn)
	default:
		return nil, fmt.Errorf("unknown ODB engine %q (sqlite or postgresql)", engine)
	}
}

// querier is what both engines offer inside a transaction. SQL uses $1 placeholders, which SQLite accepts too.
type querier interface {
	exec(ctx context.Context, q string, args ...any) (int64, error)
	query(ctx context.Context, q string, args ...any) (rows, error)
	queryRow(ctx context.Context, q string, args ...any) row
}

type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

type row interface{ Scan(dest ...any) error }

// backend is what differs between the engines; store holds the semantics.
type backend interface {
	// write runs fn in a transaction that serialises with every other writer (SQLite: BEGIN IMMEDIATE; PostgreSQL:
	// row locks taken by fn, and a NOTIFY before commit), committed as d says.
	write(ctx context.Context, d durability, n notice, fn func(q querier) error) error
	// writeOne is write for an fn that runs a single statement, which may then commit by itself.
	writeOne(ctx context.Context, d durability, n notice, fn func(q querier) error) error
	// read runs fn in a read-only transaction with one snapshot.
	read(ctx context.Context, fn func(q querier) error) error
	// readOne runs fn, which runs a single statement, outside any transaction: a statement sees one snapshot by
	// itself, and the hottest reads (a deployer's pending list, a waiting client's rows) skip BEGIN and COMMIT.
	readOne(ctx context.Context, fn func(q querier) error) error
	// forUpdate is appended to a SELECT that must lock its rows until commit ("" where write already serialises).
	forUpdate() string
	// watch calls changed whenever another connection may have committed, until ctx ends. It calls ready once it
	// has a baseline (or gave up on the first attempt), so that no commit after Changes returns goes unseen.
	watch(ctx context.Context, ready func(), changed func(Change))
	close() error
}

// notice is what a write tells the other processes through PostgreSQL NOTIFY (SQLite's change check cannot tell
// writes apart: there every commit is noticeAny).
type notice int

const (
	// noticeAny: something a deployer may need changed (a deployment, membership).
	noticeAny notice = iota
	// noticeRows: only servers' rows changed (Change.RowsOnly).
	noticeRows
	// noticeNone: nothing anyone waits for (a heartbeat: liveness is judged by its age).
	noticeNone
)

// durability says what a commit must survive.
type durability int

const (
	// powerSafe commits are on disk before commit returns (SQLite synchronous=FULL; PostgreSQL's default). For what
	// nobody could rebuild: uploads, which a client has been told were accepted, and the schema.
	powerSafe durability = iota
	// crashSafe commits survive the server process dying (kill -9) but a power loss or OS crash may undo the last
	// few (SQLite synchronous=NORMAL in WAL mode; PostgreSQL synchronous_commit=off); the database stays
	// consistent either way. For rows a server writes again when it starts: membership and heartbeats, its status
	// in deployments (reconcile records the newest deployment of every module; a row left pending reads offline)
	// and service-sources results. A sync costs more CPU than the rest of such a write, and every server writes
	// one row per deployment.
	crashSafe
)

// store implements Store over a backend.
type store struct {
	b backend

	ctx    context.Context // ends at Close; bounds the watcher
	cancel context.CancelFunc

	watchOnce sync.Once
	ready     chan struct{} // closed once the watcher has its baseline
	watchDone chan struct{} // closed when the watcher returned

	mu     sync.Mutex
	subs   map[chan Change]struct{}
	closed bool

	closeOnce sync.Once
	closeErr  error
}

func newStore(b backend) *store {
	ctx, cancel := context.WithCancel(context.Background())
	return &store{b: b, ctx: ctx, cancel: cancel, ready: make(chan struct{}), watchDone: make(chan struct{}),
		subs: map[chan Change]struct{}{}}
}

// now is the time stored by every write: UTC, at the microsecond precision both engines keep.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// utcTime scans a time column of either engine (time.Time from PostgreSQL, TEXT from SQLite) as UTC.
type utcTime time.Time

func (u *utcTime) Scan(src any) error {
	var t time.Time
	var err error
	switch v := src.(type) {
	case time.Time:
		t = v
	case string:
		t, err = time.Parse(time.RFC3339Nano, v)
	case []byte:
		t, err = time.Parse(time.RFC3339Nano, string(v))
	case nil:
	default:
		err = fmt.Errorf("cannot scan %T into a time", src)
	}
	if err != nil {
		return err
	}
	if !t.IsZero() {
		t = t.UTC()
	}
	*u = utcTime(t)
	return nil
}

// jsonText scans a JSON column of either engine (text in SQLite, jsonb in PostgreSQL).
type jsonText struct {
	s     string
	valid bool
}

func (j *jsonText) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*j = jsonText{}
	case string:
		*j = jsonText{v, true}
	case []byte:
		*j = jsonText{string(v), true}
	default:
		b, err := json.Marshal(v) // pgx may hand over decoded JSON
		if err != nil {
			return fmt.Errorf("cannot scan %T as JSON: %w", src, err)
		}
		*j = jsonText{string(b), true}
	}
	return nil
}

func encodeServices(s []string) string {
	if len(s) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(s) // []string cannot fail
	return string(b)
}

func decodeServices(j jsonText) ([]string, error) {
	out := []string{}
	if !j.valid || j.s == "" {
		return out, nil
	}
	if err := json.Unmarshal([]byte(j.s), &out); err != nil {
		return nil, fmt.Errorf("decode services %q: %w", j.s, err)
	}
	if out == nil { // JSON null
		out = []string{}
	}
	return out, nil
}

func encodeError(e *ErrorDetail) any {
	if e == nil {
		return nil
	}
	b, _ := json.Marshal(e) // plain struct cannot fail
	return string(b)
}

func decodeError(j jsonText) (*ErrorDetail, error) {
	if !j.valid || j.s == "" || j.s == "null" {
		return nil, nil
	}
	var e ErrorDetail
	if err := json.Unmarshal([]byte(j.s), &e); err != nil {
		return nil, fmt.Errorf("decode error detail %q: %w", j.s, err)
	}
	return &e, nil
}

func validStatus(s Status) bool {
	switch s {
	case StatusPending, StatusDeployed, StatusFailed, StatusOffline:
		return true
	}
	return false
}

func (s *store) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		s.watchOnce.Do(func() { close(s.watchDone) }) // never started: nothing to wait for
		<-s.watchDone
		s.mu.Lock()
		s.closed = true
		for ch := range s.subs {
			delete(s.subs, ch)
			close(ch)
		}
		s.mu.Unlock()
		s.closeErr = s.b.close()
	})
	return s.closeErr
}
