package gatewayapi

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"fledge.dev/fledge/internal/kube"
	"fledge.dev/fledge/internal/traffic"
)

// FieldManager applies the route and the grant: the deployment's own
// manager, since the route is deployed with production and the router
// rewrites it whole.
const FieldManager = kube.FieldManager

// Defaults of Config.
const (
	DefaultStatusTimeout = time.Minute
	defaultStatusPoll    = 100 * time.Millisecond
)

// Config configures a Router.
type Config struct {
	// ProductionNamespace holds the HTTPRoute.
	ProductionNamespace string
	// CanaryNamespace runs the canary's Services and gets the
	// ReferenceGrant.
	CanaryNamespace string
	// RouteName is the manifests' HTTPRoute.
	RouteName string
	// Recorder receives an event for the grant's creation and deletion and
	// for the route's status after every change.
	Recorder traffic.Recorder
	// StatusTimeout bounds each wait for the route's status (default 1m).
	StatusTimeout time.Duration
	// StatusPoll is how often the status is read while waiting (100ms).
	StatusPoll time.Duration
}

// Router moves requests between the production and canary backends of one
// HTTPRoute. It implements traffic.Router.
type Router struct {
	client *kube.Client
	cfg    Config
}

var _ traffic.Router = (*Router)(nil)

// NewRouter returns the router of cfg.RouteName.
func NewRouter(c *kube.Client, cfg Config) *Router {
	if cfg.StatusTimeout <= 0 {
		cfg.StatusTimeout = DefaultStatusTimeout
	}
	if cfg.StatusPoll <= 0 {
		cfg.StatusPoll = defaultStatusPoll
	}
	return &Router{client: c, cfg: cfg}
}

func (r *Router) where() string { return r.cfg.ProductionNamespace + "/" + r.cfg.RouteName }

func (r *Router) routeRef() *unstructured.Unstructured { return RouteRef(r.cfg.RouteName) }

// live reads the route, nil when it (or its namespace) does not exist.
func (r *Router) live(ctx context.Context) (*unstructured.Unstructured, error) {
	u, err := r.client.Get(ctx, r.cfg.ProductionNamespace, r.routeRef())
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	var unknown *kube.UnknownKindError
	if errors.As(err, &unknown) {
		return nil, fmt.Errorf("read HTTPRoute %s: the cluster has no Gateway API CRDs: %w", r.where(), err)
	}
	if err != nil {
		return nil, fmt.Errorf("read HTTPRoute %s: %w", r.where(), err)
	}
	return u, nil
}

func (r *Router) noProduction() error {
	return fmt.Errorf("%w: production namespace %s has no HTTPRoute %s yet (a pipeline's first release has no production to split with: its canary stays at weight 0 until the release is approved)",
		traffic.ErrNoProduction, r.cfg.ProductionNamespace, r.cfg.RouteName)
}

// SetWeight gives the canary backends percent of the requests of the split
// rules, keeping the tester header rule as it is. Above 0 it first makes
// sure the ReferenceGrant exists and the canary backend resolves (see
// package doc). A missing route is fine for 0 and an error matching
// traffic.ErrNoProduction otherwise.
func (r *Router) SetWeight(ctx context.Context, percent int) error {
	if percent < 0 || percent > 100 {
		return fmt.Errorf("set canary weight of HTTPRoute %s to %d: %w", r.where(), percent, traffic.ErrInvalidWeight)
	}
	live, err := r.live(ctx)
	if err != nil {
		return err
	}
	if live == nil {
		if percent == 0 {
			return nil
		}
		return r.noProduction()
	}
	cur := Observe(live, r.cfg.CanaryNamespace)
	if err := r.transition(ctx, live, State{Weight: percent, Header: cur.Header}); err != nil {
		return fmt.Errorf("set canary weight of HTTPRoute %s to %d: %w", r.where(), percent, err)
	}
	return nil
}

// SetHeaderRoute adds (or, with nil, removes) the rules that send the
// tester header to the canary, keeping the weight.
func (r *Router) SetHeaderRoute(ctx context.Context, h *traffic.HeaderRoute) error {
	live, err := r.live(ctx)
	if err != nil {
		return err
	}
	if live == nil {
		if h == nil {
			return nil
		}
		return r.noProduction()
	}
	cur := Observe(live, r.cfg.CanaryNamespace)
	if err := r.transition(ctx, live, State{Weight: cur.Weight, Header: h}); err != nil {
		return fmt.Errorf("set tester header route of HTTPRoute %s: %w", r.where(), err)
	}
	return nil
}

// Weight returns the canary's percentage of the split rules' requests; a
// missing route yields an error matching traffic.ErrRouteNotFound.
func (r *Router) Weight(ctx context.Context) (int, error) {
	live, err := r.live(ctx)
	if err != nil {
		return 0, err
	}
	if live == nil {
		return 0, fmt.Errorf("read canary weight of HTTPRoute %s: %w", r.where(), traffic.ErrRouteNotFound)
	}
	return Observe(live, r.cfg.CanaryNamespace).Weight, nil
}

