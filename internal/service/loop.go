package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/pipeline"
	"fledge.dev/fledge/internal/store"
)

// Resume lets a paused deployment go on: a pause without a duration waits
// for it at its gate; a timed pause under way ends now. It is recorded as
// user's approval at the pause's gate, which the executor reads.
func (s *Service) Resume(ctx context.Context, id int64, user, reason string) (v1alpha1.Deployment, error) {
	user, err := actor(user, "resume", reason)
	if err != nil {
		return v1alpha1.Deployment{}, err
	}
	d, err := s.row(ctx, id)
	if err != nil {
		return v1alpha1.Deployment{}, err
	}
	if store.Final(d.Status) {
		return v1alpha1.Deployment{}, conflict("deployment %d has ended (%s): there is no pause to resume", id, d.Status)
	}
	plan, st, err := decodeRun(d)
	if err != nil {
		return v1alpha1.Deployment{}, err
	}
	a := st.Next(plan)
	if st.Final != nil || a.Step != pipeline.StepPause {
		where := st.CurrentStageName()
		if d.Status == string(v1alpha1.StatusWaitingForApproval) {
			return v1alpha1.Deployment{}, conflict("deployment %d waits for approval at %s, not at a pause: use fledge approve or fledge reject", id, where)
		}
		return v1alpha1.Deployment{}, conflict("deployment %d is not paused: it is %s at %s", id, d.Status, where)
	}
	gate := a.GateOf()
	pause := plan.Stages[a.StageIndex].CanarySteps.Steps[a.Index].Pause
	need := 1
	if pause.Duration != nil {
		// A timed pause is not a wait for approval; the store does not
		// count its decisions. It must have begun.
		need = 0
		if st.NextBatchAt == nil {
			return v1alpha1.Deployment{}, conflict("deployment %d has not begun its pause at %s yet", id, gate)
		}
	} else if d.Status != string(v1alpha1.StatusWaitingForApproval) || st.Gate != gate {
		return v1alpha1.Deployment{}, conflict("deployment %d has not reached its pause at %s yet", id, gate)
	}
	msg := "resume requested by " + user
	if reason != "" {
		msg += ": " + reason
	}
	now := s.now()
	err = s.store.AddDecision(ctx, store.Decision{
		DeploymentID: id, Stage: gate, User: user, Decision: string(v1alpha1.DecisionApprove), Reason: reason, At: now,
	}, need, store.Event{DeploymentID: id, Time: now, Stage: gate, Type: "ResumeRequested", Message: msg})
	switch {
	case errors.Is(err, store.ErrDuplicateDecision):
		return v1alpha1.Deployment{}, conflict("%s has already resumed deployment %d at %s", user, id, gate)
	case errors.Is(err, store.ErrStageDecided):
		return v1alpha1.Deployment{}, conflict("deployment %d's pause at %s has already ended", id, gate)
	case err != nil:
		return v1alpha1.Deployment{}, fmt.Errorf("resume deployment %d: %w", id, err)
	}
	s.log.Info("deployment resumed", "deployment_id", id, "gate", gate, "user", user)
	s.wake(id)
	return s.GetDeployment(ctx, id)
}

// Retry runs a failed, cancelled or rejected release again as a new
// deployment with the same plan (manifests, parameters, templates as they
// were frozen then), from its canary deployment: what the pipeline says now
// does not change it. The pipeline must still exist; its queue applies.
func (s *Service) Retry(ctx context.Context, id int64, user string) (v1alpha1.Deployment, error) {
	d, err := s.row(ctx, id)
	if err != nil {
		return v1alpha1.Deployment{}, err
	}
	switch v1alpha1.DeploymentStatus(d.Status) {
	case v1alpha1.StatusFailed, v1alpha1.StatusCancelled, v1alpha1.StatusRejected:
	default:
		return v1alpha1.Deployment{}, conflict("deployment %d is %s: only a failed, cancelled or rejected deployment can be retried", id, d.Status)
	}
	plan, _, err := decodeRun(d)
	if err != nil {
		return v1alpha1.Deployment{}, err
	}
	if plan.Kind == v1alpha1.KindRollback {
		return v1alpha1.Deployment{}, conflict("deployment %d is a rollback: start it again with fledge rollback %s --to %d", id, d.Pipeline, plan.RollbackTo)
	}
	if _, _, err := s.loadPipeline(ctx, d.Pipeline); err != nil {
		return v1alpha1.Deployment{}, err
	}
	why := fmt.Sprintf("triggered by %s, retrying deployment %d (%s#%d, %s) with its plan", user, id, d.Pipeline, d.Number, d.Status)
	return s.create(ctx, plan, d.Parameters, user, why)
}

// decodeRun decodes a deployment's plan and state.
func decodeRun(d store.Deployment) (*pipeline.Plan, *pipeline.State, error) {
	var plan pipeline.Plan
	if err := json.Unmarshal(d.Plan, &plan); err != nil {
		return nil, nil, fmt.Errorf("decode plan of deployment %d: %w", d.ID, err)
	}
	var st pipeline.State
	if err := json.Unmarshal(d.State, &st); err != nil {
		return nil, nil, fmt.Errorf("decode state of deployment %d: %w", d.ID, err)
	}
	return &plan, &st, nil
}
