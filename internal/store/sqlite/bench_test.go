package sqlite_test

import (
	"path/filepath"
	"testing"
	"time"

	"fledge.dev/fledge/internal/store"
	"fledge.dev/fledge/internal/store/sqlite"
	"fledge.dev/fledge/internal/store/storetest"
)

// BenchmarkClaimIdle: an executor's poll of a store with 10,000
// unfinished deployments, none runnable (1,000 pipelines whose heads wait
// for approval, 9 queued behind each).
func BenchmarkClaimIdle(b *testing.B) {
	clock := storetest.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	s, err := sqlite.Open(b.Context(), sqlite.Config{Path: filepath.Join(b.TempDir(), "fledge.db"), Clock: clock.Now})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchClaimIdle(b, s, clock.Now, 1000, 10)
}

// BenchmarkActiveOfLongHistory: the unfinished deployments of a pipeline
// with 20,000 finished ones and none under way.
func BenchmarkActiveOfLongHistory(b *testing.B) {
	s, err := sqlite.Open(b.Context(), sqlite.Config{Path: filepath.Join(b.TempDir(), "fledge.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchActiveOfLongHistory(b, s, 20000)
}

// BenchmarkContendedWrites: 64 writers at once on the one writer
// connection, as the executor's steps and the API's creates are under
// load; the tail shows how fairly the connection is handed on.
func BenchmarkContendedWrites(b *testing.B) {
	s, err := sqlite.Open(b.Context(), sqlite.Config{Path: filepath.Join(b.TempDir(), "fledge.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchLatency(b, 64, func() error {
		_, err := s.AppendAudit(b.Context(), store.AuditEntry{Actor: "bench", Action: "write", Outcome: "ok"})
		return err
	})
}
