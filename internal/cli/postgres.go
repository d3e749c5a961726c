package cli

import (
	"context"
	"log/slog"

	"fledge.dev/fledge/internal/store"
	"fledge.dev/fledge/internal/store/postgres"
)

func openPostgres(ctx context.Context, url string, log *slog.Logger) (store.Store, error) {
	return postgres.Open(ctx, postgres.Config{DSN: url, Logger: log})
}
