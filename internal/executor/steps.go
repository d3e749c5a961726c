package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/auth"
	"fledge.dev/fledge/internal/clusters"
	"fledge.dev/fledge/internal/kube"
	"fledge.dev/fledge/internal/pipeline"
	"fledge.dev/fledge/internal/store"
	"fledge.dev/fledge/internal/traffic"
	"fledge.dev/fledge/internal/traffic/routing"
)

// stepResult says whether a step finished or must be waited on.
type stepResult struct {
	wait bool
	// until is when a waiting step should be looked at again at the latest.
	until time.Time
	// dirty is set when the step changed the state while waiting.
	dirty bool
	// weight, when set, is the canary weight really in place after a
	// SetWeight step that could not give the canary its target weight.
	weight *int
}

var done = stepResult{}

func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(d)))
}

func (r *run) do(ctx context.Context, a pipeline.Action) (stepResult, error) {
	p := r.plan
	switch a.Step {
	case pipeline.StepApplyCanary:
		objs, err := r.objects(true)
		if err != nil {
			return done, err
		}
		return done, r.apply(ctx, a.StageName, p.CanaryNamespace, objs, "canary")
	case pipeline.StepWaitCanary:
		objs, err := r.objects(true)
		if err != nil {
			return done, err
		}
		if err := r.waitRollout(ctx, a.StageName, p.CanaryNamespace, objs, p.CanaryRolloutTimeout); err != nil {
			return done, err
		}
		return done, r.openHeaderRoute(ctx, a.StageName)
	case pipeline.StepSetWeight:
		ctx, cancel := context.WithTimeout(ctx, r.e.cfg.StepTimeout)
		defer cancel()
		err := r.setWeight(ctx, a.StageName, a.Weight)
		if errors.Is(err, traffic.ErrNoProduction) {
			// Detectable but not fatal: the first release has no
			// production to split with. Say so and keep the weight at 0.
			r.event(a.StageName, "WeightKept", "canary weight kept at 0%% instead of %d%% (batch %d of %d): %v",
				a.Weight, a.Batch, a.Batches, err)
			zero := 0
			return stepResult{weight: &zero}, nil
		}
		if err != nil {
			return done, err
		}
		r.event(a.StageName, "WeightSet", "canary weight set to %d%% (batch %d of %d) on %s, read back %d",
			a.Weight, a.Batch, a.Batches, r.routeName(), a.Weight)
		return done, nil
	case pipeline.StepBatchDelay:
		st := p.Stages[a.StageIndex].ShiftTraffic
		if r.state.NextBatchAt == nil {
			at := r.now().Add(st.BatchDelay.Or(0))
			r.state.NextBatchAt = &at
			r.event(a.StageName, "BatchDelay", "next batch at %s (delay %s)", at.Format(time.RFC3339), st.BatchDelay.Or(0))
			return stepResult{wait: true, until: at, dirty: true}, nil
		}
		if r.now().Before(*r.state.NextBatchAt) {
			return stepResult{wait: true, until: *r.state.NextBatchAt}, nil
		}
		return done, nil
	case pipeline.StepOpenApproval:
		ap := p.Stages[a.StageIndex].Approval
		timeout := ap.Timeout.Or(v1alpha1.DefaultApprovalTimeout)
		deadline := r.now().Add(timeout)
		r.state.Wait(deadline)
		r.event(a.StageName, "WaitingForApproval", "waiting for %d approval(s); times out at %s",
			approvalsRequired(ap), deadline.Format(time.RFC3339))
		return done, nil
	case pipeline.StepAwaitApproval:
		return r.awaitApproval(ctx, a)
	case pipeline.StepApplyProduction:
		objs, err := r.objects(false)
		if err != nil {
			return done, err
		}
		if p.Kind != v1alpha1.KindRollback && r.state.Weight > 0 && r.state.Weight < 100 {
			r.promoteCanary(ctx, a.StageName)
		}
		return done, r.apply(ctx, a.StageName, p.ProductionNamespace, objs, "production")
	case pipeline.StepWaitProduction:
		objs, err := r.objects(false)
		if err != nil {
			return done, err
		}
		if err := r.waitRollout(ctx, a.StageName, p.ProductionNamespace, objs, p.ProductionRolloutTimeout); err != nil {
			return done, err
		}
		if r.state.Weight == 100 {
			if err := r.waitProductionEndpoints(ctx, a.StageName, objs); err != nil {
				return done, err
			}
		}
		now := r.now()
		r.d.ProductionAt = &now
		what := v1alpha1.DescribeParameters(r.d.Parameters)
		if p.Kind == v1alpha1.KindRollback {
			what = fmt.Sprintf("the manifests of deployment %d", p.RollbackTo)
		}
		r.event(a.StageName, "ProductionReleased", "production namespace %s now runs deployment %s#%d (%s)", p.ProductionNamespace, r.d.Pipeline, r.d.Number, what)
		return done, nil
	case pipeline.StepRestoreProduction:
		return done, r.restoreProduction(ctx)
	case pipeline.StepResetWeight:
		ctx, cancel := context.WithTimeout(ctx, r.e.cfg.FinishTimeout)
		defer cancel()
		router, err := r.router(ctx, "")
		if err != nil {
			return done, err
		}
		// Say only what was done: a canary whose route was never
		// created (its manifests were refused) had no weight to reset.
		_, werr := router.Weight(ctx)
		if err := router.Reset(ctx); err != nil {
			return done, fmt.Errorf("send all requests to production: %w", err)
		}
		if errors.Is(werr, traffic.ErrRouteNotFound) {
			r.event("", "WeightUnchanged", "%s does not exist: no request was sent to the canary, there is no weight to reset", r.routeName())
			return done, nil
		}
		r.event("", "WeightSet", "canary weight set to 0%% on %s, read back 0", r.routeName())
		return done, nil
	}
	return done, fmt.Errorf("unknown step %q", a.Step)
}

