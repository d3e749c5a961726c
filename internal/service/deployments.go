package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/analysis"
	"fledge.dev/fledge/internal/auth"
	"fledge.dev/fledge/internal/pipeline"
	"fledge.dev/fledge/internal/redact"
	"fledge.dev/fledge/internal/store"
	"fledge.dev/fledge/internal/targets"
	"fledge.dev/fledge/internal/traffic/routing"
)

func (s *Service) row(ctx context.Context, id int64) (store.Deployment, error) {
	d, err := s.store.GetDeployment(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return d, notFound("deployment %d not found", id)
	}
	if err != nil {
		return d, fmt.Errorf("get deployment %d: %w", id, err)
	}
	return d, nil
}

// decodeAll returns the decoded plan head and state of each of rows,
// listed with OmitPlanState: from the cache, or for the rows it lacks,
// from their plan and state read in one query. A row read again may be
// newer than the listed one; it replaces it in rows.
func (s *Service) decodeAll(ctx context.Context, rows []store.Deployment) ([]decoded, error) {
	decs := make([]decoded, len(rows))
	var missing []int64
	at := map[int64]int{}
	for i, r := range rows {
		dec, ok := s.decoded.get(r.ID, r.Version)
		if !ok {
			missing = append(missing, r.ID)
			at[r.ID] = i
		}
		decs[i] = dec
	}
	if len(missing) == 0 {
		return decs, nil
	}
	full, err := s.store.ListDeployments(ctx, store.DeploymentFilter{IDs: missing, Limit: len(missing)})
	if err != nil {
		return nil, fmt.Errorf("read plans of deployments: %w", err)
	}
	if len(full) != len(missing) {
		return nil, fmt.Errorf("read plans of deployments: %d of %d rows found", len(full), len(missing))
	}
	for _, r := range full {
		i := at[r.ID]
		if decs[i], err = s.decode(r); err != nil {
			return nil, err
		}
		rows[i] = r
	}
	return decs, nil
}

// ResolveDeployment returns the id of the deployment ref names: its id,
// or the deployment of that number within the pipeline.
func (s *Service) ResolveDeployment(ctx context.Context, ref v1alpha1.DeploymentRef) (int64, error) {
	if ref.Pipeline == "" {
		return ref.ID, nil
	}
	rows, err := s.store.ListDeployments(ctx, store.DeploymentFilter{Pipeline: ref.Pipeline, Number: ref.Number, Limit: 1})
	if err != nil {
		return 0, fmt.Errorf("find deployment %s: %w", ref, err)
	}
	if len(rows) == 0 {
		return 0, notFound("deployment %s not found", ref)
	}
	return rows[0].ID, nil
}

// DeploymentPipeline returns the pipeline a deployment belongs to.
func (s *Service) DeploymentPipeline(ctx context.Context, id int64) (string, error) {
	d, err := s.row(ctx, id)
	if err != nil {
		return "", err
	}
	return d.Pipeline, nil
}

// GetDeployment returns one deployment with stages, decisions and
// notifications. One read of the store (GetDeploymentView) gives the row,
// the pipeline's live deployment, the decisions and the notifications, all
// of one snapshot; the plan and state come with it only when the decode
// cache lacks the row's version. With the tokens revision of the same
// snapshot it confirms the TokensCheck of ctx, if any (ErrTokensChanged).
func (s *Service) GetDeployment(ctx context.Context, id int64) (v1alpha1.Deployment, error) {
	dv, cached, err := s.readView(ctx, id)
	if err != nil {
		return v1alpha1.Deployment{}, err
	}
	return s.deploymentView(ctx, dv, cached)
}

// GetDeploymentJSON is GetDeployment encoded as JSON (with a final
// newline, as json.Encoder writes it). A deployment read again with
// nothing its view shows changed gives the bytes encoded the time before:
// the view is a function of the row's version, the pipeline's live
// deployment, the decisions and the notifications, which the one read
// returns. The caller does not change the bytes.
func (s *Service) GetDeploymentJSON(ctx context.Context, id int64) ([]byte, error) {
	dv, cached, err := s.readView(ctx, id)
	if err != nil {
		return nil, err
	}
	if body, ok := s.encoded.get(dv); ok {
		return body, nil
	}
	v, err := s.deploymentView(ctx, dv, cached)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		return nil, fmt.Errorf("encode deployment %d: %w", id, err)
	}
	if len(v.Targets) == 0 {
		// Which targets run a deployment changes with the rows of others.
		s.encoded.put(dv, buf.Bytes())
	}
	return buf.Bytes(), nil
}

