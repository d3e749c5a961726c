package executor_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/clusters"
	"fledge.dev/fledge/internal/kube"
	"fledge.dev/fledge/internal/store"
	"fledge.dev/fledge/internal/traffic"
	"fledge.dev/fledge/internal/traffic/gatewayapi"
	"fledge.dev/fledge/internal/traffic/routing"
)

// errKilled is what a killed server's store and cluster calls get: after a
// kill point nothing it does reaches either, as after a SIGKILL.
var errKilled = errors.New("the server was killed")

// fakeCluster is one environment's cluster, kept in memory: the objects
// applied with a generation that grows only when an object's content
// changes (as a server-side apply's spec changes do), the canary weight and
// tester header of the NGINX canary Ingress, and a log of every call in
// order. It outlives the servers that use it, as a real cluster does.
type fakeCluster struct {
	mu         sync.Mutex
	namespaces map[string]bool
	objects    map[string]*fakeObject // "ns/Kind/name"
	weight     int
	header     *traffic.HeaderRoute
	calls      []string

	// noProduction makes a weight above 0 and the tester header fail with
	// traffic.ErrNoProduction even with a production Ingress, as every
	// router does when production's paths are not the canary's.
	noProduction bool
	// rolloutErr, when set, decides how a rollout ends.
	rolloutErr func(ns string, objs []*unstructured.Unstructured) error
	// endpointsErr is what waiting for production's endpoints returns.
	endpointsErr error
	// refuse, when set, names a namespace whose applies the API server
	// refuses before anything is written (as an invalid object is).
	refuse string
}

type fakeObject struct {
	obj        *unstructured.Unstructured
	generation int64
}

func newFakeCluster() *fakeCluster {
	return &fakeCluster{namespaces: map[string]bool{}, objects: map[string]*fakeObject{}}
}

func objectKey(ns string, o *unstructured.Unstructured) string {
	return ns + "/" + o.GetKind() + "/" + o.GetName()
}

func (c *fakeCluster) log(format string, args ...any) {
	c.calls = append(c.calls, fmt.Sprintf(format, args...))
}

// Calls returns the calls so far.
func (c *fakeCluster) Calls() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.calls...)
}

// Generations returns each object's generation.
func (c *fakeCluster) Generations() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int64{}
	for k, o := range c.objects {
		out[k] = o.generation
	}
	return out
}

// Weight returns the canary weight in place.
func (c *fakeCluster) Weight() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.weight
}

// Image returns the first container image of Deployment name in ns.
func (c *fakeCluster) Image(ns, name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.objects[ns+"/Deployment/"+name]
	if o == nil {
		return ""
	}
	return c.imageOf([]*unstructured.Unstructured{o.obj})
}

