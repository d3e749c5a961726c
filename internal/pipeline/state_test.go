package pipeline_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/pipeline"
)

// t0 is the start of every test run; step i happens at t0 + i minutes.
var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func at(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }

func ptr(t time.Time) *time.Time { return &t }

// releasePlan is the walkthrough's pipeline with a two-batch ramp to 50%.
func releasePlan() *pipeline.Plan {
	return &pipeline.Plan{
		Pipeline:            "webpage-canary-deployment-pipeline",
		PipelineGeneration:  3,
		Kind:                v1alpha1.KindRelease,
		Environment:         "local",
		Manifests:           "apiVersion: v1\nkind: Service\nmetadata:\n  name: webpage-service\n",
		IngressName:         "webpage-ingress",
		CanaryNamespace:     "ns-canary-stage",
		ProductionNamespace: "ns-canary-prod",
		Stages: []v1alpha1.Stage{
			{Name: "canary-deploy-stage", CanaryDeployment: &v1alpha1.CanaryDeploymentStage{
				Environment: "local", Artifacts: []string{"webpage-manifest"},
				Namespace: "ns-canary-stage", IngressName: "webpage-ingress",
				RolloutTimeout: &v1alpha1.Duration{Duration: 2 * time.Minute},
			}},
			{Name: "shift-traffic-stage", ShiftTraffic: &v1alpha1.ShiftTrafficStage{
				RampLimitPercent: 50, BatchCount: 2, BatchDelay: &v1alpha1.Duration{Duration: time.Minute},
			}},
			{Name: "approval-stage", Approval: &v1alpha1.ApprovalStage{
				ApprovalsRequired: 1, Timeout: &v1alpha1.Duration{Duration: 24 * time.Hour},
			}},
			{Name: "switch-to-production-stage", ProductionRelease: &v1alpha1.ProductionReleaseStage{
				Namespace: "ns-canary-prod",
			}},
		},
		CanaryRolloutTimeout:     2 * time.Minute,
		ProductionRolloutTimeout: 5 * time.Minute,
	}
}

func rollbackPlan() *pipeline.Plan {
	return &pipeline.Plan{
		Pipeline:                 "webpage-canary-deployment-pipeline",
		Kind:                     v1alpha1.KindRollback,
		Environment:              "local",
		Manifests:                "apiVersion: v1\nkind: Service\nmetadata:\n  name: webpage-service\n",
		IngressName:              "webpage-ingress",
		CanaryNamespace:          "ns-canary-stage",
		ProductionNamespace:      "ns-canary-prod",
		RollbackTo:               7,
		ProductionRolloutTimeout: 5 * time.Minute,
	}
}

const (
	canaryStage = "canary-deploy-stage"
	shiftStage  = "shift-traffic-stage"
	approvStage = "approval-stage"
	prodStage   = "switch-to-production-stage"
)

// Expected actions of the release plan, in order.
var (
	actApplyCanary = pipeline.Action{Step: pipeline.StepApplyCanary, StageIndex: 0, StageName: canaryStage}
	actWaitCanary  = pipeline.Action{Step: pipeline.StepWaitCanary, StageIndex: 0, StageName: canaryStage}
	actWeight25    = pipeline.Action{Step: pipeline.StepSetWeight, StageIndex: 1, StageName: shiftStage, Weight: 25, Batch: 1, Batches: 2}
	actBatchDelay  = pipeline.Action{Step: pipeline.StepBatchDelay, StageIndex: 1, StageName: shiftStage}
	actWeight50    = pipeline.Action{Step: pipeline.StepSetWeight, StageIndex: 1, StageName: shiftStage, Weight: 50, Batch: 2, Batches: 2}
	actOpenApprov  = pipeline.Action{Step: pipeline.StepOpenApproval, StageIndex: 2, StageName: approvStage}
	actAwaitApprov = pipeline.Action{Step: pipeline.StepAwaitApproval, StageIndex: 2, StageName: approvStage}
	actApplyProd   = pipeline.Action{Step: pipeline.StepApplyProduction, StageIndex: 3, StageName: prodStage}
	actWaitProd    = pipeline.Action{Step: pipeline.StepWaitProduction, StageIndex: 3, StageName: prodStage}
	actRestoreProd = pipeline.Action{Step: pipeline.StepRestoreProduction, StageIndex: -1}
	actResetWeight = pipeline.Action{Step: pipeline.StepResetWeight, StageIndex: -1}
	actDone        = pipeline.Action{Step: pipeline.StepDone, StageIndex: -1}
)

// stageStatuses lists the status of every stage.
func stageStatuses(s *pipeline.State) []v1alpha1.StageStatus {
	var out []v1alpha1.StageStatus
	for _, st := range s.Stages {
		out = append(out, st.Status)
	}
	return out
}