// readView reads deployment id's view, with the decoded plan and state
// cached for it (of any version).
func (s *Service) readView(ctx context.Context, id int64) (store.DeploymentView, decoded, error) {
	cached, _ := s.decoded.latest(id)
	dv, err := s.store.GetDeploymentView(ctx, id, cached.version)
	if errors.Is(err, store.ErrNotFound) {
		return dv, cached, notFound("deployment %d not found", id)
	}
	if err != nil {
		return dv, cached, fmt.Errorf("get deployment %d: %w", id, err)
	}
	if err := confirmTokens(ctx, dv.TokensRevision); err != nil {
		return dv, cached, err
	}
	return dv, cached, nil
}

// deploymentView builds the view of dv; cached is the decoded plan and
// state readView found.
func (s *Service) deploymentView(ctx context.Context, dv store.DeploymentView, cached decoded) (v1alpha1.Deployment, error) {
	var err error
	d, dec := dv.Deployment, cached
	if d.Version != cached.version {
		if dec, err = s.decode(d); err != nil {
			return v1alpha1.Deployment{}, err
		}
	}
	v, err := s.viewDecoded(ctx, d, dec, map[string]int64{d.Pipeline: dv.LiveID}, dv.Decisions)
	if err != nil {
		return v, err
	}
	items := []v1alpha1.Deployment{v}
	if err := s.markLiveTargets(ctx, items); err != nil {
		return v, err
	}
	v = items[0]
	v.Notifications = notificationStatuses(dv.Notifications, dv.Attempts)
	return v, nil
}

// notificationStatuses says what a deployment's events notified and how
// each delivery went, from its notifications and their attempts.
func notificationStatuses(ns []store.Notification, as []store.NotificationAttempt) []v1alpha1.NotificationStatus {
	out := make([]v1alpha1.NotificationStatus, len(ns))
	at := map[int64]int{}
	for i, n := range ns {
		out[i] = v1alpha1.NotificationStatus{Event: v1alpha1.NotificationEvent(n.Event), EventSeq: n.EventSeq, CreatedAt: n.CreatedAt, Done: n.Done}
		at[n.ID] = i
	}
	for _, a := range as {
		i := at[a.NotificationID]
		out[i].Attempts = append(out[i].Attempts, v1alpha1.NotificationAttempt{
			Receiver: a.Receiver, Sink: a.Sink, Attempt: a.Attempt, At: a.At, Result: a.Result, Detail: a.Detail,
		})
	}
	return out
}

// ListOptions selects a page of deployments.
type ListOptions struct {
	Pipeline string
	Statuses []string
	Limit    int
	Before   int64
}

