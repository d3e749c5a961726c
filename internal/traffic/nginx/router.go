package nginx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"fledge.dev/fledge/internal/kube"
	"fledge.dev/fledge/internal/traffic"
)

// FieldManager owns the weight annotation. It differs from the
// deployment's manager (kube.FieldManager), so that a weight change never
// removes or takes over anything else, and a later deployment of the
// canary manifests (weight "0", force=true) simply takes the field back.
const FieldManager = "fledge-traffic"

// ErrNotCanary means the Ingress exists but is not marked as a canary, so
// a weight on it would have no effect.
var ErrNotCanary = errors.New("ingress is not an NGINX canary")

// Router sets the canary weight of one Ingress: the canary-namespace
// layout, where the Ingress is deployed from the manifests (MarkCanary).
// The canary Ingress only splits the requests of the main Ingress of the
// same name in the production namespace, so a weight above 0 and the
// tester header need that one to exist and share the canary's paths. It
// implements traffic.Router.
type Router struct {
	client *kube.Client
	ns     string
	prodNS string
	name   string
}

var _ traffic.Router = (*Router)(nil)

// NewRouter returns the router of the canary Ingress ingressName in
// namespace ns, the canary of the Ingress of the same name in namespace
// prodNS.
func NewRouter(c *kube.Client, ns, prodNS, ingressName string) *Router {
	return &Router{client: c, ns: ns, prodNS: prodNS, name: ingressName}
}

// ingressRef is the object the router reads: only its identity.
func (r *Router) ingressRef() *unstructured.Unstructured { return IngressRef(r.name) }

// IngressRef names Ingress name: its apiVersion, kind and name only.
func IngressRef(name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(ingressAPIVersion)
	u.SetKind(ingressKind)
	u.SetName(name)
	return u
}

// SetWeight sets the canary-weight annotation to percent with a
// server-side apply of that annotation alone (field manager
// "fledge-traffic", force=true), then reads the Ingress back and fails if
// the annotation differs. Nothing is written when the weight is already
// percent. SetWeight(0) succeeds without doing anything when the Ingress or
// its namespace is missing or the Ingress is not a canary; any other
// weight then fails with traffic.ErrRouteNotFound or ErrNotCanary. A weight
// above 0 with no production Ingress to split (a pipeline's first release),
// or one whose paths are not the canary's, fails with an error matching
// traffic.ErrNoProduction and writes nothing.
func (r *Router) SetWeight(ctx context.Context, percent int) error {
	if percent < 0 || percent > 100 {
		return fmt.Errorf("set canary weight of ingress %s/%s to %d: %w", r.ns, r.name, percent, traffic.ErrInvalidWeight)
	}
	live, err := r.client.Get(ctx, r.ns, r.ingressRef())
	switch {
	case apierrors.IsNotFound(err) && percent == 0:
		return nil
	case apierrors.IsNotFound(err):
		return fmt.Errorf("set canary weight of ingress %s/%s: %w: %w", r.ns, r.name, traffic.ErrRouteNotFound, err)
	case err != nil:
		return fmt.Errorf("set canary weight of ingress %s/%s: %w", r.ns, r.name, err)
	}
	ann := live.GetAnnotations()
	if ann[AnnotationCanary] != "true" {
		if percent == 0 {
			return nil
		}
		return fmt.Errorf("set canary weight of ingress %s/%s: %w (annotation %s is %q, want \"true\")", r.ns, r.name, ErrNotCanary, AnnotationCanary, ann[AnnotationCanary])
	}
	want := strconv.Itoa(percent)
	if ann[AnnotationCanaryWeight] == want {
		return nil
	}
	if percent > 0 {
		if err := checkProduction(ctx, r.client, r.prodNS, r.name, live); err != nil {
			return fmt.Errorf("set canary weight of ingress %s/%s to %d: %w", r.ns, r.name, percent, err)
		}
	}

	patch := r.ingressRef()
	patch.SetAnnotations(map[string]string{AnnotationCanaryWeight: want})
	if _, err := r.client.ApplyObject(ctx, r.ns, patch, kube.ApplyOptions{FieldManager: FieldManager}); err != nil {
		return fmt.Errorf("set canary weight of ingress %s/%s to %d: %w", r.ns, r.name, percent, err)
	}
	got, err := r.weightAnnotation(ctx)
	if err != nil {
		return fmt.Errorf("set canary weight of ingress %s/%s: read back: %w", r.ns, r.name, err)
	}
	if got != want {
		return fmt.Errorf("set canary weight of ingress %s/%s: annotation %s is %q after setting it to %q; does another controller rewrite it?", r.ns, r.name, AnnotationCanaryWeight, got, want)
	}
	return nil
}