func approvalsRequired(ap *v1alpha1.ApprovalStage) int {
	if ap.ApprovalsRequired < 1 {
		return v1alpha1.DefaultApprovalsRequired
	}
	return ap.ApprovalsRequired
}

// objects decodes the plan's manifests in their canary or production form,
// as the plan's traffic provider prepares them.
func (r *run) objects(canary bool) ([]*unstructured.Unstructured, error) {
	if r.routingErr != nil {
		return nil, r.routingErr
	}
	if canary {
		return r.routing.CanaryObjects()
	}
	return r.routing.ProductionObjects()
}

// routeName names what the plan's router edits, for events.
func (r *run) routeName() string {
	if r.routing == nil {
		return ""
	}
	return r.routing.RouteName()
}

// router builds the plan's traffic router; its events are recorded under
// stage.
func (r *run) router(ctx context.Context, stage string) (traffic.Router, error) {
	c, _, err := r.cluster(ctx)
	if err != nil {
		return nil, err
	}
	if r.routingErr != nil {
		return nil, r.routingErr
	}
	objs, err := r.routing.Manifests()
	if err != nil {
		return nil, err
	}
	return c.Router(r.routing, routing.Target{
		Manifests: objs,
		Recorder:  func(e traffic.Event) { r.event(stage, e.Type, "%s", e.Message) },
	}), nil
}

