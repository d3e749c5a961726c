package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/pipeline"
	"fledge.dev/fledge/internal/store"
	"fledge.dev/fledge/internal/traffic/routing"
)

// errLeaseLost stops a run whose lease another executor now holds.
var errLeaseLost = errors.New("lease lost")

// run is one claimed deployment being executed.
type run struct {
	e    *Executor
	d    store.Deployment
	plan *pipeline.Plan
	// routing is the plan's traffic provider, or routingErr why the plan
	// has none; the steps that need it fail with routingErr.
	routing    *routing.Plan
	routingErr error
	state      *pipeline.State
	log        *slog.Logger
	wake       chan struct{}
	// pending are events to write with the next state update; eventMu
	// guards it while a step works on several targets at once.
	pending []store.Event
	eventMu sync.Mutex
	// wakeAt, when set, is written as the deployment's WakeAt by the next
	// save (see park); otherwise save clears WakeAt.
	wakeAt *time.Time
	// decisionsSeen is how many decisions the last step read (an
	// approval's; see park).
	decisionsSeen int
}

func (e *Executor) execute(ctx context.Context, d store.Deployment, wake chan struct{}) {
	log := e.log.With("deployment_id", d.ID, "pipeline", d.Pipeline)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	renewDone := make(chan struct{})
	go func() {
		defer close(renewDone)
		e.renew(ctx, cancel, d.ID)
	}()

	r := &run{e: e, d: d, log: log, wake: wake}
	err := r.loop(ctx)
	// What ended the run, read before the run's own cancel below.
	stopped, leaseLost := stopping(ctx), errors.Is(context.Cause(ctx), errLeaseLost)
	cancel(nil)
	<-renewDone
	switch {
	case err == nil:
	case errors.Is(err, errLeaseLost) || leaseLost:
		e.cfg.Observer.LeaseLost(d.ID)
		log.Warn("lease lost; another executor continues the deployment")
		return
	case stopped:
		log.Info("paused by shutdown; its lease is released and it resumes at the recorded step")
	default:
		log.Error("deployment execution interrupted; it resumes after the lease expires", "error", err)
	}
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer rcancel()
	if err := e.cfg.Store.ReleaseLease(rctx, d.ID, e.cfg.Owner); err != nil {
		log.Warn("release lease", "error", err)
	}
}

// renew keeps the lease alive; when it is lost the run's context ends.
func (e *Executor) renew(ctx context.Context, cancel context.CancelCauseFunc, id int64) {
	t := time.NewTicker(e.cfg.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := e.cfg.Store.RenewLease(ctx, id, e.cfg.Owner, e.cfg.LeaseTTL)
		if errors.Is(err, store.ErrLeaseLost) {
			cancel(errLeaseLost)
			return
		}
		if err != nil && ctx.Err() == nil {
			e.log.Warn("renew lease", "deployment_id", id, "error", err)
		}
	}
}

func (r *run) now() time.Time { return r.e.cfg.Clock().UTC() }

func (r *run) hook(point string) {
	if r.e.cfg.Hook != nil {
		r.e.cfg.Hook(point)
	}
}

// event queues an event for the next state update.
func (r *run) event(stage, typ, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.eventMu.Lock()
	defer r.eventMu.Unlock()
	r.pending = append(r.pending, store.Event{
		DeploymentID: r.d.ID, Time: r.now(), Stage: stage, Type: typ, Message: msg,
	})
	r.log.Info(msg, "stage", stage, "event", typ)
}

// notification is what an event of type typ notifies; the store writes it
// to the outbox with the event. A batch delay of zero is no pause. It is
// decided when the event is saved, with the state the step's result made.
func (r *run) notification(typ string) v1alpha1.NotificationEvent {
	n := v1alpha1.NotificationFor(v1alpha1.DeploymentKind(r.d.Kind), typ)
	if n == v1alpha1.NotifyPaused && (r.state == nil || r.state.NextBatchAt == nil || !r.state.NextBatchAt.After(r.now())) {
		return ""
	}
	return n
}

// save persists the state and queued events atomically.
func (r *run) save(ctx context.Context) error {
	st, err := json.Marshal(r.state)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	d := r.d
	d.State = st
	d.Status = string(r.state.Status())
	d.WakeAt = r.wakeAt
	if r.state.Final != nil && d.EndedAt == nil {
		now := r.now()
		d.EndedAt = &now
	}
	for i := range r.pending {
		if r.pending[i].Notify == "" {
			r.pending[i].Notify = string(r.notification(r.pending[i].Type))
		}
	}
	var lastErr error
	for attempt := 0; attempt < 8; attempt++ {
		nd, err := r.e.cfg.Store.UpdateDeployment(ctx, d, r.e.cfg.Owner, r.pending...)
		if err == nil {
			r.e.cfg.Observer.Recorded(nd, r.pending)
			r.d = nd
			r.pending = nil
			return nil
		}
		if errors.Is(err, store.ErrLeaseLost) || errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("save deployment %d: %w", d.ID, errLeaseLost)
		}
		lastErr = err
		if sleep(ctx, backoff(attempt)) != nil {
			break
		}
	}
	return fmt.Errorf("save deployment %d: %w", d.ID, lastErr)
}

