package pipeline_test

import (
	"fmt"
	"reflect"
	"testing"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/pipeline"
)

func TestWeights(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ramp, batches int
		want          []int
	}{
		{25, 1, []int{25}},
		{50, 5, []int{10, 20, 30, 40, 50}},
		{25, 3, []int{9, 17, 25}},
		{50, 2, []int{25, 50}},
		{10, 4, []int{3, 5, 8, 10}},
		{100, 3, []int{34, 67, 100}},
		{100, 1, []int{100}},
		{7, 7, []int{1, 2, 3, 4, 5, 6, 7}},
		// More batches than percent points: no weight is repeated.
		{3, 5, []int{1, 2, 3}},
		{1, 100, []int{1}},
		{2, 100, []int{1, 2}},
		// batchCount 0 (omitted) or negative means one batch.
		{25, 0, []int{25}},
		{40, -3, []int{40}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("ramp %d in %d", tt.ramp, tt.batches), func(t *testing.T) {
			t.Parallel()
			got := pipeline.Weights(&v1alpha1.ShiftTrafficStage{RampLimitPercent: tt.ramp, BatchCount: tt.batches})
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Weights = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestWeightsProperties checks every valid ramp and batch count: weights
// strictly increase, never exceed the ramp, end at the ramp, and there are
// at most batchCount of them.
func TestWeightsProperties(t *testing.T) {
	t.Parallel()
	for ramp := 1; ramp <= 100; ramp++ {
		for n := 0; n <= 100; n++ {
			ws := pipeline.Weights(&v1alpha1.ShiftTrafficStage{RampLimitPercent: ramp, BatchCount: n})
			if len(ws) == 0 || ws[len(ws)-1] != ramp {
				t.Fatalf("ramp %d in %d: %v does not end at the ramp", ramp, n, ws)
			}
			if len(ws) > max(n, 1) {
				t.Fatalf("ramp %d in %d: %d batches", ramp, n, len(ws))
			}
			prev := 0
			for _, w := range ws {
				if w <= prev || w > ramp {
					t.Fatalf("ramp %d in %d: %v is not strictly increasing within 1..%d", ramp, n, ws, ramp)
				}
				prev = w
			}
		}
	}
}

func TestPlanStages(t *testing.T) {
	t.Parallel()
	release := releasePlan()
	if got := release.StageCount(); got != 4 {
		t.Errorf("release StageCount = %d, want 4", got)
	}
	wantTypes := []v1alpha1.StageType{
		v1alpha1.StageCanaryDeployment, v1alpha1.StageShiftTraffic,
		v1alpha1.StageApproval, v1alpha1.StageProductionRelease,
	}
	wantNames := []string{"canary-deploy-stage", "shift-traffic-stage", "approval-stage", "switch-to-production-stage"}
	for i := range 4 {
		if got := release.StageType(i); got != wantTypes[i] {
			t.Errorf("release StageType(%d) = %q, want %q", i, got, wantTypes[i])
		}
		if got := release.StageName(i); got != wantNames[i] {
			t.Errorf("release StageName(%d) = %q, want %q", i, got, wantNames[i])
		}
	}
	rb := rollbackPlan()
	if got := rb.StageCount(); got != 1 {
		t.Errorf("rollback StageCount = %d, want 1", got)
	}
	if got := rb.StageType(0); got != v1alpha1.StageRollback {
		t.Errorf("rollback StageType(0) = %q", got)
	}
	if got := rb.StageName(0); got != "rollback-to-production" {
		t.Errorf("rollback StageName(0) = %q", got)
	}
	// A rollback frozen with the pipeline's stages still runs one stage.
	rb.Stages = release.Stages
	if got := rb.StageCount(); got != 1 {
		t.Errorf("rollback with stages: StageCount = %d, want 1", got)
	}
}

func TestNewState(t *testing.T) {
	t.Parallel()
	s := pipeline.NewState(releasePlan())
	want := &pipeline.State{Stages: []v1alpha1.StageState{
		{Name: "canary-deploy-stage", Type: v1alpha1.StageCanaryDeployment, Status: v1alpha1.StagePending},
		{Name: "shift-traffic-stage", Type: v1alpha1.StageShiftTraffic, Status: v1alpha1.StagePending},
		{Name: "approval-stage", Type: v1alpha1.StageApproval, Status: v1alpha1.StagePending, ApprovalsRequired: 1},
		{Name: "switch-to-production-stage", Type: v1alpha1.StageProductionRelease, Status: v1alpha1.StagePending},
	}}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("NewState = %+v\nwant %+v", s, want)
	}
	if got := s.Status(); got != v1alpha1.StatusRunning {
		t.Errorf("Status = %q", got)
	}
	if got := s.CurrentStageName(); got != "canary-deploy-stage" {
		t.Errorf("CurrentStageName = %q", got)
	}
	rb := pipeline.NewState(rollbackPlan())
	if want := []v1alpha1.StageState{{Name: "rollback-to-production", Type: v1alpha1.StageRollback, Status: v1alpha1.StagePending}}; !reflect.DeepEqual(rb.Stages, want) {
		t.Errorf("rollback NewState stages = %+v", rb.Stages)
	}
}
