package executor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/kube"
	"fledge.dev/fledge/internal/pipeline"
	"fledge.dev/fledge/internal/store"
	"fledge.dev/fledge/internal/traffic"
	"fledge.dev/fledge/internal/traffic/routing"
)

// result is what a step changed besides the cluster. Steps read the run
// (plan, state, deployment) and queue events, but never write the state
// or the deployment: the run loop records a result in one place
// (run.record), after the state machine's own bookkeeping.
type result struct {
	// wait says the step is not done: it is looked at again when woken,
	// polled, or at until at the latest (zero: the next poll).
	wait  bool
	until time.Time
	// finish ends the run (rejected, approval timed out); the finishing
	// steps run next.
	finish *pipeline.Outcome
	// weight is the canary weight in place after the step when it is not
	// the one the state machine assumes: a SetWeight kept at 0 (no
	// production to split with), a promotion to 100 before production.
	weight *int
	// nextBatchAt starts a batch delay.
	nextBatchAt *time.Time
	// approvalDeadline opens an approval: its stage waits until then.
	approvalDeadline *time.Time
	// productionAt is when production began to run this deployment.
	productionAt *time.Time
	// decisions is how many decisions an approval step read (see park).
	decisions int
	// gate opens a wait for people at this gate (with approvalDeadline,
	// or without a timeout).
	gate string
	// analysis is the new progress of the step's analysis, and
	// measurements what it measured (stored with the state).
	analysis     *v1alpha1.AnalysisRun
	measurements []v1alpha1.Measurement
	// backgroundAccepted: a person let the stage go on after its
	// background analysis was inconclusive.
	backgroundAccepted bool
	// noProduction: a weight was kept at 0, production had nothing to
	// split with.
	noProduction bool
	// blueGreen is the new blue/green status; productionCleared says
	// production no longer runs this deployment (switched back).
	blueGreen         *v1alpha1.BlueGreenStatus
	productionCleared bool
	// targets is the new progress of the production targets (waves).
	targets []v1alpha1.TargetState
	// productionPrevious is the deployment production ran before this
	// run applied to it; productionWithdrawn says production was given it
	// back after this run had released it (a rollback of every wave).
	productionPrevious  int64
	productionWithdrawn bool
}

// changes says whether recording res changes the state or the deployment.
func (res result) changes() bool {
	return res.finish != nil || res.weight != nil || res.nextBatchAt != nil ||
		res.approvalDeadline != nil || res.productionAt != nil || res.gate != "" ||
		res.analysis != nil || res.backgroundAccepted || res.noProduction ||
		res.blueGreen != nil || res.productionCleared ||
		res.targets != nil || res.productionPrevious != 0 || res.productionWithdrawn
}

// stepFunc performs action a of run r and returns what it changed. A step
// may be performed again after a crash, so it must be safe to repeat: its
// Kubernetes writes are server-side applies and weights are read back.
type stepFunc func(ctx context.Context, r *run, a pipeline.Action) (result, error)

// stepFuncs performs each step of the state machine. A new kind of step is
// a pipeline.Step, its place in the stage's steps (pipeline), and its
// function here.
var stepFuncs = map[pipeline.Step]stepFunc{
	pipeline.StepApplyCanary:       applyCanary,
	pipeline.StepWaitCanary:        waitCanary,
	pipeline.StepSetWeight:         setWeight,
	pipeline.StepBatchDelay:        batchDelay,
	pipeline.StepPause:             pause,
	pipeline.StepAnalysis:          analysis,
	pipeline.StepBackgroundEnd:     backgroundEnd,
	pipeline.StepOpenApproval:      openApproval,
	pipeline.StepAwaitApproval:     awaitApproval,
	pipeline.StepApplyProduction:   applyProduction,
	pipeline.StepWaitProduction:    waitProduction,
	pipeline.StepRestoreProduction: restoreProduction,
	pipeline.StepResetWeight:       resetWeight,
	pipeline.StepChooseSlot:        chooseSlot,
	pipeline.StepApplyNew:          applyNew,
	pipeline.StepWaitNew:           waitNew,
	pipeline.StepSwitchTraffic:     switchTraffic,
	pipeline.StepKeepPrevious:      keepPrevious,
	pipeline.StepScaleDownPrevious: scaleDownPrevious,
	pipeline.StepSwitchBack:        switchBack,
	pipeline.StepRemoveNew:         removeNew,
	pipeline.StepApplyTargets:      applyTargets,
	pipeline.StepWaitTargets:       waitTargets,
	pipeline.StepRestoreTargets:    restoreTargets,
}