func (r *run) loop(ctx context.Context) error {
	if err := r.load(); err != nil {
		return err
	}
	if r.d.StartedAt == nil {
		if err := r.begin(ctx); err != nil {
			return err
		}
	} else {
		r.log.Info("resuming deployment", "step", r.state.Next(r.plan).Step, "stage", r.state.CurrentStageName())
	}
	for r.state.Final == nil {
		stop, err := r.step(ctx)
		if err != nil || stop {
			return err
		}
	}
	return nil
}

// load decodes the deployment's plan and state.
func (r *run) load() error {
	plan := &pipeline.Plan{}
	if err := json.Unmarshal(r.d.Plan, plan); err != nil {
		return fmt.Errorf("decode plan of deployment %d: %w", r.d.ID, err)
	}
	r.plan = plan
	r.routing, r.routingErr = routing.For(plan, r.e.opener(r.d.ID))
	if len(r.d.State) == 0 {
		r.state = pipeline.NewState(plan)
		return nil
	}
	r.state = &pipeline.State{}
	if err := json.Unmarshal(r.d.State, r.state); err != nil {
		return fmt.Errorf("decode state of deployment %d: %w", r.d.ID, err)
	}
	return nil
}

// begin records the start of a deployment, or its end when it was
// cancelled before it started.
func (r *run) begin(ctx context.Context) error {
	now := r.now()
	if r.d.CancelRequested {
		// Never started: nothing to undo, and it keeps no start time.
		r.state.Finish(v1alpha1.StatusCancelled, "cancelled before it started", now)
		r.event("", "DeploymentCancelled", "deployment %s#%d cancelled before it started", r.d.Pipeline, r.d.Number)
		return r.save(ctx)
	}
	r.d.StartedAt = &now
	r.event("", "DeploymentStarted", "deployment %s#%d (id %d) started (%s)", r.d.Pipeline, r.d.Number, r.d.ID, v1alpha1.DescribeParameters(r.d.Parameters))
	return r.save(ctx)
}

// step performs the next step and records its result. stop says the run
// ends here: there is nothing left to do, or it parked.
func (r *run) step(ctx context.Context) (stop bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, context.Cause(ctx)
	}
	if err := r.checkCancel(ctx); err != nil {
		return false, err
	}
	if err := r.checkPromote(ctx); err != nil {
		return false, err
	}
	a := r.state.Next(r.plan)
	if a.Step == pipeline.StepDone {
		return true, nil
	}
	if r.state.Start(r.now()) {
		r.event(a.StageName, "StageStarted", "stage %s (%s) started", a.StageName, r.plan.StageType(a.StageIndex))
	}
	if res, handled, err := r.background(ctx, a); err != nil || handled {
		if err != nil && ctx.Err() != nil {
			return false, context.Cause(ctx)
		}
		return r.record(ctx, a, res, err)
	} else if res.changes() || len(r.pending) > 0 {
		r.update(res)
		if err := r.save(ctx); err != nil {
			return false, err
		}
	}
	r.hook("before:" + string(a.Step))
	started := time.Now()
	res, err := r.perform(ctx, a)
	r.e.cfg.Observer.Step(string(a.Step), stepOutcome(res, err), time.Since(started))
	if err != nil && ctx.Err() != nil {
		return false, context.Cause(ctx)
	}
	if errors.Is(err, errLeaseLost) {
		return false, err
	}
	return r.record(ctx, a, res, err)
}

// record is the one place where a step's outcome becomes the run's state:
// a failure ends the run (or the finishing step), a finished run goes on
// to its finishing steps, a waiting step is saved and waited for (or the
// run parks), and a completed step moves the state machine on.
func (r *run) record(ctx context.Context, a pipeline.Action, res result, stepErr error) (stop bool, err error) {
	switch {
	case stepErr != nil:
		r.update(res)
		r.fail(a, stepErr)
		return false, r.save(ctx)
	case res.finish != nil:
		r.update(res)
		return false, r.save(ctx)
	case res.wait:
		return r.wait(ctx, a, res)
	}
	r.hook("done:" + string(a.Step))
	if r.state.Complete(r.plan, a, r.now()) {
		r.event(a.StageName, "StageSucceeded", "stage %s succeeded", a.StageName)
	}
	r.update(res)
	if r.state.Final != nil {
		r.finalEvent()
	}
	if err := r.save(ctx); err != nil {
		return false, err
	}
	r.hook("after:" + string(a.Step))
	return false, nil
}

