package pipeline_test

import (
	"reflect"
	"slices"
	"testing"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/pipeline"
)

// wavesPlan releases production beside the canary, then prod-eu, then
// prod-us-east and prod-us-west together after an approval.
func wavesPlan(rollbackOnFailure string) *pipeline.Plan {
	return &pipeline.Plan{Kind: v1alpha1.KindRelease, Environment: "local", ProductionNamespace: "webpage", Stages: []v1alpha1.Stage{
		{Name: "canary", CanaryDeployment: &v1alpha1.CanaryDeploymentStage{}},
		{Name: "production", ProductionRelease: &v1alpha1.ProductionReleaseStage{Namespace: "webpage", RollbackOnFailure: rollbackOnFailure}},
		{Name: "eu", ProductionWave: &v1alpha1.ProductionWaveStage{Targets: []v1alpha1.ProductionTarget{
			{Environment: "prod-eu", Namespace: "webpage"},
		}}},
		{Name: "us", ProductionWave: &v1alpha1.ProductionWaveStage{
			Steps: []v1alpha1.CanaryStep{{Approval: &v1alpha1.ApprovalStage{}}},
			Targets: []v1alpha1.ProductionTarget{
				{Environment: "prod-us-east", Namespace: "webpage"},
				{Environment: "prod-us-west", Namespace: "webpage"},
			},
		}},
	}}
}

func targetStatuses(s *pipeline.State) []v1alpha1.TargetStatus {
	var out []v1alpha1.TargetStatus
	for _, t := range s.Targets {
		out = append(out, t.Status)
	}
	return out
}

// setTargets does what the executor's wave steps record: targets of stage
// move to status.
func setTargets(s *pipeline.State, stage string, status v1alpha1.TargetStatus) {
	for _, i := range s.TargetsOf(stage) {
		s.Targets[i].Status = status
	}
}

// TestWavesExpand walks a release in waves: the production release hands
// the requests back to production before the waves, each wave runs its
// steps then applies and waits for its targets, and a success restores
// nothing.
func TestWavesExpand(t *testing.T) {
	t.Parallel()
	p := wavesPlan("")
	s := pipeline.NewState(p)
	wantTargets := []v1alpha1.TargetState{
		{Name: "prod-eu/webpage", Environment: "prod-eu", Namespace: "webpage", Stage: "eu", Status: v1alpha1.TargetPending},
		{Name: "prod-us-east/webpage", Environment: "prod-us-east", Namespace: "webpage", Stage: "us", Status: v1alpha1.TargetPending},
		{Name: "prod-us-west/webpage", Environment: "prod-us-west", Namespace: "webpage", Stage: "us", Status: v1alpha1.TargetPending},
	}
	if !reflect.DeepEqual(s.Targets, wantTargets) {
		t.Fatalf("targets = %+v, want %+v", s.Targets, wantTargets)
	}
	act := func(step pipeline.Step, i int, name string) pipeline.Action {
		return pipeline.Action{Step: step, StageIndex: i, StageName: name}
	}
	gate := func(step pipeline.Step) pipeline.Action {
		a := act(step, 3, "us")
		a.Index, a.Gate = 0, "us/step-1"
		return a
	}
	want := []pipeline.Action{
		act(pipeline.StepApplyCanary, 0, "canary"), act(pipeline.StepWaitCanary, 0, "canary"),
		act(pipeline.StepApplyProduction, 1, "production"), act(pipeline.StepWaitProduction, 1, "production"),
		act(pipeline.StepResetWeight, 1, "production"),
		act(pipeline.StepApplyTargets, 2, "eu"), act(pipeline.StepWaitTargets, 2, "eu"),
		gate(pipeline.StepOpenApproval), gate(pipeline.StepAwaitApproval),
		act(pipeline.StepApplyTargets, 3, "us"), act(pipeline.StepWaitTargets, 3, "us"),
		{Step: pipeline.StepResetWeight, StageIndex: -1},
	}
	for i, w := range want {
		if i == 3 {
			s.Weight = 100 // promoted while production rolls out
		}
		a := s.Next(p)
		if !reflect.DeepEqual(a, w) {
			t.Fatalf("step %d: Next = %+v, want %+v", i, a, w)
		}
		s.Start(at(i))
		switch a.Step {
		case pipeline.StepOpenApproval:
			s.Wait(a.GateOf(), nil)
			if got := s.CurrentStageName(); got != "us/step-1" {
				t.Errorf("waiting at %q, want us/step-1", got)
			}
		case pipeline.StepApplyTargets:
			setTargets(s, a.StageName, v1alpha1.TargetApplying)
		case pipeline.StepWaitTargets:
			setTargets(s, a.StageName, v1alpha1.TargetReleased)
		}
		s.Complete(p, a, at(i))
		if a.Step == pipeline.StepResetWeight && a.StageIndex == 1 && s.Weight != 0 {
			t.Errorf("after the production release's ResetWeight: weight %d, want 0 before the waves", s.Weight)
		}
	}
	if s.Final == nil || s.Final.Status != v1alpha1.StatusSucceeded {
		t.Fatalf("final = %+v, want Succeeded", s.Final)
	}
	if got := s.RestoreTargets(); len(got) != 0 {
		t.Errorf("RestoreTargets after success = %v, want none", got)
	}
	if ap, ok := p.Gate("us/step-1"); !ok || ap == nil {
		t.Errorf(`Gate("us/step-1") = %v, %v; want the wave's approval`, ap, ok)
	}
}

