package pipeline

import (
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

// Plan is everything a deployment needs, frozen when it is created: the
// rendered manifests and the pipeline's stages at that moment. The history
// can always show and re-apply exactly what was deployed.
type Plan struct {
	Pipeline           string                  `json:"pipeline"`
	PipelineGeneration int64                   `json:"pipelineGeneration"`
	Kind               v1alpha1.DeploymentKind `json:"kind"`
	Environment        string                  `json:"environment"`
	// Manifests is the rendered multi-document YAML of all artifacts, in
	// the order the canary stage lists them.
	Manifests           string `json:"manifests"`
	IngressName         string `json:"ingressName"`
	CanaryNamespace     string `json:"canaryNamespace"`
	ProductionNamespace string `json:"productionNamespace,omitempty"`
	// Stages are the pipeline's stages; a rollback has one synthetic stage.
	Stages []v1alpha1.Stage `json:"stages"`
	// RollbackTo is the deployment whose manifests a rollback re-applies,
	// RollbackToNumber its number in the pipeline, and Reason why the
	// rollback was started.
	RollbackTo       int64  `json:"rollbackTo,omitempty"`
	RollbackToNumber int64  `json:"rollbackToNumber,omitempty"`
	Reason           string `json:"reason,omitempty"`
	// RollbackTargets are the production targets of later waves a
	// rollback re-applies too, and RollbackSkipsProduction is set when it
	// leaves the production beside the canary alone (fledge rollback
	// --target naming only wave targets).
	RollbackTargets         []v1alpha1.ProductionTarget `json:"rollbackTargets,omitempty"`
	RollbackSkipsProduction bool                        `json:"rollbackSkipsProduction,omitempty"`
	// CanaryRolloutTimeout and ProductionRolloutTimeout bound rollouts.
	CanaryRolloutTimeout time.Duration `json:"canaryRolloutTimeout"`
	// CanaryScale sizes the canary's Deployments (nil: as the manifests).
	CanaryScale              *v1alpha1.CanaryScale `json:"canaryScale,omitempty"`
	ProductionRolloutTimeout time.Duration         `json:"productionRolloutTimeout"`
	// PromotionHold is how long a promoted canary keeps the requests once
	// production's endpoints settled; nil in plans stored before it
	// existed (see Hold).
	PromotionHold *time.Duration `json:"promotionHold,omitempty"`
	// Traffic says which provider splits the requests and how; nil in
	// plans stored before it existed (see Routing).
	Traffic *v1alpha1.TrafficRouting `json:"traffic,omitempty"`
	// AnalysisTemplates are the specs of the AnalysisTemplates the
	// pipeline's analysis steps name, frozen when the run was created, so
	// a template changed later does not change a running analysis.
	AnalysisTemplates map[string]v1alpha1.AnalysisTemplateSpec `json:"analysisTemplates,omitempty"`
	// BlueGreen is set for the blue/green strategy (a blueGreen stage, or
	// a rollback of such a pipeline); its new slot's rollout is bounded by
	// ProductionRolloutTimeout.
	BlueGreen *BlueGreenPlan `json:"blueGreen,omitempty"`
}

// Routing returns the plan's traffic routing. Plans stored before Fledge
// recorded it all used NGINX with the canary Ingress in the canary
// namespace and the default tester header.
func (p *Plan) Routing() v1alpha1.TrafficRouting {
	if p.Traffic != nil {
		return *p.Traffic
	}
	return v1alpha1.TrafficRouting{
		Provider:     v1alpha1.TrafficProviderNGINX,
		Ingress:      p.IngressName,
		Layout:       v1alpha1.IngressLayoutCanaryNamespace,
		LayoutReason: "recorded before layouts existed",
		TesterHeader: v1alpha1.TesterHeader{Name: v1alpha1.DefaultTesterHeaderName, Value: v1alpha1.DefaultTesterHeaderValue},
	}
}

// Hold returns the plan's promotion hold, the default for plans stored
// before it was recorded.
func (p *Plan) Hold() time.Duration {
	if p.PromotionHold != nil {
		return *p.PromotionHold
	}
	return v1alpha1.DefaultPromotionHold
}

// RollbackStageName is the name of a rollback's only stage.
const RollbackStageName = "rollback-to-production"

// StageType returns the type of stage i, including the synthetic rollback.
func (p *Plan) StageType(i int) v1alpha1.StageType {
	if p.Kind == v1alpha1.KindRollback {
		return v1alpha1.StageRollback
	}
	return p.Stages[i].Type()
}

// StageCount is the number of stages the plan runs.
func (p *Plan) StageCount() int {
	if p.Kind == v1alpha1.KindRollback {
		return 1
	}
	return len(p.Stages)
}

// StageName returns the name of stage i.
func (p *Plan) StageName(i int) string {
	if p.Kind == v1alpha1.KindRollback {
		return RollbackStageName
	}
	return p.Stages[i].Name
}

// Weights returns the canary weight of each batch of a shift-traffic stage:
// ramp 50 in 5 batches is 10, 20, 30, 40, 50.
func Weights(s *v1alpha1.ShiftTrafficStage) []int {
	n := s.BatchCount
	if n < 1 {
		n = v1alpha1.DefaultBatchCount
	}
	out := make([]int, 0, n)
	for i := 1; i <= n; i++ {
		w := (s.RampLimitPercent*i + n - 1) / n
		if len(out) > 0 && w <= out[len(out)-1] {
			continue // more batches than percent points: skip repeats
		}
		out = append(out, w)
	}
	return out
}

// ApprovalOf returns the approval that action a opens or awaits: the
// approval stage's, or the canarySteps step's.
func (p *Plan) ApprovalOf(a Action) *v1alpha1.ApprovalStage {
	st := p.Stages[a.StageIndex]
	switch {
	case st.GateSteps() != nil:
		return st.GateSteps()[a.Index].Approval
	case st.BlueGreen != nil:
		return st.BlueGreen.Approval
	}
	return st.Approval
}

// AnalysisOf returns the analysis that action a (a StepAnalysis) runs:
// the canarySteps or wave step's, or the blueGreen stage's before or
// after the switch.
func (p *Plan) AnalysisOf(a Action) *v1alpha1.AnalysisStep {
	st := p.Stages[a.StageIndex]
	if st.BlueGreen != nil {
		return blueGreenAnalysis(st.BlueGreen, a)
	}
	return st.GateSteps()[a.Index].Analysis
}

// Gate returns the approval people decide on at gate (a stage's name or a
// canarySteps gate, see GateName), and whether the gate exists. A gate of
// a pause or an analysis has no approval stage: one decision settles it.
func (p *Plan) Gate(gate string) (*v1alpha1.ApprovalStage, bool) {
	for _, st := range p.Stages {
		if bg := st.BlueGreen; bg != nil {
			switch gate {
			case st.Name:
				return bg.Approval, bg.Approval != nil
			case v1alpha1.PrePromotionGate(st.Name):
				return nil, bg.PrePromotionAnalysis != nil
			case v1alpha1.PostPromotionGate(st.Name):
				return nil, bg.PostPromotionAnalysis != nil
			}
		}
		if st.Name == gate {
			return st.Approval, st.Approval != nil
		}
		if st.CanarySteps != nil && st.CanarySteps.BackgroundAnalysis != nil && v1alpha1.BackgroundGate(st.Name) == gate {
			return nil, true
		}
		for j, step := range st.GateSteps() {
			if GateName(st.Name, j) == gate {
				return step.Approval, true
			}
		}
	}
	return nil, false
}
