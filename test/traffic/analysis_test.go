package traffic

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/test/dataplane"
)

// Canary analysis on real traffic: `fledge serve` measures the data
// plane's templates of examples/analysis/templates.yaml through the real
// Prometheus scraping Traefik, under a steady load, and decides alone.
//
// The templates are the examples' own queries; the test only shortens
// their interval (30s → 2s, with a 2s initial delay so that the first
// measurement sees the new weight) and points them at the suite's
// Prometheus, so that a release takes seconds rather than minutes.

// analysisLoad is the steady load of these tests, in requests per second:
// the canary gets a quarter at weight 25.
const analysisLoad = 100

// analysisTemplates returns the example templates for the suite, and a
// judge template comparing the canary's p99 latency with production's.
func analysisTemplates(t *testing.T, provider string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "examples", "analysis", "templates.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, r := range [][2]string{
		{"default: http://127.0.0.1:9090", "default: " + prom.URL},
		{"    interval: 30s\n", "    interval: 2s\n    initialDelay: 2s\n"},
	} {
		if !strings.Contains(s, r[0]) {
			t.Fatalf("examples/analysis/templates.yaml: %q not found", r[0])
		}
		s = strings.ReplaceAll(s, r[0], r[1])
	}
	canary, err := dataplane.ServiceMatcher(provider, dataplane.Canary)
	if err != nil {
		t.Fatal(err)
	}
	production, err := dataplane.ServiceMatcher(provider, dataplane.Production)
	if err != nil {
		t.Fatal(err)
	}
	// The arguments the matchers use, each declared once.
	declared := "  - name: productionNamespace\n  - name: service\n  - name: ingress\n"
	if provider == v1alpha1.TrafficProviderGatewayAPI {
		declared = "  - name: productionNamespace\n  - name: service\n  - name: canaryNamespace\n  - name: httpRoute\n"
	}
	p99 := func(matcher string) string {
		return strconv.Quote(strings.ReplaceAll(dataplane.TraefikLatencyP99, "SERVICE", matcher))
	}
	return s + fmt.Sprintf(`---
apiVersion: fledge.dev/v1alpha1
kind: AnalysisTemplate
metadata:
  name: latency-judge
  description: The canary's p99 latency against production's over the same window.
spec:
  args:
  - name: window
    default: 5s
%s  judge:
    prometheus: {address: %q}
    window: 15s
    step: 1s
    metrics:
    - name: latency-p99
      canaryQuery: %s
      productionQuery: %s
      direction: increase
      allowedIncreasePercent: 20
      critical: true
`, declared, prom.URL, p99(canary), p99(production))
}

// analysisFixture is f with a canarySteps stage: weight 25, then an
// analysis step of templates with args (name=value), then production
// with no person in the loop.
func analysisFixture(t *testing.T, f fixture, templates []string, args ...string) fixture {
	t.Helper()
	var refs, as []string
	for _, n := range templates {
		refs = append(refs, "{name: "+n+"}")
	}
	for _, a := range args {
		name, value, _ := strings.Cut(a, "=")
		as = append(as, fmt.Sprintf("{name: %s, value: %q}", name, value))
	}
	f.faults = true
	f.stages = fmt.Sprintf(`    - name: progressive
      canarySteps:
        steps:
        - setWeight: 25
        - analysis:
            templates: [%s]
            args: [%s]
`, strings.Join(refs, ", "), strings.Join(as, ", "))
	f.files = map[string]string{"templates.yaml": analysisTemplates(t, f.provider)}
	return f
}

// prefix is the name prefix of the example templates for f's provider.
func (f fixture) templatePrefix() string {
	if f.provider == v1alpha1.TrafficProviderGatewayAPI {
		return "traefik-gateway-"
	}
	return "traefik-nginx-"
}

