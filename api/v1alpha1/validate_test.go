package v1alpha1_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

// orderText is the tail of the stage order error message.
const orderText = " stage cannot come after a later stage of the canary strategy (order: canaryDeployment, shiftTraffic or canarySteps, approval, productionRelease, productionWave)"

func dur(d time.Duration) *v1alpha1.Duration { return &v1alpha1.Duration{Duration: d} }

// walkthroughPipeline is the reference scenario's pipeline, with every
// optional field set so that each rule can be broken from a valid start.
func walkthroughPipeline() *v1alpha1.Pipeline {
	def := "2.0"
	return &v1alpha1.Pipeline{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindPipeline},
		Metadata: v1alpha1.ObjectMeta{Name: "webpage-canary-deployment-pipeline"},
		Spec: v1alpha1.PipelineSpec{
			Parameters: []v1alpha1.Parameter{
				{Name: "IMAGE_TAG", Description: "The image version the build produced"},
				{Name: "replicas_2", Default: &def},
			},
			Stages: []v1alpha1.Stage{
				{Name: "canary-deploy-stage", CanaryDeployment: &v1alpha1.CanaryDeploymentStage{
					Environment:    "local",
					Artifacts:      []string{"webpage-manifest"},
					Namespace:      "ns-canary-stage",
					IngressName:    "webpage-ingress",
					RolloutTimeout: dur(2 * time.Minute),
				}},
				{Name: "shift-traffic-stage", ShiftTraffic: &v1alpha1.ShiftTrafficStage{
					RampLimitPercent: 25, BatchCount: 1, BatchDelay: dur(30 * time.Second),
				}},
				{Name: "approval-stage", Approval: &v1alpha1.ApprovalStage{
					ApprovalsRequired: 1, Timeout: dur(24 * time.Hour),
				}},
				{Name: "switch-to-production-stage", ProductionRelease: &v1alpha1.ProductionReleaseStage{
					Namespace: "ns-canary-prod", RolloutTimeout: dur(2 * time.Minute),
				}},
			},
		},
	}
}

func walkthroughRefs() *v1alpha1.References {
	return &v1alpha1.References{
		Environments: map[string]bool{"local": true},
		Artifacts:    map[string]bool{"webpage-manifest": true},
	}
}

// fieldErrors returns the field errors of a *ValidationError, failing the
// test when err is of another type.
func fieldErrors(t *testing.T, err error, kind, name string) []v1alpha1.FieldError {
	t.Helper()
	if err == nil {
		return nil
	}
	var ve *v1alpha1.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error is %T (%v), want *v1alpha1.ValidationError", err, err)
	}
	if ve.Kind != kind || ve.Name != name {
		t.Errorf("ValidationError names %s %q, want %s %q", ve.Kind, ve.Name, kind, name)
	}
	if len(ve.Errors) == 0 {
		t.Errorf("ValidationError without field errors: %v", err)
	}
	return ve.Errors
}

func checkFieldErrors(t *testing.T, got, want []v1alpha1.FieldError) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	var b strings.Builder
	b.WriteString("field errors differ\n--- got\n")
	for _, fe := range got {
		b.WriteString("  " + fe.Error() + "\n")
	}
	b.WriteString("--- want\n")
	for _, fe := range want {
		b.WriteString("  " + fe.Error() + "\n")
	}
	t.Error(b.String())
}

func fe(field, message string) v1alpha1.FieldError {
	return v1alpha1.FieldError{Field: field, Message: message}
}