const (
	pend = v1alpha1.StagePending
	runn = v1alpha1.StageRunning
	wait = v1alpha1.StageWaiting
	succ = v1alpha1.StageSucceeded
	fail = v1alpha1.StageFailed
	skip = v1alpha1.StageSkipped
)

// perform does what the executor does for one step at time now: start the
// stage, open the approval wait, and complete the step. It checks that the
// step is want and returns whether a stage ended.
func perform(t *testing.T, p *pipeline.Plan, s *pipeline.State, want pipeline.Action, now time.Time) bool {
	t.Helper()
	a := s.Next(p)
	if !reflect.DeepEqual(a, want) {
		t.Fatalf("Next = %+v, want %+v", a, want)
	}
	s.Start(now)
	if a.Step == pipeline.StepOpenApproval {
		s.Wait(a.GateOf(), new(now.Add(24*time.Hour)))
	}
	return s.Complete(p, a, now)
}

// TestReleaseWalkthrough runs the whole release plan step by step, checking
// every step, what Start and Complete return, and the state after each.
func TestReleaseWalkthrough(t *testing.T) {
	t.Parallel()
	p := releasePlan()
	s := pipeline.NewState(p)
	type check struct {
		want      pipeline.Action
		started   bool                      // Start returns true
		status    v1alpha1.DeploymentStatus // Status after Start (and Wait)
		current   string                    // CurrentStageName before Complete
		stageDone bool                      // Complete returns true
		stages    []v1alpha1.StageStatus    // after Complete
		weight    int                       // after Complete
	}
	running := v1alpha1.StatusRunning
	steps := []check{
		{actApplyCanary, true, running, canaryStage, false, []v1alpha1.StageStatus{runn, pend, pend, pend}, 0},
		{actWaitCanary, false, running, canaryStage, true, []v1alpha1.StageStatus{succ, pend, pend, pend}, 0},
		{actWeight25, true, running, shiftStage, false, []v1alpha1.StageStatus{succ, runn, pend, pend}, 25},
		{actBatchDelay, false, running, shiftStage, false, []v1alpha1.StageStatus{succ, runn, pend, pend}, 25},
		{actWeight50, false, running, shiftStage, true, []v1alpha1.StageStatus{succ, succ, pend, pend}, 50},
		{actOpenApprov, true, v1alpha1.StatusWaitingForApproval, approvStage, false, []v1alpha1.StageStatus{succ, succ, wait, pend}, 50},
		{actAwaitApprov, false, v1alpha1.StatusWaitingForApproval, approvStage, true, []v1alpha1.StageStatus{succ, succ, succ, pend}, 50},
		{actApplyProd, true, running, prodStage, false, []v1alpha1.StageStatus{succ, succ, succ, runn}, 50},
		{actWaitProd, false, running, prodStage, true, []v1alpha1.StageStatus{succ, succ, succ, succ}, 50},
		{actResetWeight, false, running, "", false, []v1alpha1.StageStatus{succ, succ, succ, succ}, 0},
	}
	for i, c := range steps {
		now := at(i)
		a := s.Next(p)
		if !reflect.DeepEqual(a, c.want) {
			t.Fatalf("step %d: Next = %+v, want %+v", i, a, c.want)
		}
		if got := s.Start(now); got != c.started {
			t.Errorf("step %d (%s): Start = %v, want %v", i, a.Step, got, c.started)
		}
		if a.Step == pipeline.StepOpenApproval {
			s.Wait(a.GateOf(), new(now.Add(24*time.Hour)))
			if s.ApprovalDeadline == nil || !s.ApprovalDeadline.Equal(now.Add(24*time.Hour)) {
				t.Errorf("step %d: ApprovalDeadline = %v", i, s.ApprovalDeadline)
			}
		}
		if got := s.Status(); got != c.status {
			t.Errorf("step %d (%s): Status = %q, want %q", i, a.Step, got, c.status)
		}
		if got := s.CurrentStageName(); got != c.current {
			t.Errorf("step %d (%s): CurrentStageName = %q, want %q", i, a.Step, got, c.current)
		}
		if got := s.Complete(p, a, now); got != c.stageDone {
			t.Errorf("step %d (%s): Complete = %v, want %v", i, a.Step, got, c.stageDone)
		}
		if got := stageStatuses(s); !reflect.DeepEqual(got, c.stages) {
			t.Errorf("step %d (%s): stages = %v, want %v", i, a.Step, got, c.stages)
		}
		if s.Weight != c.weight {
			t.Errorf("step %d (%s): Weight = %d, want %d", i, a.Step, s.Weight, c.weight)
		}
		switch a.Step {
		case pipeline.StepAwaitApproval:
			if s.ApprovalDeadline != nil {
				t.Errorf("ApprovalDeadline = %v after the approval", s.ApprovalDeadline)
			}
		case pipeline.StepApplyProduction:
			if !s.ProductionTouched || s.ProductionDone {
				t.Errorf("after ApplyProduction: touched %v, done %v", s.ProductionTouched, s.ProductionDone)
			}
		case pipeline.StepWaitProduction:
			if !s.ProductionDone {
				t.Error("after WaitProductionRollout: ProductionDone is false")
			}
			if want := (&pipeline.Outcome{Status: v1alpha1.StatusSucceeded}); !reflect.DeepEqual(s.Finishing, want) || s.Final != nil {
				t.Errorf("after the last stage: Finishing %+v, Final %+v", s.Finishing, s.Final)
			}
			if s.Stage != 4 || s.Sub != 0 {
				t.Errorf("after the last stage: Stage %d, Sub %d", s.Stage, s.Sub)
			}
		}
	}
	if got := s.Next(p); !reflect.DeepEqual(got, actDone) {
		t.Errorf("Next after the last step = %+v, want Done", got)
	}
	if got := s.Status(); got != v1alpha1.StatusSucceeded {
		t.Errorf("final Status = %q", got)
	}
	if want := (&pipeline.Outcome{Status: v1alpha1.StatusSucceeded}); !reflect.DeepEqual(s.Final, want) {
		t.Errorf("Final = %+v", s.Final)
	}
	if s.CurrentStageName() != "" {
		t.Errorf("CurrentStageName at the end = %q", s.CurrentStageName())
	}
	// Each stage started at its first step and ended at its last one.
	wantTimes := [][2]int{{0, 1}, {2, 4}, {5, 6}, {7, 8}}
	for i, st := range s.Stages {
		if st.StartedAt == nil || !st.StartedAt.Equal(at(wantTimes[i][0])) || st.EndedAt == nil || !st.EndedAt.Equal(at(wantTimes[i][1])) {
			t.Errorf("stage %s ran %v to %v, want %v to %v", st.Name, st.StartedAt, st.EndedAt, at(wantTimes[i][0]), at(wantTimes[i][1]))
		}
		if st.Message != "" {
			t.Errorf("stage %s message %q", st.Name, st.Message)
		}
	}
	// Start and Finish do nothing once the run is over.
	if s.Start(at(20)) {
		t.Error("Start after the end returned true")
	}
	s.Finish(v1alpha1.StatusFailed, "too late", at(20))
	if s.Status() != v1alpha1.StatusSucceeded || s.Final.Message != "" {
		t.Errorf("Finish after the end changed the outcome to %+v", s.Final)
	}
}

