package v1alpha1

import (
	"testing"
	"time"
)

func TestAnalysisRunNextAt(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { v := t0.Add(d); return &v }
	tests := []struct {
		name    string
		metrics []MetricProgress
		want    *time.Time
	}{
		{"no metrics", nil, nil},
		{"all decided", []MetricProgress{{Phase: AnalysisSuccessful}, {Phase: AnalysisFailed}}, nil},
		{"earliest of several", []MetricProgress{{NextAt: at(30 * time.Second)}, {Phase: AnalysisSuccessful}, {NextAt: at(10 * time.Second)}}, at(10 * time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &AnalysisRun{Metrics: tt.metrics}
			got := r.NextAt()
			if (got == nil) != (tt.want == nil) || (got != nil && !got.Equal(*tt.want)) {
				t.Fatalf("NextAt() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAnalysisPhaseDone(t *testing.T) {
	for p, want := range map[AnalysisPhase]bool{
		"": false, AnalysisRunning: false, AnalysisSuccessful: true,
		AnalysisFailed: true, AnalysisInconclusive: true, AnalysisError: true,
	} {
		if got := p.Done(); got != want {
			t.Errorf("%q.Done() = %v, want %v", p, got, want)
		}
	}
}