// ListDeployments returns a page of deployments, newest first.
func (s *Service) ListDeployments(ctx context.Context, o ListOptions) (v1alpha1.DeploymentList, error) {
	if o.Limit <= 0 {
		o.Limit = 50
	}
	if o.Limit > 500 {
		return v1alpha1.DeploymentList{}, badRequest("limit must be at most 500, got %d", o.Limit)
	}
	for _, st := range o.Statuses {
		if !validStatus(st) {
			return v1alpha1.DeploymentList{}, badRequest("unknown status %q", st)
		}
	}
	f := store.DeploymentFilter{Pipeline: o.Pipeline, Statuses: o.Statuses, BeforeID: o.Before, Limit: o.Limit + 1, OmitPlanState: true}
	rows, err := s.store.ListDeployments(ctx, f)
	if err != nil {
		return v1alpha1.DeploymentList{}, fmt.Errorf("list deployments: %w", err)
	}
	// The total is exact on every page and costs a few rows: the store
	// keeps a count per pipeline and status (CountDeployments), so the
	// response keeps its shape and clients their "N of TOTAL".
	total, err := s.store.CountDeployments(ctx, store.DeploymentFilter{Pipeline: o.Pipeline, Statuses: o.Statuses})
	if err != nil {
		return v1alpha1.DeploymentList{}, fmt.Errorf("count deployments: %w", err)
	}
	out := v1alpha1.DeploymentList{Items: []v1alpha1.Deployment{}, Total: total}
	if len(rows) > o.Limit {
		rows = rows[:o.Limit]
		out.NextBefore = rows[len(rows)-1].ID
	}
	decs, err := s.decodeAll(ctx, rows)
	if err != nil {
		return out, err
	}
	lives := map[string]int64{}
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	decisions, err := s.store.ListDecisionsOf(ctx, ids)
	if err != nil {
		return out, fmt.Errorf("list decisions: %w", err)
	}
	for i, r := range rows {
		if _, ok := lives[r.Pipeline]; !ok {
			lives[r.Pipeline] = s.liveID(ctx, r.Pipeline)
		}
		ds := decisions[r.ID]
		if ds == nil {
			ds = []store.Decision{}
		}
		v, err := s.viewDecoded(ctx, r, decs[i], lives, ds)
		if err != nil {
			return out, err
		}
		out.Items = append(out.Items, v)
	}
	return out, s.markLiveTargets(ctx, out.Items)
}

// markLiveTargets sets LiveTargets of the items whose pipelines release
// production targets in waves: the targets that run each now.
func (s *Service) markLiveTargets(ctx context.Context, items []v1alpha1.Deployment) error {
	names := map[string][]string{}
	for _, v := range items {
		for _, t := range v.Targets {
			if !slices.Contains(names[v.Pipeline], t.Name) {
				names[v.Pipeline] = append(names[v.Pipeline], t.Name)
			}
		}
	}
	for p, ns := range names {
		live, err := targets.Live(ctx, s.store, p, 0, ns)
		if err != nil {
			return fmt.Errorf("production targets of %s: %w", p, err)
		}
		for i := range items {
			if items[i].Pipeline != p {
				continue
			}
			for _, n := range ns {
				if live[n] == items[i].ID {
					items[i].LiveTargets = append(items[i].LiveTargets, n)
				}
			}
		}
	}
	return nil
}

func validStatus(s string) bool {
	switch v1alpha1.DeploymentStatus(s) {
	case v1alpha1.StatusQueued, v1alpha1.StatusRunning, v1alpha1.StatusWaitingForApproval,
		v1alpha1.StatusSucceeded, v1alpha1.StatusFailed, v1alpha1.StatusRejected, v1alpha1.StatusCancelled:
		return true
	}
	return false
}

func (s *Service) liveID(ctx context.Context, pipelineName string) int64 {
	id, err := s.store.LiveDeploymentID(ctx, pipelineName)
	if err != nil {
		return 0
	}
	return id
}

// view converts a stored row to the API type.
func (s *Service) view(ctx context.Context, d store.Deployment, lives map[string]int64) (v1alpha1.Deployment, error) {
	return s.viewWith(ctx, d, lives, nil)
}

// decode returns the row's plan head and state, from the cache when the
// row's version was decoded before. A started deployment's view needs only
// the plan's head, not its manifests and stages: the state has the stages
// as they ran.
func (s *Service) decode(d store.Deployment) (decoded, error) {
	if dec, ok := s.decoded.get(d.ID, d.Version); ok {
		return dec, nil
	}
	dec := decoded{version: d.Version}
	if len(d.State) > 0 {
		var h planHead
		if err := json.Unmarshal(d.Plan, &h); err != nil {
			return decoded{}, fmt.Errorf("decode plan of deployment %d: %w", d.ID, err)
		}
		dec.plan = pipeline.Plan{
			PipelineGeneration: h.PipelineGeneration, Kind: h.Kind, IngressName: h.IngressName, Traffic: h.Traffic,
			RollbackToNumber: h.RollbackToNumber, Reason: h.Reason,
		}
		dec.state = &pipeline.State{}
		if err := json.Unmarshal(d.State, dec.state); err != nil {
			return decoded{}, fmt.Errorf("decode state of deployment %d: %w", d.ID, err)
		}
	} else {
		var p planButManifests
		if err := json.Unmarshal(d.Plan, &p); err != nil {
			return decoded{}, fmt.Errorf("decode plan of deployment %d: %w", d.ID, err)
		}
		dec.plan = p.Plan
		dec.state = pipeline.NewState(&dec.plan)
		dec.plan.Stages = nil // the view needs the stages of the state only
	}
	s.decoded.put(d.ID, dec)
	return dec, nil
}