// perform runs the function of a's step.
func (r *run) perform(ctx context.Context, a pipeline.Action) (result, error) {
	f, ok := stepFuncs[a.Step]
	if !ok {
		return result{}, fmt.Errorf("unknown step %q", a.Step)
	}
	return f(ctx, r, a)
}

func applyCanary(ctx context.Context, r *run, a pipeline.Action) (result, error) {
	objs, err := r.objects(true)
	if err != nil {
		return result{}, err
	}
	if err := r.checkPrerequisites(ctx); err != nil {
		return result{}, err
	}
	return result{}, r.apply(ctx, a.StageName, r.canary(), objs)
}

// checkPrerequisites makes sure the cluster can run the plan's traffic
// provider before anything is applied: the Gateway API provider needs the
// Gateway API CRDs (HTTPRoute), which a cluster does not have by default.
func (r *run) checkPrerequisites(ctx context.Context) error {
	rt := r.plan.Routing()
	if rt.Provider != v1alpha1.TrafficProviderGatewayAPI || r.plan.ProductionNamespace == "" {
		return nil
	}
	c, _, err := r.cluster(ctx, r.plan.Environment)
	if err != nil {
		return err
	}
	route := &unstructured.Unstructured{}
	route.SetAPIVersion("gateway.networking.k8s.io/v1")
	route.SetKind("HTTPRoute")
	route.SetName(rt.HTTPRoute)
	_, err = c.Get(ctx, r.plan.ProductionNamespace, route)
	var unknown *kube.UnknownKindError
	if errors.As(err, &unknown) {
		return fmt.Errorf("environment %s has no Gateway API CRDs (kind HTTPRoute of gateway.networking.k8s.io/v1 is unknown), which httpRouteName needs: install them in the cluster, or use ingressName; nothing was applied", r.plan.Environment)
	}
	return nil
}

func waitCanary(ctx context.Context, r *run, a pipeline.Action) (result, error) {
	objs, err := r.objects(true)
	if err != nil {
		return result{}, err
	}
	if err := r.waitRollout(ctx, a.StageName, r.canary(), objs, r.plan.CanaryRolloutTimeout); err != nil {
		return result{}, err
	}
	if err := r.waitCanaryEndpoints(ctx, a.StageName, objs); err != nil {
		return result{}, err
	}
	return result{}, r.openHeaderRoute(ctx, a.StageName)
}

func setWeight(ctx context.Context, r *run, a pipeline.Action) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, r.e.cfg.StepTimeout)
	defer cancel()
	err := r.route(ctx, a.StageName, a.Weight)
	if errors.Is(err, traffic.ErrNoProduction) {
		// Detectable but not fatal: the first release has no production
		// to split with. Say so and keep the weight at 0.
		r.event(a.StageName, "WeightKept", "canary weight kept at 0%% instead of %d%% (batch %d of %d): %v",
			a.Weight, a.Batch, a.Batches, err)
		return result{weight: new(int), noProduction: true}, nil
	}
	if err != nil {
		return result{}, err
	}
	r.event(a.StageName, "WeightSet", "canary weight set to %d%% (batch %d of %d) on %s, read back %d",
		a.Weight, a.Batch, a.Batches, r.routeName(), a.Weight)
	return result{}, nil
}

