package odb

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
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

// Servers.

func (s *store) RegisterServer(ctx context.Context, m Server) error {
	if m.Name == "" {
		return errors.New("register server: empty name")
	}
	if m.State == "" {
		m.State = ServerStarting
	}
	t := now()
	err := s.b.write(ctx, crashSafe, noticeAny, func(q querier) error {
		_, err := q.exec(ctx, `INSERT INTO servers (name, url, pid, host, state, started_at, heartbeat_at)
			VALUES ($1, $2, $3, $4, $5, $6, $6)
			ON CONFLICT (name) DO UPDATE SET url = excluded.url, pid = excluded.pid, host = excluded.host,
				state = excluded.state, started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at`,
			m.Name, m.URL, int64(m.PID), m.Host, string(m.State), t)
		return err
	})
	if err != nil {
		return fmt.Errorf("register server %s: %w", m.Name, err)
	}
	return nil
}

func (s *store) SetServerState(ctx context.Context, name string, state ServerState) error {
	if err := s.touchServer(ctx, name, state); err != nil {
		return fmt.Errorf("set state of server %s to %s: %w", name, state, err)
	}
	return nil
}

func (s *store) Heartbeat(ctx context.Context, name string) error {
	if err := s.touchServer(ctx, name, ""); err != nil {
		return fmt.Errorf("heartbeat of server %s: %w", name, err)
	}
	return nil
}