// planHead is the part of a pipeline.Plan a started deployment's view
// shows.
type planHead struct {
	PipelineGeneration int64                    `json:"pipelineGeneration"`
	Kind               v1alpha1.DeploymentKind  `json:"kind"`
	IngressName        string                   `json:"ingressName"`
	Traffic            *v1alpha1.TrafficRouting `json:"traffic,omitempty"`
	RollbackToNumber   int64                    `json:"rollbackToNumber,omitempty"`
	Reason             string                   `json:"reason,omitempty"`
}

// planButManifests decodes a plan without its manifests (most of it),
// which a view does not show.
type planButManifests struct {
	pipeline.Plan
	Manifests skipped `json:"manifests"`
}

// skipped is a JSON value read over and dropped.
type skipped struct{}

func (skipped) UnmarshalJSON([]byte) error { return nil }

// viewWith is view with the row's decisions already read (nil: read them).
func (s *Service) viewWith(ctx context.Context, d store.Deployment, lives map[string]int64, ds []store.Decision) (v1alpha1.Deployment, error) {
	dec, err := s.decode(d)
	if err != nil {
		return v1alpha1.Deployment{}, err
	}
	return s.viewDecoded(ctx, d, dec, lives, ds)
}

// viewDecoded is viewWith with the row's plan head and state decoded.
func (s *Service) viewDecoded(ctx context.Context, d store.Deployment, dec decoded, lives map[string]int64, ds []store.Decision) (v1alpha1.Deployment, error) {
	plan, st := &dec.plan, dec.state
	params := d.Parameters
	if params == nil {
		params = map[string]string{}
	}
	out := v1alpha1.Deployment{
		ID: d.ID, Pipeline: d.Pipeline, Number: d.Number, Kind: v1alpha1.DeploymentKind(d.Kind),
		RollbackTo: d.RollbackTo, Parameters: params, Status: v1alpha1.DeploymentStatus(d.Status),
		TriggeredBy: d.TriggeredBy, Stages: slices.Clone(st.Stages), CanaryWeight: st.Weight, Targets: slices.Clone(st.Targets),
		CancelRequested: d.CancelRequested, CreatedAt: d.CreatedAt, StartedAt: d.StartedAt,
		EndedAt: d.EndedAt, ProductionAt: d.ProductionAt, ApprovalDeadline: st.ApprovalDeadline,
		PipelineGeneration: plan.PipelineGeneration, CurrentStage: st.CurrentStageName(),
		RollbackToNumber: plan.RollbackToNumber, Reason: plan.Reason, Analyses: slices.Clone(st.Analyses),
	}
	if out.Status == v1alpha1.StatusWaitingForApproval {
		out.ApprovalsRequired = v1alpha1.DefaultApprovalsRequired
		if ap, _ := plan.Gate(out.CurrentStage); ap != nil && ap.ApprovalsRequired > 0 {
			out.ApprovalsRequired = ap.ApprovalsRequired
		}
	}
	if out.Kind == v1alpha1.KindRollback && out.RollbackToNumber == 0 && out.RollbackTo != 0 {
		// Rollbacks recorded before the plan kept the target's number.
		if t, err := s.store.GetDeployment(ctx, out.RollbackTo); err == nil {
			out.RollbackToNumber = t.Number
		}
	}
	rt := plan.Routing()
	out.Traffic = &rt
	if st.BlueGreen != nil {
		bg := *st.BlueGreen
		out.BlueGreen = &bg
	}
	if st.Final != nil {
		out.Message = st.Final.Message
	} else if st.Finishing != nil {
		out.Message = st.Finishing.Message
	}
	var live int64
	if lives != nil {
		live = lives[d.Pipeline]
	} else {
		live = s.liveID(ctx, d.Pipeline)
	}
	out.Live = live != 0 && live == d.ID
	if ds == nil {
		var err error
		if ds, err = s.store.ListDecisions(ctx, d.ID); err != nil {
			return out, fmt.Errorf("list decisions of deployment %d: %w", d.ID, err)
		}
	}
	for _, x := range ds {
		out.Decisions = append(out.Decisions, v1alpha1.Decision{
			Stage: x.Stage, User: x.User, Decision: v1alpha1.DecisionKind(x.Decision), Reason: x.Reason, At: x.At,
		})
	}
	return out, nil
}