// walkTo performs the release plan's steps until want is next.
func walkTo(t *testing.T, p *pipeline.Plan, s *pipeline.State, want pipeline.Step) {
	t.Helper()
	for i := 0; s.Next(p).Step != want; i++ {
		if i > 20 || s.Next(p).Step == pipeline.StepDone {
			t.Fatalf("never reached %s", want)
		}
		perform(t, p, s, s.Next(p), at(i))
	}
	// The step's stage is started, as the executor does before performing it.
	s.Start(at(30))
	if want == pipeline.StepAwaitApproval && s.Status() != v1alpha1.StatusWaitingForApproval {
		t.Fatalf("at AwaitApproval: Status = %q", s.Status())
	}
}

func TestRejectedWhileWaiting(t *testing.T) {
	t.Parallel()
	p := releasePlan()
	s := pipeline.NewState(p)
	walkTo(t, p, s, pipeline.StepAwaitApproval)
	s.Finish(v1alpha1.StatusRejected, "rejected by alice: 2.2 is red", at(40))

	if got := stageStatuses(s); !reflect.DeepEqual(got, []v1alpha1.StageStatus{succ, succ, fail, skip}) {
		t.Errorf("stages = %v", got)
	}
	ap := s.Stages[2]
	if ap.Message != "rejected by alice: 2.2 is red" || ap.EndedAt == nil || !ap.EndedAt.Equal(at(40)) {
		t.Errorf("approval stage = %+v", ap)
	}
	if s.Stages[3].Message != "" || s.Stages[3].StartedAt != nil || s.Stages[3].EndedAt != nil {
		t.Errorf("skipped stage = %+v", s.Stages[3])
	}
	if s.ApprovalDeadline != nil {
		t.Errorf("ApprovalDeadline = %v after Finish", s.ApprovalDeadline)
	}
	if got := s.Status(); got != v1alpha1.StatusRunning {
		t.Errorf("Status while finishing = %q, want Running", got)
	}
	if got := s.CurrentStageName(); got != "" {
		t.Errorf("CurrentStageName while finishing = %q", got)
	}
	if s.Start(at(41)) {
		t.Error("Start while finishing returned true")
	}
	// A second Finish while finishing is ignored.
	s.Finish(v1alpha1.StatusCancelled, "cancelled", at(41))
	if want := (&pipeline.Outcome{Status: v1alpha1.StatusRejected, Message: "rejected by alice: 2.2 is red"}); !reflect.DeepEqual(s.Finishing, want) {
		t.Errorf("Finishing = %+v after a second Finish", s.Finishing)
	}

	// The only finishing step is resetting the weight: production was not touched.
	if s.Weight != 50 {
		t.Errorf("Weight before finishing = %d", s.Weight)
	}
	if stageDone := perform(t, p, s, actResetWeight, at(42)); stageDone {
		t.Error("Complete(ResetWeight) reported a stage end")
	}
	if got := s.Next(p); !reflect.DeepEqual(got, actDone) {
		t.Errorf("Next = %+v, want Done", got)
	}
	if s.Weight != 0 {
		t.Errorf("Weight = %d, want 0", s.Weight)
	}
	if got := s.Status(); got != v1alpha1.StatusRejected {
		t.Errorf("Status = %q, want Rejected", got)
	}
	if want := (&pipeline.Outcome{Status: v1alpha1.StatusRejected, Message: "rejected by alice: 2.2 is red"}); !reflect.DeepEqual(s.Final, want) {
		t.Errorf("Final = %+v", s.Final)
	}
}

