package nginx

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"fledge.dev/fledge/internal/kube"
	"fledge.dev/fledge/internal/traffic"
)

// BesideConfig configures a BesideRouter.
type BesideConfig struct {
	// ProductionNamespace holds the main Ingress, the canary Ingress and
	// the ExternalName Services.
	ProductionNamespace string
	// CanaryNamespace runs the canary's Services.
	CanaryNamespace string
	// IngressName is the manifests' Ingress.
	IngressName string
	// Manifests are the release's rendered objects, from which the canary
	// Ingress and the ExternalName Services are built.
	Manifests []*unstructured.Unstructured
	// Header is the tester header a new canary Ingress gets.
	Header traffic.HeaderRoute
	// Recorder receives an event for every object created.
	Recorder traffic.Recorder
}

// BesideRouter is the router of the beside-production layout: it owns the
// canary Ingress "<ingress>-canary" and the ExternalName Services of the
// production namespace (see BesideProduction), all applied whole with
// Fledge's field manager. It implements traffic.Router.
type BesideRouter struct {
	client *kube.Client
	cfg    BesideConfig
}

var _ traffic.Router = (*BesideRouter)(nil)

// NewBesideRouter returns the router of the beside-production layout.
func NewBesideRouter(c *kube.Client, cfg BesideConfig) *BesideRouter {
	return &BesideRouter{client: c, cfg: cfg}
}

func (r *BesideRouter) canaryRef() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(ingressAPIVersion)
	u.SetKind(ingressKind)
	u.SetName(r.cfg.IngressName + CanarySuffix)
	return u
}

func (r *BesideRouter) where() string {
	return r.cfg.ProductionNamespace + "/" + r.cfg.IngressName + CanarySuffix
}

// liveCanary reads the canary Ingress, nil when it does not exist.
func (r *BesideRouter) liveCanary(ctx context.Context) (*unstructured.Unstructured, error) {
	live, err := r.client.Get(ctx, r.cfg.ProductionNamespace, r.canaryRef())
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read canary ingress %s: %w", r.where(), err)
	}
	return live, nil
}

// SetWeight sends percent of the requests to the canary. A weight above 0
// needs the production Ingress: without it (a pipeline's first release)
// the error matches traffic.ErrNoProduction and nothing is created, as it
// does when the canary Ingress's paths would match none of production's.
// The canary Ingress keeps its tester header. SetWeight(0) only patches an
// existing canary Ingress. Another weight is patched into an existing
// canary Ingress too, once production's Ingress is checked: the canary
// stage applied the release's canary Ingress and ExternalName Services
// whole when it routed the tester header, so only the weight changes.
func (r *BesideRouter) SetWeight(ctx context.Context, percent int) error {
	if percent < 0 || percent > 100 {
		return fmt.Errorf("set canary weight of ingress %s to %d: %w", r.where(), percent, traffic.ErrInvalidWeight)
	}
	live, err := r.liveCanary(ctx)
	if err != nil {
		return err
	}
	if live == nil {
		if percent == 0 {
			return nil
		}
		return r.ensure(ctx, percent, &r.cfg.Header)
	}
	want := strconv.Itoa(percent)
	if live.GetAnnotations()[AnnotationCanaryWeight] == want {
		return nil
	}
	if percent > 0 {
		if err := checkProduction(ctx, r.client, r.cfg.ProductionNamespace, r.cfg.IngressName, live); err != nil {
			return err
		}
	}
	patch := []byte(`{"metadata":{"annotations":{"` + AnnotationCanaryWeight + `":"` + want + `"}}}`)
	if _, err := r.client.MergePatch(ctx, r.cfg.ProductionNamespace, live, patch); err != nil {
		return fmt.Errorf("set canary weight of ingress %s to %d: %w", r.where(), percent, err)
	}
	return r.readBack(ctx, percent)
}