// Events returns a deployment's events after seq.
func (s *Service) Events(ctx context.Context, id, after int64) ([]v1alpha1.Event, error) {
	if _, err := s.row(ctx, id); err != nil {
		return nil, err
	}
	evs, err := s.store.ListEvents(ctx, id, after)
	if err != nil {
		return nil, fmt.Errorf("list events of deployment %d: %w", id, err)
	}
	out := make([]v1alpha1.Event, len(evs))
	for i, e := range evs {
		out[i] = v1alpha1.Event{DeploymentID: e.DeploymentID, Seq: e.Seq, Time: e.Time, Stage: e.Stage, Type: e.Type, Message: e.Message}
	}
	return out, nil
}

// Manifests returns the rendered manifests stored with a deployment.
func (s *Service) Manifests(ctx context.Context, id int64) (string, error) {
	d, err := s.row(ctx, id)
	if err != nil {
		return "", err
	}
	var plan pipeline.Plan
	if err := json.Unmarshal(d.Plan, &plan); err != nil {
		return "", fmt.Errorf("decode plan of deployment %d: %w", id, err)
	}
	// The data of Secrets is never shown (see internal/redact).
	m, _ := redact.Secrets(plan.Manifests)
	return m, nil
}

// Measurements returns the analysis measurements stored with a
// deployment, in the order they were taken.
func (s *Service) Measurements(ctx context.Context, id int64) (v1alpha1.MeasurementList, error) {
	d, err := s.row(ctx, id)
	if err != nil {
		return v1alpha1.MeasurementList{}, err
	}
	plan, st, err := decodeRun(d)
	if err != nil {
		return v1alpha1.MeasurementList{}, err
	}
	ms, err := s.store.ListMeasurements(ctx, id)
	if err != nil {
		return v1alpha1.MeasurementList{}, fmt.Errorf("measurements of deployment %d: %w", id, err)
	}
	if ms == nil {
		ms = []v1alpha1.Measurement{}
	}
	return v1alpha1.MeasurementList{Items: ms, Metrics: analysis.Summaries(plan.AnalysisTemplates, st.Analyses)}, nil
}

