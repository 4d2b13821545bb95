package odb

import (
	"context"
	"errors"
	"fmt"
)

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
