package analysis

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

// matrix answers a range query with one series of values.
func matrix(values []float64) string {
	var pts []string
	for i, v := range values {
		pts = append(pts, fmt.Sprintf(`[%d,"%g"]`, 1700000000+10*i, v))
	}
	return `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[` + strings.Join(pts, ",") + `]}]}}`
}

// The judge of a template reads both series over its window and decides
// by the Mann-Whitney comparison: a canary 300 ms slower fails, one like
// production passes, and a Prometheus that does not answer is Error.
func TestAnalyzerJudge(t *testing.T) {
	t.Parallel()
	production := []float64{0.101, 0.098, 0.103, 0.099, 0.102, 0.1, 0.097, 0.104, 0.1, 0.099, 0.101, 0.098}
	slow := make([]float64, len(production))
	same := make([]float64, len(production))
	for i, v := range production {
		slow[i] = v + 0.3
		same[i] = production[(i+5)%len(production)]
	}
	tests := []struct {
		name   string
		canary []float64
		down   bool
		want   v1alpha1.AnalysisPhase
		msg    string
	}{
		{"canary 300ms slower", slow, false, v1alpha1.AnalysisFailed, "critical metric latency failed"},
		{"canary like production", same, false, v1alpha1.AnalysisSuccessful, "score 100.0"},
		{"prometheus down", same, true, v1alpha1.AnalysisError, "judge metric latency, canary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.down || r.URL.Path != "/api/v1/query_range" {
					http.Error(w, "down", http.StatusBadGateway)
					return
				}
				values := production
				if strings.Contains(r.URL.Query().Get("query"), "canary") {
					values = tt.canary
				}
				fmt.Fprint(w, matrix(values))
			}))
			defer srv.Close()
			spec := v1alpha1.AnalysisTemplateSpec{
				Args: []v1alpha1.AnalysisTemplateArg{{Name: "canaryNamespace"}},
				Judge: &v1alpha1.AnalysisJudge{
					Prometheus: v1alpha1.JudgePrometheus{Address: srv.URL},
					Window:     &v1alpha1.Duration{Duration: 2 * time.Minute},
					Step:       &v1alpha1.Duration{Duration: 10 * time.Second},
					Metrics: []v1alpha1.JudgeMetric{{
						Name: "latency", CanaryQuery: `p99{ns="{{args.canaryNamespace}}"}`, ProductionQuery: `p99{ns="prod"}`,
						Direction: v1alpha1.DirectionIncrease, AllowedIncreasePercent: 10, Critical: true,
					}},
				},
			}
			specs := map[string]v1alpha1.AnalysisTemplateSpec{"compare": spec}
			a := &Analyzer{}
			t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
			run, err := a.Start("check", []string{"compare"}, specs, map[string]string{"canaryNamespace": "canary"}, t0)
			if err != nil {
				t.Fatal(err)
			}
			if n := run.NextAt(); n == nil || !n.Equal(t0.Add(2*time.Minute)) {
				t.Fatalf("the judge is due at %v, want after its window", n)
			}
			run, ms, err := a.Step(context.Background(), specs, run, t0.Add(2*time.Minute))
			if err != nil || len(ms) != 1 {
				t.Fatalf("%v %+v", err, ms)
			}
			if ms[0].Phase != tt.want || !strings.Contains(ms[0].Message, tt.msg) || ms[0].Metric != "judge" {
				t.Fatalf("measurement %+v, want %s with %q", ms[0], tt.want, tt.msg)
			}
			if tt.want == v1alpha1.AnalysisError {
				if run.Phase != v1alpha1.AnalysisRunning || run.NextAt() == nil {
					t.Fatalf("an unanswered judge is retried: %+v", run)
				}
				return
			}
			if run.Phase != tt.want || !strings.Contains(ms[0].Value, `"score"`) {
				t.Fatalf("run %s %q value %s", run.Phase, run.Message, ms[0].Value)
			}
		})
	}
}