// Decide records an approval or rejection by user at the stage the
// deployment waits on.
func (s *Service) Decide(ctx context.Context, id int64, user string, kind v1alpha1.DecisionKind, reason string) (v1alpha1.Deployment, error) {
	if kind == v1alpha1.DecisionReject && strings.TrimSpace(reason) == "" {
		return v1alpha1.Deployment{}, invalid("a reason is required to reject", v1alpha1.FieldError{Field: "reason", Message: "is required to reject"})
	}
	user, err := actor(user, strings.ToLower(string(kind)), reason)
	if err != nil {
		return v1alpha1.Deployment{}, err
	}
	d, err := s.row(ctx, id)
	if err != nil {
		return v1alpha1.Deployment{}, err
	}
	v, err := s.view(ctx, d, nil)
	if err != nil {
		return v, err
	}
	if v.Status != v1alpha1.StatusWaitingForApproval {
		return v, conflict("deployment %d is %s, not waiting for approval", id, v.Status)
	}
	ap, _ := gate(d, v.CurrentStage)
	if kind == v1alpha1.DecisionApprove {
		if ap != nil && ap.RequireDistinctFromTrigger && sameIdentity(user, d.TriggeredBy) {
			return v, Errorf(Forbidden,
				"%s triggered deployment %d and cannot approve it: stage %s requires an approver other than who triggered the run (four eyes)", user, id, v.CurrentStage)
		}
	}
	need := v1alpha1.DefaultApprovalsRequired
	if ap != nil && ap.ApprovalsRequired > 0 {
		need = ap.ApprovalsRequired
	}
	now := s.now()
	verb := "approved"
	if kind == v1alpha1.DecisionReject {
		verb = "rejected"
	}
	msg := fmt.Sprintf("%s by %s", verb, user)
	if reason != "" {
		msg += ": " + reason
	}
	// The store checks again, in the insert's transaction, that the stage
	// is still open: of decisions sent at once, one outcome is recorded.
	err = s.store.AddDecision(ctx, store.Decision{
		DeploymentID: id, Stage: v.CurrentStage, User: user, Decision: string(kind), Reason: reason, At: now,
	}, need, store.Event{DeploymentID: id, Time: now, Stage: v.CurrentStage, Type: decisionEvent(kind), Message: msg})
	if errors.Is(err, store.ErrDuplicateDecision) {
		return v, conflict("%s has already decided on deployment %d at stage %s", user, id, v.CurrentStage)
	}
	if errors.Is(err, store.ErrStageDecided) {
		return v, conflict("deployment %d no longer waits for a decision at stage %s: %s", id, v.CurrentStage, strings.TrimSuffix(err.Error(), ": "+store.ErrStageDecided.Error()))
	}
	if err != nil {
		return v, fmt.Errorf("record decision: %w", err)
	}
	s.log.Info("decision recorded", "deployment_id", id, "user", user, "decision", kind)
	s.wake(id)
	return s.GetDeployment(ctx, id)
}

// checkReason refuses a decision's or a rollback's reason over
// v1alpha1.MaxReasonLength.
// actor returns who acts (canonical) once the act's reason is checked;
// verb says what for in the error of an anonymous caller.
func actor(user, verb, reason string) (string, error) {
	user = auth.Canonical(user)
	if user == "" {
		return "", badRequest("an identity is required to %s", verb)
	}
	return user, checkReason(reason)
}

func checkReason(reason string) error {
	if msg := v1alpha1.CheckText(reason); msg != "" {
		return invalid("reason "+msg, v1alpha1.FieldError{Field: "reason", Message: msg})
	}
	if len(reason) > v1alpha1.MaxReasonLength {
		return invalid("reason is too long", v1alpha1.FieldError{
			Field: "reason", Message: fmt.Sprintf("must be at most %d characters, got %d", v1alpha1.MaxReasonLength, len(reason)),
		})
	}
	return nil
}

// Cancel asks for a queued or running deployment to be cancelled (fledge
// abort): its canary weight goes back to 0 and production is restored if
// the run touched it. reason, if any, is recorded with the request.
func (s *Service) Cancel(ctx context.Context, id int64, user, reason string) (v1alpha1.Deployment, error) {
	if err := checkReason(reason); err != nil {
		return v1alpha1.Deployment{}, err
	}
	d, err := s.row(ctx, id)
	if err != nil {
		return v1alpha1.Deployment{}, err
	}
	if store.Final(d.Status) {
		return v1alpha1.Deployment{}, conflict("deployment %d has already ended (%s)", id, d.Status)
	}
	err = s.store.RequestCancel(ctx, id)
	if errors.Is(err, store.ErrConflict) {
		return v1alpha1.Deployment{}, conflict("deployment %d has already ended", id)
	}
	if err != nil {
		return v1alpha1.Deployment{}, fmt.Errorf("cancel deployment %d: %w", id, err)
	}
	msg := "cancellation requested by " + user
	if reason != "" {
		msg += ": " + reason
	}
	_ = s.store.AppendEvents(ctx, store.Event{DeploymentID: id, Time: s.now(), Type: "CancelRequested", Message: msg})
	s.wake(id)
	return s.GetDeployment(ctx, id)
}

