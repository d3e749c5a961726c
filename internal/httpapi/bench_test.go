package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"fledge.dev/fledge/api/v1alpha1"
)

// The API's read paths, in process (no network, no load generator
// competing for the CPU): a deployment by id, and a page of a pipeline's
// history (500 succeeded releases). `go test -bench . -cpuprofile` shows where the time goes.
func BenchmarkReads(b *testing.B) {
	a := setup(b)
	viewer := a.token(b, "reader", "viewer")
	var last int64
	for i := range 500 {
		code, body := do(b, a, "POST", "/api/v1/pipelines/p/runs", fmt.Sprintf(`{"parameters":{"TAG":"1.%d"}}`, i))
		if code != http.StatusCreated {
			b.Fatalf("run %d: %d %s", i, code, body)
		}
		var d v1alpha1.Deployment
		if err := json.Unmarshal([]byte(body), &d); err != nil {
			b.Fatal(err)
		}
		forceSucceeded(b, a.st, d.ID)
		last = d.ID
	}
	h := a.Config.Handler
	for _, bc := range []struct{ name, path string }{
		{"GetDeployment", fmt.Sprintf("/api/v1/deployments/%d", last)},
		{"ListHistory50", "/api/v1/deployments?pipeline=p&limit=50"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest(http.MethodGet, bc.path, nil)
					req.Header.Set("Authorization", "Bearer "+viewer)
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Fatalf("GET %s: %d %s", bc.path, rec.Code, rec.Body.String())
					}
				}
			})
		})
	}
}
