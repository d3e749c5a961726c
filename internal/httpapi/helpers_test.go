package httpapi

import (
	"encoding/json"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/pipeline"
	"fledge.dev/fledge/internal/store/sqlite"
)

// forceWaiting writes a queued deployment's state as the executor leaves
// it at an approval stage, without a cluster.
func forceWaiting(t *testing.T, st *sqlite.Store, id int64) {
	t.Helper()
	ctx := t.Context()
	d, ok, err := st.ClaimDeployment(ctx, "test", time.Minute)
	if err != nil || !ok || d.ID != id {
		t.Fatalf("claim %d: ok=%v id=%d err=%v", id, ok, d.ID, err)
	}
	var plan pipeline.Plan
	if err := json.Unmarshal(d.Plan, &plan); err != nil {
		t.Fatal(err)
	}
	s := pipeline.NewState(&plan)
	now := time.Now()
	for i := range s.Stages {
		if s.Stages[i].Type == v1alpha1.StageApproval {
			s.Stage = i
			s.Stages[i].Status = v1alpha1.StageRunning
			s.Wait(now.Add(time.Hour))
			break
		}
		s.Stages[i].Status = v1alpha1.StageSucceeded
	}
	d.State, _ = json.Marshal(s)
	d.Status = string(v1alpha1.StatusWaitingForApproval)
	d.StartedAt = &now
	if _, err := st.UpdateDeployment(ctx, d, "test"); err != nil {
		t.Fatal(err)
	}
	if err := st.ReleaseLease(ctx, id, "test"); err != nil {
		t.Fatal(err)
	}
}