func TestFailedDuringProductionRollout(t *testing.T) {
	t.Parallel()
	p := releasePlan()
	s := pipeline.NewState(p)
	walkTo(t, p, s, pipeline.StepWaitProduction)
	if !s.ProductionTouched {
		t.Fatal("ProductionTouched is false after ApplyProduction")
	}
	s.Finish(v1alpha1.StatusFailed, "rollout timed out", at(40))
	if got := stageStatuses(s); !reflect.DeepEqual(got, []v1alpha1.StageStatus{succ, succ, succ, fail}) {
		t.Errorf("stages = %v", got)
	}
	if s.Stages[3].Message != "rollout timed out" {
		t.Errorf("production stage message = %q", s.Stages[3].Message)
	}
	perform(t, p, s, actRestoreProd, at(41))
	if s.Final != nil || s.Status() != v1alpha1.StatusRunning {
		t.Errorf("after RestoreProduction: Final %+v, Status %q", s.Final, s.Status())
	}
	perform(t, p, s, actResetWeight, at(42))
	if got := s.Next(p); !reflect.DeepEqual(got, actDone) {
		t.Errorf("Next = %+v, want Done", got)
	}
	if want := (&pipeline.Outcome{Status: v1alpha1.StatusFailed, Message: "rollout timed out"}); !reflect.DeepEqual(s.Final, want) {
		t.Errorf("Final = %+v", s.Final)
	}
	if s.Status() != v1alpha1.StatusFailed || s.Weight != 0 {
		t.Errorf("Status %q, Weight %d", s.Status(), s.Weight)
	}
}

// TestFailedDuringApplyProduction: an apply of several objects can fail half
// way, after some of them changed production, so production must be
// restored as it is when the rollout fails.
func TestFailedDuringApplyProduction(t *testing.T) {
	t.Parallel()
	p := releasePlan()
	s := pipeline.NewState(p)
	walkTo(t, p, s, pipeline.StepApplyProduction)
	s.Finish(v1alpha1.StatusFailed, `apply Deployment ns-canary-prod/webpage-deployment: forbidden`, at(40))
	perform(t, p, s, actRestoreProd, at(41))
	perform(t, p, s, actResetWeight, at(42))
	if s.Status() != v1alpha1.StatusFailed {
		t.Errorf("Status = %q", s.Status())
	}
}

// TestFailedEarlyDoesNotRestore: a failure before production is touched
// only resets the weight.
func TestFailedEarlyDoesNotRestore(t *testing.T) {
	t.Parallel()
	tests := []struct {
		at     pipeline.Step
		stages []v1alpha1.StageStatus
	}{
		{pipeline.StepApplyCanary, []v1alpha1.StageStatus{fail, skip, skip, skip}},
		{pipeline.StepWaitCanary, []v1alpha1.StageStatus{fail, skip, skip, skip}},
		{pipeline.StepBatchDelay, []v1alpha1.StageStatus{succ, fail, skip, skip}},
		{pipeline.StepOpenApproval, []v1alpha1.StageStatus{succ, succ, fail, skip}},
	}
	for _, tt := range tests {
		t.Run(string(tt.at), func(t *testing.T) {
			t.Parallel()
			p := releasePlan()
			s := pipeline.NewState(p)
			walkTo(t, p, s, tt.at)
			s.Finish(v1alpha1.StatusFailed, "boom", at(40))
			if got := stageStatuses(s); !reflect.DeepEqual(got, tt.stages) {
				t.Errorf("stages = %v, want %v", got, tt.stages)
			}
			if s.NextBatchAt != nil || s.ApprovalDeadline != nil {
				t.Errorf("timers left: NextBatchAt %v, ApprovalDeadline %v", s.NextBatchAt, s.ApprovalDeadline)
			}
			perform(t, p, s, actResetWeight, at(41))
			if got := s.Next(p); !reflect.DeepEqual(got, actDone) || s.Status() != v1alpha1.StatusFailed {
				t.Errorf("Next %+v, Status %q", got, s.Status())
			}
		})
	}
}

