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
	user, d, plan, st, err := s.running(ctx, id, user, "resume", reason)
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
	pause := plan.Stages[a.StageIndex].GateSteps()[a.Index].Pause
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

// Promote skips what is left of a release before its production release
// (the rest of the ramp or steps, pauses, analyses, approvals) and
// releases the canary to production, as Argo Rollouts' full promotion
// does. It is recorded as user's decision at PromoteGate; an approval it
// skips that keeps out who triggered the run (four eyes) keeps them out
// here too.
func (s *Service) Promote(ctx context.Context, id int64, user, reason string) (v1alpha1.Deployment, error) {
	user, d, plan, st, err := s.running(ctx, id, user, "promote", reason)
	if err != nil {
		return v1alpha1.Deployment{}, err
	}
	prod := plan.ProductionStage()
	switch {
	case plan.Kind == v1alpha1.KindRollback:
		return v1alpha1.Deployment{}, conflict("deployment %d is a rollback: it has no canary to promote", id)
	case prod < 0:
		return v1alpha1.Deployment{}, conflict("pipeline %s has no production release to promote deployment %d to", d.Pipeline, id)
	case st.Finishing != nil || st.Stage >= prod:
		return v1alpha1.Deployment{}, conflict("deployment %d is already at its production release (%s)", id, st.CurrentStageName())
	}
	if sameIdentity(user, d.TriggeredBy) {
		if gate := fourEyesGate(plan, st.Stage, prod); gate != "" {
			return v1alpha1.Deployment{}, Errorf(Forbidden,
				"%s triggered deployment %d and cannot promote it past %s, which requires an approver other than who triggered the run (four eyes)", user, id, gate)
		}
	}
	msg := "promotion requested by " + user
	if reason != "" {
		msg += ": " + reason
	}
	now := s.now()
	err = s.store.AddDecision(ctx, store.Decision{
		DeploymentID: id, Stage: v1alpha1.PromoteGate, User: user, Decision: string(v1alpha1.DecisionPromote), Reason: reason, At: now,
	}, 0, store.Event{DeploymentID: id, Time: now, Stage: st.CurrentStageName(), Type: "PromoteRequested", Message: msg})
	switch {
	case errors.Is(err, store.ErrDuplicateDecision):
		return v1alpha1.Deployment{}, conflict("%s has already promoted deployment %d", user, id)
	case err != nil:
		return v1alpha1.Deployment{}, fmt.Errorf("promote deployment %d: %w", id, err)
	}
	s.log.Info("deployment promoted", "deployment_id", id, "user", user)
	s.wake(id)
	return s.GetDeployment(ctx, id)
}

// fourEyesGate names the first approval between stages from and to
// (excluded) that keeps out who triggered the run, or "".
func fourEyesGate(p *pipeline.Plan, from, to int) string {
	for i := from; i < to; i++ {
		st := p.Stages[i]
		if st.Approval != nil && st.Approval.RequireDistinctFromTrigger {
			return st.Name
		}
		for j, step := range st.GateSteps() {
			if step.Approval != nil && step.Approval.RequireDistinctFromTrigger {
				return pipeline.GateName(st.Name, j)
			}
		}
	}
	return ""
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

// running loads deployment id for user to act on it (verb) with reason:
// it must not have ended.
func (s *Service) running(ctx context.Context, id int64, user, verb, reason string) (string, store.Deployment, *pipeline.Plan, *pipeline.State, error) {
	user, err := actor(user, verb, reason)
	if err != nil {
		return "", store.Deployment{}, nil, nil, err
	}
	d, err := s.row(ctx, id)
	if err != nil {
		return "", d, nil, nil, err
	}
	if store.Final(d.Status) {
		return "", d, nil, nil, conflict("deployment %d has ended (%s): there is nothing to %s", id, d.Status, verb)
	}
	plan, st, err := decodeRun(d)
	return user, d, plan, st, err
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
