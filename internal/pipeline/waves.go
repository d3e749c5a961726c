package pipeline

import (
	"slices"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

// targetStates lists the production targets the plan releases after its
// production release, all pending: its productionWave stages' targets in
// order, or a rollback's.
func (p *Plan) targetStates() []v1alpha1.TargetState {
	var out []v1alpha1.TargetState
	add := func(stage string, ts []v1alpha1.ProductionTarget) {
		for _, t := range ts {
			out = append(out, v1alpha1.TargetState{
				Name: t.Name(), Environment: t.Environment, Namespace: t.Namespace,
				Stage: stage, Status: v1alpha1.TargetPending,
			})
		}
	}
	if p.Kind == v1alpha1.KindRollback {
		add(RollbackStageName, p.RollbackTargets)
		return out
	}
	for _, st := range p.Stages {
		if st.ProductionWave != nil {
			add(st.Name, st.ProductionWave.Targets)
		}
	}
	return out
}

// rollbackAll reports whether a failure restores every target the run
// released (productionRelease.rollbackOnFailure: all).
func (p *Plan) rollbackAll() bool {
	for _, st := range p.Stages {
		if st.ProductionRelease != nil {
			return st.ProductionRelease.RollbackOnFailure == v1alpha1.RollbackAllWaves
		}
	}
	return false
}

// HasWaves reports whether the plan releases production targets beyond
// the production beside the canary.
func (p *Plan) HasWaves() bool {
	for _, st := range p.Stages {
		if st.ProductionWave != nil {
			return true
		}
	}
	return len(p.RollbackTargets) > 0
}

// WaveTimeout is the rollout timeout of stage i's targets (a rollback's:
// its production rollout timeout).
func (p *Plan) WaveTimeout(i int) time.Duration {
	if p.Kind != v1alpha1.KindRollback && i >= 0 && i < len(p.Stages) && p.Stages[i].ProductionWave != nil {
		return p.Stages[i].ProductionWave.RolloutTimeout.Or(v1alpha1.DefaultRolloutTimeout)
	}
	return p.ProductionRolloutTimeout
}

// TargetsOf returns the indexes in s.Targets of stage's targets.
func (s *State) TargetsOf(stage string) []int {
	var out []int
	for i, t := range s.Targets {
		if t.Stage == stage {
			out = append(out, i)
		}
	}
	return out
}

// touched reports whether the run may have changed target t and not
// finished releasing it, or released it.
func touched(t v1alpha1.TargetState) bool {
	return t.Status == v1alpha1.TargetApplying || t.Status == v1alpha1.TargetFailed
}

// RestoreTargets returns the indexes of the targets a failed run gives
// back what they ran before: those it touched without releasing, and,
// when every target rolls back, those it released too.
func (s *State) RestoreTargets() []int {
	var out []int
	for i, t := range s.Targets {
		if touched(t) || (s.RollbackAll && t.Status == v1alpha1.TargetReleased) {
			out = append(out, i)
		}
	}
	return out
}

// restoresTargets reports whether the finishing steps of a failed run
// restore targets. It stays true once they are restored, so that the list
// of finishing steps does not change under the one being performed.
func (s *State) restoresTargets() bool {
	return len(s.RestoreTargets()) > 0 || slices.ContainsFunc(s.Targets, func(t v1alpha1.TargetState) bool {
		return t.Status == v1alpha1.TargetRestored
	})
}

// endTargets marks, as the run ends with message, the targets it was
// applying Failed and those it had not reached Skipped.
func (s *State) endTargets(message string, now time.Time) {
	for i := range s.Targets {
		t := &s.Targets[i]
		switch t.Status {
		case v1alpha1.TargetApplying:
			t.Status, t.Message, t.UpdatedAt = v1alpha1.TargetFailed, message, &now
		case v1alpha1.TargetPending:
			t.Status, t.UpdatedAt = v1alpha1.TargetSkipped, &now
		}
	}
}