// rollbackTarget loads and checks the deployment to roll back to.
func (s *Service) rollbackTarget(ctx context.Context, pipelineName string, to int64) (store.Deployment, *pipeline.Plan, error) {
	if _, _, err := s.loadPipeline(ctx, pipelineName); err != nil {
		return store.Deployment{}, nil, err
	}
	d, err := s.row(ctx, to)
	if err != nil {
		return d, nil, err
	}
	if d.Pipeline != pipelineName {
		return d, nil, invalid(fmt.Sprintf("deployment %d belongs to pipeline %q, not %q", to, d.Pipeline, pipelineName))
	}
	if d.ProductionAt == nil {
		return d, nil, invalid(fmt.Sprintf("deployment %d never reached production (status %s); choose one that did", to, d.Status))
	}
	var plan pipeline.Plan
	if err := json.Unmarshal(d.Plan, &plan); err != nil {
		return d, nil, fmt.Errorf("decode plan of deployment %d: %w", to, err)
	}
	if plan.ProductionNamespace == "" {
		return d, nil, invalid(fmt.Sprintf("deployment %d has no production namespace", to))
	}
	return d, &plan, nil
}

// PreviewRollback shows what rolling back to deployment `to` would change
// in production, against what is live there now.
func (s *Service) PreviewRollback(ctx context.Context, pipelineName string, to int64, names []string) (v1alpha1.RollbackPreview, error) {
	d, plan, err := s.rollbackTarget(ctx, pipelineName, to)
	if err != nil {
		return v1alpha1.RollbackPreview{}, err
	}
	wave, skip, err := rollbackTargets(d, plan, names)
	if err != nil {
		return v1alpha1.RollbackPreview{}, err
	}
	target, err := s.view(ctx, d, nil)
	if err != nil {
		return v1alpha1.RollbackPreview{}, err
	}
	out := v1alpha1.RollbackPreview{Target: target, SkipsProduction: skip}
	if !skip {
		diff, err := s.diffProduction(ctx, d, plan)
		if err != nil {
			return v1alpha1.RollbackPreview{}, err
		}
		out.Live, out.Diff, out.Changed = diff.Live, diff.Diff, diff.Changed
	}
	if out.Targets, err = s.diffTargets(ctx, d, plan, wave); err != nil {
		return v1alpha1.RollbackPreview{}, err
	}
	return out, nil
}

// ProductionDiff shows what releasing deployment id would change in
// production: its manifests as production would get them against the
// objects there now. It reads the cluster and changes nothing; the console
// shows it before an approval.
func (s *Service) ProductionDiff(ctx context.Context, id int64) (v1alpha1.ProductionDiff, error) {
	d, err := s.row(ctx, id)
	if err != nil {
		return v1alpha1.ProductionDiff{}, err
	}
	var plan pipeline.Plan
	if err := json.Unmarshal(d.Plan, &plan); err != nil {
		return v1alpha1.ProductionDiff{}, fmt.Errorf("decode plan of deployment %d: %w", id, err)
	}
	if plan.ProductionNamespace == "" {
		return v1alpha1.ProductionDiff{}, invalid(fmt.Sprintf("deployment %d has no production release stage, so nothing to compare with production", id))
	}
	return s.diffProduction(ctx, d, &plan)
}

// diffProduction diffs deployment d's manifests (plan), as production
// would get them, against the live production namespace.
func (s *Service) diffProduction(ctx context.Context, d store.Deployment, plan *pipeline.Plan) (v1alpha1.ProductionDiff, error) {
	id := d.ID
	rp, err := routing.For(plan, redact.Opener(s.box, fmt.Sprintf("manifests of deployment %d", id)))
	if err != nil {
		return v1alpha1.ProductionDiff{}, fmt.Errorf("manifests of deployment %d: %w", id, err)
	}
	objs, err := rp.ProductionObjects()
	ns := plan.ProductionNamespace
	if plan.BlueGreen != nil {
		// The version users reach runs in the live slot.
		slot := s.liveSlot(ctx, d.Pipeline)
		objs, err = rp.SlotObjects(slot)
		ns = v1alpha1.SlotNamespace(plan.BlueGreen.Namespace, slot)
	}
	if err != nil {
		return v1alpha1.ProductionDiff{}, fmt.Errorf("manifests of deployment %d: %w", id, err)
	}
	c, _, err := s.clusters.Cluster(ctx, plan.Environment)
	if err != nil {
		return v1alpha1.ProductionDiff{}, fmt.Errorf("environment %q: %w", plan.Environment, err)
	}
	diff, err := c.Diff(ctx, ns, objs)
	if err != nil {
		return v1alpha1.ProductionDiff{}, fmt.Errorf("diff production against deployment %d: %w", id, err)
	}
	out := v1alpha1.ProductionDiff{Namespace: ns, Diff: diff.Text, Changed: diff.Changed}
	if live := s.liveID(ctx, d.Pipeline); live != 0 {
		out.Live = &live
	}
	return out, nil
}

