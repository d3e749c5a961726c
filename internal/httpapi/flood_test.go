package httpapi

import (
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fledge.dev/fledge/internal/store"
)

// floodDuration is how long TestRefusalFlood floods the server. The
// reported attack ran for 60 s (go test ./internal/httpapi -run
// TestRefusalFlood -flood-duration 60s); CI uses a few seconds, which
// exercises the same bound: the limit is per source and minute, so a
// longer flood only adds summary entries, one per kind and minute.
var floodDuration = flag.Duration("flood-duration", 3*time.Second, "how long TestRefusalFlood floods the server")

// TestRefusalFlood: 20 clients on loopback sending refused requests with
// 30 KB paths (no token, an unknown token, a viewer on an admin route) as
// fast as they can leave the store under a fixed bound, and authorised
// requests meanwhile are all answered (their p99 with and without the
// flood is logged).
func TestRefusalFlood(t *testing.T) {
	a := setup(t)
	viewer := a.token(t, "vera", "viewer")
	storeBytes := func() int64 {
		var n int64
		for _, f := range []string{"f.db", "f.db-wal"} {
			if fi, err := os.Stat(filepath.Join(a.dbDir, f)); err == nil {
				n += fi.Size()
			}
		}
		return n
	}
	audit := func() []store.AuditEntry {
		es, err := a.st.ListAudit(t.Context(), store.AuditFilter{Limit: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		return es
	}
	auditRows := func() int { return len(audit()) }
	authorised := func(stop func() bool) []time.Duration {
		var out []time.Duration
		for len(out) < 200 || !stop() {
			start := time.Now()
			if code, body := do(t, a, "GET", "/api/v1/pipelines/p", ""); code != 200 {
				t.Errorf("authorised request: %d %s", code, body)
				return out
			}
			out = append(out, time.Since(start))
			if stop() && len(out) >= 200 {
				break
			}
		}
		return out
	}
	baseline := p99(authorised(func() bool { return true }))

	rowsBefore, bytesBefore := auditRows(), storeBytes()
	long := "/api/v1/" + strings.Repeat("x", 30<<10)
	kinds := []struct{ token, path string }{
		{"", long},
		{"fledge_unknownunknownunknownunknownunknown", long},
		{viewer, "/api/v1/tokens?" + strings.Repeat("y", 30<<10)},
	}
	var sent atomic.Int64
	var done atomic.Bool
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	for c := range 20 {
		wg.Go(func() {
			k := kinds[c%len(kinds)]
			for !done.Load() {
				req, _ := http.NewRequest("GET", a.URL+k.path, nil)
				if k.token != "" {
					req.Header.Set("Authorization", "Bearer "+k.token)
				}
				resp, err := client.Do(req)
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 401 && resp.StatusCode != 403 {
					t.Errorf("flood request answered %d", resp.StatusCode)
				}
				sent.Add(1)
			}
		})
	}
	began := time.Now()
	deadline := began.Add(*floodDuration)
	during := p99(authorised(func() bool { return time.Now().After(deadline) }))
	done.Store(true)
	wg.Wait()
	// The flood lasts until 200 authorised requests were answered, longer
	// than floodDuration on a busy machine.
	lasted := time.Since(began)

	rows, grown := auditRows()-rowsBefore, storeBytes()-bytesBefore
	t.Logf("%d refused requests in %s; the audit log grew by %d entries, the store by %d bytes; authorised p99 %s without the flood, %s during it",
		sent.Load(), *floodDuration, rows, grown, baseline, during)
	if sent.Load() < 100 {
		t.Fatalf("the flood sent only %d requests", sent.Load())
	}
	// Each kind writes its first entry at once and one summary per
	// window; the flood spans at most duration/window+1 windows.
	windows := int(lasted/refusalWindow) + 1
	if bound := 2 * len(kinds) * windows; rows > bound {
		t.Errorf("the flood added %d audit entries, bound %d", rows, bound)
	}
	var longest int
	for _, e := range audit() {
		longest = max(longest, len(e.Target)+len(e.Detail))
	}
	if longest > refusalTargetMax+refusalDetailMax+10 {
		t.Errorf("an audit entry holds %d bytes of target and detail", longest)
	}
	if grown > 1<<20 {
		t.Errorf("the store grew by %d bytes during the flood, bound 1 MiB", grown)
	}
	// The latencies are reported, not asserted: on a shared machine they
	// measure the scheduler as much as the server. What is asserted is
	// that every authorised request was answered (authorised) and that
	// the store stayed bounded.
}

func p99(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)*99)/100]
}