func TestPipelineValidate(t *testing.T) {
	t.Parallel()
	const (
		canary = "spec.stages[0].canaryDeployment"
		shift  = "spec.stages[1].shiftTraffic"
		appr   = "spec.stages[2].approval"
		prod   = "spec.stages[3].productionRelease"
	)
	// Stages of the walkthrough pipeline, to build other orders from.
	st := walkthroughPipeline().Spec.Stages
	c, s, a, p := st[0], st[1], st[2], st[3]
	tests := []struct {
		name   string
		mutate func(p *v1alpha1.Pipeline)
		refs   *v1alpha1.References
		want   []v1alpha1.FieldError
	}{
		{name: "walkthrough pipeline is valid", mutate: func(*v1alpha1.Pipeline) {}},
		{name: "walkthrough pipeline is valid with its references", mutate: func(*v1alpha1.Pipeline) {}, refs: walkthroughRefs()},
		{
			name: "minimal pipeline: canary stage only, defaults left out",
			mutate: func(p *v1alpha1.Pipeline) {
				p.Spec.Parameters = nil
				p.Spec.Stages = []v1alpha1.Stage{{Name: "c", CanaryDeployment: &v1alpha1.CanaryDeploymentStage{
					Environment: "local", Artifacts: []string{"webpage-manifest"}, Namespace: "a", IngressName: "b.example.com",
				}}}
			},
			refs: walkthroughRefs(),
		},
		{
			name: "boundaries that are allowed",
			mutate: func(p *v1alpha1.Pipeline) {
				p.Metadata.Name = strings.Repeat("a", 63)
				p.Spec.Stages[1].ShiftTraffic = &v1alpha1.ShiftTrafficStage{RampLimitPercent: 100, BatchCount: 100, BatchDelay: dur(0)}
				p.Spec.Stages[2].Approval = &v1alpha1.ApprovalStage{ApprovalsRequired: 0}
				p.Spec.Stages[0].CanaryDeployment.RolloutTimeout = dur(time.Nanosecond)
			},
		},
		{
			name: "ramp 1 with batchCount 0 (default) is allowed",
			mutate: func(p *v1alpha1.Pipeline) {
				p.Spec.Stages[1].ShiftTraffic = &v1alpha1.ShiftTrafficStage{RampLimitPercent: 1}
			},
		},

		// Metadata.
		{
			name:   "wrong apiVersion",
			mutate: func(p *v1alpha1.Pipeline) { p.APIVersion = "fledge.dev/v1" },
			want:   []v1alpha1.FieldError{fe("apiVersion", `must be "fledge.dev/v1alpha1", got "fledge.dev/v1"`)},
		},
		{
			name:   "wrong kind",
			mutate: func(p *v1alpha1.Pipeline) { p.Kind = "Artifact" },
			want:   []v1alpha1.FieldError{fe("kind", `must be "Pipeline", got "Artifact"`)},
		},
		{
			name:   "missing name",
			mutate: func(p *v1alpha1.Pipeline) { p.Metadata.Name = "" },
			want:   []v1alpha1.FieldError{fe("metadata.name", "is required")},
		},
		{
			name:   "name longer than a DNS label",
			mutate: func(p *v1alpha1.Pipeline) { p.Metadata.Name = strings.Repeat("a", 64) },
			want:   []v1alpha1.FieldError{fe("metadata.name", "must be at most 63 characters, got 64")},
		},
		{
			name:   "name with upper case and underscore",
			mutate: func(p *v1alpha1.Pipeline) { p.Metadata.Name = "Webpage_Pipeline" },
			want:   []v1alpha1.FieldError{fe("metadata.name", `"Webpage_Pipeline" must consist of lower case letters, digits and '-', and start and end with a letter or digit`)},
		},
		{
			name:   "name ending with a dash",
			mutate: func(p *v1alpha1.Pipeline) { p.Metadata.Name = "webpage-" },
			want:   []v1alpha1.FieldError{fe("metadata.name", `"webpage-" must consist of lower case letters, digits and '-', and start and end with a letter or digit`)},
		},
		{
			name:   "name with a dot is not a DNS label",
			mutate: func(p *v1alpha1.Pipeline) { p.Metadata.Name = "web.page" },
			want:   []v1alpha1.FieldError{fe("metadata.name", `"web.page" must consist of lower case letters, digits and '-', and start and end with a letter or digit`)},
		},

		// Parameters.
		{
			name:   "parameter without a name",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Parameters[1].Name = "" },
			want:   []v1alpha1.FieldError{fe("spec.parameters[1].name", "is required")},
		},
		{
			name:   "parameter name starting with a digit",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Parameters[1].Name = "1TAG" },
			want:   []v1alpha1.FieldError{fe("spec.parameters[1].name", `"1TAG" must be letters, digits and '_', not starting with a digit`)},
		},
		{
			name:   "parameter name with a dash",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Parameters[0].Name = "IMAGE-TAG" },
			want:   []v1alpha1.FieldError{fe("spec.parameters[0].name", `"IMAGE-TAG" must be letters, digits and '_', not starting with a digit`)},
		},
		{
			name:   "duplicate parameter",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Parameters[1].Name = "IMAGE_TAG" },
			want:   []v1alpha1.FieldError{fe("spec.parameters[1].name", `duplicate parameter "IMAGE_TAG"`)},
		},

		// Stage list and stage names.
		{
			name:   "no stages",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Stages = nil },
			want:   []v1alpha1.FieldError{fe("spec.stages", "at least one stage is required")},
		},
		{
			name:   "stage without a name",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Stages[1].Name = "" },
			want:   []v1alpha1.FieldError{fe("spec.stages[1].name", "is required")},
		},
		{
			name:   "stage name that is not a DNS label",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Stages[2].Name = "Approval Stage" },
			want:   []v1alpha1.FieldError{fe("spec.stages[2].name", `"Approval Stage" must consist of lower case letters, digits and '-', and start and end with a letter or digit`)},
		},
		{
			name:   "duplicate stage name",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Stages[3].Name = "shift-traffic-stage" },
			want:   []v1alpha1.FieldError{fe("spec.stages[3].name", `duplicate stage name "shift-traffic-stage"`)},
		},
		{
			name:   "two nameless stages report is required twice, not a duplicate",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Stages[1].Name, p.Spec.Stages[2].Name = "", "" },
			want: []v1alpha1.FieldError{
				fe("spec.stages[1].name", "is required"),
				fe("spec.stages[2].name", "is required"),
			},
		},

		// Exactly one stage type.
		{
			name:   "stage without a type",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Stages[1].ShiftTraffic = nil },
			want:   []v1alpha1.FieldError{fe("spec.stages[1]", "set exactly one of canaryDeployment, shiftTraffic, canarySteps, approval, productionRelease, productionWave, blueGreen")},
		},
		{
			name: "stage with two types",
			mutate: func(p *v1alpha1.Pipeline) {
				p.Spec.Stages[2].ProductionRelease = &v1alpha1.ProductionReleaseStage{Namespace: "x"}
			},
			want: []v1alpha1.FieldError{fe("spec.stages[2]", "set exactly one of canaryDeployment, shiftTraffic, canarySteps, approval, productionRelease, productionWave, blueGreen")},
		},

		// Stage order and counts.
		{
			name:   "approval before shift traffic",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Stages = []v1alpha1.Stage{c, a, s, p.Spec.Stages[3]} },
			want:   []v1alpha1.FieldError{fe("spec.stages[2]", "shiftTraffic"+orderText)},
		},
		{
			name: "production release before approval",
			mutate: func(pl *v1alpha1.Pipeline) {
				pl.Spec.Stages = []v1alpha1.Stage{c, s, p, a}
			},
			want: []v1alpha1.FieldError{fe("spec.stages[3]", "approval"+orderText)},
		},
		{
			name:   "first stage not canary",
			mutate: func(pl *v1alpha1.Pipeline) { pl.Spec.Stages = []v1alpha1.Stage{a, c, p} },
			want: []v1alpha1.FieldError{
				fe("spec.stages[1]", "canaryDeployment"+orderText),
				fe("spec.stages[0]", "the first stage must be canaryDeployment"),
			},
		},
		{
			name: "first stage without a type, canary second",
			mutate: func(pl *v1alpha1.Pipeline) {
				pl.Spec.Stages = []v1alpha1.Stage{{Name: "nothing"}, c, p}
			},
			want: []v1alpha1.FieldError{
				fe("spec.stages[0]", "set exactly one of canaryDeployment, shiftTraffic, canarySteps, approval, productionRelease, productionWave, blueGreen"),
				fe("spec.stages[0]", "the first stage must be canaryDeployment"),
			},
		},
		{
			name:   "missing canaryDeployment",
			mutate: func(pl *v1alpha1.Pipeline) { pl.Spec.Stages = []v1alpha1.Stage{a, p} },
			want:   []v1alpha1.FieldError{fe("spec.stages", "a canaryDeployment stage is required (it names the environment and artifacts)")},
		},
		{
			name:   "shift traffic without canaryDeployment",
			mutate: func(pl *v1alpha1.Pipeline) { pl.Spec.Stages = []v1alpha1.Stage{s, a, p} },
			want: []v1alpha1.FieldError{
				fe("spec.stages", "a canaryDeployment stage is required (it names the environment and artifacts)"),
				fe("spec.stages", "shiftTraffic needs a canaryDeployment stage before it"),
			},
		},
		{
			name: "two canaryDeployment stages",
			mutate: func(pl *v1alpha1.Pipeline) {
				c2 := *c.CanaryDeployment
				c2.Namespace = "ns-canary-two"
				pl.Spec.Stages = []v1alpha1.Stage{c, {Name: "canary-two", CanaryDeployment: &c2}, s, a, p}
			},
			want: []v1alpha1.FieldError{fe("spec.stages", "2 canaryDeployment stages; a pipeline has at most one of each type")},
		},
		{
			name: "three approval stages",
			mutate: func(pl *v1alpha1.Pipeline) {
				a2, a3 := a, a
				a2.Name, a3.Name = "approval-two", "approval-three"
				pl.Spec.Stages = []v1alpha1.Stage{c, s, a, a2, a3, p}
			},
			want: []v1alpha1.FieldError{fe("spec.stages", "3 approval stages; a pipeline has at most one of each type")},
		},
		{
			name: "two production releases",
			mutate: func(pl *v1alpha1.Pipeline) {
				p2 := p
				p2.Name = "production-two"
				pl.Spec.Stages = []v1alpha1.Stage{c, s, a, p, p2}
			},
			want: []v1alpha1.FieldError{fe("spec.stages", "2 productionRelease stages; a pipeline has at most one of each type")},
		},

		// canaryDeployment.
		{
			name:   "canary without environment",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Stages[0].CanaryDeployment.Environment = "" },
			refs:   walkthroughRefs(),
			want:   []v1alpha1.FieldError{fe(canary+".environment", "is required")},
		},
		{
			name:   "environment that does not exist, with references",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Stages[0].CanaryDeployment.Environment = "staging" },
			refs:   walkthroughRefs(),
			want:   []v1alpha1.FieldError{fe(canary+".environment", `environment "staging" does not exist`)},
		},
		{
			name:   "environment that does not exist, without references",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Stages[0].CanaryDeployment.Environment = "staging" },
		},
		{
			name:   "references with nil maps",
			mutate: func(*v1alpha1.Pipeline) {},
			refs:   &v1alpha1.References{},
			want: []v1alpha1.FieldError{
				fe(canary+".environment", `environment "local" does not exist`),
				fe(canary+".artifacts[0]", `artifact "webpage-manifest" does not exist`),
			},
		},
		{
			name:   "canary without artifacts",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Stages[0].CanaryDeployment.Artifacts = nil },
			refs:   walkthroughRefs(),
			want:   []v1alpha1.FieldError{fe(canary+".artifacts", "at least one artifact is required")},
		},
		{
			name: "artifact that does not exist, with references",
			mutate: func(p *v1alpha1.Pipeline) {
				p.Spec.Stages[0].CanaryDeployment.Artifacts = []string{"webpage-manifest", "webpage-extras"}
			},
			refs: walkthroughRefs(),
			want: []v1alpha1.FieldError{fe(canary+".artifacts[1]", `artifact "webpage-extras" does not exist`)},
		},
		{
			name: "artifact that does not exist, without references",
			mutate: func(p *v1alpha1.Pipeline) {
				p.Spec.Stages[0].CanaryDeployment.Artifacts = []string{"webpage-manifest", "webpage-extras"}
			},
		},
		{
			name:   "canary without namespace",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Stages[0].CanaryDeployment.Namespace = "" },
			want:   []v1alpha1.FieldError{fe(canary+".namespace", "is required")},
		},
		{
			name:   "canary namespace that is not a DNS label",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Stages[0].CanaryDeployment.Namespace = "ns_canary" },
			want:   []v1alpha1.FieldError{fe(canary+".namespace", `"ns_canary" must consist of lower case letters, digits and '-', and start and end with a letter or digit`)},
		},
		{
			name:   "canary without ingressName",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Stages[0].CanaryDeployment.IngressName = "" },
			want:   []v1alpha1.FieldError{fe(canary+".ingressName", "is required: the name of the NGINX Ingress in the manifests (or set httpRouteName to split traffic with a Gateway API HTTPRoute)")},
		},
		{
			name:   "ingressName that is not an object name",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Stages[0].CanaryDeployment.IngressName = "webpage..ingress" },
			want:   []v1alpha1.FieldError{fe(canary+".ingressName", `"webpage..ingress" is not a valid Kubernetes object name`)},
		},
		{
			name: "httpRouteName instead of ingressName",
			mutate: func(p *v1alpha1.Pipeline) {
				c := p.Spec.Stages[0].CanaryDeployment
				c.IngressName, c.HTTPRouteName = "", "webpage"
			},
		},
		{
			name:   "both ingressName and httpRouteName",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Stages[0].CanaryDeployment.HTTPRouteName = "webpage" },
			want:   []v1alpha1.FieldError{fe(canary, "set either ingressName (NGINX) or httpRouteName (Gateway API), not both")},
		},
		{
			name: "httpRouteName that is not an object name",
			mutate: func(p *v1alpha1.Pipeline) {
				c := p.Spec.Stages[0].CanaryDeployment
				c.IngressName, c.HTTPRouteName = "", "Web_Page"
			},
			want: []v1alpha1.FieldError{fe(canary+".httpRouteName", `"Web_Page" is not a valid Kubernetes object name`)},
		},
		{
			name: "tester header with a value",
			mutate: func(p *v1alpha1.Pipeline) {
				p.Spec.Stages[0].CanaryDeployment.TesterHeader = &v1alpha1.TesterHeader{Name: "X-Canary", Value: "beta"}
			},
		},
		{
			name: "tester header with a bad name and NGINX's never",
			mutate: func(p *v1alpha1.Pipeline) {
				p.Spec.Stages[0].CanaryDeployment.TesterHeader = &v1alpha1.TesterHeader{Name: "x canary", Value: "Never"}
			},
			want: []v1alpha1.FieldError{
				fe(canary+".testerHeader.name", `"x canary" is not a valid HTTP header name`),
				fe(canary+".testerHeader.value", `"never" is NGINX's keyword to keep a request away from the canary; choose another value`),
			},
		},
		{
			name: "tester header value with a space",
			mutate: func(p *v1alpha1.Pipeline) {
				p.Spec.Stages[0].CanaryDeployment.TesterHeader = &v1alpha1.TesterHeader{Name: "x-canary", Value: "a b"}
			},
			want: []v1alpha1.FieldError{fe(canary+".testerHeader.value", `"a b" must be printable ASCII without spaces`)},
		},
		{
			name:   "tester cookie",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Stages[0].CanaryDeployment.TesterCookie = "fledge_canary-1" },
		},
		{
			name:   "tester cookie that needs quoting",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Stages[0].CanaryDeployment.TesterCookie = "a=b" },
			want:   []v1alpha1.FieldError{fe(canary+".testerCookie", `"a=b" must be 1 to 64 ASCII letters, digits, '-' or '_'`)},
		},
		{
			name: "canary of one replica",
			mutate: func(p *v1alpha1.Pipeline) {
				p.Spec.Stages[0].CanaryDeployment.Scale = &v1alpha1.CanaryScale{Replicas: 1}
			},
		},
		{
			name: "canary of a quarter",
			mutate: func(p *v1alpha1.Pipeline) {
				p.Spec.Stages[0].CanaryDeployment.Scale = &v1alpha1.CanaryScale{Percent: 25}
			},
		},
		{
			name: "canary scale with both",
			mutate: func(p *v1alpha1.Pipeline) {
				p.Spec.Stages[0].CanaryDeployment.Scale = &v1alpha1.CanaryScale{Replicas: 1, Percent: 25}
			},
			want: []v1alpha1.FieldError{fe(canary+".scale", "set exactly one of replicas and percent")},
		},
		{
			name:   "canary scale with neither",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Stages[0].CanaryDeployment.Scale = &v1alpha1.CanaryScale{} },
			want:   []v1alpha1.FieldError{fe(canary+".scale", "set exactly one of replicas and percent")},
		},
		{
			name: "canary scale percent above 100",
			mutate: func(p *v1alpha1.Pipeline) {
				p.Spec.Stages[0].CanaryDeployment.Scale = &v1alpha1.CanaryScale{Percent: 150}
			},
			want: []v1alpha1.FieldError{fe(canary+".scale.percent", "must be between 1 and 100, got 150")},
		},
		{
			name: "negative canary replicas",
			mutate: func(p *v1alpha1.Pipeline) {
				p.Spec.Stages[0].CanaryDeployment.Scale = &v1alpha1.CanaryScale{Replicas: -1}
			},
			want: []v1alpha1.FieldError{fe(canary+".scale.replicas", "must be between 1 and 1000, got -1")},
		},
		{
			name:   "zero canary rolloutTimeout",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Stages[0].CanaryDeployment.RolloutTimeout = dur(0) },
			want:   []v1alpha1.FieldError{fe(canary+".rolloutTimeout", "must be positive, got 0s")},
		},
		{
			name:   "negative canary rolloutTimeout",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Stages[0].CanaryDeployment.RolloutTimeout = dur(-time.Minute) },
			want:   []v1alpha1.FieldError{fe(canary+".rolloutTimeout", "must be positive, got -1m0s")},
		},

		// shiftTraffic.
		{
			name:   "ramp 0",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Stages[1].ShiftTraffic.RampLimitPercent = 0 },
			want:   []v1alpha1.FieldError{fe(shift+".rampLimitPercent", "must be between 1 and 100, got 0")},
		},
		{
			name:   "ramp 101",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Stages[1].ShiftTraffic.RampLimitPercent = 101 },
			want:   []v1alpha1.FieldError{fe(shift+".rampLimitPercent", "must be between 1 and 100, got 101")},
		},
		{
			name:   "ramp -5",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Stages[1].ShiftTraffic.RampLimitPercent = -5 },
			want:   []v1alpha1.FieldError{fe(shift+".rampLimitPercent", "must be between 1 and 100, got -5")},
		},
		{
			name:   "negative batchCount",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Stages[1].ShiftTraffic.BatchCount = -1 },
			want:   []v1alpha1.FieldError{fe(shift+".batchCount", "must be at least 1, got -1")},
		},
		{
			name:   "batchCount over 100",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Stages[1].ShiftTraffic.BatchCount = 101 },
			want:   []v1alpha1.FieldError{fe(shift+".batchCount", "must be at most 100, got 101")},
		},
		{
			name:   "negative batchDelay",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Stages[1].ShiftTraffic.BatchDelay = dur(-time.Second) },
			want:   []v1alpha1.FieldError{fe(shift+".batchDelay", "must not be negative")},
		},

		// approval.
		{
			name:   "negative approvalsRequired",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Stages[2].Approval.ApprovalsRequired = -1 },
			want:   []v1alpha1.FieldError{fe(appr+".approvalsRequired", "must be at least 1, got -1")},
		},
		{
			name:   "zero approval timeout",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Stages[2].Approval.Timeout = dur(0) },
			want:   []v1alpha1.FieldError{fe(appr+".timeout", "must be positive, got 0s")},
		},
		{
			name:   "negative approval timeout",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Stages[2].Approval.Timeout = dur(-90 * time.Second) },
			want:   []v1alpha1.FieldError{fe(appr+".timeout", "must be positive, got -1m30s")},
		},

		// productionRelease.
		{
			name:   "production without namespace",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Stages[3].ProductionRelease.Namespace = "" },
			want:   []v1alpha1.FieldError{fe(prod+".namespace", "is required")},
		},
		{
			name:   "production namespace that is not a DNS label",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Stages[3].ProductionRelease.Namespace = "NS-CANARY-PROD" },
			want:   []v1alpha1.FieldError{fe(prod+".namespace", `"NS-CANARY-PROD" must consist of lower case letters, digits and '-', and start and end with a letter or digit`)},
		},
		{
			name:   "zero production rolloutTimeout",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Stages[3].ProductionRelease.RolloutTimeout = dur(0) },
			want:   []v1alpha1.FieldError{fe(prod+".rolloutTimeout", "must be positive, got 0s")},
		},
		{
			name:   "negative promotionHold",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Stages[3].ProductionRelease.PromotionHold = dur(-time.Second) },
			want:   []v1alpha1.FieldError{fe(prod+".promotionHold", "must be between 0s and 5m0s, got -1s")},
		},
		{
			name:   "promotionHold over the bound",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Stages[3].ProductionRelease.PromotionHold = dur(6 * time.Minute) },
			want:   []v1alpha1.FieldError{fe(prod+".promotionHold", "must be between 0s and 5m0s, got 6m0s")},
		},
		{
			name:   "zero promotionHold turns it off",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Stages[3].ProductionRelease.PromotionHold = dur(0) },
		},
		{
			name:   "canary namespace equals production namespace",
			mutate: func(p *v1alpha1.Pipeline) { p.Spec.Stages[3].ProductionRelease.Namespace = "ns-canary-stage" },
			want: []v1alpha1.FieldError{fe(prod+".namespace",
				`production namespace "ns-canary-stage" must differ from the canary namespace (spec.stages[0].canaryDeployment.namespace)`)},
		},

		// Everything is reported at once, in document order.
		{
			name: "several problems at once",
			mutate: func(p *v1alpha1.Pipeline) {
				p.Kind = "pipeline"
				p.Metadata.Name = "Webpage"
				p.Spec.Parameters[1].Name = "IMAGE_TAG"
				p.Spec.Stages[0].CanaryDeployment.Environment = "staging"
				p.Spec.Stages[0].CanaryDeployment.IngressName = ""
				p.Spec.Stages[1].ShiftTraffic.RampLimitPercent = 0
				p.Spec.Stages[1].ShiftTraffic.BatchCount = 101
				p.Spec.Stages[2].Approval.Timeout = dur(-time.Hour)
				p.Spec.Stages[3].ProductionRelease.Namespace = "ns-canary-stage"
			},
			refs: walkthroughRefs(),
			want: []v1alpha1.FieldError{
				fe("kind", `must be "Pipeline", got "pipeline"`),
				fe("metadata.name", `"Webpage" must consist of lower case letters, digits and '-', and start and end with a letter or digit`),
				fe("spec.parameters[1].name", `duplicate parameter "IMAGE_TAG"`),
				fe(canary+".environment", `environment "staging" does not exist`),
				fe(canary+".ingressName", "is required: the name of the NGINX Ingress in the manifests (or set httpRouteName to split traffic with a Gateway API HTTPRoute)"),
				fe(shift+".rampLimitPercent", "must be between 1 and 100, got 0"),
				fe(shift+".batchCount", "must be at most 100, got 101"),
				fe(appr+".timeout", "must be positive, got -1h0m0s"),
				fe(prod+".namespace", `production namespace "ns-canary-stage" must differ from the canary namespace (spec.stages[0].canaryDeployment.namespace)`),
			},
		},
		{
			name: "canary steps replace shift traffic and approval",
			mutate: func(p *v1alpha1.Pipeline) {
				p.Spec.Stages = []v1alpha1.Stage{c, canarySteps(), p.Spec.Stages[3]}
			},
			refs: walkthroughRefs(),
		},
		{
			name: "canary steps beside a shift traffic stage",
			mutate: func(p *v1alpha1.Pipeline) {
				p.Spec.Stages = []v1alpha1.Stage{c, s, canarySteps(), p.Spec.Stages[3]}
			},
			want: []v1alpha1.FieldError{fe("spec.stages", "a canarySteps stage replaces shiftTraffic and approval stages: write their weights and approval as steps")},
		},
		{
			name: "canary steps after production",
			mutate: func(p *v1alpha1.Pipeline) {
				p.Spec.Stages = []v1alpha1.Stage{c, p.Spec.Stages[3], canarySteps()}
			},
			want: []v1alpha1.FieldError{fe("spec.stages[2]", "canarySteps stage cannot come after a later stage of the canary strategy (order: canaryDeployment, shiftTraffic or canarySteps, approval, productionRelease, productionWave)")},
		},
		{
			name: "bad canary steps",
			mutate: func(p *v1alpha1.Pipeline) {
				cs := canarySteps()
				cs.CanarySteps.BackgroundAnalysis = &v1alpha1.AnalysisStep{}
				cs.CanarySteps.Steps = []v1alpha1.CanaryStep{
					{SetWeight: ptr(101)},
					{Pause: &v1alpha1.PauseStep{Duration: dur(-time.Second)}},
					{},
					{SetWeight: ptr(5), Pause: &v1alpha1.PauseStep{}},
					{Approval: &v1alpha1.ApprovalStage{ApprovalsRequired: -1, Timeout: dur(0)}},
					{Analysis: &v1alpha1.AnalysisStep{}},
					{Analysis: &v1alpha1.AnalysisStep{
						Templates: []v1alpha1.AnalysisTemplateRef{{Name: "rate"}, {Name: "rate"}, {Name: "Bad_Name"}},
						Args:      []v1alpha1.AnalysisArg{{Name: "x", Value: "1"}, {Name: "x", Value: "2"}, {Name: "", Value: "a\rb"}, {Name: "a b"}},
					}},
				}
				p.Spec.Stages = []v1alpha1.Stage{c, cs, p.Spec.Stages[3]}
			},
			want: []v1alpha1.FieldError{
				fe("spec.stages[1].canarySteps.backgroundAnalysis.templates", "at least one template is required"),
				fe("spec.stages[1].canarySteps.steps[0].setWeight", "must be between 0 and 100, got 101"),
				fe("spec.stages[1].canarySteps.steps[1].pause.duration", "must not be negative, got -1s"),
				fe("spec.stages[1].canarySteps.steps[2]", "set exactly one of setWeight, pause, approval, analysis"),
				fe("spec.stages[1].canarySteps.steps[3]", "set exactly one of setWeight, pause, approval, analysis"),
				fe("spec.stages[1].canarySteps.steps[4].approval.approvalsRequired", "must be at least 1, got -1"),
				fe("spec.stages[1].canarySteps.steps[4].approval.timeout", "must be positive, got 0s"),
				fe("spec.stages[1].canarySteps.steps[5].analysis.templates", "at least one template is required"),
				fe("spec.stages[1].canarySteps.steps[6].analysis.templates[1].name", `template "rate" is listed twice`),
				fe("spec.stages[1].canarySteps.steps[6].analysis.templates[2].name", `"Bad_Name" must consist of lower case letters, digits and '-', and start and end with a letter or digit`),
				fe("spec.stages[1].canarySteps.steps[6].analysis.args[1].name", `argument "x" is given twice`),
				fe("spec.stages[1].canarySteps.steps[6].analysis.args[2].name", "is required"),
				fe("spec.stages[1].canarySteps.steps[6].analysis.args[2].value", "has control character U+000D at byte 1"),
				fe("spec.stages[1].canarySteps.steps[6].analysis.args[3].name", `"a b" must be letters, digits, '_' and '.'`),
			},
		},
		{
			name: "no canary steps",
			mutate: func(p *v1alpha1.Pipeline) {
				cs := canarySteps()
				cs.CanarySteps.Steps = nil
				p.Spec.Stages = []v1alpha1.Stage{c, cs, p.Spec.Stages[3]}
			},
			want: []v1alpha1.FieldError{fe("spec.stages[1].canarySteps.steps", "at least one step is required")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := walkthroughPipeline()
			tt.mutate(p)
			checkValidate(t, p, tt.refs, tt.want)
		})
	}
}