// RollbackRole is the role the pipeline's rollback policy requires of who
// rolls it back (spec.rollback.requiredRole; approver by default).
func (s *Service) RollbackRole(ctx context.Context, pipelineName string) (auth.Role, error) {
	p, _, err := s.loadPipeline(ctx, pipelineName)
	if err != nil {
		return "", err
	}
	return auth.Role(p.Spec.RollbackRole()), nil
}

// Rollback starts a deployment that re-applies deployment `to`'s stored
// manifests to production and sets the canary weight to 0. The reason
// (optional) is recorded with it and in its first event.
func (s *Service) Rollback(ctx context.Context, pipelineName string, to int64, names []string, user, reason string) (v1alpha1.Deployment, error) {
	if err := checkReason(reason); err != nil {
		return v1alpha1.Deployment{}, err
	}
	d, plan, err := s.rollbackTarget(ctx, pipelineName, to)
	if err != nil {
		return v1alpha1.Deployment{}, err
	}
	if plan.BlueGreen != nil {
		if out, done, err := s.switchBackInWindow(ctx, pipelineName, to, user, reason); err != nil || done {
			return out, err
		}
	}
	wave, skip, err := rollbackTargets(d, plan, names)
	if err != nil {
		return v1alpha1.Deployment{}, err
	}
	current, gen, err := s.loadPipeline(ctx, pipelineName)
	if err != nil {
		return v1alpha1.Deployment{}, err
	}
	rb := &pipeline.Plan{
		Pipeline: pipelineName, PipelineGeneration: gen, Kind: v1alpha1.KindRollback,
		Environment: plan.Environment, Manifests: plan.Manifests, IngressName: plan.IngressName,
		CanaryNamespace: plan.CanaryNamespace, ProductionNamespace: plan.ProductionNamespace,
		RollbackTo: to, RollbackToNumber: d.Number, Reason: reason,
		CanaryRolloutTimeout: plan.CanaryRolloutTimeout, ProductionRolloutTimeout: plan.ProductionRolloutTimeout,
		RollbackTargets: wave, RollbackSkipsProduction: skip,
	}
	rt := plan.Routing()
	rb.Traffic = &rt
	rb.BlueGreen = rollbackBlueGreen(plan.BlueGreen, current)
	why := fmt.Sprintf("by %s: roll production back to deployment %s#%d (id %d, %s)", user, d.Pipeline, d.Number, d.ID, v1alpha1.DescribeParameters(d.Parameters))
	if reason != "" {
		why += ": " + reason
	}
	return s.create(ctx, rb, d.Parameters, user, why)
}

// decisionEvent is the event type recorded for a decision.
func decisionEvent(k v1alpha1.DecisionKind) string {
	if k == v1alpha1.DecisionReject {
		return "Rejected"
	}
	return "Approved"
}

// gate returns the approval settings of the named gate (an approval stage,
// or a canarySteps step waiting for people) of a deployment's plan (the
// pipeline as it was when the run was created); nil for the gate of a
// pause or an analysis, which one decision settles.
func gate(d store.Deployment, name string) (*v1alpha1.ApprovalStage, bool) {
	var plan pipeline.Plan
	if json.Unmarshal(d.Plan, &plan) != nil {
		return nil, false
	}
	return plan.Gate(name)
}

// sameIdentity reports whether an approver is who triggered a run. A run
// started by a GitHub webhook is triggered by "github:LOGIN", the sender
// of the event; it is the same person as a token named LOGIN.
func sameIdentity(approver, trigger string) bool {
	approver, trigger = auth.Canonical(approver), auth.Canonical(trigger)
	if approver == trigger {
		return true
	}
	login, ok := strings.CutPrefix(trigger, GitHubTriggerPrefix)
	return ok && approver == login
}
