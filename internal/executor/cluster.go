package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/clusters"
	"fledge.dev/fledge/internal/kube"
	"fledge.dev/fledge/internal/pipeline"
	"fledge.dev/fledge/internal/redact"
	"fledge.dev/fledge/internal/store"
	"fledge.dev/fledge/internal/traffic"
	"fledge.dev/fledge/internal/traffic/routing"
)

// place is where a step acts: a namespace of an environment's cluster, and
// its role in the deployment ("canary", "production") for messages.
type place struct {
	env, ns, role string
}

func (r *run) canary() place {
	return place{env: r.plan.Environment, ns: r.plan.CanaryNamespace, role: "canary"}
}

func (r *run) production() place {
	return place{env: r.plan.Environment, ns: r.plan.ProductionNamespace, role: "production"}
}

// cluster connects to the cluster of environment env.
func (r *run) cluster(ctx context.Context, env string) (clusters.Target, v1alpha1.EnvironmentSpec, error) {
	c, spec, err := r.e.cfg.Clusters.Cluster(ctx, env)
	if err != nil {
		return nil, spec, fmt.Errorf("environment %q: %w", env, err)
	}
	return c, spec, nil
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
	c, _, err := r.cluster(ctx, r.plan.Environment)
	if err != nil {
		return nil, err
	}
	if r.routingErr != nil {
		return nil, r.routingErr
	}
	if err := c.CheckAccess(ctx, r.routing.RouterWrites()...); err != nil {
		return nil, fmt.Errorf("traffic routing on %s: %w", r.routeName(), err)
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

// route sets the canary weight to w.
func (r *run) route(ctx context.Context, stage string, w int) error {
	router, err := r.router(ctx, stage)
	if err != nil {
		return err
	}
	if err := router.SetWeight(ctx, w); err != nil {
		return fmt.Errorf("set canary weight %d: %w", w, err)
	}
	return nil
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

// apply creates the namespace if it is missing and allowed, and applies
// objs there.
func (r *run) apply(ctx context.Context, stage string, at place, objs []*unstructured.Unstructured) error {
	p, err := r.prepare(ctx, stage, at, objs)
	if err != nil {
		return err
	}
	return p.commit(ctx, stage)
}

// preparedApply is an apply at one place whose checks passed.
type preparedApply struct {
	r       *run
	at      place
	created bool
	p       kube.Prepared
}

// prepare checks what applying objs at at takes, creates the namespace if
// it is missing and allowed, and reads and dry-runs objs there, writing
// nothing else. A namespace it created for objects the API server then
// refuses is deleted again, so that a refused run leaves nothing behind
// (the objects of a namespace can only be dry-run once it exists). It may
// run beside another step of the same run.
func (r *run) prepare(ctx context.Context, stage string, at place, objs []*unstructured.Unstructured) (*preparedApply, error) {
	c, spec, err := r.cluster(ctx, at.env)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.e.cfg.StepTimeout)
	defer cancel()
	if err := c.CheckAccess(ctx, r.access(at, objs, spec)...); err != nil {
		return nil, fmt.Errorf("before applying the %s manifests to %s: %w", at.role, at.ns, err)
	}
	created, err := c.EnsureNamespace(ctx, at.ns, spec.NamespacesCreatable())
	if err != nil {
		return nil, fmt.Errorf("%s namespace %s: %w", at.role, at.ns, err)
	}
	p, err := c.PrepareApply(ctx, at.ns, objs, kube.ApplyOptions{})
	if err != nil {
		if created && kube.NothingApplied(err) {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.e.cfg.FinishTimeout)
			defer cancel()
			if derr := c.DeleteNamespace(dctx, at.ns); derr == nil {
				return nil, fmt.Errorf("apply %s manifests to %s: %w; namespace %s, created for them, was deleted again", at.role, at.ns, err, at.ns)
			}
		}
		if created {
			r.event(stage, "NamespaceCreated", "created namespace %s (it did not exist)", at.ns)
		}
		return nil, fmt.Errorf("apply %s manifests to %s: %w", at.role, at.ns, err)
	}
	return &preparedApply{r: r, at: at, created: created, p: p}, nil
}

// commit applies what prepare checked, and records it under stage.
func (p *preparedApply) commit(ctx context.Context, stage string) error {
	r, at := p.r, p.at
	ctx, cancel := context.WithTimeout(ctx, r.e.cfg.StepTimeout)
	defer cancel()
	results, err := p.p.Commit(ctx)
	if p.created {
		r.event(stage, "NamespaceCreated", "created namespace %s (it did not exist)", at.ns)
	}
	if err != nil {
		return fmt.Errorf("apply %s manifests to %s: %w", at.role, at.ns, err)
	}
	parts := make([]string, len(results))
	for i, res := range results {
		parts[i] = fmt.Sprintf("%s/%s %s", strings.ToLower(res.Kind), res.Name, res.Action)
	}
	r.event(stage, "Applied", "applied %d objects to %s namespace %s: %s", len(results), at.role, at.ns, strings.Join(parts, ", "))
	return nil
}

// access is what applying objs at at takes. Applying the canary also
// checks what the release does later, production's apply and the traffic
// router's writes, so that a missing permission stops the deployment
// before anything was applied rather than halfway.
func (r *run) access(at place, objs []*unstructured.Unstructured, spec v1alpha1.EnvironmentSpec) []kube.Access {
	create := spec.NamespacesCreatable()
	out := []kube.Access{{Namespace: at.ns, Objects: objs, EnsureNamespace: true, CreateNamespace: create}}
	if at.role != r.canary().role || r.routing == nil {
		return out
	}
	if prod := r.production(); prod.ns != "" && prod.env == at.env {
		if objs, err := r.objects(false); err == nil {
			out = append(out, kube.Access{Namespace: prod.ns, Objects: objs, EnsureNamespace: true, CreateNamespace: create})
		}
	}
	return append(out, r.routing.RouterWrites()...)
}

// waitRollout waits for the workloads among objs, at most timeout (the
// default rollout timeout when 0); its progress goes to the history at
// once, not with the step's result.
func (r *run) waitRollout(ctx context.Context, stage string, at place, objs []*unstructured.Unstructured, timeout time.Duration) error {
	c, _, err := r.cluster(ctx, at.env)
	if err != nil {
		return err
	}
	if timeout <= 0 {
		timeout = v1alpha1.DefaultRolloutTimeout
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := ""
	err = c.WaitRollout(wctx, at.ns, objs, func(msg string) {
		if msg == last {
			return
		}
		last = msg
		r.log.Info("rollout progress", "namespace", at.ns, "progress", msg)
		_ = r.e.cfg.Store.AppendEvents(ctx, store.Event{
			DeploymentID: r.d.ID, Time: r.now(), Stage: stage, Type: store.ProgressEventType, Message: at.ns + ": " + msg,
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
		return fmt.Errorf("rollout in %s: %w", at.ns, err)
	}
	r.event(stage, "RolloutComplete", "all workloads in %s are available", at.ns)
	return nil
}

// promoteCanary gives the canary every request before production is
// rolled: it runs the approved version, at the manifests' full size, and
// its rollout is complete, so from the approval on only the new version is
// served, instead of a mix of both while production's pods are replaced.
// The finishing step sets the weight back to 0 once production runs the
// new version (or was restored). A failure here, such as a router finding
// nothing in production to split (traffic.ErrNoProduction), is reported
// and not fatal: production is released with the weight as it was. It
// returns the new weight, or nil when it was kept.
func (r *run) promoteCanary(ctx context.Context, stage string) *int {
	if sc := r.plan.CanaryScale; sc != nil {
		// A canary sized down cannot carry every request.
		r.event(stage, "PromotionSkipped", "canary weight kept at %d%% while production rolls out: the canary is scaled down (%s) and cannot carry every request",
			r.state.Weight, scaleText(sc))
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.e.cfg.StepTimeout)
	defer cancel()
	if err := r.route(ctx, stage, 100); err != nil {
		r.event(stage, "PromotionSkipped", "canary weight kept at %d%% while production rolls out: %v", r.state.Weight, err)
		return nil
	}
	r.event(stage, "WeightSet", "canary weight set to 100%% on %s, read back 100: the canary (deployment %s#%d) serves every request while production rolls out",
		r.routeName(), r.d.Pipeline, r.d.Number)
	hundred := 100
	return &hundred
}

// scaleText says how a canary is sized.
func scaleText(sc *v1alpha1.CanaryScale) string {
	if sc.Replicas > 0 {
		return fmt.Sprintf("%d replica(s) per Deployment", sc.Replicas)
	}
	return fmt.Sprintf("%d%% of each Deployment's replicas", sc.Percent)
}

// waitProductionEndpoints holds a promoted canary's traffic until
// production's Services have exactly the new pods as endpoints: right after
// a rollout the old pods linger as endpoints while they terminate, and
// sending requests back to production then would let the data plane give
// some to the old version. It waits at most endpointsSettleTimeout; not
// settling is reported, not fatal. Then it holds the requests on the
// canary for the plan's promotion hold more, if any, for a data plane that
// learns of endpoints by a slower path than of routes. Only the end of ctx
// is an error.
func (r *run) waitProductionEndpoints(ctx context.Context, stage string, objs []*unstructured.Unstructured) error {
	unsettled, err := r.settleEndpoints(ctx, r.production(), objs)
	if err != nil {
		return err
	}
	if unsettled != nil {
		r.event(stage, "EndpointsNotSettled", "sending requests back to production although its endpoints are not only the new pods: %v", unsettled)
		return nil
	}
	hold := r.plan.Hold()
	if hold == 0 {
		r.event(stage, "EndpointsSettled", "production's Services have only the new pods as endpoints; the requests go back to production")
		return nil
	}
	r.event(stage, "EndpointsSettled", "production's Services have only the new pods as endpoints; the canary keeps the requests %s more (promotionHold), for the data plane to learn of them", hold)
	return sleep(ctx, hold)
}

// waitCanaryEndpoints holds the first request to the canary (the tester
// header, then a weight) until the canary's Services have exactly its
// ready pods as endpoints: a weight set before then is one the data plane
// cannot honour (no endpoint yet), or honours with a previous canary's
// terminating pods. Not settling within endpointsSettleTimeout is
// reported, not fatal, as for production; only the end of ctx is an error.
func (r *run) waitCanaryEndpoints(ctx context.Context, stage string, objs []*unstructured.Unstructured) error {
	unsettled, err := r.settleEndpoints(ctx, r.canary(), objs)
	if unsettled != nil {
		r.event(stage, "EndpointsNotSettled", "sending requests to the canary although its endpoints are not only its ready pods: %v", unsettled)
	}
	return err
}

// settleEndpoints waits up to endpointsSettleTimeout until the Services
// among objs at `at` have exactly their ready pods as endpoints. It
// returns what still differs then (unsettled), and err only when ctx
// ended.
func (r *run) settleEndpoints(ctx context.Context, at place, objs []*unstructured.Unstructured) (unsettled, err error) {
	c, _, err := r.cluster(ctx, at.env)
	if err == nil {
		wctx, cancel := context.WithTimeout(ctx, endpointsSettleTimeout)
		defer cancel()
		err = c.WaitEndpointsSettled(wctx, at.ns, objs)
	}
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	return err, nil
}

// endpointsSettleTimeout bounds waitProductionEndpoints and
// waitCanaryEndpoints.
const endpointsSettleTimeout = time.Minute

// restoreProduction applies the live release's production manifests again
// and waits for them, after this run touched production and failed.
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
	at := r.production()
	if err := r.restoreTo(ctx, at, live, r.plan.ProductionRolloutTimeout); err != nil {
		return err
	}
	r.event("", "ProductionRestored", "production namespace %s restored to deployment %s#%d (%s)", at.ns, live.Pipeline, live.Number, v1alpha1.DescribeParameters(live.Parameters))
	return nil
}

// restoreTo applies deployment prev's production manifests at `at` and
// waits for them, at most timeout. In the production beside the canary,
// a Gateway API route keeps the canary's share (keepCanary).
func (r *run) restoreTo(ctx context.Context, at place, prev store.Deployment, timeout time.Duration) error {
	var lp pipeline.Plan
	if err := json.Unmarshal(prev.Plan, &lp); err != nil {
		return fmt.Errorf("decode plan of deployment %d: %w", prev.ID, err)
	}
	lr, err := routing.For(&lp, r.e.opener(prev.ID))
	if err != nil {
		return fmt.Errorf("manifests of deployment %d: %w", prev.ID, err)
	}
	objs, err := lr.ProductionObjects()
	if err != nil {
		return fmt.Errorf("manifests of deployment %d: %w", prev.ID, err)
	}
	if at == r.production() {
		// The canary keeps what it has until production runs prev
		// again; the reset of the weight after this takes it away.
		if objs, err = r.keepCanary(ctx, objs, false); err != nil {
			return fmt.Errorf("restore deployment %s#%d: %w", prev.Pipeline, prev.Number, err)
		}
	}
	if err := r.apply(ctx, "", at, objs); err != nil {
		return fmt.Errorf("restore deployment %s#%d: %w", prev.Pipeline, prev.Number, err)
	}
	if err := r.waitRollout(ctx, "", at, objs, timeout); err != nil {
		return fmt.Errorf("restore deployment %s#%d: %w", prev.Pipeline, prev.Number, err)
	}
	return nil
}

// opener opens the sealed Secret values of deployment id's manifests each
// time they are decoded to be applied; a value that does not open fails
// the step with an error naming the deployment, the Secret and the key,
// and nothing is applied.
func (e *Executor) opener(id int64) routing.Opener {
	return redact.Opener(e.cfg.Secrets, fmt.Sprintf("manifests of deployment %d", id))
}
