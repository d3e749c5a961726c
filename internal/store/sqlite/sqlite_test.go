package sqlite_test

import (
	"path/filepath"
	"testing"
	"time"

	"fledge.dev/fledge/internal/store"
	"fledge.dev/fledge/internal/store/sqlite"
	"fledge.dev/fledge/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, clock func() time.Time) store.Store {
		t.Helper()
		s, err := sqlite.Open(t.Context(), sqlite.Config{
			Path:  filepath.Join(t.TempDir(), "fledge.db"),
			Clock: clock,
		})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
		return s
	})
}