// TestFinishBetweenStages: a stage that has not started when the run ends
// is skipped, not failed, and the finished stages keep their status.
func TestFinishBetweenStages(t *testing.T) {
	t.Parallel()
	p := releasePlan()
	s := pipeline.NewState(p)
	perform(t, p, s, actApplyCanary, at(0))
	perform(t, p, s, actWaitCanary, at(1))
	s.Finish(v1alpha1.StatusCancelled, "cancelled on request", at(2))
	if got := stageStatuses(s); !reflect.DeepEqual(got, []v1alpha1.StageStatus{succ, skip, skip, skip}) {
		t.Errorf("stages = %v", got)
	}
	if got := s.Next(p); !reflect.DeepEqual(got, actResetWeight) {
		t.Errorf("Next = %+v, want ResetWeight", got)
	}
}

func TestFinishingFailed(t *testing.T) {
	t.Parallel()
	t.Run("restore fails, the weight is still reset", func(t *testing.T) {
		t.Parallel()
		p := releasePlan()
		s := pipeline.NewState(p)
		walkTo(t, p, s, pipeline.StepWaitProduction)
		s.Finish(v1alpha1.StatusRejected, "rollout timed out", at(40))
		if got := s.Next(p); !reflect.DeepEqual(got, actRestoreProd) {
			t.Fatalf("Next = %+v, want RestoreProduction", got)
		}
		s.FinishingFailed(actRestoreProd, "RestoreProduction failed: forbidden")
		if want := (&pipeline.Outcome{Status: v1alpha1.StatusFailed, Message: "rollout timed out; RestoreProduction failed: forbidden"}); !reflect.DeepEqual(s.Finishing, want) {
			t.Errorf("Finishing = %+v", s.Finishing)
		}
		if s.Final != nil {
			t.Fatalf("Final = %+v before the weight is reset", s.Final)
		}
		perform(t, p, s, actResetWeight, at(41))
		if want := (&pipeline.Outcome{Status: v1alpha1.StatusFailed, Message: "rollout timed out; RestoreProduction failed: forbidden"}); !reflect.DeepEqual(s.Final, want) {
			t.Errorf("Final = %+v", s.Final)
		}
		if got := s.Next(p); !reflect.DeepEqual(got, actDone) {
			t.Errorf("Next = %+v, want Done", got)
		}
	})
	t.Run("the last step fails on a succeeded run", func(t *testing.T) {
		t.Parallel()
		p := releasePlan()
		s := pipeline.NewState(p)
		walkTo(t, p, s, pipeline.StepResetWeight)
		s.FinishingFailed(actResetWeight, "ResetWeight failed: ingress not found")
		want := &pipeline.Outcome{Status: v1alpha1.StatusFailed, Message: "ResetWeight failed: ingress not found"}
		if !reflect.DeepEqual(s.Final, want) {
			t.Errorf("Final = %+v, want %+v", s.Final, want)
		}
		if got := s.Next(p); !reflect.DeepEqual(got, actDone) || s.Status() != v1alpha1.StatusFailed {
			t.Errorf("Next %+v, Status %q", got, s.Status())
		}
		// Production was released: a failed weight reset does not restore it.
		if s.Weight != 50 {
			t.Errorf("Weight = %d, want the unreset 50", s.Weight)
		}
	})
	t.Run("ignored when not finishing", func(t *testing.T) {
		t.Parallel()
		p := releasePlan()
		s := pipeline.NewState(p)
		perform(t, p, s, actApplyCanary, at(0))
		before := *s
		s.FinishingFailed(actWaitCanary, "nothing")
		if !reflect.DeepEqual(*s, before) {
			t.Errorf("state changed: %+v", s)
		}
	})
}

func TestFinishNeverStarted(t *testing.T) {
	t.Parallel()
	for _, p := range []*pipeline.Plan{releasePlan(), rollbackPlan()} {
		t.Run(string(p.Kind), func(t *testing.T) {
			t.Parallel()
			s := pipeline.NewState(p)
			s.Finish(v1alpha1.StatusCancelled, "cancelled before it started", at(0))
			want := &pipeline.Outcome{Status: v1alpha1.StatusCancelled, Message: "cancelled before it started"}
			if !reflect.DeepEqual(s.Final, want) || s.Finishing != nil {
				t.Errorf("Final %+v, Finishing %+v", s.Final, s.Finishing)
			}
			for _, st := range s.Stages {
				if st.Status != skip || st.Message != "" || st.EndedAt != nil {
					t.Errorf("stage %+v, want Skipped without message or end", st)
				}
			}
			if got := s.Next(p); !reflect.DeepEqual(got, actDone) {
				t.Errorf("Next = %+v, want Done", got)
			}
			if s.Status() != v1alpha1.StatusCancelled {
				t.Errorf("Status = %q", s.Status())
			}
		})
	}
}

