package cli

import (
	"context"
	"errors"
	"log/slog"

	"fledge.dev/fledge/internal/store"
)

func openPostgres(ctx context.Context, url string, log *slog.Logger) (store.Store, error) {
	return nil, errors.New("postgres store: not wired yet")
}
