package traffic

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"fledge.dev/fledge/test/dataplane"
)

// samples is how many requests each measurement sends.
const samples = 2000

// tolerance is the allowed distance of a measured share from the weight:
// Traefik's weighted round robin is exact, ingress-nginx's random choice
// is about ±1% at 2,000 requests.
const tolerance = 0.03

// TesterHeader is the walkthrough's tester header.
const testerHeader = "redirect-to-canary: always"

// testerCookie is the tester cookie of every pipeline of these tests.
const testerCookie = "fledge-canary"

// report collects the measurements of a test, printed at its end.
type report struct {
	t     *testing.T
	title string
	lines []string
}

func newReport(t *testing.T, title string) *report {
	r := &report{t: t, title: title}
	t.Cleanup(func() {
		// One line each, so that a filtered log (hack/test.sh) keeps them.
		t.Logf("%s:", r.title)
		for _, l := range r.lines {
			t.Logf("  %s", l)
		}
	})
	return r
}

func (r *report) add(format string, args ...any) {
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
}

// load sends n requests of f's path (with header, if any) through Traefik.
func load(t *testing.T, f fixture, header string, n int) dataplane.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := plane.Load(ctx, dataplane.Request{Path: f.path(), Header: header}, n)
	if err != nil {
		t.Fatalf("load %s: %v", f.path(), err)
	}
	return res
}

// converge sends small probes until ok holds for one, and returns how long
// that took; it fails the test after timeout.
func converge(t *testing.T, f fixture, header string, timeout time.Duration, what string, ok func(dataplane.Result) bool) time.Duration {
	t.Helper()
	start := time.Now()
	var last dataplane.Result
	for time.Since(start) < timeout {
		last = load(t, f, header, 100)
		if ok(last) {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: not reached within %s; last probe: %v\n%s", what, timeout, last, plane.Logs(20))
	return 0
}

// promotion follows an approved release through the data plane: it sends
// batches of 50 requests from the approval until the deployment has ended
// and a second more (several times Traefik's throttle here), and returns
// how long after the approval only tag answered (two batches in a row),
// and the answers of other versions after the first batch that tag
// answered alone. A data plane given the requests back before it knows
// production's new endpoints would send some to the old pods, which keep
// answering while they drain.
func promotion(t *testing.T, s *server, f fixture, id int64, approved time.Time, tag string) (took time.Duration, stale map[string]int) {
	t.Helper()
	stale = map[string]int{}
	var ended time.Time
	allNew, inRow := false, 0
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if time.Now().After(deadline) {
			t.Fatalf("release of %s: not ended with only %s served within 2m (took %s)\n%s", tag, tag, took, s.eventLog(id))
		}
		start := time.Now()
		r := load(t, f, "", 50)
		if r.Non2xx != 0 || r.Errors != 0 {
			t.Errorf("release of %s: failed requests: %v", tag, r)
		}
		if allNew {
			for v, n := range r.Versions {
				if v != tag {
					stale[v] += n
				}
			}
		}
		if only(tag)(r) {
			allNew = true
			if inRow++; inRow == 2 && took == 0 {
				took = start.Sub(approved)
			}
		} else {
			inRow = 0
		}
		if ended.IsZero() && s.deployment(id).Status.Final() {
			ended = time.Now()
		}
		if took > 0 && !ended.IsZero() && time.Since(ended) > time.Second {
			return took, stale
		}
	}
}

// only reports whether every answer of res came from version v.
func only(v string) func(dataplane.Result) bool {
	return func(r dataplane.Result) bool { return r.Total > 0 && r.Versions[v] == r.Total }
}

// some reports whether at least one answer came from version v.
func some(v string) func(dataplane.Result) bool {
	return func(r dataplane.Result) bool { return r.Versions[v] > 0 }
}

// none reports whether no answer came from version v and all were 2xx.
func none(v string) func(dataplane.Result) bool {
	return func(r dataplane.Result) bool { return r.Versions[v] == 0 && r.Non2xx == 0 && r.Errors == 0 }
}

// measure sends samples requests, requires them all answered with 2xx and
// the share of version v to be want ± tolerance, and reports it.
func measure(t *testing.T, rep *report, f fixture, header, what, v string, want float64) dataplane.Result {
	t.Helper()
	res := load(t, f, header, samples)
	share := res.Share(v)
	rep.add("%-44s %s %5.1f%% (want %3.0f%%)  %v", what, v, 100*share, 100*want, res.Versions)
	if res.Non2xx != 0 || res.Errors != 0 {
		t.Errorf("%s: %d non-2xx answers and %d connection errors out of %d: %v", what, res.Non2xx, res.Errors, res.Total, res.Samples)
	}
	if math.Abs(share-want) > tolerance+1e-9 {
		t.Errorf("%s: version %s answered %d of %d requests (%.1f%%), want %.0f%% ± %.0f%%: %v",
			what, v, res.Versions[v], res.Total, 100*share, 100*want, 100*tolerance, res)
	}
	return res
}
