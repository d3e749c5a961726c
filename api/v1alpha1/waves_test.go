package v1alpha1_test

import (
	"testing"

	"fledge.dev/fledge/api/v1alpha1"
)

// wave is a productionWave stage releasing to targets "ENV/NS".
func wave(name string, targets ...v1alpha1.ProductionTarget) v1alpha1.Stage {
	return v1alpha1.Stage{Name: name, ProductionWave: &v1alpha1.ProductionWaveStage{Targets: targets}}
}

func target(env, ns string) v1alpha1.ProductionTarget {
	return v1alpha1.ProductionTarget{Environment: env, Namespace: ns}
}

func TestPipelineValidateWaves(t *testing.T) {
	t.Parallel()
	refs := func() *v1alpha1.References {
		r := walkthroughRefs()
		r.Environments["prod-eu"], r.Environments["prod-us"] = true, true
		return r
	}
	one := 1
	tests := []struct {
		name   string
		mutate func(p *v1alpha1.Pipeline)
		want   []v1alpha1.FieldError
	}{
		{
			name: "two waves with an approval and a pause, every wave rolled back",
			mutate: func(p *v1alpha1.Pipeline) {
				us := wave("us", target("prod-us", "webpage"), target("prod-us", "webpage-b"))
				us.ProductionWave.Steps = []v1alpha1.CanaryStep{{Pause: &v1alpha1.PauseStep{Duration: dur(600e9)}}, {Approval: &v1alpha1.ApprovalStage{}}}
				p.Spec.Stages = append(p.Spec.Stages, wave("eu", target("prod-eu", "webpage")), us)
				p.Spec.Stages[3].ProductionRelease.RollbackOnFailure = v1alpha1.RollbackAllWaves
			},
		},
		{
			name: "a wave before the production release",
			mutate: func(p *v1alpha1.Pipeline) {
				st := p.Spec.Stages
				p.Spec.Stages = []v1alpha1.Stage{st[0], st[1], st[2], wave("eu", target("prod-eu", "webpage")), st[3]}
			},
			want: []v1alpha1.FieldError{fe("spec.stages[4]", "productionRelease stage cannot come after a later stage of the canary strategy (order: canaryDeployment, shiftTraffic or canarySteps, approval, productionRelease, productionWave)")},
		},
		{
			name: "a wave without a production release",
			mutate: func(p *v1alpha1.Pipeline) {
				p.Spec.Stages = append(p.Spec.Stages[:3], wave("eu", target("prod-eu", "webpage")))
			},
			want: []v1alpha1.FieldError{fe("spec.stages", "productionWave stages need a productionRelease stage before them: it is the first wave, beside the canary")},
		},
		{
			name: "targets missing, unknown, invalid and released twice",
			mutate: func(p *v1alpha1.Pipeline) {
				p.Spec.Stages = append(p.Spec.Stages,
					wave("none"),
					wave("eu", target("prod-eu", "webpage"), target("prod-asia", "webpage"), target("", "Bad_NS")),
					wave("again", target("prod-eu", "webpage"), target("local", "ns-canary-prod"), target("local", "ns-canary-stage")),
				)
			},
			want: []v1alpha1.FieldError{
				fe("spec.stages[4].productionWave.targets", "at least one target (environment and namespace) is required"),
				fe("spec.stages[5].productionWave.targets[1].environment", `environment "prod-asia" does not exist`),
				fe("spec.stages[5].productionWave.targets[2].environment", "is required"),
				fe("spec.stages[5].productionWave.targets[2].namespace", `"Bad_NS" must consist of lower case letters, digits and '-', and start and end with a letter or digit`),
				fe("spec.stages[6].productionWave.targets[0]", "target prod-eu/webpage is already released by spec.stages[5].productionWave.targets[0]; a deployment releases each target once"),
				fe("spec.stages[6].productionWave.targets[1]", "target local/ns-canary-prod is already the production beside the canary (spec.stages[3].productionRelease.namespace); a deployment releases each target once"),
				fe("spec.stages[6].productionWave.targets[2]", "target local/ns-canary-stage is already the canary's namespace (spec.stages[0].canaryDeployment.namespace); a deployment releases each target once"),
			},
		},
		{
			name: "weights and analyses are not a wave's steps",
			mutate: func(p *v1alpha1.Pipeline) {
				w := wave("eu", target("prod-eu", "webpage"))
				w.ProductionWave.Steps = []v1alpha1.CanaryStep{
					{SetWeight: &one},
					{Analysis: &v1alpha1.AnalysisStep{Templates: []v1alpha1.AnalysisTemplateRef{{Name: "rate"}}}},
					{},
					{Pause: &v1alpha1.PauseStep{Duration: dur(-1)}},
				}
				w.ProductionWave.RolloutTimeout = dur(0)
				p.Spec.Stages = append(p.Spec.Stages, w)
			},
			want: []v1alpha1.FieldError{
				fe("spec.stages[4].productionWave.steps[0]", "a wave's steps are pauses and approvals, got setWeight (weights and analyses belong to the canary)"),
				fe("spec.stages[4].productionWave.steps[1]", "a wave's steps are pauses and approvals, got analysis (weights and analyses belong to the canary)"),
				fe("spec.stages[4].productionWave.steps[2]", "set exactly one of pause, approval"),
				fe("spec.stages[4].productionWave.steps[3].pause.duration", "must not be negative, got -1ns"),
				fe("spec.stages[4].productionWave.rolloutTimeout", "must be positive, got 0s"),
			},
		},
		{
			name: "unknown rollbackOnFailure",
			mutate: func(p *v1alpha1.Pipeline) {
				p.Spec.Stages[3].ProductionRelease.RollbackOnFailure = "everything"
			},
			want: []v1alpha1.FieldError{fe("spec.stages[3].productionRelease.rollbackOnFailure", `must be "wave" or "all", got "everything"`)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := walkthroughPipeline()
			tt.mutate(p)
			checkValidate(t, p, refs(), tt.want)
		})
	}
}
