package odb

import (
	"context"
	"errors"
	"fmt"
)

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
