package postgres_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"fledge.dev/fledge/internal/store"
	"fledge.dev/fledge/internal/store/postgres"
	"fledge.dev/fledge/internal/store/storetest"
	"fledge.dev/fledge/internal/testenv"
)

// testDB creates an empty database that is dropped when t ends, and
// returns the DSN to reach it.
type testDB struct {
	dsn   string
	admin *pgxpool.Pool
}

func newTestDB(t testing.TB) *testDB {
	t.Helper()
	dsn := testenv.PostgresAdminDSN(t)
	admin, err := pgxpool.New(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect to the test server: %v", err)
	}
	t.Cleanup(admin.Close)
	return &testDB{dsn: dsn, admin: admin}
}

// create makes a fresh database for t and returns its DSN.
func (db *testDB) create(t testing.TB) string {
	t.Helper()
	return testenv.PostgresDatabase(t)
}

func open(t *testing.T, dsn string, clock func() time.Time) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), postgres.Config{DSN: dsn, Clock: clock})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	storetest.Run(t, func(t *testing.T, clock func() time.Time) store.Store {
		t.Helper()
		return open(t, db.create(t), clock)
	})
}

// TestConformanceShared: two pools on one database, as two replicas.
func TestConformanceShared(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	storetest.RunShared(t, func(t *testing.T, clock func() time.Time) (store.Store, store.Store) {
		t.Helper()
		dsn := db.create(t)
		return open(t, dsn, clock), open(t, dsn, clock)
	})
}

// TestOpenConcurrently: replicas starting at once on an empty database
// apply the migrations exactly once and all come up.
func TestOpenConcurrently(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	dsn := db.create(t)
	const replicas = 4
	var wg sync.WaitGroup
	stores := make([]*postgres.Store, replicas)
	errs := make([]error, replicas)
	for i := range replicas {
		wg.Go(func() {
			stores[i], errs[i] = postgres.Open(t.Context(), postgres.Config{DSN: dsn})
		})
	}
	wg.Wait()
	for i := range replicas {
		if errs[i] != nil {
			t.Fatalf("replica %d: %v", i, errs[i])
		}
		t.Cleanup(func() { _ = stores[i].Close() })
	}
	var n, distinct int
	if err := db.admin.QueryRow(t.Context(), "SELECT 1").Scan(&n); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(t.Context(), "SELECT count(*), count(DISTINCT version) FROM schema_migrations").Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n == 0 || n != distinct {
		t.Fatalf("schema_migrations has %d rows for %d versions", n, distinct)
	}
	// Reopening finds nothing to do and keeps the data.
	s := stores[0]
	if _, err := s.CreateDeployment(t.Context(), store.Deployment{Pipeline: "web", Status: "Queued"}); err != nil {
		t.Fatal(err)
	}
	again := open(t, dsn, nil)
	if c, err := again.CountDeployments(t.Context(), store.DeploymentFilter{}); err != nil || c != 1 {
		t.Fatalf("after reopen: %d deployments, %v", c, err)
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	if err := (postgres.Config{}).WithDefaults().Validate(); err == nil || !strings.Contains(err.Error(), "DSN") {
		t.Errorf("empty config: %v, want a DSN error", err)
	}
	if err := (postgres.Config{DSN: "postgres://x@127.0.0.1/db"}).WithDefaults().Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
	if err := (postgres.Config{DSN: "postgres://x@127.0.0.1/db"}).Validate(); err == nil {
		t.Error("config without defaults validated; want a Clock error")
	}
	if _, err := postgres.Open(t.Context(), postgres.Config{DSN: "postgres://%zz"}); err == nil {
		t.Error("Open with a malformed DSN succeeded")
	}
}

// TestAuditLogAppendOnly: the table itself refuses to change or lose a
// line, whatever code reaches the database.
func TestAuditLogAppendOnly(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	dsn := db.create(t)
	s := open(t, dsn, nil)
	if _, err := s.AppendAudit(t.Context(), store.AuditEntry{Actor: "alice", Action: "token.create"}); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, q := range []string{`UPDATE audit_log SET actor = 'mallory'`, `DELETE FROM audit_log`, `TRUNCATE audit_log`} {
		if _, err := conn.Exec(t.Context(), q); err == nil || !strings.Contains(err.Error(), "append-only") {
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
	dsn := newTestDB(t).create(t)
	storetest.RunProgressMigration(t, open(t, dsn, nil), 9, func(t *testing.T, _ store.Store, version int) store.Store {
		conn, err := pgx.Connect(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(t.Context(), `DELETE FROM schema_migrations WHERE version = $1`, version); err != nil {
			t.Fatal(err)
		}
		return open(t, dsn, nil)
	})
}