// TestFinishStartedFirstStage: once the first stage has started, something
// may have been touched, so the run goes through the finishing steps.
func TestFinishStartedFirstStage(t *testing.T) {
	t.Parallel()
	p := releasePlan()
	s := pipeline.NewState(p)
	s.Start(at(0))
	s.Finish(v1alpha1.StatusCancelled, "cancelled on request", at(1))
	if got := stageStatuses(s); !reflect.DeepEqual(got, []v1alpha1.StageStatus{fail, skip, skip, skip}) {
		t.Errorf("stages = %v", got)
	}
	if s.Final != nil {
		t.Errorf("Final = %+v at once", s.Final)
	}
	perform(t, p, s, actResetWeight, at(2))
	if s.Status() != v1alpha1.StatusCancelled {
		t.Errorf("Status = %q", s.Status())
	}
}

func TestRollback(t *testing.T) {
	t.Parallel()
	applyRB := pipeline.Action{Step: pipeline.StepApplyProduction, StageIndex: 0, StageName: "rollback-to-production"}
	waitRB := pipeline.Action{Step: pipeline.StepWaitProduction, StageIndex: 0, StageName: "rollback-to-production"}
	t.Run("succeeds", func(t *testing.T) {
		t.Parallel()
		p := rollbackPlan()
		s := pipeline.NewState(p)
		if s.CurrentStageName() != "rollback-to-production" {
			t.Errorf("CurrentStageName = %q", s.CurrentStageName())
		}
		if perform(t, p, s, applyRB, at(0)) {
			t.Error("ApplyProduction ended the stage")
		}
		if got := stageStatuses(s); !reflect.DeepEqual(got, []v1alpha1.StageStatus{runn}) {
			t.Errorf("stages = %v", got)
		}
		if !perform(t, p, s, waitRB, at(1)) {
			t.Error("WaitProductionRollout did not end the stage")
		}
		perform(t, p, s, actResetWeight, at(2))
		if got := s.Next(p); !reflect.DeepEqual(got, actDone) {
			t.Errorf("Next = %+v", got)
		}
		if got := stageStatuses(s); !reflect.DeepEqual(got, []v1alpha1.StageStatus{succ}) {
			t.Errorf("stages = %v", got)
		}
		if s.Status() != v1alpha1.StatusSucceeded {
			t.Errorf("Status = %q", s.Status())
		}
	})
	t.Run("fails during the rollout", func(t *testing.T) {
		t.Parallel()
		p := rollbackPlan()
		s := pipeline.NewState(p)
		perform(t, p, s, applyRB, at(0))
		s.Finish(v1alpha1.StatusFailed, "rollout timed out", at(1))
		perform(t, p, s, actRestoreProd, at(2))
		perform(t, p, s, actResetWeight, at(3))
		if got := stageStatuses(s); !reflect.DeepEqual(got, []v1alpha1.StageStatus{fail}) {
			t.Errorf("stages = %v", got)
		}
		if s.Status() != v1alpha1.StatusFailed {
			t.Errorf("Status = %q", s.Status())
		}
	})
}

// TestShiftTrafficWithRepeats: batches that would repeat a weight are left
// out, and Batch/Batches count the batches that remain.
func TestShiftTrafficWithRepeats(t *testing.T) {
	t.Parallel()
	p := releasePlan()
	p.Stages = p.Stages[:2]
	p.Stages[1].ShiftTraffic = &v1alpha1.ShiftTrafficStage{RampLimitPercent: 3, BatchCount: 5}
	s := pipeline.NewState(p)
	w := func(weight, batch int) pipeline.Action {
		return pipeline.Action{Step: pipeline.StepSetWeight, StageIndex: 1, StageName: shiftStage, Weight: weight, Batch: batch, Batches: 3}
	}
	want := []pipeline.Action{actApplyCanary, actWaitCanary, w(1, 1), actBatchDelay, w(2, 2), actBatchDelay, w(3, 3), actResetWeight}
	for i, a := range want {
		perform(t, p, s, a, at(i))
	}
	if got := s.Next(p); !reflect.DeepEqual(got, actDone) || s.Status() != v1alpha1.StatusSucceeded {
		t.Errorf("Next %+v, Status %q", got, s.Status())
	}
}