// checkValidate checks that p validates with refs to exactly the field
// errors want (none when want is nil).
func checkValidate(t *testing.T, p *v1alpha1.Pipeline, refs *v1alpha1.References, want []v1alpha1.FieldError) {
	t.Helper()
	err := p.Validate(refs)
	if want == nil {
		if err != nil {
			t.Fatalf("Validate() = %v, want nil", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("Validate() = nil, want %d field errors", len(want))
	}
	checkFieldErrors(t, fieldErrors(t, err, v1alpha1.KindPipeline, p.Metadata.Name), want)
}

// TestPipelineValidateStableOrder checks that the same pipeline gets the
// same errors in the same order every time: several duplicated stage types
// must be reported in a fixed order.
func TestPipelineValidateStableOrder(t *testing.T) {
	t.Parallel()
	st := walkthroughPipeline().Spec.Stages
	c2, s2 := st[0], st[1]
	c2.Name, s2.Name = "canary-two", "shift-two"
	c2Stage := *st[0].CanaryDeployment
	c2Stage.Namespace = "ns-canary-two"
	c2.CanaryDeployment = &c2Stage
	p := walkthroughPipeline()
	p.Spec.Stages = []v1alpha1.Stage{st[0], c2, st[1], s2, st[2], st[3]}
	want := []v1alpha1.FieldError{
		fe("spec.stages", "2 canaryDeployment stages; a pipeline has at most one of each type"),
		fe("spec.stages", "2 shiftTraffic stages; a pipeline has at most one of each type"),
	}
	for range 50 {
		checkFieldErrors(t, fieldErrors(t, p.Validate(nil), v1alpha1.KindPipeline, p.Metadata.Name), want)
		if t.Failed() {
			return
		}
	}
}

func TestValidationErrorMessage(t *testing.T) {
	t.Parallel()
	p := walkthroughPipeline()
	p.Spec.Stages[1].ShiftTraffic.RampLimitPercent = 101
	p.Spec.Stages[3].ProductionRelease.Namespace = ""
	err := p.Validate(nil)
	want := `invalid Pipeline "webpage-canary-deployment-pipeline": ` +
		`spec.stages[1].shiftTraffic.rampLimitPercent: must be between 1 and 100, got 101; ` +
		`spec.stages[3].productionRelease.namespace: is required`
	if err == nil || err.Error() != want {
		t.Errorf("Validate() = %v\nwant %s", err, want)
	}
	if got := (v1alpha1.FieldError{Field: "spec", Message: "is wrong"}).Error(); got != "spec: is wrong" {
		t.Errorf("FieldError.Error() = %q", got)
	}
}

func TestEnvironmentValidate(t *testing.T) {
	t.Parallel()
	valid := func() *v1alpha1.Environment {
		return &v1alpha1.Environment{
			TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindEnvironment},
			Metadata: v1alpha1.ObjectMeta{Name: "local"},
			Spec:     v1alpha1.EnvironmentSpec{Kubeconfig: &v1alpha1.KubeconfigSource{Path: "/etc/fledge/kubeconfig"}},
		}
	}
	tests := []struct {
		name   string
		mutate func(e *v1alpha1.Environment)
		want   []v1alpha1.FieldError
	}{
		{name: "kubeconfig path", mutate: func(*v1alpha1.Environment) {}},
		{
			name: "inline kubeconfig with a context",
			mutate: func(e *v1alpha1.Environment) {
				e.Spec.Kubeconfig = &v1alpha1.KubeconfigSource{Inline: "apiVersion: v1\nkind: Config\n"}
				e.Spec.Context = "kind-fledge"
			},
		},
		{
			name: "in cluster",
			mutate: func(e *v1alpha1.Environment) {
				e.Spec.Kubeconfig = nil
				e.Spec.InCluster = true
			},
		},
		{
			name:   "wrong apiVersion",
			mutate: func(e *v1alpha1.Environment) { e.APIVersion = "" },
			want:   []v1alpha1.FieldError{fe("apiVersion", `must be "fledge.dev/v1alpha1", got ""`)},
		},
		{
			name:   "wrong kind",
			mutate: func(e *v1alpha1.Environment) { e.Kind = "Pipeline" },
			want:   []v1alpha1.FieldError{fe("kind", `must be "Environment", got "Pipeline"`)},
		},
		{
			name:   "name that is not a DNS label",
			mutate: func(e *v1alpha1.Environment) { e.Metadata.Name = "-local" },
			want:   []v1alpha1.FieldError{fe("metadata.name", `"-local" must consist of lower case letters, digits and '-', and start and end with a letter or digit`)},
		},
		{
			name:   "kubeconfig and inCluster",
			mutate: func(e *v1alpha1.Environment) { e.Spec.InCluster = true },
			want:   []v1alpha1.FieldError{fe("spec", "set either kubeconfig or inCluster, not both")},
		},
		{
			name:   "neither kubeconfig nor inCluster",
			mutate: func(e *v1alpha1.Environment) { e.Spec.Kubeconfig = nil },
			want:   []v1alpha1.FieldError{fe("spec.kubeconfig", "is required unless inCluster is true")},
		},
		{
			name:   "kubeconfig with path and inline",
			mutate: func(e *v1alpha1.Environment) { e.Spec.Kubeconfig.Inline = "apiVersion: v1\n" },
			want:   []v1alpha1.FieldError{fe("spec.kubeconfig", "set exactly one of path and inline")},
		},
		{
			name:   "ingress layout beside production",
			mutate: func(e *v1alpha1.Environment) { e.Spec.IngressLayout = v1alpha1.IngressLayoutBesideProduction },
		},
		{
			name:   "unknown ingress layout",
			mutate: func(e *v1alpha1.Environment) { e.Spec.IngressLayout = "same-namespace" },
			want:   []v1alpha1.FieldError{fe("spec.ingressLayout", `must be "canary-namespace" or "beside-production", got "same-namespace"`)},
		},
		{
			name:   "empty kubeconfig",
			mutate: func(e *v1alpha1.Environment) { e.Spec.Kubeconfig = &v1alpha1.KubeconfigSource{} },
			want:   []v1alpha1.FieldError{fe("spec.kubeconfig", "set exactly one of path and inline")},
		},
		{
			name: "several problems at once",
			mutate: func(e *v1alpha1.Environment) {
				e.APIVersion = "v1"
				e.Kind = "Env"
				e.Metadata.Name = ""
				e.Spec.Kubeconfig = nil
			},
			want: []v1alpha1.FieldError{
				fe("apiVersion", `must be "fledge.dev/v1alpha1", got "v1"`),
				fe("kind", `must be "Environment", got "Env"`),
				fe("metadata.name", "is required"),
				fe("spec.kubeconfig", "is required unless inCluster is true"),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := valid()
			tt.mutate(e)
			err := e.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %d field errors", len(tt.want))
			}
			checkFieldErrors(t, fieldErrors(t, err, v1alpha1.KindEnvironment, e.Metadata.Name), tt.want)
		})
	}
}