// Reset puts the route back in its production form (no canary backend, no
// header rule), waits until its controller accepts it, then deletes the
// ReferenceGrant: in that order, so that no request is ever routed to a
// backend that is no longer permitted.
func (r *Router) Reset(ctx context.Context) error {
	live, err := r.live(ctx)
	var unknownRoute *kube.UnknownKindError
	if errors.As(err, &unknownRoute) {
		return nil // no Gateway API in this cluster: nothing was ever created
	}
	if err != nil {
		return err
	}
	if live != nil {
		want := Production(live, r.cfg.CanaryNamespace)
		if !sameSpec(live, want) {
			if err := r.apply(ctx, want, "production form, canary backends and header rule removed"); err != nil {
				return fmt.Errorf("reset HTTPRoute %s: %w", r.where(), err)
			}
		}
	}
	grant := Grant(r.cfg.RouteName, r.cfg.ProductionNamespace, r.cfg.CanaryNamespace, nil)
	existed, err := r.client.Delete(ctx, r.cfg.CanaryNamespace, grant)
	var unknown *kube.UnknownKindError
	if errors.As(err, &unknown) && live == nil {
		return nil // no Gateway API in this cluster: nothing was ever created
	}
	if err != nil {
		return fmt.Errorf("delete ReferenceGrant %s/%s: %w", r.cfg.CanaryNamespace, grant.GetName(), err)
	}
	if existed {
		r.cfg.Recorder.Record("ReferenceGrantDeleted", "deleted ReferenceGrant %s/%s: HTTPRoute %s no longer routes to the canary namespace",
			r.cfg.CanaryNamespace, grant.GetName(), r.where())
	}
	return nil
}

// transition moves the live route to state want, in safe steps.
func (r *Router) transition(ctx context.Context, live *unstructured.Unstructured, want State) error {
	ns := r.cfg.CanaryNamespace
	desired, err := Canary(live, ns, want)
	if err != nil {
		return err
	}
	if sameSpec(live, desired) && (!want.attached() || resolved(live) == "") {
		return nil
	}
	if want.attached() {
		if err := r.ensureGrant(ctx, SplitServices(Production(live, ns))); err != nil {
			return err
		}
		if !Observe(live, ns).attached() {
			// The canary backend enters at weight 0 and must resolve before
			// it gets a request: an unresolved backend answers 500.
			probe, err := Canary(live, ns, State{Probe: true})
			if err != nil {
				return err
			}
			if err := r.apply(ctx, probe, "canary backend added at weight 0"); err != nil {
				return err
			}
		}
	}
	what := fmt.Sprintf("canary weight %d%%", want.Weight)
	if want.Header != nil {
		what += ", tester header " + want.Header.String() + " to the canary"
	} else {
		what += ", no tester header rule"
	}
	if err := r.apply(ctx, desired, what); err != nil {
		return err
	}
	got, err := r.live(ctx)
	if err != nil {
		return fmt.Errorf("read back: %w", err)
	}
	if got == nil {
		return fmt.Errorf("read back: the route disappeared")
	}
	if st := Observe(got, ns); st.Weight != want.Weight || !reflect.DeepEqual(st.Header, want.Header) {
		return fmt.Errorf("read back weight %d and header %v after setting %d and %v; does another controller rewrite the route?", st.Weight, st.Header, want.Weight, want.Header)
	}
	return nil
}

// ensureGrant applies the ReferenceGrant for services and records its
// creation.
func (r *Router) ensureGrant(ctx context.Context, services []string) error {
	g := Grant(r.cfg.RouteName, r.cfg.ProductionNamespace, r.cfg.CanaryNamespace, services)
	ns := r.cfg.CanaryNamespace
	res, err := r.client.Apply(ctx, ns, []*unstructured.Unstructured{g}, kube.ApplyOptions{FieldManager: FieldManager})
	if err != nil {
		return fmt.Errorf("apply ReferenceGrant %s/%s: %w", ns, g.GetName(), err)
	}
	if res[0].Action == kube.ActionCreated {
		r.cfg.Recorder.Record("ReferenceGrantCreated", "created ReferenceGrant %s/%s: HTTPRoutes of %s may route to Service %s in %s",
			ns, g.GetName(), r.cfg.ProductionNamespace, strings.Join(services, ", "), ns)
	}
	return nil
}