// Weight returns the canary weight of the Ingress: its canary-weight
// annotation, 0 when the annotation is absent. A missing Ingress yields an
// error matching traffic.ErrRouteNotFound.
func (r *Router) Weight(ctx context.Context) (int, error) {
	v, err := r.weightAnnotation(ctx)
	if err != nil {
		return 0, fmt.Errorf("read canary weight of ingress %s/%s: %w", r.ns, r.name, err)
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 100 {
		return 0, fmt.Errorf("read canary weight of ingress %s/%s: annotation %s is %q, not a whole number from 0 to 100", r.ns, r.name, AnnotationCanaryWeight, v)
	}
	return n, nil
}

// weightAnnotation reads the live value of the weight annotation.
func (r *Router) weightAnnotation(ctx context.Context) (string, error) {
	live, err := r.client.Get(ctx, r.ns, r.ingressRef())
	if apierrors.IsNotFound(err) {
		return "", fmt.Errorf("%w: %w", traffic.ErrRouteNotFound, err)
	}
	if err != nil {
		return "", err
	}
	return live.GetAnnotations()[AnnotationCanaryWeight], nil
}

// SetHeaderRoute sets the tester header annotations of the canary Ingress
// to h (nil removes them) with a merge patch, when they differ. The canary
// manifests (MarkCanaryHeader) already carry the pipeline's header, so in
// a normal run this only reads. A missing Ingress is fine for nil and an
// error matching traffic.ErrRouteNotFound otherwise. A header with no
// production Ingress to pair the canary with fails like SetWeight, with
// traffic.ErrNoProduction: the annotations are there, but no controller
// routes the header to a canary Ingress that has no main one.
func (r *Router) SetHeaderRoute(ctx context.Context, h *traffic.HeaderRoute) error {
	live, err := r.client.Get(ctx, r.ns, r.ingressRef())
	switch {
	case apierrors.IsNotFound(err) && h == nil:
		return nil
	case apierrors.IsNotFound(err):
		return fmt.Errorf("set tester header of ingress %s/%s: %w: %w", r.ns, r.name, traffic.ErrRouteNotFound, err)
	case err != nil:
		return fmt.Errorf("set tester header of ingress %s/%s: %w", r.ns, r.name, err)
	}
	ann := live.GetAnnotations()
	if ann[AnnotationCanary] != "true" {
		if h == nil {
			return nil
		}
		return fmt.Errorf("set tester header of ingress %s/%s: %w", r.ns, r.name, ErrNotCanary)
	}
	if h != nil {
		if err := checkProduction(ctx, r.client, r.prodNS, r.name, live); err != nil {
			return fmt.Errorf("set tester header of ingress %s/%s: %w", r.ns, r.name, err)
		}
	}
	return patchHeader(ctx, r.client, r.ns, live, h)
}

// checkProduction fails with traffic.ErrNoProduction unless namespace
// prodNS has the main Ingress name and it serves every path of canary,
// since controllers match a canary Ingress to its main one by host, path
// and path type. Both layouts ask it before giving the canary requests.
func checkProduction(ctx context.Context, c *kube.Client, prodNS, name string, canary *unstructured.Unstructured) error {
	ref := &unstructured.Unstructured{}
	ref.SetAPIVersion(ingressAPIVersion)
	ref.SetKind(ingressKind)
	ref.SetName(name)
	main, err := c.Get(ctx, prodNS, ref)
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%w: production namespace %s has no Ingress %s yet, so a canary Ingress has no requests to split (a pipeline's first release has no production to split with: its canary stays at weight 0 until the release is approved)",
			traffic.ErrNoProduction, prodNS, name)
	}
	if err != nil {
		return fmt.Errorf("read production ingress %s/%s: %w", prodNS, name, err)
	}
	if miss := unmatched(main.Object, canary.Object); len(miss) > 0 {
		return fmt.Errorf("%w: the canary's paths %s are not paths of production's Ingress %s/%s, and controllers match a canary Ingress to its main one by host, path and path type",
			traffic.ErrNoProduction, strings.Join(miss, ", "), prodNS, name)
	}
	return nil
}

// patchHeader changes the tester header annotations of a live canary
// Ingress to h when they differ.
func patchHeader(ctx context.Context, c *kube.Client, ns string, live *unstructured.Unstructured, h *traffic.HeaderRoute) error {
	cur := headerOf(live.GetAnnotations())
	if (cur == nil && h == nil) || (cur != nil && h != nil && *cur == *h) {
		return nil
	}
	want := map[string]string{}
	setHeader(want, h)
	ann := map[string]any{AnnotationCanaryByHeader: nil, AnnotationCanaryByHeaderValue: nil, AnnotationCanaryByCookie: nil}
	for k, v := range want {
		ann[k] = v
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": ann}})
	if err != nil {
		return fmt.Errorf("encode patch: %w", err)
	}
	if _, err := c.MergePatch(ctx, ns, live, patch); err != nil {
		return fmt.Errorf("set tester header of ingress %s/%s: %w", ns, live.GetName(), err)
	}
	return nil
}

// Reset sets the weight to 0. The canary Ingress and its tester header
// stay, as the walkthrough shows them after a release.
func (r *Router) Reset(ctx context.Context) error { return r.SetWeight(ctx, 0) }

// Writes declares what the router of the canary Ingress ingressName in ns
// writes: that Ingress, with server-side apply.
func Writes(ns, ingressName string) []kube.Access {
	r := Router{ns: ns, name: ingressName}
	return []kube.Access{{Namespace: ns, Objects: []*unstructured.Unstructured{r.ingressRef()}}}
}