// touchServer refreshes a member's heartbeat and, unless state is "", its state.
func (s *store) touchServer(ctx context.Context, name string, state ServerState) error {
	n := noticeAny
	if state == "" {
		n = noticeNone
	}
	return s.b.write(ctx, crashSafe, n, func(q querier) error {
		var n int64
		var err error
		if state == "" {
			n, err = q.exec(ctx, `UPDATE servers SET heartbeat_at = $2 WHERE name = $1`, name, now())
		} else {
			n, err = q.exec(ctx, `UPDATE servers SET state = $2, heartbeat_at = $3 WHERE name = $1`,
				name, string(state), now())
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

func (s *store) Servers(ctx context.Context) ([]Server, error) {
	out := []Server{}
	err := s.b.readOne(ctx, func(q querier) error {
		rs, err := q.query(ctx, `SELECT name, url, pid, host, state, started_at, heartbeat_at FROM servers ORDER BY name`)
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			var m Server
			var state string
			if err := rs.Scan(&m.Name, &m.URL, &m.PID, &m.Host, &state, (*utcTime)(&m.StartedAt),
				(*utcTime)(&m.HeartbeatAt)); err != nil {
				return err
			}
			m.State = ServerState(state)
			out = append(out, m)
		}
		return rs.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list servers: %w", err)
	}
	return out, nil
}

// Deployments.

func (s *store) CreateDeployment(ctx context.Context, d NewDeployment) (Deployment, error) {
	var out Deployment
	err := s.b.write(ctx, powerSafe, noticeAny, func(q querier) error {
		var err error
		out, err = s.createDeployment(ctx, q, d)
		return err
	})
	if err != nil {
		return Deployment{}, fmt.Errorf("create %s deployment of %s: %w", d.Action, d.Module, err)
	}
	return out, nil
}

func (s *store) createDeployment(ctx context.Context, q querier, d NewDeployment) (Deployment, error) {
	if d.Module == "" {
		return Deployment{}, errors.New("empty module name")
	}
	if d.Action != ActionDeploy && d.Action != ActionUndeploy {
		return Deployment{}, fmt.Errorf("unknown action %q", d.Action)
	}
	t := now()
	servers := make([]ServerStatus, len(d.Servers))
	for i, st := range d.Servers {
		if st.Server == "" {
			return Deployment{}, errors.New("server row with an empty server name")
		}
		if st.Status == "" {
			st.Status = StatusPending
		}
		if !validStatus(st.Status) {
			return Deployment{}, fmt.Errorf("server %s: unknown status %q", st.Server, st.Status)
		}
		if st.Services == nil {
			st.Services = []string{}
		}
		st.UpdatedAt = t
		servers[i] = st
	}
	slices.SortFunc(servers, func(a, b ServerStatus) int { return strings.Compare(a.Server, b.Server) })
	for i := 1; i < len(servers); i++ {
		if servers[i].Server == servers[i-1].Server {
			return Deployment{}, fmt.Errorf("server %s listed twice", servers[i].Server)
		}
	}

	out := Deployment{Module: d.Module, Action: d.Action, Who: d.Who, Origin: d.Origin, ReceivedBy: d.ReceivedBy,
		CreatedAt: t, Servers: servers}

	// The module's row lock serialises deployments of one module, which keeps version numbers gapless.
	rollback := d.Action == ActionDeploy && d.VersionID != 0
	if rollback {
		v, err := versionByID(ctx, q, d.VersionID)
		if err != nil {
			return Deployment{}, err
		}
		if v.Module != d.Module {
			return Deployment{}, fmt.Errorf("version %d is of %s: %w", d.VersionID, v.Module, ErrWrongModule)
		}
		out.Version = v
	} else if d.Action == ActionDeploy {
		if _, err := q.exec(ctx, `INSERT INTO modules (name) VALUES ($1) ON CONFLICT (name) DO NOTHING`, d.Module); err != nil {
			return Deployment{}, fmt.Errorf("insert module: %w", err)
		}
	}
	var current sql.NullInt64
	err := q.queryRow(ctx, `SELECT current_version_id FROM modules WHERE name = $1`+s.b.forUpdate(), d.Module).Scan(&current)
	if errors.Is(err, sql.ErrNoRows) {
		return Deployment{}, fmt.Errorf("module %s: %w", d.Module, ErrNotFound)
	}
	if err != nil {
		return Deployment{}, fmt.Errorf("lock module: %w", err)
	}

	if d.Key != "" {
		// Under the module's lock, so a repeat that races its first try waits for it and finds it.
		var id int64
		err := q.queryRow(ctx, `SELECT id FROM deployments WHERE idempotency_key = $1`, d.Key).Scan(&id)
		if err == nil {
			ds, err := deployments(ctx, q, `SELECT `+deploymentCols("v.source")+deploymentFrom+`WHERE d.id = $1`,
				`deployment_id = $1`, id)
			if err != nil || len(ds) == 0 {
				return Deployment{}, fmt.Errorf("read deployment %d of idempotency key %q: %v", id, d.Key, err)
			}
			if ds[0].Module != d.Module || ds[0].Action != d.Action {
				return Deployment{}, fmt.Errorf("idempotency key %q was used for %s of %s: %w", d.Key, ds[0].Action, ds[0].Module, ErrKeyReused)
			}
			ds[0].Repeated = true
			return ds[0], nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return Deployment{}, fmt.Errorf("look up idempotency key: %w", err)
		}
	}

	switch {
	case d.Action == ActionUndeploy:
		if !current.Valid {
			return Deployment{}, fmt.Errorf("module %s is not deployed: %w", d.Module, ErrNotFound)
		}
	case !rollback:
		sum := sha256.Sum256([]byte(d.Source))
		hexSum := hex.EncodeToString(sum[:])
		newest, err := newestVersion(ctx, q, d.Module)
		switch {
		case err == nil && newest.SHA256 == hexSum:
			out.Version = newest
		case err == nil || errors.Is(err, sql.ErrNoRows):
			v := Version{Module: d.Module, Number: newest.Number + 1, SHA256: hexSum, Source: d.Source, Who: d.Who,
				Origin: d.Origin, CreatedAt: t}
			err := q.queryRow(ctx, `INSERT INTO versions (module, number, sha256, source, who, origin, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
				v.Module, v.Number, v.SHA256, v.Source, v.Who, v.Origin, v.CreatedAt).Scan(&v.ID)
			if err != nil {
				return Deployment{}, fmt.Errorf("insert version %d: %w", v.Number, err)
			}
			out.Version = v
		default:
			return Deployment{}, fmt.Errorf("newest version: %w", err)
		}
	}

	var versionID any // NULL for undeploy
	if out.Version.ID != 0 {
		versionID = out.Version.ID
	}
	var key any // NULL without one
	if d.Key != "" {
		key = d.Key
	}
	err = q.queryRow(ctx, `INSERT INTO deployments (module, action, version_id, who, origin, received_by, created_at, idempotency_key)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		d.Module, string(d.Action), versionID, d.Who, d.Origin, d.ReceivedBy, t, key).Scan(&out.ID)
	if err != nil {
		return Deployment{}, fmt.Errorf("insert deployment: %w", err)
	}
	for _, st := range servers {
		if _, err := q.exec(ctx, `INSERT INTO deployment_servers
			(deployment_id, server, status, services, error, duration_ms, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			out.ID, st.Server, string(st.Status), encodeServices(st.Services), encodeError(st.Error), st.DurationMs,
			st.UpdatedAt); err != nil {
			return Deployment{}, fmt.Errorf("insert row of server %s: %w", st.Server, err)
		}
	}
	if _, err := q.exec(ctx, `UPDATE modules SET current_version_id = $2, last_deployment_id = $3 WHERE name = $1`,
		d.Module, versionID, out.ID); err != nil {
		return Deployment{}, fmt.Errorf("update module: %w", err)
	}
	if out.Backlog, err = backlog(ctx, q, out); err != nil {
		return Deployment{}, err
	}
	return out, nil
}

// backlog lists the servers pending in d that have older deployments pending, in one statement along the
// (server, status, deployment_id) index.
func backlog(ctx context.Context, q querier, d Deployment) ([]string, error) {
	args := []any{d.ID}
	var marks []string
	for _, st := range d.Servers {
		if st.Status == StatusPending {
			args = append(args, st.Server)
			marks = append(marks, fmt.Sprintf("$%d", len(args)))
		}
	}
	out := []string{}
	if len(marks) == 0 {
		return out, nil
	}
	rs, err := q.query(ctx, `SELECT DISTINCT server FROM deployment_servers
		WHERE server IN (`+strings.Join(marks, ", ")+`) AND status = 'pending' AND deployment_id < $1 ORDER BY server`, args...)
	if err != nil {
		return nil, fmt.Errorf("backlog: %w", err)
	}
	defer rs.Close()
	for rs.Next() {
		var name string
		if err := rs.Scan(&name); err != nil {
			return nil, fmt.Errorf("backlog: %w", err)
		}
		out = append(out, name)
	}
	return out, rs.Err()
}

const versionCols = `v.id, v.module, v.number, v.sha256, v.source, v.who, v.origin, v.created_at`

func scanVersion(r row, v *Version) error {
	return r.Scan(&v.ID, &v.Module, &v.Number, &v.SHA256, &v.Source, &v.Who, &v.Origin, (*utcTime)(&v.CreatedAt))
}

func versionByID(ctx context.Context, q querier, id int64) (Version, error) {
	var v Version
	err := scanVersion(q.queryRow(ctx, `SELECT `+versionCols+` FROM versions v WHERE v.id = $1`, id), &v)
	if errors.Is(err, sql.ErrNoRows) {
		return Version{}, fmt.Errorf("version %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Version{}, fmt.Errorf("version %d: %w", id, err)
	}
	return v, nil
}

// newestVersion returns sql.ErrNoRows (unwrapped) for a module without versions.
func newestVersion(ctx context.Context, q querier, module string) (Version, error) {
	var v Version
	err := scanVersion(q.queryRow(ctx, `SELECT `+versionCols+` FROM versions v WHERE v.module = $1
		ORDER BY v.number DESC LIMIT 1`, module), &v)
	return v, err
}

// deploymentCols go with deploymentFrom; the version columns are NULL for undeploy. src is v.source or an empty string literal.
func deploymentCols(src string) string {
	return `d.id, d.module, d.action, d.who, d.origin, d.received_by, d.created_at,
		v.id, v.number, v.sha256, ` + src + `, v.who, v.origin, v.created_at`
}

const deploymentFrom = ` FROM deployments d LEFT JOIN versions v ON v.id = d.version_id `

// scanDeployment scans deploymentCols, then extra.
func scanDeployment(r row, d *Deployment, extra ...any) error {
	var action string
	var vid sql.NullInt64
	var vnum sql.NullInt64
	var sum, src, who, origin sql.NullString
	var vt utcTime
	if err := r.Scan(append([]any{&d.ID, &d.Module, &action, &d.Who, &d.Origin, &d.ReceivedBy, (*utcTime)(&d.CreatedAt),
		&vid, &vnum, &sum, &src, &who, &origin, &vt}, extra...)...); err != nil {
		return err
	}
	d.Action = Action(action)
	if vid.Valid {
		d.Version = Version{ID: vid.Int64, Module: d.Module, Number: int(vnum.Int64), SHA256: sum.String,
			Source: src.String, Who: who.String, Origin: origin.String, CreatedAt: time.Time(vt)}
	}
	return nil
}

// deployments runs a query over deploymentFrom and attaches the rows of the deployments it returns; rowsWhere selects
// the deployment_servers rows to load (with the same args).
func deployments(ctx context.Context, q querier, query, rowsWhere string, args ...any) ([]Deployment, error) {
	rs, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	out := []Deployment{}
	index := map[int64]int{}
	for rs.Next() {
		var d Deployment
		if err := scanDeployment(rs, &d); err != nil {
			rs.Close()
			return nil, err
		}
		d.Servers = []ServerStatus{}
		index[d.ID] = len(out)
		out = append(out, d)
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return out, nil
	}
	err = serverRows(ctx, q, rowsWhere, args, func(id int64, st ServerStatus) {
		if i, ok := index[id]; ok {
			out[i].Servers = append(out[i].Servers, st)
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// serverRows calls add with each deployment_servers row that where selects, ordered by deployment and server.
func serverRows(ctx context.Context, q querier, where string, args []any, add func(id int64, st ServerStatus)) error {
	rs, err := q.query(ctx, `SELECT s.deployment_id, `+statusCols+`
		FROM deployment_servers s WHERE `+where+` ORDER BY s.deployment_id, s.server`, args...)
	if err != nil {
		return fmt.Errorf("server rows: %w", err)
	}
	defer rs.Close()
	for rs.Next() {
		var id int64
		var sc statusScan
		if err := rs.Scan(append([]any{&id}, sc.dest()...)...); err != nil {
			return fmt.Errorf("server rows: %w", err)
		}
		st, err := sc.result()
		if err != nil {
			return err
		}
		add(id, st)
	}
	if err := rs.Err(); err != nil {
		return fmt.Errorf("server rows: %w", err)
	}
	return nil
}

// statusCols are a deployment_servers row's columns but deployment_id, as statusScan scans them.
const statusCols = `s.server, s.status, s.services, s.error, s.duration_ms, s.updated_at`

// statusScan holds a deployment_servers row while it is scanned.
type statusScan struct {
	st               ServerStatus
	status           string
	services, detail jsonText
}

func (sc *statusScan) dest() []any {
	return []any{&sc.st.Server, &sc.status, &sc.services, &sc.detail, &sc.st.DurationMs, (*utcTime)(&sc.st.UpdatedAt)}
}

func (sc *statusScan) result() (ServerStatus, error) {
	st := sc.st
	st.Status = Status(sc.status)
	var err error
	if st.Services, err = decodeServices(sc.services); err != nil {
		return st, err
	}
	if st.Error, err = decodeError(sc.detail); err != nil {
		return st, err
	}
	return st, nil
}

func (s *store) ServerStatuses(ctx context.Context, id int64) ([]ServerStatus, error) {
	out := []ServerStatus{}
	err := s.b.readOne(ctx, func(q querier) error {
		return serverRows(ctx, q, `deployment_id = $1`, []any{id}, func(_ int64, st ServerStatus) { out = append(out, st) })
	})
	if err != nil {
		return nil, fmt.Errorf("rows of deployment %d: %w", id, err)
	}
	return out, nil
}

func (s *store) Deployment(ctx context.Context, id int64) (Deployment, error) {
	var ds []Deployment
	err := s.b.read(ctx, func(q querier) error {
		var err error
		ds, err = deployments(ctx, q, `SELECT `+deploymentCols("v.source")+deploymentFrom+`WHERE d.id = $1`,
			`deployment_id = $1`, id)
		return err
	})
	if err != nil {
		return Deployment{}, fmt.Errorf("deployment %d: %w", id, err)
	}
	if len(ds) == 0 {
		return Deployment{}, fmt.Errorf("deployment %d: %w", id, ErrNotFound)
	}
	return ds[0], nil
}

func (s *store) Deployments(ctx context.Context, f DeploymentFilter) ([]Deployment, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	// Two spellings rather than ($2 = '' OR module = $2), so that the module filter can use its index.
	sel, args := `SELECT d.id FROM deployments d ORDER BY d.id DESC LIMIT $1`, []any{int64(limit)}
	if f.Module != "" {
		sel, args = `SELECT d.id FROM deployments d WHERE d.module = $2 ORDER BY d.id DESC LIMIT $1`, append(args, f.Module)
	}
	var ds []Deployment
	err := s.b.read(ctx, func(q querier) error {
		var err error
		ds, err = deployments(ctx, q, `SELECT `+deploymentCols("''")+deploymentFrom+`WHERE d.id IN (`+sel+`)
			ORDER BY d.id DESC`, `deployment_id IN (`+sel+`)`, args...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	return ds, nil
}

func (s *store) PendingFor(ctx context.Context, server string) ([]Deployment, error) {
	// One query along the (server, status, deployment_id) index: a server looks whenever it is nudged or the ODB
	// changed, and usually finds nothing.
	ds, err := s.ownRows(ctx, `FROM deployment_servers s JOIN deployments d ON d.id = s.deployment_id
		LEFT JOIN versions v ON v.id = d.version_id
		WHERE s.server = $1 AND s.status = 'pending' ORDER BY s.deployment_id`, server)
	if err != nil {
		return nil, fmt.Errorf("pending deployments of %s: %w", server, err)
	}
	return ds, nil
}

func (s *store) Behind(ctx context.Context, server string) ([]Deployment, error) {
	ds, err := s.ownRows(ctx, `FROM modules m JOIN deployments d ON d.id = m.last_deployment_id
		JOIN deployment_servers s ON s.deployment_id = d.id AND s.server = $1
		LEFT JOIN versions v ON v.id = d.version_id
		WHERE s.status = 'offline' ORDER BY d.id`, server)
	if err != nil {
		return nil, fmt.Errorf("deployments %s missed: %w", server, err)
	}
	return ds, nil
}

// ownRows runs a query of deployments with sources and one row of a server each (from, with $1 the server).
func (s *store) ownRows(ctx context.Context, from, server string) ([]Deployment, error) {
	ds := []Deployment{}
	err := s.b.readOne(ctx, func(q querier) error {
		rs, err := q.query(ctx, `SELECT `+deploymentCols("v.source")+`, `+statusCols+` `+from, server)
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			var d Deployment
			var sc statusScan
			if err := scanDeployment(rs, &d, sc.dest()...); err != nil {
				return err
			}
			st, err := sc.result()
			if err != nil {
				return err
			}
			d.Servers = []ServerStatus{st}
			ds = append(ds, d)
		}
		return rs.Err()
	})
	return ds, err
}

func (s *store) LastRows(ctx context.Context, server string) (map[string]ServerStatus, error) {
	out := map[string]ServerStatus{}
	err := s.b.readOne(ctx, func(q querier) error {
		rs, err := q.query(ctx, `SELECT m.name, `+statusCols+` FROM modules m
			JOIN deployment_servers s ON s.deployment_id = m.last_deployment_id AND s.server = $1`, server)
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			var name string
			var sc statusScan
			if err := rs.Scan(append([]any{&name}, sc.dest()...)...); err != nil {
				return err
			}
			st, err := sc.result()
			if err != nil {
				return err
			}
			out[name] = st
		}
		return rs.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("rows of %s: %w", server, err)
	}
	return out, nil
}

func (s *store) SetServerStatus(ctx context.Context, deploymentID int64, st ServerStatus) error {
	if st.Server == "" {
		return errors.New("set server status: empty server name")
	}
	if !validStatus(st.Status) {
		return fmt.Errorf("set status of %s in deployment %d: unknown status %q", st.Server, deploymentID, st.Status)
	}
	err := s.b.writeOne(ctx, crashSafe, noticeRows, func(q querier) error {
		// One statement: the row goes in only if the deployment exists.
		n, err := q.exec(ctx, `INSERT INTO deployment_servers
			(deployment_id, server, status, services, error, duration_ms, updated_at)
			SELECT $1, $2, $3, $4, $5, $6, $7 WHERE EXISTS (SELECT 1 FROM deployments WHERE id = $1)
			ON CONFLICT (deployment_id, server) DO UPDATE SET status = excluded.status, services = excluded.services,
				error = excluded.error, duration_ms = excluded.duration_ms, updated_at = excluded.updated_at`,
			deploymentID, st.Server, string(st.Status), encodeServices(st.Services), encodeError(st.Error),
			st.DurationMs, now())
		if err == nil && n == 0 {
			return ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("set status of %s in deployment %d: %w", st.Server, deploymentID, err)
	}
	return nil
}

func (s *store) MarkOffline(ctx context.Context, server string) error {
	err := s.b.write(ctx, crashSafe, noticeRows, func(q querier) error {
		_, err := q.exec(ctx, `UPDATE deployment_servers SET status = 'offline', updated_at = $2
			WHERE server = $1 AND status = 'pending'`, server, now())
		return err
	})
	if err != nil {
		return fmt.Errorf("mark %s offline: %w", server, err)
	}
	return nil
}

// Modules.

const moduleQuery = `SELECT m.name, m.last_deployment_id, v.id, v.number, v.sha256, v.source, v.who, v.origin, v.created_at
	FROM modules m LEFT JOIN versions v ON v.id = m.current_version_id `

func scanModule(r row) (Module, error) {
	var m Module
	var last, vid, vnum sql.NullInt64
	var sum, src, who, origin sql.NullString
	var vt utcTime
	if err := r.Scan(&m.Name, &last, &vid, &vnum, &sum, &src, &who, &origin, &vt); err != nil {
		return Module{}, err
	}
	m.LastDeployment = last.Int64
	if vid.Valid {
		m.Current = &Version{ID: vid.Int64, Module: m.Name, Number: int(vnum.Int64), SHA256: sum.String,
			Source: src.String, Who: who.String, Origin: origin.String, CreatedAt: time.Time(vt)}
	}
	return m, nil
}

func (s *store) Modules(ctx context.Context) ([]Module, error) {
	out := []Module{}
	err := s.b.read(ctx, func(q querier) error {
		out = out[:0]
		rs, err := q.query(ctx, moduleQuery+`ORDER BY m.name`)
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			m, err := scanModule(rs)
			if err != nil {
				return err
			}
			out = append(out, m)
		}
		return rs.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list modules: %w", err)
	}
	return out, nil
}

func (s *store) Module(ctx context.Context, name string) (Module, error) {
	var m Module
	err := s.b.read(ctx, func(q querier) error {
		var err error
		m, err = scanModule(q.queryRow(ctx, moduleQuery+`WHERE m.name = $1`, name))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		return err
	})
	if err != nil {
		return Module{}, fmt.Errorf("module %s: %w", name, err)
	}
	return m, nil
}

func (s *store) Versions(ctx context.Context, module string) ([]Version, error) {
	out := []Version{}
	err := s.b.read(ctx, func(q querier) error {
		out = out[:0]
		var one int
		err := q.queryRow(ctx, `SELECT 1 FROM modules WHERE name = $1`, module).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		rs, err := q.query(ctx, `SELECT `+versionCols+` FROM versions v WHERE v.module = $1 ORDER BY v.number DESC`, module)
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			var v Version
			if err := scanVersion(rs, &v); err != nil {
				return err
			}
			out = append(out, v)
		}
		return rs.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("versions of %s: %w", module, err)
	}
	return out, nil
}

// Service sources.

func (s *store) SetSourceResults(ctx context.Context, server string, results []SourceResult) error {
	if server == "" {
		return errors.New("set source results: empty server name")
	}
	for _, r := range results {
		if r.Status != "ok" && r.Status != "failed" {
			return fmt.Errorf("set source results of %s: entry %q: unknown status %q", server, r.Entry, r.Status)
		}
	}
	t := now()
	err := s.b.write(ctx, crashSafe, noticeRows, func(q querier) error {
		if _, err := q.exec(ctx, `DELETE FROM source_results WHERE server = $1`, server); err != nil {
			return err
		}
		for i, r := range results {
			if _, err := q.exec(ctx, `INSERT INTO source_results
				(server, position, entry, status, message, services, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
				server, int64(i), r.Entry, r.Status, r.Message, encodeServices(r.Services), t); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set source results of %s: %w", server, err)
	}
	return nil
}

func (s *store) SourceResults(ctx context.Context) ([]SourceResult, error) {
	out := []SourceResult{}
	err := s.b.read(ctx, func(q querier) error {
		out = out[:0]
		rs, err := q.query(ctx, `SELECT server, entry, status, message, services, updated_at FROM source_results
			ORDER BY server, position`)
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			var r SourceResult
			var services jsonText
			if err := rs.Scan(&r.Server, &r.Entry, &r.Status, &r.Message, &services, (*utcTime)(&r.UpdatedAt)); err != nil {
				return err
			}
			if r.Services, err = decodeServices(services); err != nil {
				return err
			}
			out = append(out, r)
		}
		return rs.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list source results: %w", err)
	}
	return out, nil
}

// Changes.

// watchReadyWait bounds how long Changes waits for the watcher's first baseline when the database is unreachable.
const watchReadyWait = 5 * time.Second

func (s *store) Changes(ctx context.Context) <-chan Change {
	ch := make(chan Change, 1)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		close(ch)
		return ch
	}
	s.subs[ch] = struct{}{}
	s.mu.Unlock()

	s.watchOnce.Do(func() {
		go func() {
			defer close(s.watchDone)
			var once sync.Once
			s.b.watch(s.ctx, func() { once.Do(func() { close(s.ready) }) }, s.broadcast)
		}()
	})
	t := time.NewTimer(watchReadyWait)
	select {
	case <-s.ready:
	case <-ctx.Done():
	case <-s.ctx.Done():
	case <-t.C:
	}
	t.Stop()

	go func() {
		select {
		case <-ctx.Done():
		case <-s.ctx.Done():
		}
		s.unsubscribe(ch)
	}()
	return ch
}

func (s *store) broadcast(c Change) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.subs {
		merged := c
		select {
		case old := <-ch: // one signal is already waiting: coalesce
			merged.RowsOnly = merged.RowsOnly && old.RowsOnly
		default:
		}
		ch <- merged // room for it: only broadcast sends, under s.mu
	}
}

func (s *store) unsubscribe(ch chan Change) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.subs[ch]; ok {
		delete(s.subs, ch)
		close(ch)
	}
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