// A good canary passes its analysis and reaches production with no
// person; a canary answering 10% 5xx is failed by the success-rate
// template, its weight back at 0 and production untouched, while
// production fails no request; a canary 300 ms slower is failed by the
// latency template, and again by the statistical judge against
// production. The first release has nothing to measure: it goes through
// with AnalysisSkipped.
func TestAnalysisOnRealTraffic(t *testing.T) {
	for _, f := range []fixture{
		{name: "ngx-ana", provider: v1alpha1.TrafficProviderNGINX},
		{name: "gw-ana", provider: v1alpha1.TrafficProviderGatewayAPI},
	} {
		t.Run(f.provider, func(t *testing.T) {
			analysisVerdicts(t, f)
		})
	}
}

func analysisVerdicts(t *testing.T, f fixture) {
	s := startServer(t)
	rep := newReport(t, "analysis through Traefik and Prometheus, "+f.provider)
	p := f.templatePrefix()
	apply := func(templates []string, args ...string) {
		t.Helper()
		s.fledge("ci", "apply", "-f", analysisFixture(t, f, templates, args...).write(t))
	}
	apply([]string{p + "success-rate", p + "latency-p99"}, "window=6s")

	// The first release: weight kept at 0, nothing to measure.
	d1 := s.run("ci", f.pipeline(), "IMAGE_TAG=2.0")
	s.waitStatus(d1.ID, 2*time.Minute, v1alpha1.StatusSucceeded)
	rep.add("first release: %s", s.waitEvent(d1.ID, time.Second, "AnalysisSkipped", "no production").Message)
	converge(t, f, "", 30*time.Second, "production 2.0 served", only("2.0"))

	// A good canary: every measurement passes, production without a
	// person.
	stop := startSteady(t, f, analysisLoad)
	d2 := s.run("ci", f.pipeline(), "IMAGE_TAG=2.1")
	d2 = s.waitStatus(d2.ID, 3*time.Minute, v1alpha1.StatusSucceeded)
	res, err := stop()
	if err != nil {
		t.Fatal(err)
	}
	rep.add("good canary 2.1: %s; load %v", d2.Status, res)
	ms := s.measurements(d2.ID)
	for _, m := range ms {
		if m.Phase != v1alpha1.AnalysisSuccessful && m.Phase != v1alpha1.AnalysisError {
			t.Errorf("good canary: measurement %s/%s %s %s: %s", m.Template, m.Metric, m.Phase, m.Value, m.Message)
		}
		rep.add("  %s %-12s %-10s %s", m.FinishedAt.Format("15:04:05"), m.Metric, m.Phase, m.Value)
	}
	if n := countPhase(ms, v1alpha1.AnalysisSuccessful); n != 6 {
		t.Errorf("good canary: %d successful measurements, want 3 per metric", n)
	}
	if res.Non2xx != 0 || res.Errors != 0 || res.Versions["2.1"] == 0 {
		t.Errorf("good canary: the load saw failures or no canary: %v", res)
	}
	converge(t, f, "", 30*time.Second, "production 2.1 served", only("2.1"))

	// A bad canary: 10% 5xx. Production must fail nothing meanwhile.
	stop = startSteady(t, f, analysisLoad)
	d3 := s.run("ci", f.pipeline(), "IMAGE_TAG=2.2", "ERROR_RATE=10%")
	d3 = s.waitStatus(d3.ID, 3*time.Minute, v1alpha1.StatusFailed)
	converge(t, f, "", 10*time.Second, "no 2.2 after the failed analysis", none("2.2"))
	res, err = stop()
	if err != nil {
		t.Fatal(err)
	}
	rep.add("canary 2.2 with 10%% 5xx: %s: %s; load %v", d3.Status, d3.Message, res)
	if !strings.Contains(d3.Message, "success-rate") || !strings.Contains(d3.Message, "successCondition") {
		t.Errorf("failed deployment's message lacks the metric and its condition: %q", d3.Message)
	}
	if d3.CanaryWeight != 0 {
		t.Errorf("canary weight %d after the failed analysis, want 0", d3.CanaryWeight)
	}
	if res.Failed["2.1"] != 0 || res.Failed[""] != 0 || res.Errors != 0 {
		t.Errorf("production or the data plane failed requests during the bad canary: %v", res)
	}
	if res.Failed["2.2"] == 0 {
		t.Errorf("the bad canary answered no 5xx: it was never bad: %v", res)
	}
	s.waitEvent(d3.ID, time.Second, "WeightSet", "weight set to 0%")
	measure(t, rep, f, "", "production after the failed analysis", "2.1", 1)

	// A slow canary, +300 ms: the latency template (at most 0.2 s) fails
	// it, then the judge comparing it with production does.
	for _, c := range []struct {
		templates []string
		args      []string
		metric    string
	}{
		{[]string{p + "latency-p99"}, []string{"window=6s", "maxLatencySeconds=0.2"}, "latency-p99"},
		{[]string{"latency-judge"}, nil, "judge"},
	} {
		apply(c.templates, c.args...)
		stop = startSteady(t, f, analysisLoad)
		d := s.run("ci", f.pipeline(), "IMAGE_TAG=2.3", "LATENCY=300ms")
		d = s.waitStatus(d.ID, 3*time.Minute, v1alpha1.StatusFailed)
		res, err = stop()
		if err != nil {
			t.Fatal(err)
		}
		rep.add("canary 2.3 +300ms, %s: %s: %s", strings.Join(c.templates, ","), d.Status, d.Message)
		failed := lastPhase(s.measurements(d.ID), v1alpha1.AnalysisFailed)
		if failed == nil || failed.Metric != c.metric {
			t.Errorf("%v: the failing measurement is %+v, want one of metric %s", c.templates, failed, c.metric)
		} else {
			rep.add("  failing measurement %s: %s", failed.Value, failed.Message)
		}
		if res.Failed["2.1"] != 0 || res.Errors != 0 {
			t.Errorf("production failed requests during the slow canary: %v", res)
		}
		converge(t, f, "", 10*time.Second, "no 2.3 after the failed analysis", none("2.3"))
	}
}

