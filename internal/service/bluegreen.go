package service

import (
	"context"
	"encoding/json"
	"fmt"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/pipeline"
	"fledge.dev/fledge/internal/store"
)

// blueGreenPlan turns the plan CreateRun built from a blueGreen stage's
// rendering into a blue/green plan: no canary namespace, the stage's
// namespace as production's, its settings frozen.
func blueGreenPlan(plan *pipeline.Plan, bg *v1alpha1.BlueGreenStage) {
	plan.CanaryNamespace = ""
	plan.CanaryScale = nil
	plan.ProductionNamespace = bg.Namespace
	plan.ProductionRolloutTimeout = bg.RolloutTimeout.Or(v1alpha1.DefaultRolloutTimeout)
	plan.BlueGreen = blueGreenOf(bg)
	if plan.Traffic != nil {
		front := "ingress " + bg.Namespace + "/" + bg.IngressName
		if bg.HTTPRouteName != "" {
			front = "HTTPRoute " + bg.Namespace + "/" + bg.HTTPRouteName
		}
		plan.Traffic.Layout = "blue-green"
		plan.Traffic.LayoutReason = fmt.Sprintf("blueGreen stage: %s routes to slot namespace %s or %s", front,
			v1alpha1.SlotNamespace(bg.Namespace, v1alpha1.SlotBlue), v1alpha1.SlotNamespace(bg.Namespace, v1alpha1.SlotGreen))
	}
}

// blueGreenOf freezes a blueGreen stage's settings in a plan.
func blueGreenOf(bg *v1alpha1.BlueGreenStage) *pipeline.BlueGreenPlan {
	return &pipeline.BlueGreenPlan{
		Namespace: bg.Namespace, Ingress: bg.IngressName, HTTPRoute: bg.HTTPRouteName, TesterHeader: bg.Header(),
		ScaleDownDelay: bg.ScaleDownDelay.Or(v1alpha1.DefaultScaleDownDelay),
		Hold:           v1alpha1.DataPlaneFollow,
	}
}

// switchBackInWindow handles a rollback of a blue/green pipeline to the
// release its running deployment switched away from, while that release
// still runs scaled in its slot: the running deployment is cancelled,
// which switches every request back at once with nothing redeployed. It
// returns the running deployment and true when it did so.
func (s *Service) switchBackInWindow(ctx context.Context, pipelineName string, to int64, user, reason string) (v1alpha1.Deployment, bool, error) {
	rows, err := s.store.ListDeployments(ctx, store.DeploymentFilter{Pipeline: pipelineName, Statuses: unfinished})
	if err != nil {
		return v1alpha1.Deployment{}, false, fmt.Errorf("list deployments: %w", err)
	}
	for _, d := range rows {
		var st pipeline.State
		if len(d.State) == 0 || json.Unmarshal(d.State, &st) != nil || st.Finishing != nil {
			continue
		}
		if !st.BlueGreen.InWindow() || st.BlueGreen.FromDeployment != to {
			continue
		}
		why := fmt.Sprintf("rollback to deployment %s#%d within the scale down delay: switch back to slot %s", pipelineName, st.BlueGreen.FromNumber, st.BlueGreen.From)
		if reason != "" {
			why += ": " + reason
		}
		out, err := s.Cancel(ctx, d.ID, user, why)
		return out, err == nil, err
	}
	return v1alpha1.Deployment{}, false, nil
}

// liveSlot is the slot the pipeline's live deployment runs in (it
// switched to it last), or the blue slot when nothing is live.
func (s *Service) liveSlot(ctx context.Context, pipelineName string) string {
	if live, err := s.store.LiveDeployment(ctx, pipelineName); err == nil {
		var st pipeline.State
		if json.Unmarshal(live.State, &st) == nil && st.BlueGreen != nil && st.BlueGreen.To != "" {
			return st.BlueGreen.To
		}
	}
	return v1alpha1.SlotBlue
}

// rollbackBlueGreen is the blue/green part of a rollback's plan: where the
// target was deployed (its namespace, Ingress and tester header), with the
// scale down delay the pipeline sets now, a policy rather than part of a
// version. nil for a canary target.
func rollbackBlueGreen(target *pipeline.BlueGreenPlan, current *v1alpha1.Pipeline) *pipeline.BlueGreenPlan {
	if target == nil {
		return nil
	}
	out := *target
	if bg := current.BlueGreenStage(); bg != nil {
		out.ScaleDownDelay = bg.ScaleDownDelay.Or(v1alpha1.DefaultScaleDownDelay)
	}
	return &out
}