// TestWaveFailure fails the second wave with one target released and one
// failed: by default only the failed wave's unreleased targets are
// restored; with rollbackOnFailure all, every target the run released and
// the production beside the canary too.
func TestWaveFailure(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rollback     string
		wantRestore  []int
		wantSteps    []pipeline.Step
		wantStatuses []v1alpha1.TargetStatus
	}{
		{
			rollback: "", wantRestore: []int{2},
			wantSteps:    []pipeline.Step{pipeline.StepRestoreTargets, pipeline.StepResetWeight},
			wantStatuses: []v1alpha1.TargetStatus{v1alpha1.TargetReleased, v1alpha1.TargetReleased, v1alpha1.TargetFailed},
		},
		{
			rollback: v1alpha1.RollbackAllWaves, wantRestore: []int{0, 1, 2},
			wantSteps:    []pipeline.Step{pipeline.StepRestoreTargets, pipeline.StepRestoreProduction, pipeline.StepResetWeight},
			wantStatuses: []v1alpha1.TargetStatus{v1alpha1.TargetReleased, v1alpha1.TargetReleased, v1alpha1.TargetFailed},
		},
	} {
		t.Run("rollbackOnFailure="+tc.rollback, func(t *testing.T) {
			t.Parallel()
			p := wavesPlan(tc.rollback)
			s := pipeline.NewState(p)
			if s.RollbackAll != (tc.rollback == v1alpha1.RollbackAllWaves) {
				t.Fatalf("RollbackAll = %v", s.RollbackAll)
			}
			for i := 0; s.Next(p).Step != pipeline.StepWaitTargets || s.Next(p).StageName != "us"; i++ {
				a := s.Next(p)
				s.Start(at(i))
				switch a.Step {
				case pipeline.StepApplyTargets:
					setTargets(s, a.StageName, v1alpha1.TargetApplying)
				case pipeline.StepWaitTargets:
					setTargets(s, a.StageName, v1alpha1.TargetReleased)
				}
				s.Complete(p, a, at(i))
			}
			s.Targets[1].Status = v1alpha1.TargetReleased // us-east rolled out, us-west did not
			s.Finish(v1alpha1.StatusFailed, "rollout of prod-us-west timed out", at(20))
			if got := targetStatuses(s); !slices.Equal(got, tc.wantStatuses) {
				t.Errorf("target statuses = %v, want %v", got, tc.wantStatuses)
			}
			if got := s.RestoreTargets(); !slices.Equal(got, tc.wantRestore) {
				t.Errorf("RestoreTargets = %v, want %v", got, tc.wantRestore)
			}
			var steps []pipeline.Step
			for s.Final == nil {
				a := s.Next(p)
				steps = append(steps, a.Step)
				if a.Step == pipeline.StepRestoreTargets {
					// What the executor records: each restored.
					for _, i := range s.RestoreTargets() {
						s.Targets[i].Status = v1alpha1.TargetRestored
					}
				}
				s.Complete(p, a, at(21))
			}
			if !slices.Equal(steps, tc.wantSteps) {
				t.Errorf("finishing steps = %v, want %v", steps, tc.wantSteps)
			}
		})
	}
}

// TestWaveNothingApplied: a wave whose check failed (an environment
// unreachable) touched none of its targets; they and the later ones are
// Skipped and nothing of theirs is restored.
func TestWaveNothingApplied(t *testing.T) {
	t.Parallel()
	p := wavesPlan("")
	s := pipeline.NewState(p)
	for i := 0; s.Next(p).Step != pipeline.StepApplyTargets; i++ {
		a := s.Next(p)
		s.Start(at(i))
		s.Complete(p, a, at(i))
	}
	s.Finish(v1alpha1.StatusFailed, `environment "prod-eu" is unreachable`, at(10))
	want := []v1alpha1.TargetStatus{v1alpha1.TargetSkipped, v1alpha1.TargetSkipped, v1alpha1.TargetSkipped}
	if got := targetStatuses(s); !slices.Equal(got, want) {
		t.Errorf("target statuses = %v, want %v", got, want)
	}
	if a := s.Next(p); a.Step != pipeline.StepResetWeight {
		t.Errorf("first finishing step = %s, want ResetWeight (production was released and stays)", a.Step)
	}
}

// TestRollbackTargets: a rollback re-applies production and the named
// targets, or only the targets when production beside the canary is left
// alone.
func TestRollbackTargets(t *testing.T) {
	t.Parallel()
	targets := []v1alpha1.ProductionTarget{{Environment: "prod-eu", Namespace: "webpage"}}
	for _, tc := range []struct {
		skip bool
		want []pipeline.Step
	}{
		{false, []pipeline.Step{pipeline.StepApplyProduction, pipeline.StepWaitProduction, pipeline.StepApplyTargets, pipeline.StepWaitTargets, pipeline.StepResetWeight}},
		{true, []pipeline.Step{pipeline.StepApplyTargets, pipeline.StepWaitTargets, pipeline.StepResetWeight}},
	} {
		p := rollbackPlan()
		p.RollbackTargets, p.RollbackSkipsProduction = targets, tc.skip
		s := pipeline.NewState(p)
		if len(s.Targets) != 1 || s.Targets[0].Stage != pipeline.RollbackStageName {
			t.Fatalf("targets = %+v", s.Targets)
		}
		var steps []pipeline.Step
		for i := 0; s.Final == nil; i++ {
			a := s.Next(p)
			steps = append(steps, a.Step)
			s.Start(at(i))
			s.Complete(p, a, at(i))
		}
		if !slices.Equal(steps, tc.want) {
			t.Errorf("skip %v: steps = %v, want %v", tc.skip, steps, tc.want)
		}
	}
}
