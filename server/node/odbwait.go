package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/zato-go/zato/server/config"
	"github.com/zato-go/zato/server/odb"
)

// openODB opens the ODB, waiting while it is unavailable (PostgreSQL restarting or not up yet), as the servers that
// run wait for it: a server started in that moment comes up once the ODB is back. The process that started it hears
// of the wait once, so its --timeout still bounds it; other errors (a wrong DSN, a password) end the start at once.
func openODB(ctx context.Context, cfg config.Server, progress func(string), log *slog.Logger) (odb.Store, error) {
	waited := false
	for {
		store, err := odb.Open(ctx, cfg.ODBEngine, cfg.ODBDSN)
		if err == nil {
			if waited {
				log.Info("The ODB is available: starting")
			}
			return store, nil
		}
		if !errors.Is(err, odb.ErrUnavailable) {
			return nil, fmt.Errorf("open ODB: %w", err)
		}
		if !waited {
			waited = true
			log.Warn(fmt.Sprintf("Waiting for the ODB, which is unavailable: %v", err))
			if progress != nil {
				progress("waiting for the ODB, which is unavailable")
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("open ODB: %w", err)
		case <-time.After(time.Second):
		}
	}
}
