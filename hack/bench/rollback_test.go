package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

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
