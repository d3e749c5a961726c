package v1alpha1_test

import (
	"strings"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

// blueGreenStage is a valid blueGreen stage of the walkthrough's
// environment and artifact.
func blueGreenStage() v1alpha1.Stage {
	return v1alpha1.Stage{Name: "blue-green", BlueGreen: &v1alpha1.BlueGreenStage{
		Environment: "local", Artifacts: []string{"webpage-manifest"}, Namespace: "ns-bg-prod", IngressName: "webpage-ingress",
	}}
}

func TestBlueGreenValidate(t *testing.T) {
	t.Parallel()
	const f = "spec.stages[0].blueGreen"
	tests := []struct {
		name   string
		mutate func(p *v1alpha1.Pipeline)
		refs   *v1alpha1.References
		want   []v1alpha1.FieldError
	}{
		{name: "minimal", mutate: func(*v1alpha1.Pipeline) {}, refs: walkthroughRefs()},
		{
			name: "every setting",
			mutate: func(p *v1alpha1.Pipeline) {
				bg := p.Spec.Stages[0].BlueGreen
				bg.TesterHeader = &v1alpha1.TesterHeader{Name: "x-preview", Value: "yes"}
				bg.Approval = &v1alpha1.ApprovalStage{ApprovalsRequired: 2, Timeout: dur(time.Hour), RequireDistinctFromTrigger: true}
				bg.ScaleDownDelay = dur(0)
				bg.RolloutTimeout = dur(time.Minute)
			},
			refs: walkthroughRefs(),
		},
		{
			name: "missing fields and unknown references",
			mutate: func(p *v1alpha1.Pipeline) {
				p.Spec.Stages[0].BlueGreen = &v1alpha1.BlueGreenStage{Artifacts: []string{"nope"}}
			},
			refs: walkthroughRefs(),
			want: []v1alpha1.FieldError{
				fe(f+".environment", "is required"),
				fe(f+".artifacts[0]", `artifact "nope" does not exist`),
				fe(f+".namespace", "is required"),
				fe(f+".ingressName", "set ingressName (an NGINX Ingress) or httpRouteName (a Gateway API HTTPRoute): the object of the manifests whose backends switch from one slot to the other"),
			},
		},
		{
			name: "Gateway API with analyses",
			mutate: func(p *v1alpha1.Pipeline) {
				bg := p.Spec.Stages[0].BlueGreen
				bg.IngressName, bg.HTTPRouteName = "", "webpage"
				bg.PrePromotionAnalysis = &v1alpha1.AnalysisStep{Templates: []v1alpha1.AnalysisTemplateRef{{Name: "success-rate"}}}
				bg.PostPromotionAnalysis = &v1alpha1.AnalysisStep{Templates: []v1alpha1.AnalysisTemplateRef{{Name: "success-rate"}}, Args: []v1alpha1.AnalysisArg{{Name: "threshold", Value: "0.99"}}}
			},
			refs: walkthroughRefs(),
		},
		{
			name: "both front objects, bad route name and analyses",
			mutate: func(p *v1alpha1.Pipeline) {
				bg := p.Spec.Stages[0].BlueGreen
				bg.HTTPRouteName = "web"
				bg.PrePromotionAnalysis = &v1alpha1.AnalysisStep{}
				bg.PostPromotionAnalysis = &v1alpha1.AnalysisStep{Templates: []v1alpha1.AnalysisTemplateRef{{Name: "a"}, {Name: "a"}}}
			},
			refs: walkthroughRefs(),
			want: []v1alpha1.FieldError{
				fe(f+".httpRouteName", "set only one of ingressName and httpRouteName"),
				fe(f+".prePromotionAnalysis.templates", "at least one template is required"),
				fe(f+".postPromotionAnalysis.templates[1].name", `template "a" is listed twice`),
			},
		},
		{
			name: "bad route name",
			mutate: func(p *v1alpha1.Pipeline) {
				bg := p.Spec.Stages[0].BlueGreen
				bg.IngressName, bg.HTTPRouteName = "", "Web_Route"
			},
			refs: walkthroughRefs(),
			want: []v1alpha1.FieldError{
				fe(f+".httpRouteName", `"Web_Route" is not a valid Kubernetes object name`),
			},
		},
		{
			name: "bad values",
			mutate: func(p *v1alpha1.Pipeline) {
				bg := p.Spec.Stages[0].BlueGreen
				bg.Namespace = strings.Repeat("n", 58)
				bg.IngressName = "Web_Ingress"
				bg.TesterHeader = &v1alpha1.TesterHeader{Name: "a b", Value: "never"}
				bg.Approval = &v1alpha1.ApprovalStage{ApprovalsRequired: -1, Timeout: dur(0)}
				bg.ScaleDownDelay = dur(25 * time.Hour)
				bg.RolloutTimeout = dur(-time.Second)
			},
			want: []v1alpha1.FieldError{
				fe(f+".namespace", "must be at most 57 characters: the slot namespaces "+strings.Repeat("n", 58)+"-blue and "+strings.Repeat("n", 58)+"-green would be 64 characters long"),
				fe(f+".ingressName", `"Web_Ingress" is not a valid Kubernetes object name`),
				fe(f+".testerHeader.name", `"a b" is not a valid HTTP header name`),
				fe(f+".testerHeader.value", `"never" is NGINX's keyword to keep a request away from the canary; choose another value`),
				fe(f+".approval.approvalsRequired", "must be at least 1, got -1"),
				fe(f+".approval.timeout", "must be positive, got 0s"),
				fe(f+".scaleDownDelay", "must be between 0s and 24h0m0s, got 25h0m0s"),
				fe(f+".rolloutTimeout", "must be positive, got -1s"),
			},
		},
		{
			name: "beside canary stages",
			mutate: func(p *v1alpha1.Pipeline) {
				p.Spec.Stages = append(p.Spec.Stages, walkthroughPipeline().Spec.Stages[2])
			},
			want: []v1alpha1.FieldError{
				fe("spec.stages", "a blueGreen stage is the whole pipeline: it deploys, waits for its approval and switches by itself, so a pipeline with one has no other stage (got 2 stages)"),
			},
		},
		{
			name: "with a second type set",
			mutate: func(p *v1alpha1.Pipeline) {
				p.Spec.Stages[0].Approval = &v1alpha1.ApprovalStage{}
			},
			want: []v1alpha1.FieldError{
				fe("spec.stages[0]", "set exactly one of canaryDeployment, shiftTraffic, canarySteps, approval, productionRelease, productionWave, blueGreen"),
				fe("spec.stages", "a canaryDeployment stage is required (it names the environment and artifacts)"),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := walkthroughPipeline()
			p.Spec.Stages = []v1alpha1.Stage{blueGreenStage()}
			tt.mutate(p)
			checkValidate(t, p, tt.refs, tt.want)
		})
	}
}

func TestOtherSlot(t *testing.T) {
	t.Parallel()
	for from, want := range map[string]string{"": v1alpha1.SlotBlue, v1alpha1.SlotBlue: v1alpha1.SlotGreen, v1alpha1.SlotGreen: v1alpha1.SlotBlue} {
		if got := v1alpha1.OtherSlot(from); got != want {
			t.Errorf("OtherSlot(%q) = %q, want %q", from, got, want)
		}
	}
}
