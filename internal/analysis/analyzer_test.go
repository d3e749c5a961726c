package analysis

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

func intp(v int) *int { return &v }

// Tally turns a sequence of measurement phases into the metric's verdict.
// The expectations follow Argo Rollouts' limits, except that errors do not
// count towards count and a metric never Successful is not a pass.
func TestTally(t *testing.T) {
	t.Parallel()
	S, F, I, E := v1alpha1.AnalysisSuccessful, v1alpha1.AnalysisFailed, v1alpha1.AnalysisInconclusive, v1alpha1.AnalysisError
	tests := []struct {
		name   string
		metric v1alpha1.AnalysisMetric
		phases []v1alpha1.AnalysisPhase
		want   v1alpha1.AnalysisPhase
		// after is how many phases decide it (the rest must not be fed).
		after int
	}{
		{"one success", v1alpha1.AnalysisMetric{}, []v1alpha1.AnalysisPhase{S}, S, 1},
		{"count 3 all pass", v1alpha1.AnalysisMetric{Count: 3}, []v1alpha1.AnalysisPhase{S, S, S}, S, 3},
		{"first failure fails at limit 0", v1alpha1.AnalysisMetric{Count: 5}, []v1alpha1.AnalysisPhase{S, F}, F, 2},
		{"failure within limit", v1alpha1.AnalysisMetric{Count: 3, FailureLimit: intp(1)}, []v1alpha1.AnalysisPhase{F, S, S}, S, 3},
		{"failures over limit", v1alpha1.AnalysisMetric{Count: 5, FailureLimit: intp(1)}, []v1alpha1.AnalysisPhase{F, S, F}, F, 3},
		{"inconclusive at limit 0", v1alpha1.AnalysisMetric{Count: 3}, []v1alpha1.AnalysisPhase{S, I}, I, 2},
		{"inconclusive within limit", v1alpha1.AnalysisMetric{Count: 2, InconclusiveLimit: intp(1)}, []v1alpha1.AnalysisPhase{I, S}, S, 2},
		{"errors do not count", v1alpha1.AnalysisMetric{Count: 2}, []v1alpha1.AnalysisPhase{E, S, E, E, S}, S, 5},
		{"errors in a row over the limit", v1alpha1.AnalysisMetric{Count: 2}, []v1alpha1.AnalysisPhase{S, E, E, E, E, E}, E, 6},
		{"error limit 0", v1alpha1.AnalysisMetric{ConsecutiveErrorLimit: intp(0)}, []v1alpha1.AnalysisPhase{E}, E, 1},
		{"a success resets the run of errors", v1alpha1.AnalysisMetric{Count: 3, ConsecutiveErrorLimit: intp(1)}, []v1alpha1.AnalysisPhase{E, S, E, S, E, S}, S, 6},
		{"never successful is no pass", v1alpha1.AnalysisMetric{Count: 2, FailureLimit: intp(5)}, []v1alpha1.AnalysisPhase{F, F}, I, 2},
		{"failure wins over errors", v1alpha1.AnalysisMetric{Count: 3}, []v1alpha1.AnalysisPhase{E, F}, F, 2},
	}
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		mp := v1alpha1.MetricProgress{Phase: v1alpha1.AnalysisRunning}
		for i, ph := range tt.phases {
			if mp.Phase.Done() {
				t.Fatalf("%s: decided (%s) after %d phases, want after %d", tt.name, mp.Phase, i, tt.after)
			}
			Tally(&mp, tt.metric, ph, now)
		}
		if mp.Phase != tt.want || mp.NextAt != nil {
			t.Errorf("%s: %s (next %v), want %s; progress %+v", tt.name, mp.Phase, mp.NextAt, tt.want, mp)
		}
	}
	mp := v1alpha1.MetricProgress{Phase: v1alpha1.AnalysisRunning}
	Tally(&mp, v1alpha1.AnalysisMetric{Count: 2, Interval: &v1alpha1.Duration{Duration: 5 * time.Second}}, S, now)
	if mp.NextAt == nil || !mp.NextAt.Equal(now.Add(5*time.Second)) {
		t.Fatalf("next measurement at %v, want interval later", mp.NextAt)
	}
}

// Conditions decide one answer: failure wins, neither is Inconclusive
// with both set.
func TestEvaluate(t *testing.T) {
	t.Parallel()
	both := v1alpha1.AnalysisMetric{SuccessCondition: "result >= 0.99", FailureCondition: "result < 0.95"}
	tests := []struct {
		metric v1alpha1.AnalysisMetric
		result float64
		want   v1alpha1.AnalysisPhase
		msg    string
	}{
		{both, 0.995, v1alpha1.AnalysisSuccessful, `value 0.995 meets successCondition "result >= 0.99"`},
		{both, 0.9, v1alpha1.AnalysisFailed, `value 0.9 meets failureCondition "result < 0.95"`},
		{both, 0.97, v1alpha1.AnalysisInconclusive, "meets neither"},
		{v1alpha1.AnalysisMetric{SuccessCondition: "result >= 0.99"}, 0.5, v1alpha1.AnalysisFailed, "does not meet successCondition"},
		{v1alpha1.AnalysisMetric{FailureCondition: "result > 0.5"}, 0.1, v1alpha1.AnalysisSuccessful, "does not meet failureCondition"},
		{v1alpha1.AnalysisMetric{SuccessCondition: "true", FailureCondition: "true"}, 1, v1alpha1.AnalysisFailed, "meets failureCondition"},
	}
	for _, tt := range tests {
		got, msg, err := Evaluate(tt.metric, true, tt.result, nil)
		if err != nil || got != tt.want || !strings.Contains(msg, tt.msg) {
			t.Errorf("%+v on %v: %s %q %v, want %s %q", tt.metric, tt.result, got, msg, err, tt.want, tt.msg)
		}
	}
}