// MaxSurge returns the rolling update's maxSurge of Deployment name in ns
// ("" when unset).
func (c *fakeCluster) MaxSurge(ns, name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.objects[ns+"/Deployment/"+name]
	if o == nil {
		return ""
	}
	v, _, _ := unstructured.NestedFieldNoCopy(o.obj.Object, "spec", "strategy", "rollingUpdate", "maxSurge")
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// imageOf returns the first container image of the first Deployment
// among objs.
func (c *fakeCluster) imageOf(objs []*unstructured.Unstructured) string {
	for _, o := range objs {
		if o.GetKind() != "Deployment" {
			continue
		}
		cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		if len(cs) > 0 {
			img, _, _ := unstructured.NestedString(cs[0].(map[string]any), "image")
			return img
		}
	}
	return ""
}

// fakeSource hands out one server's view of the cluster.
type fakeSource struct {
	c    *fakeCluster
	dead *atomic.Bool
}

func (s fakeSource) Cluster(_ context.Context, env string) (clusters.Target, v1alpha1.EnvironmentSpec, error) {
	if s.dead.Load() {
		return nil, v1alpha1.EnvironmentSpec{}, errKilled
	}
	if env != "local" {
		return nil, v1alpha1.EnvironmentSpec{}, fmt.Errorf("load environment: %w", store.ErrNotFound)
	}
	create := true
	return target(s), v1alpha1.EnvironmentSpec{CreateNamespaces: &create}, nil
}

// target is a server's view of the fake cluster: once the server is
// killed, every call fails.
type target fakeSource

var _ clusters.Target = target{}

func (t target) lock() error {
	if t.dead.Load() {
		return errKilled
	}
	t.c.mu.Lock()
	return nil
}

func (t target) EnsureNamespace(_ context.Context, ns string, create bool) (bool, error) {
	if err := t.lock(); err != nil {
		return false, err
	}
	defer t.c.mu.Unlock()
	if t.c.namespaces[ns] {
		return false, nil
	}
	if !create {
		return false, fmt.Errorf("namespace %s does not exist", ns)
	}
	t.c.namespaces[ns] = true
	t.c.log("create namespace %s", ns)
	return true, nil
}

func (t target) DeleteNamespace(_ context.Context, ns string) error {
	if err := t.lock(); err != nil {
		return err
	}
	defer t.c.mu.Unlock()
	delete(t.c.namespaces, ns)
	for k := range t.c.objects {
		if strings.HasPrefix(k, ns+"/") {
			delete(t.c.objects, k)
		}
	}
	t.c.log("delete namespace %s", ns)
	return nil
}

func (t target) Apply(_ context.Context, ns string, objs []*unstructured.Unstructured, _ kube.ApplyOptions) ([]kube.Result, error) {
	if err := t.lock(); err != nil {
		return nil, err
	}
	defer t.c.mu.Unlock()
	t.c.log("apply %s", ns)
	if ns == t.c.refuse {
		return nil, errRefused()
	}
	out := make([]kube.Result, len(objs))
	for i, o := range objs {
		k := objectKey(ns, o)
		res := kube.Result{Kind: o.GetKind(), Namespace: ns, Name: o.GetName(), Action: kube.ActionUnchanged}
		switch cur := t.c.objects[k]; {
		case cur == nil:
			t.c.objects[k] = &fakeObject{obj: o.DeepCopy(), generation: 1}
			res.Action = kube.ActionCreated
		case !reflect.DeepEqual(cur.obj.Object, o.Object):
			cur.obj, cur.generation = o.DeepCopy(), cur.generation+1
			res.Action = kube.ActionConfigured
		}
		out[i] = res
	}
	return out, nil
}

// PrepareApply refuses what Apply refuses; Commit is Apply.
func (t target) PrepareApply(_ context.Context, ns string, objs []*unstructured.Unstructured, opts kube.ApplyOptions) (kube.Prepared, error) {
	if err := t.lock(); err != nil {
		return nil, err
	}
	t.c.log("dry-run %s", ns)
	refused := ns == t.c.refuse
	t.c.mu.Unlock()
	if refused {
		return nil, errRefused()
	}
	return commitFunc(func(ctx context.Context) ([]kube.Result, error) { return t.Apply(ctx, ns, objs, opts) }), nil
}

// errRefused is the API server's refusal of a namespace's manifests.
func errRefused() error {
	return &kube.NotAppliedError{Err: errors.New(`Deployment.apps "web" is invalid: spec.selector: does not match template labels`)}
}

type commitFunc func(ctx context.Context) ([]kube.Result, error)

func (f commitFunc) Commit(ctx context.Context) ([]kube.Result, error) { return f(ctx) }

func (t target) WaitRollout(_ context.Context, ns string, objs []*unstructured.Unstructured, progress func(string)) error {
	if err := t.lock(); err != nil {
		return err
	}
	t.c.log("rollout %s", ns)
	fail := t.c.rolloutErr
	t.c.mu.Unlock()
	progress("1 of 1 updated replicas are available")
	if fail != nil {
		return fail(ns, objs)
	}
	return nil
}

func (t target) WaitEndpointsSettled(_ context.Context, ns string, _ []*unstructured.Unstructured) error {
	if err := t.lock(); err != nil {
		return err
	}
	defer t.c.mu.Unlock()
	t.c.log("endpoints %s", ns)
	return t.c.endpointsErr
}

func (t target) Get(_ context.Context, ns string, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	if err := t.lock(); err != nil {
		return nil, err
	}
	defer t.c.mu.Unlock()
	cur := t.c.objects[objectKey(ns, obj)]
	if cur == nil {
		gv, _ := schema.ParseGroupVersion(obj.GetAPIVersion())
		return nil, apierrors.NewNotFound(gv.WithResource(strings.ToLower(obj.GetKind())+"s").GroupResource(), obj.GetName())
	}
	out := cur.obj.DeepCopy()
	out.SetGeneration(cur.generation)
	if out.GetKind() == "HTTPRoute" {
		acceptRoute(out)
	}
	return out, nil
}

// acceptRoute writes the status a Gateway controller that accepts every
// route and resolves every backend gives route, for its generation.
func acceptRoute(route *unstructured.Unstructured) {
	var conds []any
	for _, typ := range []string{"Accepted", "ResolvedRefs"} {
		conds = append(conds, map[string]any{"type": typ, "status": "True", "observedGeneration": route.GetGeneration()})
	}
	parent := map[string]any{"parentRef": map[string]any{"name": "gw"}, "controllerName": "fake", "conditions": conds}
	_ = unstructured.SetNestedSlice(route.Object, []any{parent}, "status", "parents")
}

// Diff counts the objects that applying objs would add or change.
func (t target) Diff(_ context.Context, ns string, objs []*unstructured.Unstructured) (kube.DiffResult, error) {
	if err := t.lock(); err != nil {
		return kube.DiffResult{}, err
	}
	defer t.c.mu.Unlock()
	var res kube.DiffResult
	var names []string
	for _, o := range objs {
		if cur := t.c.objects[objectKey(ns, o)]; cur == nil || !reflect.DeepEqual(cur.obj.Object, o.Object) {
			res.Changed++
			names = append(names, o.GetKind()+"/"+o.GetName())
		}
	}
	sort.Strings(names)
	res.Text = strings.Join(names, "\n")
	return res, nil
}

// CheckAccess allows everything: the permission check itself is tested
// against a real API server (internal/kube, test/e2e).
func (target) CheckAccess(context.Context, ...kube.Access) error { return nil }

func (t target) Delete(_ context.Context, ns string, obj *unstructured.Unstructured) (bool, error) {
	if err := t.lock(); err != nil {
		return false, err
	}
	defer t.c.mu.Unlock()
	k := objectKey(ns, obj)
	if t.c.objects[k] == nil {
		return false, nil
	}
	delete(t.c.objects, k)
	t.c.log("delete %s", k)
	return true, nil
}

func (t target) ScaleDown(_ context.Context, ns string) ([]string, error) {
	if err := t.lock(); err != nil {
		return nil, err
	}
	defer t.c.mu.Unlock()
	var names []string
	for k, o := range t.c.objects {
		if !strings.HasPrefix(k, ns+"/Deployment/") {
			continue
		}
		if r, set, _ := unstructured.NestedInt64(o.obj.Object, "spec", "replicas"); set && r == 0 {
			continue
		}
		obj := o.obj.DeepCopy()
		_ = unstructured.SetNestedField(obj.Object, int64(0), "spec", "replicas")
		o.obj, o.generation = obj, o.generation+1
		names = append(names, obj.GetName())
	}
	sort.Strings(names)
	t.c.log("scale down %s %v", ns, names)
	return names, nil
}

// Router returns the router of the canary Ingress: its weight and header
// live in the fake cluster, and a weight needs the canary Ingress applied
// and, above 0, a production (not canary) Ingress, as nginx.Router does.
func (t target) Router(p routing.Provider, _ routing.Target) traffic.Router {
	if ns, name, ok := strings.Cut(strings.TrimPrefix(p.RouteName(), "HTTPRoute "), "/"); ok && strings.HasPrefix(p.RouteName(), "HTTPRoute ") {
		return fakeRouteRouter{t: t, key: ns + "/HTTPRoute/" + name, ns: ns}
	}
	return fakeRouter{t: t, name: p.RouteName()}
}

// fakeRouteRouter is the Gateway API router of the fake cluster: the
// canary's weight and tester header live in the HTTPRoute applied to the
// production namespace, in the form gatewayapi.Canary writes, as with the
// real router; the canary namespace is canaryNS.
type fakeRouteRouter struct {
	t   target
	key string // "ns/HTTPRoute/name"
	ns  string
}

// route returns the applied route, nil when there is none; the caller
// holds the lock.
func (r fakeRouteRouter) route() *unstructured.Unstructured {
	o := r.t.c.objects[r.key]
	if o == nil {
		return nil
	}
	route := o.obj.DeepCopy()
	route.SetNamespace(r.ns)
	return route
}

// set writes the route with the canary state change makes of the live one.
func (r fakeRouteRouter) set(change func(*gatewayapi.State)) error {
	if err := r.t.lock(); err != nil {
		return err
	}
	defer r.t.c.mu.Unlock()
	route := r.route()
	st := gatewayapi.State{}
	if route != nil {
		st = gatewayapi.Observe(route, canaryNS)
	}
	change(&st)
	if route == nil {
		if st.Weight == 0 && st.Header == nil {
			return nil
		}
		return fmt.Errorf("%s: %w", r.key, traffic.ErrNoProduction)
	}
	next, err := gatewayapi.Canary(route, canaryNS, st)
	if err != nil {
		return err
	}
	next.SetNamespace("")
	if cur := r.t.c.objects[r.key]; !reflect.DeepEqual(cur.obj.Object, next.Object) {
		cur.obj, cur.generation = next, cur.generation+1
		r.t.c.log("route weight %d header %v", st.Weight, st.Header != nil)
	}
	return nil
}

func (r fakeRouteRouter) SetWeight(_ context.Context, percent int) error {
	return r.set(func(st *gatewayapi.State) { st.Weight, st.Probe = percent, false })
}

func (r fakeRouteRouter) SetHeaderRoute(_ context.Context, h *traffic.HeaderRoute) error {
	return r.set(func(st *gatewayapi.State) { st.Header = h })
}

func (r fakeRouteRouter) Weight(context.Context) (int, error) {
	if err := r.t.lock(); err != nil {
		return 0, err
	}
	defer r.t.c.mu.Unlock()
	route := r.route()
	if route == nil {
		return 0, fmt.Errorf("%s: %w", r.key, traffic.ErrRouteNotFound)
	}
	return gatewayapi.Observe(route, canaryNS).Weight, nil
}

func (r fakeRouteRouter) Reset(context.Context) error {
	return r.set(func(st *gatewayapi.State) { *st = gatewayapi.State{} })
}

// RouteWeight is the canary's weight in the HTTPRoute web of the
// production namespace, -1 when there is none.
func (c *fakeCluster) RouteWeight() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.routeWeightLocked()
}

