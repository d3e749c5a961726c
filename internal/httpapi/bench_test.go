package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/store"
	"fledge.dev/fledge/internal/store/storetest"
)

// historySize is how many releases BenchmarkReads's pipeline has: a
// history a long-lived pipeline reaches.
const historySize = 10_000

// The API's read paths, in process (no network, no load generator
// competing for the CPU), through the real authentication and SQLite
// store: a deployment by id, and the newest page of 50 of a pipeline's
// history of 10,000 succeeded releases. `go test -bench . -cpuprofile`
// shows where the time goes.
func BenchmarkReads(b *testing.B) {
	a := setup(b)
	viewer := a.token(b, "reader", "viewer")
	last := seedHistory(b, a, historySize)
	h := a.Config.Handler
	for _, bc := range []struct{ name, path string }{
		{"GetDeployment", fmt.Sprintf("/api/v1/deployments/%d", last)},
		{"ListHistory50", "/api/v1/deployments?pipeline=p&limit=50"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					get(b, h, bc.path, viewer)
				}
			})
		})
	}
	// 64 requests at once, as the load generator of BENCHMARKS.md §5
	// sends them: what each waits for the store shows in the tail.
	b.Run("GetDeployment64", func(b *testing.B) {
		path := fmt.Sprintf("/api/v1/deployments/%d", last)
		storetest.BenchLatency(b, 64, func() error {
			get(b, h, path, viewer)
			return nil
		})
	})
}

// get serves a GET of path with token and fails the benchmark unless it
// is answered 200.
func get(b *testing.B, h http.Handler, path, token string) {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body.String())
	}
}

// seedHistory gives pipeline p n succeeded releases and returns the id of
// the newest. The first runs through the API and is finished as the
// executor finishes one; the others are copies of its row written
// straight to the store, which is much faster than n runs.
func seedHistory(b *testing.B, a *testAPI, n int) int64 {
	b.Helper()
	code, body := do(b, a, "POST", "/api/v1/pipelines/p/runs", `{"parameters":{"TAG":"1.0"}}`)
	if code != http.StatusCreated {
		b.Fatalf("run: %d %s", code, body)
	}
	var d v1alpha1.Deployment
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		b.Fatal(err)
	}
	forceSucceeded(b, a.st, d.ID)
	row, err := a.st.GetDeployment(b.Context(), d.ID)
	if err != nil {
		b.Fatal(err)
	}
	last := row.ID
	for i := 1; i < n; i++ {
		c := store.Deployment{
			Pipeline: row.Pipeline, Kind: row.Kind, Parameters: map[string]string{"TAG": fmt.Sprintf("1.%d", i)},
			TriggeredBy: row.TriggeredBy, Plan: row.Plan, State: row.State, Status: row.Status,
			StartedAt: row.StartedAt, EndedAt: row.EndedAt, ProductionAt: row.ProductionAt,
		}
		got, err := a.st.CreateDeployment(b.Context(), c)
		if err != nil {
			b.Fatalf("seed deployment %d: %v", i, err)
		}
		last = got.ID
	}
	return last
}