// openHeaderRoute lets testers reach the canary with the tester header
// once it runs. Without a production route yet (a first release) there is
// nothing to add it to: that is said, not failed.
func (r *run) openHeaderRoute(ctx context.Context, stage string) error {
	ctx, cancel := context.WithTimeout(ctx, r.e.cfg.StepTimeout)
	defer cancel()
	router, err := r.router(ctx, stage)
	if err != nil {
		return err
	}
	rt := r.plan.Routing()
	h := traffic.HeaderRoute{Name: rt.TesterHeader.Name, Value: rt.TesterHeader.Value, Cookie: rt.TesterCookie}
	err = router.SetHeaderRoute(ctx, &h)
	if errors.Is(err, traffic.ErrNoProduction) {
		r.event(stage, "HeaderRouteNotSet", "tester header %s not routed to the canary yet: %v", h, err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("route tester header %s to the canary: %w", h, err)
	}
	r.event(stage, "HeaderRouteSet", "requests with header %s go to the canary (%s, provider %s)", h, r.routeName(), rt.Provider)
	return nil
}

func (r *run) cluster(ctx context.Context) (clusters.Target, v1alpha1.EnvironmentSpec, error) {
	c, spec, err := r.e.cfg.Clusters.Cluster(ctx, r.plan.Environment)
	if err != nil {
		return nil, spec, fmt.Errorf("environment %q: %w", r.plan.Environment, err)
	}
	return c, spec, nil
}

func (r *run) apply(ctx context.Context, stage, ns string, objs []*unstructured.Unstructured, role string) error {
	c, spec, err := r.cluster(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, r.e.cfg.StepTimeout)
	defer cancel()
	created, err := c.EnsureNamespace(ctx, ns, spec.NamespacesCreatable())
	if err != nil {
		return fmt.Errorf("%s namespace %s: %w", role, ns, err)
	}
	results, err := c.Apply(ctx, ns, objs, kube.ApplyOptions{})
	if err != nil && created && kube.NothingApplied(err) {
		// The objects of a namespace can only be dry-run once it exists:
		// a namespace created for manifests the API server refuses is
		// deleted again, so that a refused run leaves nothing behind.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.e.cfg.FinishTimeout)
		defer cancel()
		if derr := c.DeleteNamespace(dctx, ns); derr == nil {
			return fmt.Errorf("apply %s manifests to %s: %w; namespace %s, created for them, was deleted again", role, ns, err, ns)
		}
	}
	if created {
		r.event(stage, "NamespaceCreated", "created namespace %s (it did not exist)", ns)
	}
	if err != nil {
		return fmt.Errorf("apply %s manifests to %s: %w", role, ns, err)
	}
	parts := make([]string, len(results))
	for i, res := range results {
		parts[i] = fmt.Sprintf("%s/%s %s", strings.ToLower(res.Kind), res.Name, res.Action)
	}
	r.event(stage, "Applied", "applied %d objects to %s namespace %s: %s", len(results), role, ns, strings.Join(parts, ", "))
	return nil
}

func (r *run) waitRollout(ctx context.Context, stage, ns string, objs []*unstructured.Unstructured, timeout time.Duration) error {
	c, _, err := r.cluster(ctx)
	if err != nil {
		return err
	}
	if timeout <= 0 {
		timeout = v1alpha1.DefaultRolloutTimeout
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := ""
	err = c.WaitRollout(wctx, ns, objs, func(msg string) {
		if msg == last {
			return
		}
		last = msg
		r.log.Info("rollout progress", "namespace", ns, "progress", msg)
		_ = r.e.cfg.Store.AppendEvents(ctx, store.Event{
			DeploymentID: r.d.ID, Time: r.now(), Stage: stage, Type: "RolloutProgress", Message: ns + ": " + msg,
		})
	})
	if err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if errors.Is(wctx.Err(), context.DeadlineExceeded) {
			// The error says first which pods are not ready and why,
			// then how long the wait lasted.
			return err
		}
		return fmt.Errorf("rollout in %s: %w", ns, err)
	}
	r.event(stage, "RolloutComplete", "all workloads in %s are available", ns)
	return nil
}

// promoteCanary gives the canary every request before production is
// rolled: it runs the approved version, at the manifests' full size, and
// its rollout is complete, so from the approval on only the new version is
// served, instead of a mix of both while production's pods are replaced.
// The finishing step sets the weight back to 0 once production runs the
// new version (or was restored). A failure here is reported and not fatal:
// production is released with the weight as it was.
func (r *run) promoteCanary(ctx context.Context, stage string) {
	ctx, cancel := context.WithTimeout(ctx, r.e.cfg.StepTimeout)
	defer cancel()
	if missing, err := r.productionIngressMissing(ctx); err != nil || missing != "" {
		why := missing
		if err != nil {
			why = err.Error()
		}
		r.event(stage, "PromotionSkipped", "canary weight kept at %d%% while production rolls out: %s", r.state.Weight, why)
		return
	}
	if err := r.setWeight(ctx, stage, 100); err != nil {
		r.event(stage, "PromotionSkipped", "canary weight kept at %d%% while production rolls out: %v", r.state.Weight, err)
		return
	}
	r.state.Weight = 100
	r.event(stage, "WeightSet", "canary weight set to 100%% on %s, read back 100: the canary (deployment %s#%d) serves every request while production rolls out",
		r.routeName(), r.d.Pipeline, r.d.Number)
}

// waitProductionEndpoints holds a promoted canary's traffic until
// production's Services have exactly the new pods as endpoints: right after
// a rollout the old pods linger as endpoints while they terminate, and
// sending requests back to production then would let the data plane give
// some to the old version. It waits at most endpointsSettleTimeout; not
// settling is reported, not fatal. Then it holds the requests on the
// canary for the plan's promotion hold more, since the data plane learns
// of the endpoints after the API server does. Only the end of ctx is an
// error.
func (r *run) waitProductionEndpoints(ctx context.Context, stage string, objs []*unstructured.Unstructured) error {
	c, _, err := r.cluster(ctx)
	if err == nil {
		wctx, cancel := context.WithTimeout(ctx, endpointsSettleTimeout)
		defer cancel()
		err = c.WaitEndpointsSettled(wctx, r.plan.ProductionNamespace, objs)
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if err != nil {
		r.event(stage, "EndpointsNotSettled", "sending requests back to production although its endpoints are not only the new pods: %v", err)
		return nil
	}
	if hold := r.plan.Hold(); hold > 0 {
		r.event(stage, "EndpointsSettled", "production's Services have only the new pods as endpoints; the canary keeps the requests %s more, for the data plane to learn of them", hold)
		return sleep(ctx, hold)
	}
	return nil
}

// endpointsSettleTimeout bounds waitProductionEndpoints.
const endpointsSettleTimeout = time.Minute

// productionIngressMissing says why promotion would route nothing in the
// NGINX canary-namespace layout: a canary Ingress only splits the requests
// of a main Ingress, and before the first release the production namespace
// has none. The other layouts' routers detect that themselves
// (traffic.ErrNoProduction). It returns "" when promotion can go ahead.
func (r *run) productionIngressMissing(ctx context.Context) (string, error) {
	if r.routingErr != nil {
		return "", r.routingErr
	}
	c, _, err := r.cluster(ctx)
	if err != nil {
		return "", err
	}
	return r.routing.PromotionBlocked(ctx, c)
}

func (r *run) setWeight(ctx context.Context, stage string, w int) error {
	router, err := r.router(ctx, stage)
	if err != nil {
		return err
	}
	if err := router.SetWeight(ctx, w); err != nil {
		return fmt.Errorf("set canary weight %d: %w", w, err)
	}
	return nil
}

func (r *run) awaitApproval(ctx context.Context, a pipeline.Action) (stepResult, error) {
	ap := r.plan.Stages[a.StageIndex].Approval
	need := approvalsRequired(ap)
	ds, err := r.e.cfg.Store.ListDecisions(ctx, r.d.ID)
	if err != nil {
		return done, fmt.Errorf("list decisions: %w", err)
	}
	r.decisionsSeen = len(ds)
	approvers := map[string]bool{}
	for _, d := range ds {
		if d.Stage != a.StageName {
			continue
		}
		if d.Decision == string(v1alpha1.DecisionReject) {
			msg := fmt.Sprintf("rejected by %s at stage %s", d.User, a.StageName)
			if d.Reason != "" {
				msg += ": " + d.Reason
			}
			r.state.Finish(v1alpha1.StatusRejected, msg, r.now())
			return stepResult{wait: true, until: r.now(), dirty: true}, nil
		}
		approvers[auth.Canonical(d.User)] = true
	}
	if len(approvers) >= need {
		names := make([]string, 0, len(approvers))
		for n := range approvers {
			names = append(names, n)
		}
		r.event(a.StageName, "ApprovalGranted", "%d of %d approvals: %s", len(approvers), need, strings.Join(sorted(names), ", "))
		return done, nil
	}
	if dl := r.state.ApprovalDeadline; dl != nil && !r.now().Before(*dl) {
		msg := fmt.Sprintf("approval timed out after %s with %d of %d approvals", ap.Timeout.Or(v1alpha1.DefaultApprovalTimeout), len(approvers), need)
		r.event(a.StageName, "ApprovalTimedOut", "%s", msg)
		r.state.Finish(v1alpha1.StatusFailed, msg, r.now())
		return stepResult{wait: true, until: r.now(), dirty: true}, nil
	}
	var until time.Time
	if r.state.ApprovalDeadline != nil {
		until = *r.state.ApprovalDeadline
	}
	return stepResult{wait: true, until: until}, nil
}

func (r *run) restoreProduction(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.e.cfg.FinishTimeout+r.plan.ProductionRolloutTimeout)
	defer cancel()
	live, err := r.e.cfg.Store.LiveDeployment(ctx, r.d.Pipeline)
	if errors.Is(err, store.ErrNotFound) || (err == nil && live.ID == r.d.ID) {
		r.event("", "ProductionNotRestored", "no earlier release of %s to restore; production keeps what this run applied", r.d.Pipeline)
		return nil
	}
	if err != nil {
		return fmt.Errorf("find the live deployment: %w", err)
	}
	var lp pipeline.Plan
	if err := json.Unmarshal(live.Plan, &lp); err != nil {
		return fmt.Errorf("decode plan of deployment %d: %w", live.ID, err)
	}
	lr, err := routing.For(&lp)
	if err != nil {
		return fmt.Errorf("manifests of deployment %d: %w", live.ID, err)
	}
	objs, err := lr.ProductionObjects()
	if err != nil {
		return fmt.Errorf("manifests of deployment %d: %w", live.ID, err)
	}
	ns := r.plan.ProductionNamespace
	if err := r.apply(ctx, "", ns, objs, "production"); err != nil {
		return fmt.Errorf("restore deployment %s#%d: %w", live.Pipeline, live.Number, err)
	}
	if err := r.waitRollout(ctx, "", ns, objs, r.plan.ProductionRolloutTimeout); err != nil {
		return fmt.Errorf("restore deployment %s#%d: %w", live.Pipeline, live.Number, err)
	}
	r.event("", "ProductionRestored", "production namespace %s restored to deployment %s#%d (%s)", ns, live.Pipeline, live.Number, v1alpha1.DescribeParameters(live.Parameters))
	return nil
}

func sorted(s []string) []string {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}
