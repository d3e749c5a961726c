package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// storeKinds are the stores every durability test runs against.
var storeKinds = []string{"sqlite", "postgres"}

// newStoreURL returns a fresh store for one server: an SQLite file, or a
// new database on the test PostgreSQL server (FLEDGE_TEST_POSTGRES_DSN).
func newStoreURL(t *testing.T, kind string) string {
	t.Helper()
	if kind == "sqlite" {
		return t.TempDir() + "/fledge.db"
	}
	admin := os.Getenv("FLEDGE_TEST_POSTGRES_DSN")
	if admin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("FLEDGE_TEST_POSTGRES_DSN is not set (CI=true): start a server with hack/start-postgres.sh")
		}
		t.Skip("FLEDGE_TEST_POSTGRES_DSN is not set; run: eval \"$(hack/start-postgres.sh | tail -n1)\"")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "fledge_e2e_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), admin)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parse FLEDGE_TEST_POSTGRES_DSN: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}