func (c *fakeCluster) routeWeightLocked() int {
	o := c.objects[prodNS+"/HTTPRoute/web"]
	if o == nil {
		return -1
	}
	route := o.obj.DeepCopy()
	route.SetNamespace(prodNS)
	return gatewayapi.Observe(route, canaryNS).Weight
}

type fakeRouter struct {
	t    target
	name string
}

func (r fakeRouter) canaryIngress() bool { return r.ingress(true) }

// ingress says whether an Ingress marked as canary (or, with canary
// false, one that is not) has been applied.
func (r fakeRouter) ingress(canary bool) bool {
	for k, o := range r.t.c.objects {
		if strings.Contains(k, "/Ingress/") && (o.obj.GetAnnotations()["nginx.ingress.kubernetes.io/canary"] == "true") == canary {
			return true
		}
	}
	return false
}

// noProduction is the error of a weight or header with nothing in
// production to split, nil when there is.
func (r fakeRouter) noProduction() error {
	if r.t.c.noProduction || !r.ingress(false) {
		return fmt.Errorf("%s: production namespace has no Ingress web yet: %w", r.name, traffic.ErrNoProduction)
	}
	return nil
}

func (r fakeRouter) SetWeight(_ context.Context, percent int) error {
	if err := r.t.lock(); err != nil {
		return err
	}
	defer r.t.c.mu.Unlock()
	switch {
	case !r.canaryIngress():
		if percent == 0 {
			return nil
		}
		return fmt.Errorf("%s: %w", r.name, traffic.ErrRouteNotFound)
	case percent > 0 && r.t.c.weight != percent:
		if err := r.noProduction(); err != nil {
			return err
		}
	}
	if r.t.c.weight != percent {
		r.t.c.weight = percent
		r.t.c.log("weight %d", percent)
	}
	return nil
}