func TestCompleteWrongStepPanics(t *testing.T) {
	t.Parallel()
	p := releasePlan()
	s := pipeline.NewState(p)
	defer func() {
		r := recover()
		if r == nil {
			t.Fatal("Complete of the wrong step did not panic")
		}
		if msg := fmt.Sprint(r); !strings.Contains(msg, "completing WaitCanaryRollout but the next step is ApplyCanary") {
			t.Errorf("panic = %q", msg)
		}
	}()
	s.Complete(p, actWaitCanary, at(0))
}

// TestStateJSONResumes: the state saved after any step, decoded again (as a
// restarted server does), resumes at the same step and runs the same rest
// of the plan to the same end.
func TestStateJSONResumes(t *testing.T) {
	t.Parallel()
	full := []pipeline.Action{
		actApplyCanary, actWaitCanary, actWeight25, actBatchDelay, actWeight50,
		actOpenApprov, actAwaitApprov, actApplyProd, actWaitProd, actResetWeight, actDone,
	}
	for k := range full {
		t.Run(fmt.Sprintf("after %d steps", k), func(t *testing.T) {
			t.Parallel()
			p := releasePlan()
			s := pipeline.NewState(p)
			for i := range k {
				perform(t, p, s, full[i], at(i))
			}
			if full[k].Step == pipeline.StepBatchDelay {
				// The executor persists the time the next batch may start.
				s.NextBatchAt = ptr(at(k).Add(time.Minute))
			}
			sb, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			pb, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			var s2 pipeline.State
			var p2 pipeline.Plan
			if err := json.Unmarshal(sb, &s2); err != nil {
				t.Fatalf("decode state %s: %v", sb, err)
			}
			if err := json.Unmarshal(pb, &p2); err != nil {
				t.Fatalf("decode plan %s: %v", pb, err)
			}
			if !reflect.DeepEqual(&s2, s) {
				t.Errorf("state changed in JSON\n--- got\n%+v\n--- want\n%+v\n--- json\n%s", &s2, s, sb)
			}
			if !reflect.DeepEqual(&p2, p) {
				t.Errorf("plan changed in JSON\n--- got\n%+v\n--- want\n%+v\n--- json\n%s", &p2, p, pb)
			}
			if got := s2.Next(&p2); !reflect.DeepEqual(got, full[k]) {
				t.Fatalf("resumed Next = %+v, want %+v", got, full[k])
			}
			if s2.Status() != s.Status() {
				t.Errorf("resumed Status = %q, want %q", s2.Status(), s.Status())
			}
			for i := k; full[i].Step != pipeline.StepDone; i++ {
				perform(t, &p2, &s2, full[i], at(i))
			}
			if want := (&pipeline.Outcome{Status: v1alpha1.StatusSucceeded}); !reflect.DeepEqual(s2.Final, want) {
				t.Errorf("resumed run ended with %+v", s2.Final)
			}
		})
	}
}