func batchDelay(_ context.Context, r *run, a pipeline.Action) (result, error) {
	if at := r.state.NextBatchAt; at != nil {
		if r.now().Before(*at) {
			return result{wait: true, until: *at}, nil
		}
		return result{}, nil
	}
	delay := r.plan.Stages[a.StageIndex].ShiftTraffic.BatchDelay.Or(0)
	at := r.now().Add(delay)
	r.event(a.StageName, "BatchDelay", "next batch at %s (delay %s)", at.Format(time.RFC3339), delay)
	return result{wait: true, until: at, nextBatchAt: &at}, nil
}

func openApproval(_ context.Context, r *run, a pipeline.Action) (result, error) {
	ap := r.plan.ApprovalOf(a)
	deadline := r.now().Add(ap.Timeout.Or(v1alpha1.DefaultApprovalTimeout))
	r.event(a.GateOf(), "WaitingForApproval", "waiting for %d approval(s); times out at %s",
		approvalsRequired(ap), deadline.Format(time.RFC3339))
	return result{approvalDeadline: &deadline, gate: a.GateOf()}, nil
}

// awaitApproval counts the approval's decisions: a rejection ends the
// run, enough approvals complete the step, and a passed deadline ends the
// run as failed; otherwise it waits (the loop parks the run).
func awaitApproval(ctx context.Context, r *run, a pipeline.Action) (result, error) {
	ap := r.plan.ApprovalOf(a)
	return r.awaitGate(ctx, a, approvalsRequired(ap), ap.Timeout.Or(v1alpha1.DefaultApprovalTimeout))
}

func approvalsRequired(ap *v1alpha1.ApprovalStage) int {
	if ap.ApprovalsRequired < 1 {
		return v1alpha1.DefaultApprovalsRequired
	}
	return ap.ApprovalsRequired
}

// applyProduction promotes a canary that has a share of the requests to
// all of them (see promoteCanary), then applies production's manifests.
// While the canary holds every request, production takes none during its
// rollout, so its Deployments roll out at full surge, like the canary's:
// every new pod starts at once instead of a quarter at a time.
func applyProduction(ctx context.Context, r *run, a pipeline.Action) (result, error) {
	objs, err := r.objects(false)
	if err != nil {
		return result{}, err
	}
	var res result
	if r.state.RollbackAll && r.state.ProductionPrevious == 0 && r.plan.Kind != v1alpha1.KindRollback {
		// A failed wave gives production back what it runs now.
		if live, err := r.e.cfg.Store.LiveDeploymentID(ctx, r.d.Pipeline); err == nil && live != r.d.ID {
			res.productionPrevious = live
		} else if err != nil && !errors.Is(err, store.ErrNotFound) {
			return result{}, fmt.Errorf("find the live deployment: %w", err)
		}
	}
	release := r.plan.Kind != v1alpha1.KindRollback
	if !release || r.state.Weight == 0 || r.state.Weight == 100 || r.plan.CanaryScale != nil {
		if release && r.state.Weight > 0 && r.state.Weight < 100 {
			res.weight = r.promoteCanary(ctx, a.StageName) // says why not
		}
		if release && r.state.Weight == 100 {
			if objs, err = surge(objs); err != nil {
				return res, err
			}
		}
		if objs, err = r.keepCanary(ctx, objs, false); err != nil {
			return res, err
		}
		return res, r.apply(ctx, a.StageName, r.production(), objs)
	}
	surged, err := surge(objs)
	if err != nil {
		return res, err
	}
	// Production's manifests are read and dry-run while the canary is
	// promoted: nothing is written to production before the canary holds
	// every request, and the checks cost the release no time of their own.
	type prep struct {
		p   *preparedApply
		err error
	}
	checked := make(chan prep, 1)
	go func() {
		kept, err := r.keepCanary(ctx, surged, true)
		if err != nil {
			checked <- prep{nil, err}
			return
		}
		p, err := r.prepare(ctx, a.StageName, r.production(), kept)
		checked <- prep{p, err}
	}()
	res.weight = r.promoteCanary(ctx, a.StageName)
	c := <-checked
	if res.weight == nil {
		// Not promoted: production keeps its manifests' own surge while
		// the canary has its share.
		if objs, err = r.keepCanary(ctx, objs, false); err != nil {
			return res, err
		}
		return res, r.apply(ctx, a.StageName, r.production(), objs)
	}
	if c.err != nil {
		return res, c.err
	}
	return res, c.p.commit(ctx, a.StageName)
}