// A run over two templates against a fake Prometheus: measurements come
// due by interval, a failure ends the run at once with the metric, its
// value and the condition in the message.
func TestAnalyzerRun(t *testing.T) {
	t.Parallel()
	f := &fakePrometheus{status: 200, body: vector("0.999")}
	srv := httptest.NewServer(f)
	defer srv.Close()
	def := "0.99"
	specs := map[string]v1alpha1.AnalysisTemplateSpec{
		"success-rate": {
			Args: []v1alpha1.AnalysisTemplateArg{{Name: "service"}, {Name: "threshold", Default: &def}},
			Metrics: []v1alpha1.AnalysisMetric{{
				Name:             "success-rate",
				Provider:         v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusProvider{Address: srv.URL, Query: `rate{service="{{args.service}}"}`}},
				SuccessCondition: "result >= double(args.threshold)",
				Interval:         &v1alpha1.Duration{Duration: 10 * time.Second},
				Count:            3,
			}},
		},
		"warmup": {
			Metrics: []v1alpha1.AnalysisMetric{{
				Name:             "up",
				Provider:         v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusProvider{Address: srv.URL, Query: "up"}},
				SuccessCondition: "result > 0.0",
				InitialDelay:     &v1alpha1.Duration{Duration: 15 * time.Second},
			}},
		},
	}
	a := &Analyzer{}
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	if _, err := a.Start("check", []string{"success-rate"}, specs, map[string]string{}, t0); err == nil || !strings.Contains(err.Error(), "service not given") {
		t.Fatalf("missing argument: %v", err)
	}
	if _, err := a.Start("check", []string{"nope"}, specs, nil, t0); err == nil || !strings.Contains(err.Error(), `"nope" is not in the deployment's plan`) {
		t.Fatalf("missing template: %v", err)
	}
	run, err := a.Start("check", []string{"success-rate", "warmup"}, specs, map[string]string{"service": "web"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if n := run.NextAt(); n == nil || !n.Equal(t0) {
		t.Fatalf("first measurement due at %v", n)
	}
	step := func(at time.Time, wantTaken int) *v1alpha1.AnalysisRun {
		t.Helper()
		next, ms, err := a.Step(context.Background(), specs, run, at)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != wantTaken {
			t.Fatalf("at +%s took %d measurements (%+v), want %d", at.Sub(t0), len(ms), ms, wantTaken)
		}
		for _, m := range ms {
			if m.Analysis != "check" || m.Template == "" || m.Metric == "" || !m.StartedAt.Equal(at) {
				t.Fatalf("measurement %+v", m)
			}
		}
		run = next
		return next
	}
	step(t0, 1) // success-rate only; warmup waits for its delay
	if q := f.last.URL.Query().Get("query"); q != `rate{service="web"}` {
		t.Fatalf("query %q", q)
	}
	step(t0.Add(5*time.Second), 0)
	r := step(t0.Add(15*time.Second), 2)
	if r.Phase != v1alpha1.AnalysisRunning || r.Metrics[1].Phase != v1alpha1.AnalysisSuccessful {
		t.Fatalf("after 15s: %+v", r)
	}
	f.mu.Lock()
	f.body = vector("0.9")
	f.mu.Unlock()
	r = step(t0.Add(25*time.Second), 1)
	if r.Phase != v1alpha1.AnalysisFailed || r.EndedAt == nil || r.NextAt() != nil {
		t.Fatalf("failure did not end the run: %+v", r)
	}
	for _, want := range []string{"success-rate/success-rate failed", "value 0.9", `"result >= double(args.threshold)"`} {
		if !strings.Contains(r.Message, want) {
			t.Errorf("message %q lacks %q", r.Message, want)
		}
	}
	step(t0.Add(time.Hour), 0) // a decided run takes nothing
}

// A Prometheus that stops answering makes the run Error, never a pass;
// the errors do not count towards the metric's count.
func TestAnalyzerSourceDown(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(&fakePrometheus{status: 200, body: vector("1")})
	addr := srv.URL
	srv.Close()
	specs := map[string]v1alpha1.AnalysisTemplateSpec{"t": {Metrics: []v1alpha1.AnalysisMetric{{
		Name:             "m",
		Provider:         v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusProvider{Address: addr, Query: "up"}},
		SuccessCondition: "result == 1.0",
		Interval:         &v1alpha1.Duration{Duration: time.Second},
	}}}}
	a := &Analyzer{}
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	run, err := a.Start("bg", []string{"t"}, specs, nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		var ms []v1alpha1.Measurement
		run, ms, err = a.Step(context.Background(), specs, run, t0.Add(time.Duration(i)*time.Second))
		if err != nil || len(ms) != 1 || ms[0].Phase != v1alpha1.AnalysisError || !strings.Contains(ms[0].Message, "prometheus: GET") {
			t.Fatalf("step %d: %+v %v", i, ms, err)
		}
	}
	if run.Phase != v1alpha1.AnalysisError || run.Metrics[0].Count != 0 || run.Metrics[0].Errors != 5 || !strings.Contains(run.Message, "kept failing") {
		t.Fatalf("run %+v", run)
	}
}