// Prometheus stops in the middle of an analysis: the measurements become
// errors, the analysis ends Error and the deployment waits for a person,
// never passing; production keeps serving. With Prometheus back, a
// person rejects it.
func TestAnalysisWithoutPrometheus(t *testing.T) {
	// Long enough to stop Prometheus after the first measurement.
	s, f := successRateRelease(t, "ngx-nometrics", 20)
	rep := newReport(t, "analysis while Prometheus is stopped, "+f.provider)
	stop := startSteady(t, f, analysisLoad)
	d := s.run("ci", f.pipeline(), "IMAGE_TAG=2.1")
	s.waitEvent(d.ID, time.Minute, "AnalysisMeasurement", "Successful")
	prom.Stop()
	restarted := false
	defer func() {
		if !restarted {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_ = prom.Start(ctx)
		}
	}()
	stopped := time.Now()
	d = s.waitStatus(d.ID, 2*time.Minute, v1alpha1.StatusWaitingForApproval)
	ev := s.waitEvent(d.ID, time.Second, "AnalysisError", "waiting for a person")
	rep.add("Prometheus stopped; %s later: %s", time.Since(stopped).Round(time.Second), ev.Message)
	if d.CurrentStage != "progressive/step-2" {
		t.Errorf("waiting at %q, want the analysis step's gate progressive/step-2", d.CurrentStage)
	}
	// It stays there: no verdict comes from silence.
	time.Sleep(5 * time.Second)
	if d = s.deployment(d.ID); d.Status != v1alpha1.StatusWaitingForApproval {
		t.Fatalf("without metrics the deployment went on: %s %s", d.Status, d.Message)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := prom.Start(ctx); err != nil {
		t.Fatal(err)
	}
	restarted = true
	s.fledge("carol", "reject", strconv.FormatInt(d.ID, 10), "--reason", "no metrics")
	s.waitStatus(d.ID, time.Minute, v1alpha1.StatusRejected)
	res, err := stop()
	if err != nil {
		t.Fatal(err)
	}
	rep.add("load during it: %v", res)
	if res.Non2xx != 0 || res.Errors != 0 {
		t.Errorf("requests failed while the analysis waited: %v", res)
	}
	converge(t, f, "", 10*time.Second, "production 2.0 only after the rejection", only("2.0"))
}

// `fledge serve` is killed with SIGKILL in the middle of an analysis and
// started again on the same store: the analysis resumes where it was, the
// measurements taken before the crash are kept and none is counted twice,
// and the canary reaches production.
func TestAnalysisSurvivesKill(t *testing.T) {
	s, f := successRateRelease(t, "ngx-crash", 6)
	stop := startSteady(t, f, analysisLoad)
	d := s.run("ci", f.pipeline(), "IMAGE_TAG=2.1")
	deadline := time.Now().Add(time.Minute)
	for countPhase(s.measurements(d.ID), v1alpha1.AnalysisSuccessful) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no two measurements within a minute\n%s", s.eventLog(d.ID))
		}
		time.Sleep(100 * time.Millisecond)
	}
	before := s.measurements(d.ID)
	s.crash()
	d = s.waitStatus(d.ID, 3*time.Minute, v1alpha1.StatusSucceeded)
	res, err := stop()
	if err != nil {
		t.Fatal(err)
	}
	after := s.measurements(d.ID)
	for i, m := range before {
		if i >= len(after) || after[i] != m {
			t.Fatalf("measurement %d taken before the crash is not kept: %+v, after %+v", i, m, after)
		}
	}
	seen := map[string]bool{}
	for _, m := range after {
		key := m.Metric + " " + m.StartedAt.String()
		if seen[key] {
			t.Errorf("measurement %s recorded twice: %+v", key, after)
		}
		seen[key] = true
	}
	ok := countPhase(after, v1alpha1.AnalysisSuccessful)
	var counted int
	for _, a := range d.Analyses {
		for _, m := range a.Metrics {
			counted += m.Successful
		}
	}
	if ok != 6 || counted != 6 {
		t.Errorf("%d successful measurements stored, %d counted; want 6 (the template's count) each: %+v", ok, counted, after)
	}
	if res.Non2xx != 0 || res.Errors != 0 {
		t.Errorf("requests failed across the crash: %v", res)
	}
	t.Logf("%d measurements before the crash, %d in all; load %v", len(before), len(after), res)
	converge(t, f, "", 30*time.Second, "production 2.1 served", only("2.1"))
}

