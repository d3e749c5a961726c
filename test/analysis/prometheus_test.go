// Package analysis_test measures AnalysisTemplates against the real
// Prometheus server scraping an exporter of the test's, so what the
// analysis engine reads is what Prometheus answers.
package analysis_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/analysis"
	"fledge.dev/fledge/internal/testenv"
)

// exporter serves counters of requests per version and code, which the
// test moves forward between measurements.
type exporter struct {
	mu    sync.Mutex
	total map[string]float64 // version/code -> count
}

func (e *exporter) add(version, code string, n float64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.total[version+"/"+code] += n
}

func (e *exporter) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintln(w, "# TYPE test_requests_total counter")
	for k, v := range e.total {
		version, code, _ := strings.Cut(k, "/")
		fmt.Fprintf(w, "test_requests_total{version=%q,code=%q} %g\n", version, code, v)
	}
}

func startPrometheus(t *testing.T, target string) *testenv.Prometheus {
	t.Helper()
	bin, err := testenv.PrometheusBinary()
	if errors.Is(err, testenv.ErrPrometheusMissing) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := testenv.StartPrometheus(ctx, testenv.PrometheusOptions{
		Bin: bin, Dir: t.TempDir(), Job: "agent", ScrapeInterval: 500 * time.Millisecond,
		Targets: []string{strings.TrimPrefix(target, "http://")},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}

// One template, measured through the real Prometheus: a good canary
// passes, the same canary answering 10% 5xx fails with its value and
// condition in the message, a query for a version with no series is never
// a pass, a query answering several series is refused, PromQL errors are
// Prometheus' own words, and a stopped Prometheus ends the analysis Error.
func TestAnalysisAgainstPrometheus(t *testing.T) {
	exp := &exporter{total: map[string]float64{}}
	exp.add("canary", "200", 1)
	exp.add("stable", "200", 1)
	target := httptest.NewServer(exp)
	defer target.Close()
	prom := startPrometheus(t, target.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := prom.WaitSeries(ctx, `test_requests_total{version="canary"}`, 30*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, prom.Tail(20))
	}
	// Traffic for a few scrapes so that rate() over 5s has two points.
	traffic := func(version string, ok, bad float64) {
		for i := 0; i < 8; i++ {
			exp.add(version, "200", ok)
			exp.add(version, "500", bad)
			time.Sleep(500 * time.Millisecond)
		}
	}
	def := "0.99"
	spec := v1alpha1.AnalysisTemplateSpec{
		Args: []v1alpha1.AnalysisTemplateArg{{Name: "version"}, {Name: "threshold", Default: &def}},
		Metrics: []v1alpha1.AnalysisMetric{{
			Name: "success-rate",
			Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusProvider{
				Address: prom.URL,
				Query: `sum(rate(test_requests_total{version="{{args.version}}",code!~"5.."}[5s]))
				        / sum(rate(test_requests_total{version="{{args.version}}"}[5s]))`,
			}},
			SuccessCondition: "result >= double(args.threshold)",
			Interval:         &v1alpha1.Duration{Duration: time.Second},
			Count:            2,
		}},
	}
	tpl := &v1alpha1.AnalysisTemplate{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindAnalysisTemplate},
		Metadata: v1alpha1.ObjectMeta{Name: "success-rate"}, Spec: spec,
	}
	if err := tpl.Validate(nil); err != nil {
		t.Fatal(err)
	}
	if fes := analysis.CheckTemplate(tpl); len(fes) > 0 {
		t.Fatal(fes)
	}
	specs := map[string]v1alpha1.AnalysisTemplateSpec{"success-rate": spec}
	a := &analysis.Analyzer{}
	// analyse runs the analysis to its verdict, a measurement a second.
	analyse := func(version string) (*v1alpha1.AnalysisRun, []v1alpha1.Measurement) {
		t.Helper()
		now := time.Now()
		run, err := a.Start("check", []string{"success-rate"}, specs, map[string]string{"version": version}, now)
		if err != nil {
			t.Fatal(err)
		}
		var all []v1alpha1.Measurement
		for i := 0; i < 20 && !run.Phase.Done(); i++ {
			var ms []v1alpha1.Measurement
			run, ms, err = a.Step(ctx, specs, run, now.Add(time.Duration(i)*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, ms...)
			time.Sleep(200 * time.Millisecond)
		}
		return run, all
	}

	traffic("canary", 20, 0)
	run, ms := analyse("canary")
	if run.Phase != v1alpha1.AnalysisSuccessful || len(ms) != 2 || ms[0].Value != "1" {
		t.Fatalf("good canary: %s %q %+v", run.Phase, run.Message, ms)
	}

	traffic("canary", 18, 2)
	run, ms = analyse("canary")
	if run.Phase != v1alpha1.AnalysisFailed || !strings.Contains(run.Message, "value 0.9") || !strings.Contains(run.Message, `successCondition "result >= double(args.threshold)"`) {
		t.Fatalf("10%% 5xx canary: %s %q %+v", run.Phase, run.Message, ms)
	}

	run, ms = analyse("nobody")
	if run.Phase != v1alpha1.AnalysisError || run.Metrics[0].Count != 0 || !strings.Contains(ms[0].Message, "empty vector") {
		t.Fatalf("no series: %s %q %+v", run.Phase, run.Message, ms)
	}

	for _, tc := range []struct{ query, want string }{
		{`test_requests_total`, "series"},
		{`sum(rate(test_requests_total[5s]`, "bad_data"},
	} {
		p, err := analysis.NewProvider(ctx, v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusProvider{Address: prom.URL, Query: tc.query}}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Measure(ctx); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.query, err, tc.want)
		}
	}

	prom.Stop()
	run, ms = analyse("canary")
	if run.Phase != v1alpha1.AnalysisError || len(ms) != 5 || !strings.Contains(run.Message, "kept failing") {
		t.Fatalf("stopped Prometheus: %s %q %+v", run.Phase, run.Message, ms)
	}
}

