package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	_ "modernc.org/sqlite"
)

// Queries are prepared once and reused; past the bound they still run,
// unprepared; a query that cannot be prepared fails as it would unprepared.
func TestReadDBStatements(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	r := newReadDB(db, 2)
	t.Cleanup(func() { _ = r.Close() })
	ctx := t.Context()

	for i := range maxCachedStatements + 10 {
		var got int
		q := fmt.Sprintf("SELECT %d + ?", i)
		for range 2 {
			if err := r.QueryRowContext(ctx, q, 1).Scan(&got); err != nil || got != i+1 {
				t.Fatalf("%s: got %d, %v; want %d", q, got, err, i+1)
			}
		}
		rows, err := r.QueryContext(ctx, q, 2)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if !rows.Next() || rows.Scan(&got) != nil || got != i+2 {
			t.Fatalf("%s (rows): got %d, want %d", q, got, i+2)
		}
		_ = rows.Close()
	}
	if n := len(r.stmts); n != maxCachedStatements {
		t.Errorf("%d statements prepared, want the bound %d", n, maxCachedStatements)
	}
	var x int
	if err := r.QueryRowContext(ctx, "SELECT nope FROM nowhere").Scan(&x); err == nil {
		t.Error("a query of a missing table scanned without error")
	}
	if _, err := r.QueryContext(ctx, "SELEKT 1"); err == nil {
		t.Error("a malformed query ran without error")
	}
}

// inTurn runs at most as many callers at once as the pool has
// connections, and a caller whose context ends while it waits leaves
// without running.
func TestReadDBTurns(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	const size = 2
	r := newReadDB(db, size)
	t.Cleanup(func() { _ = r.Close() })

	var running, most atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			err := r.inTurn(t.Context(), func() error {
				n := running.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				<-release
				running.Add(-1)
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	for running.Load() < size {
		runtime.Gosched()
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ran := false
	if err := r.inTurn(ctx, func() error { ran = true; return nil }); !errors.Is(err, context.Canceled) || ran {
		t.Errorf("a caller whose context ended: ran %t, error %v; want not run, context.Canceled", ran, err)
	}
	close(release)
	wg.Wait()
	if m := most.Load(); m != size {
		t.Errorf("%d callers ran at once, want %d", m, size)
	}
}