// keepCanary returns production's objects in the form that keeps the
// requests the canary has while production is applied, read from the
// cluster (routing.Plan.KeepCanary); promoted writes every request to the
// canary, which the promotion running meanwhile gives it.
func (r *run) keepCanary(ctx context.Context, objs []*unstructured.Unstructured, promoted bool) ([]*unstructured.Unstructured, error) {
	at := r.production()
	c, _, err := r.cluster(ctx, at.env)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.e.cfg.StepTimeout)
	defer cancel()
	return r.routing.KeepCanary(ctx, objs, func(ctx context.Context, o *unstructured.Unstructured) (*unstructured.Unstructured, error) {
		live, err := c.Get(ctx, at.ns, o)
		var unknown *kube.UnknownKindError
		if apierrors.IsNotFound(err) || errors.As(err, &unknown) {
			return nil, nil
		}
		return live, err
	}, promoted)
}

// surge returns a copy of objs whose Deployments roll out at full surge.
func surge(objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	objs = slices.Clone(objs)
	if err := routing.SurgeCanary(objs); err != nil {
		return nil, err
	}
	return objs, nil
}

// waitProduction waits for production's rollout and, when the canary holds
// every request, for production's endpoints to settle.
func waitProduction(ctx context.Context, r *run, a pipeline.Action) (result, error) {
	objs, err := r.objects(false)
	if err != nil {
		return result{}, err
	}
	if err := r.waitRollout(ctx, a.StageName, r.production(), objs, r.plan.ProductionRolloutTimeout); err != nil {
		return result{}, err
	}
	if r.state.Weight == 100 {
		if err := r.waitProductionEndpoints(ctx, a.StageName, objs); err != nil {
			return result{}, err
		}
	}
	now := r.now()
	what := v1alpha1.DescribeParameters(r.d.Parameters)
	if r.plan.Kind == v1alpha1.KindRollback {
		what = fmt.Sprintf("the manifests of deployment %d", r.plan.RollbackTo)
	}
	r.event(a.StageName, "ProductionReleased", "production namespace %s now runs deployment %s#%d (%s)", r.plan.ProductionNamespace, r.d.Pipeline, r.d.Number, what)
	return result{productionAt: &now}, nil
}

func restoreProduction(ctx context.Context, r *run, _ pipeline.Action) (result, error) {
	if r.state.ProductionDone {
		// Released, then a later wave failed and every target rolls back.
		return r.withdrawProduction(ctx)
	}
	return result{}, r.restoreProduction(ctx)
}

func resetWeight(ctx context.Context, r *run, _ pipeline.Action) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, r.e.cfg.FinishTimeout)
	defer cancel()
	router, err := r.router(ctx, "")
	if err != nil {
		return result{}, err
	}
	// Say only what was done: a canary whose route was never created (its
	// manifests were refused) had no weight to reset.
	_, werr := router.Weight(ctx)
	if err := router.Reset(ctx); err != nil {
		return result{}, fmt.Errorf("send all requests to production: %w", err)
	}
	var unknown *kube.UnknownKindError
	if errors.Is(werr, traffic.ErrRouteNotFound) || errors.As(werr, &unknown) {
		r.event("", "WeightUnchanged", "%s does not exist: no request was sent to the canary, there is no weight to reset", r.routeName())
		return result{}, nil
	}
	if r.state.NoProduction && r.state.Weight == 0 {
		r.event("", "WeightUnchanged", "canary weight still 0%% on %s: it was kept at 0 with no production to split with, so no request was sent to the canary by weight", r.routeName())
		return result{}, nil
	}
	r.event("", "WeightSet", "canary weight set to 0%% on %s, read back 0", r.routeName())
	return result{}, nil
}
