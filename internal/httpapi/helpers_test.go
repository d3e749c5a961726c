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
func forceWaiting(t testing.TB, st *sqlite.Store, id int64) {
	t.Helper()
	force(t, st, id, false)
}

// forceSucceeded writes a queued deployment's state as the executor
// leaves a release that succeeded, without a cluster.
func forceSucceeded(t testing.TB, st *sqlite.Store, id int64) {
	t.Helper()
	force(t, st, id, true)
}

func force(t testing.TB, st *sqlite.Store, id int64, succeeded bool) {
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
		if s.Stages[i].Type == v1alpha1.StageApproval && !succeeded {
			s.Stage = i
			s.Stages[i].Status = v1alpha1.StageRunning
			s.Wait(s.Stages[i].Name, new(now.Add(time.Hour)))
			break
		}
		s.Stages[i].Status = v1alpha1.StageSucceeded
	}
	d.Status = string(v1alpha1.StatusWaitingForApproval)
	// Parked as the executor parks it: not claimable until a decision.
	wake := now.Add(time.Hour)
	d.WakeAt = &wake
	if succeeded {
		d.WakeAt = nil
		s.Stage = len(s.Stages)
		s.Final = &pipeline.Outcome{Status: v1alpha1.StatusSucceeded, Message: "all stages succeeded"}
		d.Status = string(v1alpha1.StatusSucceeded)
		d.EndedAt, d.ProductionAt = &now, &now
	}
	d.State, _ = json.Marshal(s)
	d.StartedAt = &now
	if _, err := st.UpdateDeployment(ctx, d, "test"); err != nil {
		t.Fatal(err)
	}
	if err := st.ReleaseLease(ctx, id, "test"); err != nil {
		t.Fatal(err)
	}
}
