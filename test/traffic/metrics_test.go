package traffic

import (
	"context"
	"math"
	"sort"
	"strconv"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/test/dataplane"
)

// A bad build is bad on the data plane and Prometheus sees it: the canary
// 2.1 answers 10% of its requests with HTTP 500 and 300 ms late, at weight
// 25 beside production 2.0, under a steady load through Traefik. The
// queries the built-in analysis templates use (package dataplane's
// Traefik* texts), run on the real Prometheus scraping Traefik, tell the
// canary from production: success rate about 0.9 against 1, p99 latency
// above 0.3 s against under 0.1 s; production fails no request.
func TestCanaryMetricsThroughPrometheus(t *testing.T) {
	for _, f := range []fixture{
		{name: "gw-metrics", provider: v1alpha1.TrafficProviderGatewayAPI, faults: true},
		{name: "ngx-metrics", provider: v1alpha1.TrafficProviderNGINX, faults: true},
	} {
		t.Run(f.provider, func(t *testing.T) {
			canaryMetrics(t, f)
		})
	}
}

func canaryMetrics(t *testing.T, f fixture) {
	s := startServer(t)
	s.fledge("ci", "apply", "-f", f.write(t))
	rep := newReport(t, "measured through Traefik and Prometheus, "+f.provider+", canary with 10% errors and +300ms")

	releaseProduction(t, s, f, "2.0")

	d2 := s.run("ci", f.pipeline(), "IMAGE_TAG=2.1", "ERROR_RATE=10%", "LATENCY=300ms")
	d2 = s.waitStatus(d2.ID, 2*time.Minute, v1alpha1.StatusWaitingForApproval)
	if d2.CanaryWeight != 25 {
		t.Fatalf("canary weight %d, want 25\n%s", d2.CanaryWeight, s.eventLog(d2.ID))
	}
	converge(t, f, "", 10*time.Second, "canary 2.1 reached", some("2.1"))

	const (
		rate   = 100
		window = 15 * time.Second
	)
	stopLoad := startSteady(t, f, rate)
	// The window, plus two scrapes so its last samples are in.
	time.Sleep(window + 2*time.Second)
	args := map[string]string{
		"productionNamespace": f.prodNS(), "canaryNamespace": f.canaryNS(),
		"ingress": "webpage-ingress", "httpRoute": "webpage", "service": "webpage-service",
		"window": strconv.Itoa(int(window.Seconds())) + "s",
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got := map[string]float64{}
	for _, m := range []struct{ name, query string }{
		{"success rate", dataplane.TraefikSuccessRate},
		{"p99 latency (s)", dataplane.TraefikLatencyP99},
		{"requests/s", dataplane.TraefikRequestRate},
	} {
		for _, side := range []dataplane.Side{dataplane.Production, dataplane.Canary} {
			q, err := dataplane.Query(m.query, f.provider, side, args)
			if err != nil {
				t.Fatal(err)
			}
			v := queryOne(ctx, t, q)
			got[string(side)+" "+m.name] = v
			rep.add("%-10s %-16s %8.4f   %s", side, m.name, v, q)
		}
	}
	res, err := stopLoad()
	if err != nil {
		t.Fatal(err)
	}
	rep.add("load client: %v", res)
	for _, l := range seriesSeen(ctx, t, f) {
		rep.add("series: %s", l)
	}

	// Ranges wide enough for a 15 s window sampled every second, narrow
	// enough that a healthy canary (success 1, p99 ~5 ms) or a production
	// with the canary's faults falls outside. A p99 of 300 ms and more
	// lands in the bucket (0.25 s, 0.5 s] or above (HistogramBuckets).
	for _, c := range []struct {
		metric   string
		min, max float64
	}{
		{"production success rate", 1, 1},
		{"canary success rate", 0.85, 0.95},
		{"production p99 latency (s)", 0, 0.1},
		{"canary p99 latency (s)", 0.3, 1},
		{"production requests/s", 0.6 * rate * 0.75, 1.1 * rate * 0.75},
		{"canary requests/s", 0.6 * rate * 0.25, 1.1 * rate * 0.25},
	} {
		if v := got[c.metric]; math.IsNaN(v) || v < c.min || v > c.max {
			t.Errorf("%s = %.4f, want within [%g, %g]", c.metric, v, c.min, c.max)
		}
	}
	// What the load client saw agrees: the canary's errors, none from
	// production, and nothing failed by the data plane itself.
	if res.Failed["2.0"] != 0 || res.Failed[""] != 0 || res.Errors != 0 {
		t.Errorf("production or the data plane failed requests: %v", res)
	}
	served := res.Versions["2.1"] + res.Failed["2.1"]
	if share := float64(res.Failed["2.1"]) / float64(served); served == 0 || math.Abs(share-0.1) > 0.02 {
		t.Errorf("canary 2.1 failed %d of %d requests, want 10%%: %v", res.Failed["2.1"], served, res)
	}

	s.fledge("carol", "reject", strconv.FormatInt(d2.ID, 10), "--reason", "10% errors")
	s.waitStatus(d2.ID, time.Minute, v1alpha1.StatusRejected)
	converge(t, f, "", 10*time.Second, "no 2.1 after the rejection", none("2.1"))
}

// queryOne runs q on the suite's Prometheus and returns its one value; on
// an error, no series or several it marks the test failed and returns
// NaN, so that the rest is still measured.
func queryOne(ctx context.Context, t *testing.T, q string) float64 {
	t.Helper()
	samples, err := prom.Query(ctx, q)
	if err != nil {
		t.Error(err)
		return math.NaN()
	}
	if len(samples) != 1 {
		t.Errorf("PromQL %s: %d series, want 1: %v", q, len(samples), samples)
		return math.NaN()
	}
	return samples[0].Value
}

// seriesSeen lists the `service` labels Traefik reported for f's
// namespaces, with their request counts per code.
func seriesSeen(ctx context.Context, t *testing.T, f fixture) []string {
	t.Helper()
	samples, err := prom.Query(ctx, `sum by (service, code) (traefik_service_requests_total{service=~".*(`+f.prodNS()+`|`+f.canaryNS()+`).*"})`)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range samples {
		out = append(out, s.Labels["service"]+" code="+s.Labels["code"]+" "+strconv.FormatFloat(s.Value, 'f', 0, 64))
	}
	sort.Strings(out)
	return out
}
