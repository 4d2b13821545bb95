package odb

import (
	"context"
	"embed"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
)

// One directory per engine; files are NNNN_name.sql, applied in order, each once.
//
//go:embed migrations
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations(engine string) ([]migration, error) {
	dir := path.Join("migrations", engine)
	entries, err := migrationFS.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations of %s: %w", engine, err)
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration file %s: want NNNN_name.sql", e.Name())
		}
		b, err := migrationFS.ReadFile(path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	return out, nil
}

// migrate applies the missing migrations in one write transaction. lock makes processes that open the database at
// the same time take turns (SQLite's BEGIN IMMEDIATE already does; PostgreSQL takes an advisory lock); ddl creates
// schema_migrations.
func migrate(ctx context.Context, b backend, engine, ddl string, lock func(ctx context.Context, q querier) error) error {
	ms, err := loadMigrations(engine)
	if err != nil {
		return err
	}
	err = b.write(ctx, powerSafe, noticeAny, func(q querier) error {
		if err := lock(ctx, q); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if _, err := q.exec(ctx, ddl); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		rs, err := q.query(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return err
		}
		applied := map[int]bool{}
		for rs.Next() {
			var v int
			if err := rs.Scan(&v); err != nil {
				rs.Close()
				return err
			}
			applied[v] = true
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return err
		}
		for _, m := range ms {
			if applied[m.version] {
				continue
			}
			if _, err := q.exec(ctx, m.sql); err != nil {
				return fmt.Errorf("apply %s: %w", m.name, err)
			}
			if _, err := q.exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				int64(m.version), m.name, now()); err != nil {
				return fmt.Errorf("record %s: %w", m.name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("migrate %s schema: %w", engine, err)
	}
	return nil
}