// update writes what a step changed into the state and the deployment;
// the next save persists it.
func (r *run) update(res result) {
	r.decisionsSeen = res.decisions
	if res.weight != nil {
		r.state.Weight = *res.weight
	}
	if res.nextBatchAt != nil {
		r.state.NextBatchAt = res.nextBatchAt
	}
	if res.analysis != nil {
		r.state.SetAnalysis(*res.analysis)
	}
	if res.noProduction {
		r.state.NoProduction = true
	}
	if res.backgroundAccepted {
		r.state.BackgroundAccepted = true
	}
	if res.approvalDeadline != nil || res.gate != "" {
		r.state.Wait(res.gate, res.approvalDeadline)
	}
	if res.productionAt != nil {
		r.d.ProductionAt = res.productionAt
	}
	if res.productionCleared {
		r.d.ProductionAt = nil
	}
	if res.blueGreen != nil {
		r.state.BlueGreen = res.blueGreen
	}
	if res.productionWithdrawn {
		r.d.ProductionAt = nil
	}
	if res.targets != nil {
		r.state.Targets = res.targets
	}
	if res.productionPrevious != 0 {
		r.state.ProductionPrevious = res.productionPrevious
	}
	if res.finish != nil {
		r.state.Finish(res.finish.Status, res.finish.Message, r.now())
	}
}

// wait handles a step that is not done: an approval that is far off parks
// the run; otherwise what changed is saved and the run sleeps until woken,
// polled, or the wait's own deadline.
func (r *run) wait(ctx context.Context, a pipeline.Action, res result) (stop bool, err error) {
	r.update(res)
	if due := r.backgroundDue(a); !due.IsZero() && (res.until.IsZero() || due.Before(res.until)) {
		// Measure the background analysis while the step waits.
		res.until = due
	}
	if r.parks(res.until) {
		parked, err := r.park(ctx, res.until)
		if parked {
			r.e.notifyAt(res.until)
		}
		return parked, err
	}
	if len(r.pending) > 0 || res.changes() {
		if err := r.save(ctx); err != nil {
			return false, err
		}
	}
	return false, r.sleep(ctx, res.until)
}

func (r *run) finalEvent() {
	f := r.state.Final
	msg := f.Message
	if msg == "" {
		msg = "all stages succeeded"
	}
	r.event("", "Deployment"+string(f.Status), "deployment %s#%d %s: %s", r.d.Pipeline, r.d.Number, strings.ToLower(string(f.Status)), msg)
}

// fail records a failed step: a stage step ends the run as Failed; a
// finishing step records the failure and the remaining finishing steps run.
func (r *run) fail(a pipeline.Action, err error) {
	msg := err.Error()
	if a.StageIndex >= 0 {
		msg = fmt.Sprintf("stage %s failed at %s: %s", a.StageName, a.Step, msg)
		r.event(a.StageName, "StageFailed", "%s", msg)
		r.state.Finish(v1alpha1.StatusFailed, msg, r.now())
		return
	}
	msg = fmt.Sprintf("%s failed: %s", a.Step, msg)
	r.event("", "FinishingStepFailed", "%s", msg)
	r.state.FinishingFailed(a, msg)
	if r.state.Final != nil {
		r.finalEvent()
	}
}

func (r *run) checkCancel(ctx context.Context) error {
	if r.state.Finishing != nil {
		return nil
	}
	d, err := r.e.cfg.Store.GetDeployment(ctx, r.d.ID)
	if err != nil {
		return fmt.Errorf("reload deployment %d: %w", r.d.ID, err)
	}
	if d.LeaseOwner != r.e.cfg.Owner {
		return errLeaseLost
	}
	if !d.CancelRequested {
		return nil
	}
	r.d.CancelRequested = true
	undo := "undoing the canary"
	if r.plan.BlueGreen != nil {
		undo = "switching back if the switch happened, and removing the new slot"
	}
	r.event(r.state.CurrentStageName(), "CancelRequested", "cancellation requested; %s", undo)
	r.state.Finish(v1alpha1.StatusCancelled, "cancelled on request", r.now())
	return r.save(ctx)
}