// successRateRelease starts a server with the NGINX suite name's pipeline
// measuring the canary's success rate count times, and releases 2.0 to
// production.
func successRateRelease(t *testing.T, name string, count int) (*server, fixture) {
	t.Helper()
	s := startServer(t)
	f := fixture{name: name, provider: v1alpha1.TrafficProviderNGINX}
	f = analysisFixture(t, f, []string{f.templatePrefix() + "success-rate"}, "window=6s")
	f.files["templates.yaml"] = strings.Replace(f.files["templates.yaml"], "    count: 3\n", fmt.Sprintf("    count: %d\n", count), 1)
	s.fledge("ci", "apply", "-f", f.write(t))
	s.waitStatus(s.run("ci", f.pipeline(), "IMAGE_TAG=2.0").ID, 2*time.Minute, v1alpha1.StatusSucceeded)
	converge(t, f, "", 30*time.Second, "production 2.0 served", only("2.0"))
	return s, f
}

func (s *server) measurements(id int64) []v1alpha1.Measurement {
	s.t.Helper()
	var l v1alpha1.MeasurementList
	s.getJSON(fmt.Sprintf("/api/v1/deployments/%d/measurements", id), &l)
	return l.Items
}

func countPhase(ms []v1alpha1.Measurement, p v1alpha1.AnalysisPhase) int {
	n := 0
	for _, m := range ms {
		if m.Phase == p {
			n++
		}
	}
	return n
}

func lastPhase(ms []v1alpha1.Measurement, p v1alpha1.AnalysisPhase) *v1alpha1.Measurement {
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Phase == p {
			return &ms[i]
		}
	}
	return nil
}