func TestArtifactValidate(t *testing.T) {
	t.Parallel()
	valid := func() *v1alpha1.Artifact {
		return &v1alpha1.Artifact{
			TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindArtifact},
			Metadata: v1alpha1.ObjectMeta{Name: "webpage-manifest"},
			Spec:     v1alpha1.ArtifactSpec{Manifests: "apiVersion: v1\nkind: Service\n"},
		}
	}
	tests := []struct {
		name   string
		mutate func(a *v1alpha1.Artifact)
		want   []v1alpha1.FieldError
	}{
		{name: "manifests", mutate: func(*v1alpha1.Artifact) {}},
		{
			name:   "wrong kind",
			mutate: func(a *v1alpha1.Artifact) { a.Kind = "Environment" },
			want:   []v1alpha1.FieldError{fe("kind", `must be "Artifact", got "Environment"`)},
		},
		{
			name:   "name too long",
			mutate: func(a *v1alpha1.Artifact) { a.Metadata.Name = strings.Repeat("x", 100) },
			want:   []v1alpha1.FieldError{fe("metadata.name", "must be at most 63 characters, got 100")},
		},
		{
			name:   "unresolved file",
			mutate: func(a *v1alpha1.Artifact) { a.Spec.File = "manifests.yaml" },
			want:   []v1alpha1.FieldError{fe("spec.file", "must be resolved into spec.manifests by the client before it is sent")},
		},
		{
			name:   "no manifests",
			mutate: func(a *v1alpha1.Artifact) { a.Spec.Manifests = "" },
			want:   []v1alpha1.FieldError{fe("spec.manifests", "is required and must hold at least one Kubernetes object")},
		},
		{
			name:   "blank manifests",
			mutate: func(a *v1alpha1.Artifact) { a.Spec.Manifests = " \n\t\n" },
			want:   []v1alpha1.FieldError{fe("spec.manifests", "is required and must hold at least one Kubernetes object")},
		},
		{
			name: "file instead of manifests",
			mutate: func(a *v1alpha1.Artifact) {
				a.Spec.Manifests = ""
				a.Spec.File = "manifests.yaml"
			},
			want: []v1alpha1.FieldError{
				fe("spec.file", "must be resolved into spec.manifests by the client before it is sent"),
				fe("spec.manifests", "is required and must hold at least one Kubernetes object"),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := valid()
			tt.mutate(a)
			err := a.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %d field errors", len(tt.want))
			}
			checkFieldErrors(t, fieldErrors(t, err, v1alpha1.KindArtifact, a.Metadata.Name), tt.want)
		})
	}
}