// checkPromote skips what is left before the production release once a
// person promoted the deployment (a Promote decision, fledge promote).
func (r *run) checkPromote(ctx context.Context) error {
	prod := r.plan.ProductionStage()
	if r.state.Finishing != nil || r.state.Final != nil || prod < 0 || r.state.Stage >= prod {
		return nil
	}
	ds, err := r.e.cfg.Store.ListDecisions(ctx, r.d.ID)
	if err != nil {
		return fmt.Errorf("list decisions: %w", err)
	}
	d := r.promotion(ds)
	if d == nil {
		return nil
	}
	msg := "promoted by " + d.User
	if d.Reason != "" {
		msg += ": " + d.Reason
	}
	from := r.state.CurrentStageName()
	if !r.state.Promote(r.plan, msg, r.now()) {
		return nil
	}
	r.event(from, "Promoted", "%s; the steps left before %s are skipped and the canary, at %d%%, goes to production",
		msg, r.plan.StageName(prod), r.state.Weight)
	return r.save(ctx)
}

// promotion returns the promotion among ds that the run has still to act
// on (it is before its production release), or nil.
func (r *run) promotion(ds []store.Decision) *store.Decision {
	prod := r.plan.ProductionStage()
	if r.state.Finishing != nil || r.state.Final != nil || prod < 0 || r.state.Stage >= prod {
		return nil
	}
	for i := range ds {
		if ds[i].Stage == v1alpha1.PromoteGate && ds[i].Decision == string(v1alpha1.DecisionPromote) {
			return &ds[i]
		}
	}
	return nil
}

// parks reports whether a wait until until ends the run for now (see
// park): one for people longer than two polls, or any other (a pause, the
// next measurement of an analysis, a batch delay, the scale down delay of
// blue/green) longer than the lease. Shorter waits keep the run, its
// lease and its slot.
func (r *run) parks(until time.Time) bool {
	left := until.Sub(r.now())
	if r.state.Status() == v1alpha1.StatusWaitingForApproval {
		return left > 2*r.e.cfg.PollInterval
	}
	return left > r.e.cfg.LeaseTTL
}

// park ends the run while it waits for people or for time, so that a
// waiting deployment holds neither a lease nor one of the MaxRunning slots
// for minutes or hours (and a replica that dies holds none of them either):
// it saves the state with WakeAt = until and the caller releases the
// lease. A decision or a cancellation pulls WakeAt to now (store.AddDecision,
// store.RequestCancel) and notifies the executor, which claims the
// deployment again; otherwise the claim loop takes it at until.
//
// One race is closed here: a decision recorded after awaitApproval read the
// decisions but before WakeAt was saved found no WakeAt to pull forward. So
// after saving, still holding the lease, park looks again and, if anything
// arrived, saves again without WakeAt and does not park.
func (r *run) park(ctx context.Context, until time.Time) (parked bool, err error) {
	r.wakeAt = &until
	err = r.save(ctx)
	r.wakeAt = nil
	if err != nil {
		return false, err
	}
	ds, err := r.e.cfg.Store.ListDecisions(ctx, r.d.ID)
	if err != nil {
		return false, fmt.Errorf("list decisions: %w", err)
	}
	d, err := r.e.cfg.Store.GetDeployment(ctx, r.d.ID)
	if err != nil {
		return false, fmt.Errorf("reload deployment %d: %w", r.d.ID, err)
	}
	if len(ds) != r.decisionsSeen || d.CancelRequested || r.promotion(ds) != nil {
		// Clear WakeAt at once: a server that died before its next save
		// would otherwise leave a decided deployment parked until the
		// approval deadline, since the decision found no WakeAt to pull.
		return false, r.save(ctx)
	}
	r.log.Debug("parked until a decision or the approval deadline", "wake_at", until)
	return true, nil
}

// sleep waits until woken, until, or one poll interval.
func (r *run) sleep(ctx context.Context, until time.Time) error {
	d := r.e.cfg.PollInterval
	if !until.IsZero() {
		if left := until.Sub(r.now()); left < d {
			d = left
		}
	}
	if d < 0 {
		d = 0
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-r.wake:
	case <-t.C:
	}
	return nil
}

// stopping reports whether ctx ended because the executor is stopping (a
// Stop, or the server's context ending on a signal), not because of a
// failure.
func stopping(ctx context.Context) bool {
	cause := context.Cause(ctx)
	return errors.Is(cause, errStopped) || errors.Is(cause, context.Canceled)
}

func stepOutcome(res result, err error) string {
	switch {
	case err != nil:
		return "error"
	case res.wait || res.finish != nil:
		return "wait"
	}
	return "ok"
}

func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(d)))
}

func backoff(attempt int) time.Duration {
	d := 100 * time.Millisecond << attempt
	if d > 5*time.Second {
		d = 5 * time.Second
	}
	return d/2 + jitter(d/2)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
