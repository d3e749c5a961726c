package service_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/service"
	"fledge.dev/fledge/internal/store"
	"fledge.dev/fledge/internal/store/postgres"
	"fledge.dev/fledge/internal/store/sqlite"
	"fledge.dev/fledge/internal/store/storetest"
	"fledge.dev/fledge/internal/testenv"
)

// openPair opens two handles on one fresh database.
type openPair func(t *testing.T, now func() time.Time) (store.Store, store.Store)

func sqlitePair(t *testing.T, now func() time.Time) (store.Store, store.Store) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fledge.db")
	var out [2]store.Store
	for i := range out {
		s, err := sqlite.Open(t.Context(), sqlite.Config{Path: path, Clock: now})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		out[i] = s
	}
	return out[0], out[1]
}

// postgresPair opens two pools on a database of its own on the server
// FLEDGE_TEST_POSTGRES_DSN names, skipping without one outside CI (in CI
// a missing server is a failure, as for the store's own tests).
func postgresPair(t *testing.T, now func() time.Time) (store.Store, store.Store) {
	t.Helper()
	dsn := testenv.PostgresDatabase(t)
	var out [2]store.Store
	for i := range out {
		s, err := postgres.Open(t.Context(), postgres.Config{DSN: dsn, Clock: now})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		out[i] = s
	}
	return out[0], out[1]
}

// TestAuthenticateAcrossReplicas: two services (replicas) on two handles
// of one database. Whatever one changes about a token, the other's very
// next authentication sees, though it cached the token; and a cached
// token stops working when the clock passes its expiry.
func TestAuthenticateAcrossReplicas(t *testing.T) {
	t.Parallel()
	for _, driver := range []struct {
		name string
		open openPair
	}{
		{"sqlite", sqlitePair},
		{"postgres", postgresPair},
	} {
		t.Run(driver.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range []struct {
				name string
				// act runs on replica a after b authenticated the token.
				act  func(t *testing.T, a *service.Service, c *storetest.Clock)
				want error
			}{
				{"unchanged", func(*testing.T, *service.Service, *storetest.Clock) {}, nil},
				{"revoked on the other replica", func(t *testing.T, a *service.Service, _ *storetest.Clock) {
					if err := a.RevokeToken(t.Context(), "reader"); err != nil {
						t.Fatalf("revoke: %v", err)
					}
				}, service.ErrUnauthenticated},
				{"another token created on the other replica", func(t *testing.T, a *service.Service, _ *storetest.Clock) {
					if _, err := a.CreateToken(t.Context(), v1alpha1.TokenRequest{Name: "other", Roles: []string{"viewer"}}, "admin"); err != nil {
						t.Fatalf("create: %v", err)
					}
				}, nil},
				{"expired while cached", func(_ *testing.T, _ *service.Service, c *storetest.Clock) { c.Advance(time.Hour) }, service.ErrUnauthenticated},
			} {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					c := storetest.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
					sa, sb := driver.open(t, c.Now)
					a := service.New(service.Config{Store: sa, Clock: c.Now})
					b := service.New(service.Config{Store: sb, Clock: c.Now})
					if _, _, err := a.Bootstrap(t.Context(), ""); err != nil {
						t.Fatalf("bootstrap: %v", err)
					}
					created, err := a.CreateToken(t.Context(), v1alpha1.TokenRequest{
						Name: "reader", Roles: []string{"viewer"}, ExpiresIn: &v1alpha1.Duration{Duration: time.Hour},
					}, "admin")
					if err != nil {
						t.Fatalf("create token: %v", err)
					}
					for range 2 { // the second is answered from b's cache
						if p, err := b.Authenticate(t.Context(), created.Secret); err != nil || p.Name != "reader" {
							t.Fatalf("authenticate on b before: %+v, %v", p, err)
						}
					}
					tc.act(t, a, c)
					p, err := b.Authenticate(t.Context(), created.Secret)
					if !errors.Is(err, tc.want) || (tc.want == nil && p.Name != "reader") {
						t.Fatalf("authenticate on b after: %+v, %v; want error %v", p, err, tc.want)
					}
				})
			}
		})
	}
}
