package pipeline_test

import (
	"reflect"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/pipeline"
)

// blueGreenPlan is a blue/green release with an approval before the
// switch when approval is set.
func blueGreenPlan(approval bool) *pipeline.Plan {
	st := &v1alpha1.BlueGreenStage{Environment: "local", Artifacts: []string{"webpage-manifest"}, Namespace: "ns-bg", IngressName: "webpage-ingress"}
	if approval {
		st.Approval = &v1alpha1.ApprovalStage{ApprovalsRequired: 2}
	}
	return &pipeline.Plan{
		Pipeline: "webpage-bg", Kind: v1alpha1.KindRelease, Environment: "local", ProductionNamespace: "ns-bg",
		Stages:    []v1alpha1.Stage{{Name: "bg", BlueGreen: st}},
		BlueGreen: &pipeline.BlueGreenPlan{Namespace: "ns-bg", Ingress: "webpage-ingress", ScaleDownDelay: time.Minute},
	}
}

func bgAction(step pipeline.Step) pipeline.Action {
	return pipeline.Action{Step: step, StageIndex: 0, StageName: "bg"}
}

func finishing(step pipeline.Step) pipeline.Action {
	return pipeline.Action{Step: step, StageIndex: -1}
}

// A blue/green release runs its steps in order, with the approval's when
// set, and ends by scaling the previous slot down.
func TestBlueGreenSteps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		plan *pipeline.Plan
		want []pipeline.Action
	}{
		{
			name: "without approval", plan: blueGreenPlan(false),
			want: []pipeline.Action{
				bgAction(pipeline.StepChooseSlot), bgAction(pipeline.StepApplyNew), bgAction(pipeline.StepWaitNew),
				bgAction(pipeline.StepSwitchTraffic), bgAction(pipeline.StepKeepPrevious), finishing(pipeline.StepScaleDownPrevious),
			},
		},
		{
			name: "with approval", plan: blueGreenPlan(true),
			want: []pipeline.Action{
				bgAction(pipeline.StepChooseSlot), bgAction(pipeline.StepApplyNew), bgAction(pipeline.StepWaitNew),
				bgAction(pipeline.StepOpenApproval), bgAction(pipeline.StepAwaitApproval),
				bgAction(pipeline.StepSwitchTraffic), bgAction(pipeline.StepKeepPrevious), finishing(pipeline.StepScaleDownPrevious),
			},
		},
		{
			name: "with analyses before and after the switch",
			plan: func() *pipeline.Plan {
				p := blueGreenPlan(true)
				bg := p.Stages[0].BlueGreen
				bg.PrePromotionAnalysis = &v1alpha1.AnalysisStep{Templates: []v1alpha1.AnalysisTemplateRef{{Name: "pre"}}}
				bg.PostPromotionAnalysis = &v1alpha1.AnalysisStep{Templates: []v1alpha1.AnalysisTemplateRef{{Name: "post"}}}
				return p
			}(),
			want: []pipeline.Action{
				bgAction(pipeline.StepChooseSlot), bgAction(pipeline.StepApplyNew), bgAction(pipeline.StepWaitNew),
				{Step: pipeline.StepAnalysis, StageName: "bg", Index: 0, Gate: "bg/pre-promotion"},
				bgAction(pipeline.StepOpenApproval), bgAction(pipeline.StepAwaitApproval),
				bgAction(pipeline.StepSwitchTraffic),
				{Step: pipeline.StepAnalysis, StageName: "bg", Index: 1, Gate: "bg/post-promotion"},
				bgAction(pipeline.StepKeepPrevious), finishing(pipeline.StepScaleDownPrevious),
			},
		},
		{
			name: "rollback",
			plan: func() *pipeline.Plan {
				p := blueGreenPlan(true)
				p.Kind, p.Stages, p.RollbackTo = v1alpha1.KindRollback, nil, 3
				return p
			}(),
			want: []pipeline.Action{
				{Step: pipeline.StepChooseSlot, StageName: pipeline.RollbackStageName},
				{Step: pipeline.StepApplyNew, StageName: pipeline.RollbackStageName},
				{Step: pipeline.StepWaitNew, StageName: pipeline.RollbackStageName},
				{Step: pipeline.StepSwitchTraffic, StageName: pipeline.RollbackStageName},
				{Step: pipeline.StepKeepPrevious, StageName: pipeline.RollbackStageName},
				finishing(pipeline.StepScaleDownPrevious),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := pipeline.NewState(tt.plan)
			if s.BlueGreen == nil || s.BlueGreen.Namespace != "ns-bg" {
				t.Fatalf("new state's blue/green status %+v", s.BlueGreen)
			}
			for i, want := range tt.want {
				perform(t, tt.plan, s, want, at(i))
			}
			if s.Final == nil || s.Final.Status != v1alpha1.StatusSucceeded || s.Next(tt.plan).Step != pipeline.StepDone {
				t.Errorf("final %+v, next %v", s.Final, s.Next(tt.plan).Step)
			}
		})
	}
}