// SetHeaderRoute sets the tester header of the canary Ingress, creating
// it at weight 0 when it does not exist yet (which needs the production
// Ingress, as SetWeight does). nil removes the header annotations.
func (r *BesideRouter) SetHeaderRoute(ctx context.Context, h *traffic.HeaderRoute) error {
	live, err := r.liveCanary(ctx)
	if err != nil {
		return err
	}
	if live == nil {
		if h == nil {
			return nil
		}
		return r.ensure(ctx, 0, h)
	}
	if h == nil {
		return patchHeader(ctx, r.client, r.cfg.ProductionNamespace, live, nil)
	}
	w, err := weightOf(live)
	if err != nil {
		return err
	}
	return r.ensure(ctx, w, h)
}

// Weight returns the canary Ingress's weight; a missing one yields an
// error matching traffic.ErrRouteNotFound.
func (r *BesideRouter) Weight(ctx context.Context) (int, error) {
	live, err := r.liveCanary(ctx)
	if err != nil {
		return 0, err
	}
	if live == nil {
		return 0, fmt.Errorf("read canary weight of ingress %s: %w", r.where(), traffic.ErrRouteNotFound)
	}
	return weightOf(live)
}

// Reset sets the weight to 0; the canary Ingress, its ExternalName
// Services and its tester header stay, as in the canary-namespace layout.
func (r *BesideRouter) Reset(ctx context.Context) error { return r.SetWeight(ctx, 0) }

// ensure applies the ExternalName Services and the canary Ingress at
// weight percent with header h, after checking that production's Ingress
// exists and shares the canary's paths, then reads the weight back.
func (r *BesideRouter) ensure(ctx context.Context, percent int, h *traffic.HeaderRoute) error {
	ns := r.cfg.ProductionNamespace
	objs, err := BesideProduction(r.cfg.Manifests, r.cfg.IngressName, r.cfg.CanaryNamespace, h, percent)
	if err != nil {
		return err
	}
	if err := checkProduction(ctx, r.client, ns, r.cfg.IngressName, objs[len(objs)-1]); err != nil {
		return err
	}
	results, err := r.client.Apply(ctx, ns, objs, kube.ApplyOptions{})
	if err != nil {
		return fmt.Errorf("apply canary ingress %s: %w", r.where(), err)
	}
	for _, res := range results {
		if res.Action != kube.ActionCreated {
			continue
		}
		if res.Kind == ingressKind {
			r.cfg.Recorder.Record("CanaryIngressCreated", "created canary Ingress %s/%s next to production's %s (layout %s)", ns, res.Name, r.cfg.IngressName, "beside-production")
		} else {
			r.cfg.Recorder.Record("CanaryServiceCreated", "created ExternalName Service %s/%s reaching %s.%s", ns, res.Name, strings.TrimSuffix(res.Name, CanarySuffix), r.cfg.CanaryNamespace)
		}
	}
	return r.readBack(ctx, percent)
}

// readBack fails unless the canary Ingress's weight is percent.
func (r *BesideRouter) readBack(ctx context.Context, percent int) error {
	got, err := r.Weight(ctx)
	if err != nil {
		return fmt.Errorf("read back: %w", err)
	}
	if got != percent {
		return fmt.Errorf("canary ingress %s has weight %d after setting it to %d; does another controller rewrite it?", r.where(), got, percent)
	}
	return nil
}

// weightOf reads the weight annotation of a live canary Ingress.
func weightOf(live *unstructured.Unstructured) (int, error) {
	v := live.GetAnnotations()[AnnotationCanaryWeight]
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 100 {
		return 0, fmt.Errorf("canary ingress %s/%s: annotation %s is %q, not a whole number from 0 to 100", live.GetNamespace(), live.GetName(), AnnotationCanaryWeight, v)
	}
	return n, nil
}

// BesideWrites declares what the beside-production router writes: the
// canary Ingress and the ExternalName Services reaching the canary, in the
// production namespace.
func BesideWrites(cfg BesideConfig) []kube.Access {
	r := BesideRouter{cfg: cfg}
	svc := &unstructured.Unstructured{}
	svc.SetAPIVersion("v1")
	svc.SetKind("Service")
	svc.SetName(cfg.IngressName + CanarySuffix)
	return []kube.Access{{Namespace: cfg.ProductionNamespace, Objects: []*unstructured.Unstructured{r.canaryRef(), svc}}}
}