// gauges serves a latency gauge per version that moves a little at each
// scrape, as a real p99 does.
type gauges struct {
	mu    sync.Mutex
	base  map[string]float64
	tick  int
	noise []float64
}

func (g *gauges) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.tick++
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintln(w, "# TYPE test_latency_seconds gauge")
	for v, b := range g.base {
		fmt.Fprintf(w, "test_latency_seconds{version=%q} %g\n", v, b+g.noise[g.tick%len(g.noise)])
	}
}

// The judge through the real Prometheus: a canary 300 ms slower than
// production over the same window fails the critical latency metric; a
// canary like production passes.
func TestJudgeAgainstPrometheus(t *testing.T) {
	g := &gauges{
		base:  map[string]float64{"stable": 0.1, "slow": 0.4, "same": 0.1},
		noise: []float64{0.003, -0.002, 0.004, -0.001, 0.0, 0.002, -0.003, 0.001, -0.004},
	}
	target := httptest.NewServer(g)
	defer target.Close()
	prom := startPrometheus(t, target.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := prom.WaitSeries(ctx, `test_latency_seconds{version="slow"}`, 30*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, prom.Tail(20))
	}
	time.Sleep(6 * time.Second) // a window of samples
	spec := v1alpha1.AnalysisTemplateSpec{
		Args: []v1alpha1.AnalysisTemplateArg{{Name: "canary"}},
		Judge: &v1alpha1.AnalysisJudge{
			Prometheus: v1alpha1.JudgePrometheus{Address: prom.URL},
			Window:     &v1alpha1.Duration{Duration: 6 * time.Second},
			Step:       &v1alpha1.Duration{Duration: 500 * time.Millisecond},
			Metrics: []v1alpha1.JudgeMetric{{
				Name: "latency", CanaryQuery: `test_latency_seconds{version="{{args.canary}}"}`, ProductionQuery: `test_latency_seconds{version="stable"}`,
				Direction: v1alpha1.DirectionIncrease, AllowedIncreasePercent: 10, Critical: true,
			}},
		},
	}
	specs := map[string]v1alpha1.AnalysisTemplateSpec{"compare": spec}
	a := &analysis.Analyzer{}
	for _, tc := range []struct {
		canary string
		want   v1alpha1.AnalysisPhase
	}{{"slow", v1alpha1.AnalysisFailed}, {"same", v1alpha1.AnalysisSuccessful}} {
		now := time.Now().Add(-6 * time.Second)
		run, err := a.Start("check", []string{"compare"}, specs, map[string]string{"canary": tc.canary}, now)
		if err != nil {
			t.Fatal(err)
		}
		run, ms, err := a.Step(ctx, specs, run, time.Now())
		if err != nil || len(ms) != 1 {
			t.Fatalf("%s: %v %+v", tc.canary, err, ms)
		}
		if run.Phase != tc.want {
			t.Errorf("%s canary: %s %q (value %s), want %s", tc.canary, run.Phase, run.Message, ms[0].Value, tc.want)
		}
	}
}