// Whatever ends a blue/green release early, it switches back and removes
// the new slot; the approval's settings come from the blueGreen stage.
func TestBlueGreenFinish(t *testing.T) {
	t.Parallel()
	p := blueGreenPlan(true)
	if ap, ok := p.Gate("bg"); !ok || ap == nil || ap.ApprovalsRequired != 2 {
		t.Errorf("Gate(bg) = %+v, %v", ap, ok)
	}
	if n := pipeline.NewState(p).Stages[0].ApprovalsRequired; n != 2 {
		t.Errorf("approvals required %d, want 2", n)
	}
	for _, stop := range []int{1, 3, 4, 6} {
		s := pipeline.NewState(p)
		steps := []pipeline.Step{
			pipeline.StepChooseSlot, pipeline.StepApplyNew, pipeline.StepWaitNew, pipeline.StepOpenApproval,
			pipeline.StepAwaitApproval, pipeline.StepSwitchTraffic, pipeline.StepKeepPrevious,
		}
		for i := range stop {
			perform(t, p, s, bgAction(steps[i]), at(i))
		}
		s.Finish(v1alpha1.StatusCancelled, "cancelled on request", at(stop))
		var got []pipeline.Action
		for i := 0; s.Final == nil; i++ {
			a := s.Next(p)
			got = append(got, a)
			s.Complete(p, a, at(stop+i))
		}
		want := []pipeline.Action{finishing(pipeline.StepSwitchBack), finishing(pipeline.StepRemoveNew)}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("stopped after %d steps: finishing %+v, want %+v", stop, got, want)
		}
		if s.Stages[0].Status != v1alpha1.StageFailed || s.Final.Status != v1alpha1.StatusCancelled {
			t.Errorf("stopped after %d steps: stage %s, final %+v", stop, s.Stages[0].Status, s.Final)
		}
	}
}

func TestBlueGreenInWindow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		st   *v1alpha1.BlueGreenStatus
		want bool
	}{
		{nil, false},
		{&v1alpha1.BlueGreenStatus{From: "blue", To: "green"}, false},
		{&v1alpha1.BlueGreenStatus{From: "blue", To: "green", Switched: true}, true},
		{&v1alpha1.BlueGreenStatus{To: "blue", Switched: true}, false},
		{&v1alpha1.BlueGreenStatus{From: "blue", To: "green", Switched: true, ScaledDown: true}, false},
		{&v1alpha1.BlueGreenStatus{From: "blue", To: "green", Switched: true, SwitchedBack: true}, false},
	}
	for i, tt := range tests {
		if got := tt.st.InWindow(); got != tt.want {
			t.Errorf("%d: InWindow(%+v) = %v, want %v", i, tt.st, got, tt.want)
		}
	}
}

// Each analysis action of a blueGreen stage runs its own analysis, and
// people decide at its gate only when it exists.
func TestBlueGreenAnalysisGates(t *testing.T) {
	t.Parallel()
	p := blueGreenPlan(false)
	pre := &v1alpha1.AnalysisStep{Templates: []v1alpha1.AnalysisTemplateRef{{Name: "pre"}}}
	p.Stages[0].BlueGreen.PrePromotionAnalysis = pre
	if got := p.AnalysisOf(pipeline.Action{Step: pipeline.StepAnalysis, StageIndex: 0, StageName: "bg", Index: 0}); got != pre {
		t.Errorf("AnalysisOf(pre) = %v, want the pre-promotion analysis", got)
	}
	if got := p.AnalysisOf(pipeline.Action{Step: pipeline.StepAnalysis, StageIndex: 0, StageName: "bg", Index: 1}); got != nil {
		t.Errorf("AnalysisOf(post) = %v, want none", got)
	}
	for gate, want := range map[string]bool{"bg/pre-promotion": true, "bg/post-promotion": false, "bg": false, "bg/step-1": false} {
		if _, ok := p.Gate(gate); ok != want {
			t.Errorf("Gate(%q) exists = %v, want %v", gate, ok, want)
		}
	}
}