// TestStateJSONFinishing: a run saved while finishing resumes its finishing
// steps, including production restore.
func TestStateJSONFinishing(t *testing.T) {
	t.Parallel()
	p := releasePlan()
	s := pipeline.NewState(p)
	walkTo(t, p, s, pipeline.StepWaitProduction)
	s.Finish(v1alpha1.StatusFailed, "rollout timed out", at(40))
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"productionTouched":true`, `"finishing":{"status":"Failed","message":"rollout timed out"}`, `"stage":3`, `"sub":0`, `"weight":50`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("state JSON lacks %s: %s", key, b)
		}
	}
	var s2 pipeline.State
	if err := json.Unmarshal(b, &s2); err != nil {
		t.Fatal(err)
	}
	perform(t, p, &s2, actRestoreProd, at(41))
	b, err = json.Marshal(&s2)
	if err != nil {
		t.Fatal(err)
	}
	var s3 pipeline.State
	if err := json.Unmarshal(b, &s3); err != nil {
		t.Fatal(err)
	}
	perform(t, p, &s3, actResetWeight, at(42))
	if want := (&pipeline.Outcome{Status: v1alpha1.StatusFailed, Message: "rollout timed out"}); !reflect.DeepEqual(s3.Final, want) {
		t.Errorf("Final = %+v", s3.Final)
	}
}

// A canarySteps stage expands into its steps in order, each with its
// index and gate; weights are numbered as batches.
func TestCanaryStepsExpand(t *testing.T) {
	t.Parallel()
	w := func(v int) *int { return &v }
	p := &pipeline.Plan{Kind: v1alpha1.KindRelease, Stages: []v1alpha1.Stage{
		{Name: "canary", CanaryDeployment: &v1alpha1.CanaryDeploymentStage{}},
		{Name: "progressive", CanarySteps: &v1alpha1.CanaryStepsStage{Steps: []v1alpha1.CanaryStep{
			{SetWeight: w(10)},
			{Analysis: &v1alpha1.AnalysisStep{Templates: []v1alpha1.AnalysisTemplateRef{{Name: "rate"}}}},
			{Approval: &v1alpha1.ApprovalStage{ApprovalsRequired: 2}},
			{SetWeight: w(50)},
			{Pause: &v1alpha1.PauseStep{}},
		}}},
		{Name: "production", ProductionRelease: &v1alpha1.ProductionReleaseStage{}},
	}}
	s := pipeline.NewState(p)
	now := at(0)
	for range 2 {
		s.Start(now)
		s.Complete(p, s.Next(p), now)
	}
	act := func(step pipeline.Step, index int) pipeline.Action {
		return pipeline.Action{Step: step, StageIndex: 1, StageName: "progressive", Index: index, Gate: pipeline.GateName("progressive", index)}
	}
	weight := func(index, w, batch int) pipeline.Action {
		a := act(pipeline.StepSetWeight, index)
		a.Weight, a.Batch, a.Batches = w, batch, 2
		return a
	}
	want := []pipeline.Action{
		weight(0, 10, 1), act(pipeline.StepAnalysis, 1), act(pipeline.StepOpenApproval, 2),
		act(pipeline.StepAwaitApproval, 2), weight(3, 50, 2), act(pipeline.StepPause, 4),
	}
	for i, w := range want {
		a := s.Next(p)
		if !reflect.DeepEqual(a, w) {
			t.Fatalf("step %d: Next = %+v, want %+v", i, a, w)
		}
		s.Start(now)
		if a.Step == pipeline.StepOpenApproval || a.Step == pipeline.StepPause {
			s.Wait(a.GateOf(), nil)
			if got := s.CurrentStageName(); got != a.Gate || s.Status() != v1alpha1.StatusWaitingForApproval {
				t.Errorf("step %d: waiting at %q (%s), want %q", i, got, s.Status(), a.Gate)
			}
		}
		s.Complete(p, a, now)
	}
	if s.Next(p).Step != pipeline.StepApplyProduction || s.Weight != 50 || s.Gate != "" || s.CurrentStageName() != "production" {
		t.Errorf("after the steps: next %s, weight %d, gate %q, stage %q", s.Next(p).Step, s.Weight, s.Gate, s.CurrentStageName())
	}
	for gate, want := range map[string]int{"progressive/step-3": 2, "progressive/step-5": 0, "approve": -1, "progressive": -1} {
		ap, ok := p.Gate(gate)
		switch {
		case want < 0 && ok:
			t.Errorf("Gate(%q) exists", gate)
		case want == 0 && (!ok || ap != nil):
			t.Errorf("Gate(%q) = %v, %v; want a gate without approval settings", gate, ap, ok)
		case want > 0 && (!ok || ap == nil || ap.ApprovalsRequired != want):
			t.Errorf("Gate(%q) = %v, %v; want %d approvals", gate, ap, ok, want)
		}
	}
}

// A promotion in the middle of the ramp ends the current stage where it
// is, skips the approval stage and goes to the production release with
// the weight it had; at production, finishing or ended it changes nothing.
func TestPromote(t *testing.T) {
	t.Parallel()
	p := releasePlan()
	s := pipeline.NewState(p)
	for i := 0; i < 3; i++ { // apply canary, wait canary, weight 25
		s.Start(at(i))
		s.Complete(p, s.Next(p), at(i))
	}
	s.NextBatchAt = ptr(at(9))
	s.SetAnalysis(v1alpha1.AnalysisRun{Name: "x", Phase: v1alpha1.AnalysisRunning})
	if !s.Promote(p, "promoted by alice", at(4)) {
		t.Fatal("Promote refused during the ramp")
	}
	want := []v1alpha1.StageStatus{v1alpha1.StageSucceeded, v1alpha1.StageSucceeded, v1alpha1.StageSkipped, v1alpha1.StagePending}
	if got := stageStatuses(s); !slices.Equal(got, want) {
		t.Errorf("stages %v, want %v", got, want)
	}
	if s.Weight != 25 || s.NextBatchAt != nil || s.Gate != "" || s.Analyses[0].Phase != v1alpha1.AnalysisInconclusive {
		t.Errorf("after the promotion: weight %d, next batch %v, gate %q, analysis %s", s.Weight, s.NextBatchAt, s.Gate, s.Analyses[0].Phase)
	}
	if a := s.Next(p); a.Step != pipeline.StepApplyProduction {
		t.Errorf("next step %s, want %s", a.Step, pipeline.StepApplyProduction)
	}
	if s.Stages[1].Message != "promoted by alice" || s.Stages[2].Message != "promoted by alice" {
		t.Errorf("stage messages %q, %q", s.Stages[1].Message, s.Stages[2].Message)
	}
	if s.Promote(p, "again", at(5)) {
		t.Error("a second promotion at production changed the state")
	}
	s.Finish(v1alpha1.StatusFailed, "boom", at(6))
	if s.Promote(p, "late", at(7)) {
		t.Error("a promotion while finishing changed the state")
	}
}
