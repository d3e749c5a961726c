package sqlite_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
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

// TestConformanceShared: two Stores (two sets of *sql.DB) on one file,
// as two processes would have.
func TestConformanceShared(t *testing.T) {
	t.Parallel()
	storetest.RunShared(t, func(t *testing.T, clock func() time.Time) (store.Store, store.Store) {
		t.Helper()
		path := filepath.Join(t.TempDir(), "fledge.db")
		var out [2]store.Store
		for i := range out {
			s, err := sqlite.Open(t.Context(), sqlite.Config{Path: path, Clock: clock})
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			out[i] = s
		}
		return out[0], out[1]
	})
}

// TestTwoStoresOneFile: two Stores on one file (as two processes would
// be) race to claim; every deployment is claimed once and no call fails
// with SQLITE_BUSY.
func TestTwoStoresOneFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "fledge.db")
	var stores []*sqlite.Store
	for range 2 {
		s, err := sqlite.Open(t.Context(), sqlite.Config{Path: path})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		stores = append(stores, s)
	}
	const n = 30
	for i := range n {
		if _, err := stores[i%2].CreateDeployment(t.Context(), store.Deployment{
			Pipeline: fmt.Sprintf("p%02d", i), Status: "Queued",
		}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	claimed := map[int64]string{}
	var wg sync.WaitGroup
	for w := range 6 {
		s, owner := stores[w%2], fmt.Sprintf("exec-%d", w)
		wg.Go(func() {
			for {
				d, ok, err := s.ClaimDeployment(t.Context(), owner, time.Hour)
				if err != nil {
					t.Errorf("claim: %v", err)
					return
				}
				if !ok {
					return
				}
				if err := s.AppendEvents(t.Context(), store.Event{DeploymentID: d.ID, Type: "Claimed"}); err != nil {
					t.Errorf("append: %v", err)
				}
				mu.Lock()
				if prev, dup := claimed[d.ID]; dup {
					t.Errorf("deployment %d claimed by %s and %s", d.ID, prev, owner)
				}
				claimed[d.ID] = owner
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(claimed) != n {
		t.Fatalf("%d deployments claimed, want %d", len(claimed), n)
	}
}

// TestReopen: a second Open applies no migration again and keeps the data.
func TestReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "fledge.db")
	s, err := sqlite.Open(t.Context(), sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PutResource(t.Context(), store.Resource{Kind: "Pipeline", Name: "web", Spec: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = sqlite.Open(t.Context(), sqlite.Config{Path: path})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if _, err := s.GetResource(t.Context(), "Pipeline", "web"); err != nil {
		t.Fatalf("after reopen: %v", err)
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  sqlite.Config
		want string // "" for valid
	}{
		{sqlite.Config{Path: "/tmp/x.db"}, ""},
		{sqlite.Config{}, "Path is required"},
		{sqlite.Config{Path: ":memory:"}, "plain file path"},
		{sqlite.Config{Path: "file:x.db"}, "plain file path"},
		{sqlite.Config{Path: "/tmp/x.db?mode=ro"}, "must not contain"},
		{sqlite.Config{Path: "/tmp/x.db", BusyTimeout: -time.Second}, "BusyTimeout"},
		{sqlite.Config{Path: "/tmp/x.db", MaxReaders: -1}, "MaxReaders"},
	} {
		err := tc.cfg.WithDefaults().Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.cfg, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: error %v, want one about %q", tc.cfg, err, tc.want)
		}
	}
	if err := (sqlite.Config{Path: "/tmp/x.db"}).Validate(); err == nil {
		t.Error("config without defaults validated; want a Clock error")
	}
	if _, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "no", "such", "dir", "x.db")}); err == nil {
		t.Error("Open in a missing directory succeeded")
	}
}

// TestAuditLogAppendOnly: the table itself refuses to change or lose a
// line, whatever code reaches the database file.
func TestAuditLogAppendOnly(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "fledge.db")
	s, err := sqlite.Open(t.Context(), sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.AppendAudit(t.Context(), store.AuditEntry{Actor: "alice", Action: "token.create"}); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{`UPDATE audit_log SET actor = 'mallory'`, `DELETE FROM audit_log`} {
		if _, err := db.ExecContext(t.Context(), q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: error %v, want an append-only refusal", q, err)
		}
	}
	es, err := s.ListAudit(t.Context(), store.AuditFilter{})
	if err != nil || len(es) != 1 || es[0].Actor != "alice" {
		t.Fatalf("audit log after the attempts: %+v, %v", es, err)
	}
}

// TestProgressMigration: migration 9 compacts the rollout progress of the
// deployments that had ended.
func TestProgressMigration(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "fledge.db")
	s, err := sqlite.Open(t.Context(), sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	storetest.RunProgressMigration(t, s, 9, func(t *testing.T, s store.Store, version int) store.Store {
		if err := s.(*sqlite.Store).Close(); err != nil {
			t.Fatal(err)
		}
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.ExecContext(t.Context(), `DELETE FROM schema_migrations WHERE version = ?`, version); err != nil {
			t.Fatal(err)
		}
		s, err = sqlite.Open(t.Context(), sqlite.Config{Path: path})
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		t.Cleanup(func() { _ = s.(*sqlite.Store).Close() })
		return s
	})
}
