package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/test/dataplane"
)

// The check every system runs selects the canary's series Traefik names
// after the production Ingress of that system's namespace, and nothing of
// production or of another system.
func TestSuccessRateQuerySelectsTheCanary(t *testing.T) {
	canary, err := dataplane.Query(`SERVICE`, v1alpha1.TrafficProviderNGINX, dataplane.Canary,
		map[string]string{"productionNamespace": anaFledgeProdNS, "ingress": "webpage-ingress", "service": "webpage-service"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ns, label string
		want      bool
	}{
		{anaFledgeProdNS, strings.Replace(canary, "[0-9]+", "8080", 1), true},
		{anaFledgeProdNS, "fa-prod-webpage-ingress-webpage-service-8080@kubernetesingressnginx", false},
		{anaArgoNS, "aa-bench-webpage-ingress-webpage-stable-8080-canary@kubernetesingressnginx", true},
		{anaArgoNS, "aa-bench-webpage-ingress-webpage-stable-8080@kubernetesingressnginx", false},
		{anaFlaggerNS, "fla-bench-webpage-ingress-webpage-8080-canary@kubernetesingressnginx", true},
		{anaFlaggerNS, "aa-bench-webpage-ingress-webpage-stable-8080-canary@kubernetesingressnginx", false},
	} {
		q := successRateQuery(tc.ns)
		m := regexp.MustCompile(`service=~"([^"]+)"`).FindStringSubmatch(q)
		if m == nil {
			t.Fatalf("%s: no service matcher in %s", tc.ns, q)
		}
		// PromQL anchors =~ at both ends.
		if got := regexp.MustCompile("^(?:" + m[1] + ")$").MatchString(tc.label); got != tc.want {
			t.Errorf("%s: %q matches %q: %v, want %v", tc.ns, m[1], tc.label, got, tc.want)
		}
		if !strings.Contains(q, "[10s]") || !strings.Contains(q, `code!~"5.."`) {
			t.Errorf("%s: %s: want a 10s window and the non-5xx share", tc.ns, q)
		}
	}
}

// The goal rows compare medians and say met or missed.
func TestRollbackGoals(t *testing.T) {
	sum := func(xs ...float64) Summary { return Summarize(xs, "ms") }
	r := &Results{Analysis: map[string]RollbackResult{
		"fledge":        {ToWeight0: sum(50, 60), ToNotServed: sum(300), BadRequests: sum(250)},
		"argo-rollouts": {ToWeight0: sum(40), ToNotServed: sum(900), BadRequests: sum(260)},
		"flagger":       {ToWeight0: sum(10000), ToNotServed: sum(10300), BadRequests: sum(700)},
	}}
	var b strings.Builder
	r.rollbackGoals(func(f string, a ...any) { fmt.Fprintf(&b, f, a...) })
	rows := strings.Split(strings.TrimSpace(b.String()), "\n")
	want := []string{"**missed**", "**met**", "**met**", "**met**", "**met**", "**missed**"}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d:\n%s", len(rows), len(want), b.String())
	}
	for i, row := range rows {
		if !strings.HasSuffix(row, want[i]+" |") {
			t.Errorf("row %d: %s, want %s", i, row, want[i])
		}
	}
}

// The failing measurement is the last time Prometheus answered the
// system's query before the failure was seen.
func TestLastQueryIn(t *testing.T) {
	log := []byte(`{"params":{"end":"2026-12-04T03:01:24.000Z","query":"A","start":"2026-12-04T03:01:24.000Z","step":0},"ts":"2026-12-04T03:01:24.012Z"}
{"params":{"query":"B"},"ts":"2026-12-04T03:01:30.000Z"}
{"params":{"query":"A\n"},"ts":"2026-12-04T03:01:34.105Z"}
{"params":{"query":"A"},"ts":"2026-12-04T03:01:44.100Z"}
`)
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	got, err := lastQueryIn(log, "A", at("2026-12-04T03:01:34.200Z"))
	if err != nil || !got.Equal(at("2026-12-04T03:01:34.105Z")) {
		t.Errorf("got %s, %v; want 03:01:34.105", got, err)
	}
	if _, err := lastQueryIn(log, "A", at("2026-12-04T03:01:20Z")); err == nil || !strings.Contains(err.Error(), "no query") {
		t.Errorf("before any query: %v, want no query", err)
	}
	if _, err := lastQueryIn([]byte("{not json\n"), "A", at("2026-12-04T03:01:20Z")); err == nil {
		t.Error("a bad line is not an error")
	}
}
