package service

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/pipeline"
	"fledge.dev/fledge/internal/redact"
	"fledge.dev/fledge/internal/store"
	"fledge.dev/fledge/internal/targets"
	"fledge.dev/fledge/internal/traffic/routing"
)

// rollbackTargets resolves which targets a rollback to deployment d
// re-applies: the later waves' targets (wave) and whether it leaves the
// production beside the canary alone (skip). Without names it is every
// target d released; names may name the production beside the canary
// (ENVIRONMENT/NAMESPACE) and targets d released.
func rollbackTargets(d store.Deployment, plan *pipeline.Plan, names []string) (wave []v1alpha1.ProductionTarget, skip bool, err error) {
	var st pipeline.State
	if len(d.State) > 0 {
		if err := json.Unmarshal(d.State, &st); err != nil {
			return nil, false, fmt.Errorf("decode state of deployment %d: %w", d.ID, err)
		}
	}
	primary := v1alpha1.ProductionTarget{Environment: plan.Environment, Namespace: plan.ProductionNamespace}.Name()
	released := func(t v1alpha1.TargetState) v1alpha1.ProductionTarget {
		return v1alpha1.ProductionTarget{Environment: t.Environment, Namespace: t.Namespace}
	}
	if len(names) == 0 {
		for _, t := range st.Targets {
			if t.Status == v1alpha1.TargetReleased {
				wave = append(wave, released(t))
			}
		}
		return wave, false, nil
	}
	known := []string{primary}
	for _, t := range st.Targets {
		known = append(known, t.Name)
	}
	skip = true
	var problems []string
	for i, n := range names {
		if slices.Contains(names[:i], n) {
			continue
		}
		if n == primary {
			skip = false
			continue
		}
		k := slices.IndexFunc(st.Targets, func(t v1alpha1.TargetState) bool { return t.Name == n })
		switch {
		case k < 0:
			problems = append(problems, fmt.Sprintf("%q is not a production target of deployment %d (its targets: %s)", n, d.ID, strings.Join(known, ", ")))
		case st.Targets[k].Status != v1alpha1.TargetReleased:
			problems = append(problems, fmt.Sprintf("deployment %d did not release target %s (%s there), so it has nothing to roll it back to", d.ID, n, st.Targets[k].Status))
		default:
			wave = append(wave, released(st.Targets[k]))
		}
	}
	if len(problems) > 0 {
		return nil, false, invalid("field targets: " + strings.Join(problems, "; "))
	}
	return wave, skip, nil
}

// diffTargets diffs deployment d's production manifests against what each
// of wave's targets runs now.
func (s *Service) diffTargets(ctx context.Context, d store.Deployment, plan *pipeline.Plan, wave []v1alpha1.ProductionTarget) ([]v1alpha1.TargetDiff, error) {
	if len(wave) == 0 {
		return nil, nil
	}
	rp, err := routing.For(plan, redact.Opener(s.box, fmt.Sprintf("manifests of deployment %d", d.ID)))
	if err != nil {
		return nil, fmt.Errorf("manifests of deployment %d: %w", d.ID, err)
	}
	objs, err := rp.ProductionObjects()
	if err != nil {
		return nil, fmt.Errorf("manifests of deployment %d: %w", d.ID, err)
	}
	names := make([]string, len(wave))
	for i, t := range wave {
		names[i] = t.Name()
	}
	live, err := targets.Live(ctx, s.store, d.Pipeline, 0, names)
	if err != nil {
		return nil, err
	}
	out := make([]v1alpha1.TargetDiff, len(wave))
	for i, t := range wave {
		c, _, err := s.clusters.Cluster(ctx, t.Environment)
		if err != nil {
			return nil, fmt.Errorf("target %s: environment %q: %w", t.Name(), t.Environment, err)
		}
		diff, err := c.Diff(ctx, t.Namespace, objs)
		if err != nil {
			return nil, fmt.Errorf("diff target %s against deployment %d: %w", t.Name(), d.ID, err)
		}
		out[i] = v1alpha1.TargetDiff{Name: t.Name(), Diff: diff.Text, Changed: diff.Changed}
		if id := live[t.Name()]; id != 0 {
			out[i].Live = &id
		}
	}
	return out, nil
}
