package odb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

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
