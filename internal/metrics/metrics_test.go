package metrics

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/pipeline"
	"fledge.dev/fledge/internal/store"
	"fledge.dev/fledge/internal/store/sqlite"
)

func TestObserveRequestCountsWebhooks(t *testing.T) {
	t.Parallel()
	m := New()
	m.ObserveRequest("POST /api/v1/webhooks/github/{pipeline}", 201, time.Millisecond)
	m.ObserveRequest("POST /api/v1/webhooks/github/{pipeline}", 401, time.Millisecond)
	m.ObserveRequest("POST /api/v1/webhooks/generic/{pipeline}", 409, time.Millisecond)
	m.ObserveRequest("POST /api/v1/webhooks/generic/{pipeline}", 200, time.Millisecond)
	m.ObserveRequest("GET /api/v1/deployments/{id}", 200, time.Millisecond)
	tests := []struct {
		source, result string
		want           float64
	}{
		{"github", "accepted", 1},
		{"github", "unauthorized", 1},
		{"generic", "duplicate", 1},
		{"generic", "ignored", 1},
		{"generic", "accepted", 0},
	}
	for _, tt := range tests {
		if got := testutil.ToFloat64(m.webhookDeliveries.WithLabelValues(tt.source, tt.result)); got != tt.want {
			t.Errorf("webhook deliveries %s/%s = %v, want %v", tt.source, tt.result, got, tt.want)
		}
	}
	if n := testutil.CollectAndCount(m.requestDuration); n != 5 {
		t.Errorf("request duration series = %d, want 5 (one per route and code)", n)
	}
}

func TestRecordedCountsDeploymentsAndStages(t *testing.T) {
	t.Parallel()
	m := New()
	start := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	st := pipeline.State{Stages: []v1alpha1.StageState{
		{Name: "canary", Type: v1alpha1.StageCanaryDeployment, StartedAt: &start},
	}}
	raw, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	d := store.Deployment{ID: 1, Pipeline: "web", Kind: "Release", State: raw}
	m.Recorded(d, []store.Event{{Type: "DeploymentStarted"}})
	m.Recorded(d, []store.Event{
		{Type: "StageSucceeded", Stage: "canary", Time: start.Add(90 * time.Second)},
		{Type: "DeploymentSucceeded"},
		{Type: "DeploymentStarted2"},
	})
	if got := testutil.ToFloat64(m.deploymentsStarted.WithLabelValues("web", "Release")); got != 1 {
		t.Errorf("started = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.deploymentsFinished.WithLabelValues("web", "Release", "Succeeded")); got != 1 {
		t.Errorf("finished = %v, want 1", got)
	}
	h := histogram(t, m, "fledge_stage_duration_seconds")
	if h.GetSampleCount() != 1 || h.GetSampleSum() != 90 {
		t.Errorf("stage duration: %d samples, sum %v; want 1 sample of 90s", h.GetSampleCount(), h.GetSampleSum())
	}
}

// histogram returns the one histogram of the family name.
func histogram(t *testing.T, m *Metrics, name string) *dto.Histogram {
	t.Helper()
	families, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetHistogram()
		}
	}
	t.Fatalf("no single %s series", name)
	return nil
}

// TestStoreCollector reads the weight, the active deployments and the
// waiting approvals from a real (SQLite) store.
func TestStoreCollector(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "f.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, name := range []string{"idle", "web"} {
		if _, _, err := st.PutResource(ctx, store.Resource{Kind: v1alpha1.KindPipeline, Name: name, Spec: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	waitingSince := now.Add(-2 * time.Hour)
	state, _ := json.Marshal(pipeline.State{Stage: 1, Weight: 25, Stages: []v1alpha1.StageState{
		{Name: "canary", Status: v1alpha1.StageSucceeded},
		{Name: "approve", Status: v1alpha1.StageWaiting, StartedAt: &waitingSince},
	}})
	d, err := st.CreateDeployment(ctx, store.Deployment{Pipeline: "web", Kind: "Release", Plan: []byte(`{}`), Status: "Queued"})
	if err != nil {
		t.Fatal(err)
	}
	d, ok, err := st.ClaimDeployment(ctx, "me", time.Minute)
	if err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	d.State, d.Status, d.StartedAt = state, string(v1alpha1.StatusWaitingForApproval), &waitingSince
	if _, err := st.UpdateDeployment(ctx, d, "me"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateDeployment(ctx, store.Deployment{Pipeline: "web", Kind: "Release", Plan: []byte(`{}`), Status: "Queued"}); err != nil {
		t.Fatal(err)
	}
	c := &StoreCollector{Store: st, Clock: func() time.Time { return now }, Pending: func(context.Context) (int, error) { return 3, nil }}
	want := `
# HELP fledge_approval_wait_seconds How long the oldest deployment waiting for approval has waited, by pipeline (0 when none waits).
# TYPE fledge_approval_wait_seconds gauge
fledge_approval_wait_seconds{pipeline="idle"} 0
fledge_approval_wait_seconds{pipeline="web"} 7200
# HELP fledge_approvals_waiting Deployments waiting for approval, by pipeline.
# TYPE fledge_approvals_waiting gauge
fledge_approvals_waiting{pipeline="idle"} 0
fledge_approvals_waiting{pipeline="web"} 1
# HELP fledge_canary_weight_percent The canary's share of requests, in percent, of the deployment under way of each pipeline (0 when none is).
# TYPE fledge_canary_weight_percent gauge
fledge_canary_weight_percent{pipeline="idle"} 0
fledge_canary_weight_percent{pipeline="web"} 25
# HELP fledge_deployments_active Deployments not yet ended, by pipeline and status (Queued, Running, WaitingForApproval).
# TYPE fledge_deployments_active gauge
fledge_deployments_active{pipeline="idle",status="Queued"} 0
fledge_deployments_active{pipeline="idle",status="Running"} 0
fledge_deployments_active{pipeline="idle",status="WaitingForApproval"} 0
fledge_deployments_active{pipeline="web",status="Queued"} 1
fledge_deployments_active{pipeline="web",status="Running"} 0
fledge_deployments_active{pipeline="web",status="WaitingForApproval"} 1
# HELP fledge_notifications_pending Notifications written to the outbox and not yet delivered or given up.
# TYPE fledge_notifications_pending gauge
fledge_notifications_pending 3
# HELP fledge_store_scrape_error 1 when the last scrape could not read the deployments from the store.
# TYPE fledge_store_scrape_error gauge
fledge_store_scrape_error 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	m := New()
	ist := m.InstrumentStore(st)
	if _, err := ist.GetDeployment(ctx, 999); err == nil {
		t.Fatal("GetDeployment of a missing id: no error")
	}
	if _, err := ist.GetDeployment(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(m.storeDuration, "fledge_store_operation_duration_seconds"); n != 2 {
		t.Errorf("store series = %d, want 2 (GetDeployment ok and error)", n)
	}
}
