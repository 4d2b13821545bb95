package odb

import (
	"context"
	"errors"
	"fmt"
)

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
				(server, position, entry, status, message, services, modules, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
				server, int64(i), r.Entry, r.Status, r.Message, encodeServices(r.Services), encodeServices(r.Modules), t); err != nil {
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
		rs, err := q.query(ctx, `SELECT server, entry, status, message, services, modules, updated_at FROM source_results
			ORDER BY server, position`)
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			var r SourceResult
			var services, modules jsonText
			if err := rs.Scan(&r.Server, &r.Entry, &r.Status, &r.Message, &services, &modules, (*utcTime)(&r.UpdatedAt)); err != nil {
				return err
			}
			if r.Services, err = decodeServices(services); err != nil {
				return err
			}
			if r.Modules, err = decodeServices(modules); err != nil {
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