// apply writes the whole route with Fledge's field manager, without
// force, then waits until its controller has accepted the new generation
// and resolved its backends.
func (r *Router) apply(ctx context.Context, route *unstructured.Unstructured, what string) error {
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": route.GetAPIVersion(),
		"kind":       route.GetKind(),
		"metadata":   map[string]any{"name": route.GetName()},
		"spec":       route.Object["spec"],
	}}
	// Labels and annotations go along: the manager's own would otherwise be
	// dropped, since an apply removes what its manager no longer sets.
	if l := route.GetLabels(); len(l) > 0 {
		obj.SetLabels(l)
	}
	if a := route.GetAnnotations(); len(a) > 0 {
		obj.SetAnnotations(a)
	}
	out, err := r.client.ApplyOwned(ctx, r.cfg.ProductionNamespace, obj, FieldManager)
	var ce *kube.ConflictError
	if errors.As(err, &ce) {
		return fmt.Errorf("%w: HTTPRoute %s: %s managed by %s; Fledge does not take over fields others manage: deploy the route only through the pipeline, or remove that manager's fields",
			traffic.ErrNotOwned, r.where(), strings.Join(ce.Fields, ", "), strings.Join(ce.Managers, ", "))
	}
	if err != nil {
		return err
	}
	return r.waitStatus(ctx, out.GetGeneration(), what)
}

// waitStatus waits until every parent of the route reports Accepted and
// ResolvedRefs True for generation gen or later, and records the outcome.
func (r *Router) waitStatus(ctx context.Context, gen int64, what string) error {
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, r.cfg.StatusTimeout)
	defer cancel()
	var last string
	for {
		live, err := r.live(wctx)
		if err == nil && live != nil {
			last = routeStatus(live, gen)
			if last == "" {
				r.cfg.Recorder.Record("RouteStatus", "HTTPRoute %s generation %d (%s): Accepted and ResolvedRefs=True after %s",
					r.where(), gen, what, time.Since(start).Round(time.Millisecond))
				return nil
			}
		}
		select {
		case <-wctx.Done():
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			if last == "" && err != nil {
				last = err.Error()
			}
			r.cfg.Recorder.Record("RouteNotReady", "HTTPRoute %s generation %d (%s): %s after %s", r.where(), gen, what, last, r.cfg.StatusTimeout)
			return fmt.Errorf("%w: HTTPRoute %s generation %d (%s): %s after %s", traffic.ErrRouteNotReady, r.where(), gen, what, last, r.cfg.StatusTimeout)
		case <-time.After(r.cfg.StatusPoll):
		}
	}
}

// routeStatus returns "" when every parent of route reports Accepted and
// ResolvedRefs True for generation gen or later, else what is missing.
func routeStatus(route *unstructured.Unstructured, gen int64) string {
	parents, _, _ := unstructured.NestedSlice(route.Object, "status", "parents")
	if len(parents) == 0 {
		return "no Gateway controller reported a status (is one running, and does a parentRef name a Gateway that accepts the route?)"
	}
	var problems []string
	for _, p := range parents {
		pm, _ := p.(map[string]any)
		parent, _, _ := unstructured.NestedString(pm, "parentRef", "name")
		ctrl, _, _ := unstructured.NestedString(pm, "controllerName")
		for _, typ := range []string{"Accepted", "ResolvedRefs"} {
			c := condition(pm, typ)
			switch {
			case c == nil:
				problems = append(problems, fmt.Sprintf("parent %s (%s): no %s condition", parent, ctrl, typ))
			case toInt64(c["observedGeneration"]) < gen:
				problems = append(problems, fmt.Sprintf("parent %s (%s): %s is for generation %d", parent, ctrl, typ, toInt64(c["observedGeneration"])))
			case c["status"] != "True":
				problems = append(problems, fmt.Sprintf("parent %s (%s): %s=%v, reason %v: %v", parent, ctrl, typ, c["status"], c["reason"], c["message"]))
			}
		}
	}
	return strings.Join(problems, "; ")
}

// resolved returns "" when the route's parents report ResolvedRefs True
// for its current generation, else what is wrong.
func resolved(route *unstructured.Unstructured) string {
	return routeStatus(route, route.GetGeneration())
}

func condition(parent map[string]any, typ string) map[string]any {
	conds, _, _ := unstructured.NestedSlice(parent, "conditions")
	for _, c := range conds {
		cm, _ := c.(map[string]any)
		if cm["type"] == typ {
			return cm
		}
	}
	return nil
}

// sameSpec reports whether two forms of a route have equal specs.
func sameSpec(a, b *unstructured.Unstructured) bool {
	return reflect.DeepEqual(normalizeNumbers(a.Object["spec"]), normalizeNumbers(b.Object["spec"]))
}

// normalizeNumbers makes int and int64 compare equal.
func normalizeNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalizeNumbers(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeNumbers(e)
		}
		return out
	case int:
		return int64(x)
	case float64:
		if x == float64(int64(x)) {
			return int64(x)
		}
	}
	return v
}

// Writes declares what the router writes: the HTTPRoute of the production
// namespace and the ReferenceGrant of the canary namespace, which Reset
// deletes.
func Writes(cfg Config) []kube.Access {
	r := Router{cfg: cfg}
	return []kube.Access{
		{Namespace: cfg.ProductionNamespace, Objects: []*unstructured.Unstructured{r.routeRef()}},
		{Namespace: cfg.CanaryNamespace, Objects: []*unstructured.Unstructured{Grant(cfg.RouteName, cfg.ProductionNamespace, cfg.CanaryNamespace, nil)}, Delete: true},
	}
}