func TestStageType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		stage v1alpha1.Stage
		want  v1alpha1.StageType
	}{
		{"none", v1alpha1.Stage{Name: "x"}, ""},
		{"canary", v1alpha1.Stage{CanaryDeployment: &v1alpha1.CanaryDeploymentStage{}}, v1alpha1.StageCanaryDeployment},
		{"shift", v1alpha1.Stage{ShiftTraffic: &v1alpha1.ShiftTrafficStage{}}, v1alpha1.StageShiftTraffic},
		{"approval", v1alpha1.Stage{Approval: &v1alpha1.ApprovalStage{}}, v1alpha1.StageApproval},
		{"production", v1alpha1.Stage{ProductionRelease: &v1alpha1.ProductionReleaseStage{}}, v1alpha1.StageProductionRelease},
		{"two", v1alpha1.Stage{Approval: &v1alpha1.ApprovalStage{}, ShiftTraffic: &v1alpha1.ShiftTrafficStage{}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.stage.Type(); got != tt.want {
				t.Errorf("Type() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPipelineStageLookups(t *testing.T) {
	t.Parallel()
	p := walkthroughPipeline()
	if c := p.CanaryStage(); c == nil || c.Namespace != "ns-canary-stage" {
		t.Errorf("CanaryStage() = %+v", c)
	}
	if r := p.ProductionStage(); r == nil || r.Namespace != "ns-canary-prod" {
		t.Errorf("ProductionStage() = %+v", r)
	}
	p.Spec.Stages = p.Spec.Stages[1:3]
	if c, r := p.CanaryStage(), p.ProductionStage(); c != nil || r != nil {
		t.Errorf("CanaryStage(), ProductionStage() = %+v, %+v; want nil, nil", c, r)
	}
}

func ptr[T any](v T) *T { return &v }

// canarySteps is a canarySteps stage in the spirit of the walkthrough:
// ramp, analyse, approve, ramp further, pause.
func canarySteps() v1alpha1.Stage {
	return v1alpha1.Stage{Name: "progressive", CanarySteps: &v1alpha1.CanaryStepsStage{Steps: []v1alpha1.CanaryStep{
		{SetWeight: ptr(10)},
		{Analysis: &v1alpha1.AnalysisStep{Templates: []v1alpha1.AnalysisTemplateRef{{Name: "success-rate"}}, Args: []v1alpha1.AnalysisArg{{Name: "threshold", Value: "0.99"}}}},
		{SetWeight: ptr(25)},
		{Approval: &v1alpha1.ApprovalStage{ApprovalsRequired: 1, RequireDistinctFromTrigger: true}},
		{SetWeight: ptr(50)},
		{Pause: &v1alpha1.PauseStep{Duration: dur(10 * time.Minute)}},
		{Pause: &v1alpha1.PauseStep{}},
	}}}
}
