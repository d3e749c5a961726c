package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgresAdminDSN returns FLEDGE_TEST_POSTGRES_DSN, the connection string
// of a PostgreSQL user that may create databases. Without it, it skips t,
// except in CI (CI=true), where a missing server is a failure.
func PostgresAdminDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("FLEDGE_TEST_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("FLEDGE_TEST_POSTGRES_DSN is not set (CI=true): start a server with hack/start-postgres.sh")
		}
		t.Skip("FLEDGE_TEST_POSTGRES_DSN is not set; run: eval \"$(hack/start-postgres.sh | tail -n1)\"")
	}
	return dsn
}

// PostgresDatabase creates an empty database on the server of
// PostgresAdminDSN, drops it when t ends, and returns the connection
// string that reaches it.
func PostgresDatabase(t testing.TB) string {
	t.Helper()
	dsn := PostgresAdminDSN(t)
	admin, err := pgxpool.New(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect to FLEDGE_TEST_POSTGRES_DSN: %v", err)
	}
	t.Cleanup(admin.Close)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "fledge_test_" + hex.EncodeToString(b)
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := admin.Exec(t.Context(), "CREATE DATABASE "+ident); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return withDatabase(t, dsn, name)
}

// withDatabase returns dsn (a URL or key=value pairs) pointing at
// database name.
func withDatabase(t testing.TB, dsn, name string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("parse FLEDGE_TEST_POSTGRES_DSN: %v", err)
		}
		u.Path = "/" + name
		return u.String()
	}
	return dsn + " dbname=" + name
}
