package odb

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

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

	if d.Base != "" && d.Action == ActionDeploy && d.VersionID == 0 && current.Valid {
		if err := conflict(ctx, q, d); err != nil {
			return Deployment{}, err
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
	// Two spellings rather than ($3 = '' OR module = $3), so that the module filter can use its index.
	before := f.Before
	if before <= 0 {
		before = math.MaxInt64
	}
	sel, args := `SELECT d.id FROM deployments d WHERE d.id < $2 ORDER BY d.id DESC LIMIT $1`, []any{int64(limit), before}
	if f.Module != "" {
		sel, args = `SELECT d.id FROM deployments d WHERE d.module = $3 AND d.id < $2 ORDER BY d.id DESC LIMIT $1`, append(args, f.Module)
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

// conflict returns a *ConflictError when d's module moved on from d.Base through someone else's deployment; the
// module's row is locked, so no deployment slips between this look and the insert.
func conflict(ctx context.Context, q querier, d NewDeployment) error {
	var c ConflictError
	var at utcTime
	err := q.queryRow(ctx, `SELECT v.id, v.number, v.sha256, v.source, v.who, v.origin, v.created_at, d.who, d.origin, d.created_at
		FROM modules m JOIN versions v ON v.id = m.current_version_id JOIN deployments d ON d.id = m.last_deployment_id
		WHERE m.name = $1`, d.Module).Scan(&c.Current.ID, &c.Current.Number, &c.Current.SHA256, &c.Current.Source,
		&c.Current.Who, &c.Current.Origin, (*utcTime)(&c.Current.CreatedAt), &c.Who, &c.Origin, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look at the current version: %w", err)
	}
	sum := sha256.Sum256([]byte(d.Source))
	if c.Current.SHA256 == d.Base || c.Current.SHA256 == hex.EncodeToString(sum[:]) || (c.Who == d.Who && c.Origin == d.Origin) {
		return nil
	}
	c.Module, c.Current.Module, c.At = d.Module, d.Module, time.Time(at)
	return &c
}