func (r fakeRouter) Weight(context.Context) (int, error) {
	if err := r.t.lock(); err != nil {
		return 0, err
	}
	defer r.t.c.mu.Unlock()
	if !r.canaryIngress() {
		return 0, fmt.Errorf("%s: %w", r.name, traffic.ErrRouteNotFound)
	}
	return r.t.c.weight, nil
}

func (r fakeRouter) SetHeaderRoute(_ context.Context, h *traffic.HeaderRoute) error {
	if err := r.t.lock(); err != nil {
		return err
	}
	defer r.t.c.mu.Unlock()
	if !r.canaryIngress() {
		return fmt.Errorf("%s: %w", r.name, traffic.ErrRouteNotFound)
	}
	if h != nil {
		if err := r.noProduction(); err != nil {
			return err
		}
	}
	r.t.c.header = h
	r.t.c.log("header %v", h)
	return nil
}

func (r fakeRouter) Reset(ctx context.Context) error { return r.SetWeight(ctx, 0) }

// procStore is one server's connection to the shared store: once the
// server is killed, nothing it does reaches the store. beforeUpdate, when
// set, runs before each update with its events, to see what is recorded
// or interleave another server's writes.
type procStore struct {
	store.Store
	dead         *atomic.Bool
	beforeUpdate func(d store.Deployment, events []store.Event)
}

