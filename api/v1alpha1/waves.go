package v1alpha1

import (
	"fmt"
	"time"
)

// StageProductionWave names a stage that releases the production manifests
// to more production targets after the production release, one wave at a
// time (see docs/waves.md).
const StageProductionWave StageType = "productionWave"

// ProductionWaveStage releases the manifests that production runs to a
// wave of production targets, each an environment (cluster) and a
// namespace, all at once. Its steps (pauses and approvals) run first. The
// production release before it is the first wave: the production beside
// the canary, which the canary's traffic is split with.
type ProductionWaveStage struct {
	Targets []ProductionTarget `json:"targets" yaml:"targets"`
	// Steps run before the wave is applied: pauses (a soak time after the
	// previous wave, or until resumed) and approvals.
	Steps []CanaryStep `json:"steps,omitempty" yaml:"steps,omitempty"`
	// RolloutTimeout bounds the wait for the wave's workloads to become
	// available in every target (default 5m).
	RolloutTimeout *Duration `json:"rolloutTimeout,omitempty" yaml:"rolloutTimeout,omitempty"`
}

// ProductionTarget is a production namespace of an environment's cluster.
type ProductionTarget struct {
	Environment string `json:"environment" yaml:"environment"`
	Namespace   string `json:"namespace" yaml:"namespace"`
}

// Name is how the target is named in history, events and --target:
// ENVIRONMENT/NAMESPACE.
func (t ProductionTarget) Name() string { return t.Environment + "/" + t.Namespace }

// What a failed wave rolls back (productionRelease.rollbackOnFailure).
const (
	// RollbackFailedWave restores the targets of the wave that failed;
	// earlier waves keep the new version (the default).
	RollbackFailedWave = "wave"
	// RollbackAllWaves restores every target the deployment released,
	// the production beside the canary included.
	RollbackAllWaves = "all"
)

// Limits of production waves.
const (
	MaxWaves          = 20
	MaxTargetsPerWave = 50
)

// TargetStatus is how far a deployment took one production target.
type TargetStatus string

// Target statuses.
const (
	TargetPending  TargetStatus = "Pending"
	TargetApplying TargetStatus = "Applying"
	// TargetReleased: the target runs the deployment's manifests.
	TargetReleased TargetStatus = "Released"
	TargetFailed   TargetStatus = "Failed"
	// TargetRestored: the target was given back what it ran before.
	TargetRestored TargetStatus = "Restored"
	TargetSkipped  TargetStatus = "Skipped"
)

// TargetState is one production target of a deployment: where it is,
// which wave (stage) releases it, and how far it got.
type TargetState struct {
	Name        string       `json:"name" yaml:"name"`
	Environment string       `json:"environment" yaml:"environment"`
	Namespace   string       `json:"namespace" yaml:"namespace"`
	Stage       string       `json:"stage" yaml:"stage"`
	Status      TargetStatus `json:"status" yaml:"status"`
	Message     string       `json:"message,omitempty" yaml:"message,omitempty"`
	// Previous is the deployment the target ran before this one (0: none
	// known), which a failure restores.
	Previous  int64      `json:"previous,omitempty" yaml:"previous,omitempty"`
	UpdatedAt *time.Time `json:"updatedAt,omitempty" yaml:"updatedAt,omitempty"`
}

// GateSteps returns the steps people may decide at in the stage: a
// canarySteps stage's or a productionWave stage's; nil otherwise.
func (s Stage) GateSteps() []CanaryStep {
	switch {
	case s.CanarySteps != nil:
		return s.CanarySteps.Steps
	case s.ProductionWave != nil:
		return s.ProductionWave.Steps
	}
	return nil
}

// Waves returns the pipeline's production wave stages in order.
func (p *Pipeline) Waves() []*ProductionWaveStage {
	var out []*ProductionWaveStage
	for _, s := range p.Spec.Stages {
		if s.ProductionWave != nil {
			out = append(out, s.ProductionWave)
		}
	}
	return out
}

// validateWave checks a productionWave stage; f is its field path, seen
// the targets named so far (each may be released once per deployment),
// with the field that named it.
func (w *ProductionWaveStage) validate(l *errs, f string, refs *References, seen map[string]string) {
	if len(w.Targets) == 0 {
		l.add(f+".targets", "at least one target (environment and namespace) is required")
	}
	if len(w.Targets) > MaxTargetsPerWave {
		l.add(f+".targets", "at most %d targets per wave, got %d", MaxTargetsPerWave, len(w.Targets))
	}
	for i, t := range w.Targets {
		tf := fmt.Sprintf("%s.targets[%d]", f, i)
		if t.Environment == "" {
			l.add(tf+".environment", "is required")
		} else if refs != nil && !refs.Environments[t.Environment] {
			l.add(tf+".environment", "environment %q does not exist", t.Environment)
		}
		checkName(l, tf+".namespace", t.Namespace)
		if t.Environment == "" || t.Namespace == "" {
			continue
		}
		if prev, dup := seen[t.Name()]; dup {
			l.add(tf, "target %s is already %s; a deployment releases each target once", t.Name(), prev)
			continue
		}
		seen[t.Name()] = "released by " + tf
	}
	if len(w.Steps) > MaxCanarySteps {
		l.add(f+".steps", "at most %d steps, got %d", MaxCanarySteps, len(w.Steps))
	}
	for i, s := range w.Steps {
		sf := fmt.Sprintf("%s.steps[%d]", f, i)
		switch s.Kind() {
		case StepKindPause, StepKindApproval:
			s.validate(l, sf)
		case "":
			l.add(sf, "set exactly one of pause, approval")
		default:
			l.add(sf, "a wave's steps are pauses and approvals, got %s (weights and analyses belong to the canary)", s.Kind())
		}
	}
	checkPositive(l, f+".rolloutTimeout", w.RolloutTimeout)
}
