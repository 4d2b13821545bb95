package odb

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/zato-go/zato/internal/pgtest"
)

// TestDurability: each write commits at the level asked for. Uploads wait for the disk; rows a server writes again
// at start do not (the engine reports the level inside the transaction).
func TestDurability(t *testing.T) {
	engines := map[string]struct {
		open  func(t *testing.T) (Store, error)
		query string
		want  map[durability]string
	}{
		"sqlite": {
			open: func(t *testing.T) (Store, error) {
				return OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "zato.db"))
			},
			query: `PRAGMA synchronous`,
			want:  map[durability]string{powerSafe: "2", crashSafe: "1"}, // FULL, NORMAL
		},
		"postgresql": {
			// The throwaway server runs with synchronous_commit off; these sessions start with it on, as a server's
			// default is in production.
			open: func(t *testing.T) (Store, error) {
				return OpenPostgres(t.Context(), pgtest.Shared(t)+"&options=-c%20synchronous_commit%3Don")
			},
			query: `SHOW synchronous_commit`,
			want:  map[durability]string{powerSafe: "on", crashSafe: "off"},
		},
	}
	for name, e := range engines {
		t.Run(name, func(t *testing.T) {
			s, err := e.open(t)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			b := s.(*store).b
			// Alternate levels and both ways to write, so that no write keeps the level of the one before.
			writes := map[string]func(context.Context, durability, notice, func(querier) error) error{
				"write": b.write, "writeOne": b.writeOne,
			}
			for i, d := range []durability{crashSafe, powerSafe, crashSafe, powerSafe, powerSafe, crashSafe, crashSafe} {
				how := []string{"write", "writeOne"}[i%2]
				var got string
				err := writes[how](t.Context(), d, noticeAny, func(q querier) error { return q.queryRow(t.Context(), e.query).Scan(&got) })
				if err != nil {
					t.Fatal(err)
				}
				if got != e.want[d] {
					t.Fatalf("%s at durability %d: %s = %s, want %s", how, d, e.query, got, e.want[d])
				}
			}
		})
	}
}