func (s procStore) ClaimDeployment(ctx context.Context, owner string, ttl time.Duration) (store.Deployment, bool, error) {
	if s.dead.Load() {
		return store.Deployment{}, false, errKilled
	}
	return s.Store.ClaimDeployment(ctx, owner, ttl)
}

func (s procStore) GetDeployment(ctx context.Context, id int64) (store.Deployment, error) {
	if s.dead.Load() {
		return store.Deployment{}, errKilled
	}
	return s.Store.GetDeployment(ctx, id)
}

func (s procStore) UpdateDeployment(ctx context.Context, d store.Deployment, owner string, events ...store.Event) (store.Deployment, error) {
	if s.dead.Load() {
		return store.Deployment{}, errKilled
	}
	if s.beforeUpdate != nil {
		s.beforeUpdate(d, events)
	}
	return s.Store.UpdateDeployment(ctx, d, owner, events...)
}

func (s procStore) RenewLease(ctx context.Context, id int64, owner string, ttl time.Duration) error {
	if s.dead.Load() {
		return errKilled
	}
	return s.Store.RenewLease(ctx, id, owner, ttl)
}

func (s procStore) ReleaseLease(ctx context.Context, id int64, owner string) error {
	if s.dead.Load() {
		return errKilled
	}
	return s.Store.ReleaseLease(ctx, id, owner)
}

func (s procStore) AppendEvents(ctx context.Context, events ...store.Event) error {
	if s.dead.Load() {
		return errKilled
	}
	return s.Store.AppendEvents(ctx, events...)
}

func (s procStore) ListDecisions(ctx context.Context, id int64) ([]store.Decision, error) {
	if s.dead.Load() {
		return nil, errKilled
	}
	return s.Store.ListDecisions(ctx, id)
}

func (s procStore) LiveDeployment(ctx context.Context, pipeline string) (store.Deployment, error) {
	if s.dead.Load() {
		return store.Deployment{}, errKilled
	}
	return s.Store.LiveDeployment(ctx, pipeline)
}
