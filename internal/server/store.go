package server

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"fledge.dev/fledge/internal/store"
	"fledge.dev/fledge/internal/store/postgres"
	"fledge.dev/fledge/internal/store/sqlite"
)

// openStore opens the store url names and says which it is.
func openStore(ctx context.Context, url string, log *slog.Logger) (store.Store, string, error) {
	if isPostgres(url) {
		s, err := postgres.Open(ctx, postgres.Config{DSN: url, Logger: log})
		return s, "postgres", err
	}
	path := strings.TrimPrefix(url, "sqlite://")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, "", fmt.Errorf("create store directory: %w", err)
	}
	// The database holds token hashes and sealed secrets: create it
	// readable by its owner only.
	if f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600); err == nil {
		f.Close()
	}
	s, err := sqlite.Open(ctx, sqlite.Config{Path: path, Logger: log})
	return s, "sqlite " + path, err
}
