// Package routing picks the traffic provider a deployment's plan names:
// it prepares the manifests for the canary and production namespaces and
// builds the provider's traffic.Router. The executor and the service use
// it, so that no other package needs to know the providers.
//
// The provider is chosen once, by For (a plan) or New (a pipeline about to
// run); every question about it is then a method of that one value. A new
// provider or layout is one more implementation of Provider.
package routing

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/kube"
	"fledge.dev/fledge/internal/pipeline"
	"fledge.dev/fledge/internal/traffic"
	"fledge.dev/fledge/internal/traffic/gatewayapi"
	"fledge.dev/fledge/internal/traffic/nginx"
)

// Provider is one routing's traffic provider between a canary and a
// production namespace.
type Provider interface {
	// Canary returns the manifests the canary namespace gets: the
	// provider's canary form, with Deployments rolled out at full surge
	// (SurgeCanary). objs are not changed.
	Canary(objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error)
	// Production returns the manifests the production namespace gets.
	Production(objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error)
	// Check reports what makes the manifests unusable with this routing,
	// before anything is deployed: the named Ingress or HTTPRoute is
	// missing, or routes to a Service the manifests do not have.
	Check(objs []*unstructured.Unstructured) error
	// Services returns the Services of the production namespace the
	// routing splits, in order: the Ingress's or HTTPRoute's backends.
	Services(objs []*unstructured.Unstructured) ([]string, error)
	// RouteName names the object the router edits, for events:
	// "ingress ns/name", "HTTPRoute ns/name".
	RouteName() string
	// NewRouter builds the provider's router on cluster c. Every router
	// refuses a weight above 0 with an error matching
	// traffic.ErrNoProduction while the production namespace has nothing
	// for the canary to split (a pipeline's first release).
	NewRouter(c *kube.Client, to Target) traffic.Router
	// RouterWrites declares the objects the router writes, for the
	// permission check before a stage acts (kube.Client.CheckAccess).
	RouterWrites() []kube.Access
}

// Target is what a router needs beyond the provider's settings.
type Target struct {
	// Manifests are the release's rendered objects (the NGINX
	// beside-production layout builds its canary Ingress from them).
	Manifests []*unstructured.Unstructured
	// Recorder receives the router's events.
	Recorder traffic.Recorder
	// StatusTimeout bounds the Gateway API router's waits for the route's
	// status; 0 means its default.
	StatusTimeout time.Duration
}

// Namespaces are the two namespaces a routing splits requests between.
type Namespaces struct {
	Canary     string
	Production string
}

// New returns the provider of routing t between namespaces ns.
func New(t v1alpha1.TrafficRouting, ns Namespaces) (Provider, error) {
	switch t.Provider {
	case v1alpha1.TrafficProviderGatewayAPI:
		return gatewayAPI{t: t, ns: ns}, nil
	case v1alpha1.TrafficProviderNGINX, "":
		if t.Layout == v1alpha1.IngressLayoutBesideProduction {
			return nginxBeside{nginxIngress{t: t, ns: ns}}, nil
		}
		return nginxCanaryNamespace{nginxIngress{t: t, ns: ns}}, nil
	}
	return nil, fmt.Errorf("unknown traffic provider %q (want %q or %q)", t.Provider, v1alpha1.TrafficProviderNGINX, v1alpha1.TrafficProviderGatewayAPI)
}

// Plan is a deployment's plan with its traffic provider chosen.
type Plan struct {
	Provider
	plan *pipeline.Plan
	open Opener
}

// Opener turns a plan's stored manifests into the text to decode: the
// values of its Secrets, sealed in the store, opened (redact.Open with
// the server's key). It errs rather than return a value it cannot open.
type Opener func(manifests string) (string, error)

// For returns plan p with the provider its routing names. open is called
// each time the manifests are decoded, so that opened Secret values live
// no longer than the objects built from them; nil decodes them as stored.
func For(p *pipeline.Plan, open Opener) (*Plan, error) {
	pr, err := New(p.Routing(), Namespaces{Canary: p.CanaryNamespace, Production: p.ProductionNamespace})
	if err != nil {
		return nil, err
	}
	return &Plan{Provider: pr, plan: p, open: open}, nil
}

// Manifests decodes the plan's stored manifests, opened.
func (p *Plan) Manifests() ([]*unstructured.Unstructured, error) {
	text := p.plan.Manifests
	if p.open != nil {
		var err error
		if text, err = p.open(text); err != nil {
			return nil, err
		}
	}
	objs, err := kube.Decode(text)
	if err != nil {
		return nil, fmt.Errorf("decode stored manifests: %w", err)
	}
	return objs, nil
}

// CanaryObjects returns the plan's manifests as the canary namespace gets
// them.
func (p *Plan) CanaryObjects() ([]*unstructured.Unstructured, error) {
	objs, err := p.Manifests()
	if err != nil {
		return nil, err
	}
	if objs, err = p.Canary(objs); err != nil {
		return nil, err
	}
	return objs, ScaleCanary(objs, p.plan.CanaryScale)
}

// ScaleCanary sets the replicas of every apps/v1 Deployment among objs as
// scale says (a manifest without replicas asks for one), replacing it in
// objs by a changed copy; nil changes nothing. Production gets the
// manifests' counts: only the canary is smaller.
func ScaleCanary(objs []*unstructured.Unstructured, scale *v1alpha1.CanaryScale) error {
	if scale == nil {
		return nil
	}
	for i, o := range objs {
		if o.GetAPIVersion() != "apps/v1" || o.GetKind() != "Deployment" {
			continue
		}
		replicas, set, err := unstructured.NestedInt64(o.Object, "spec", "replicas")
		if err != nil {
			return fmt.Errorf("deployment %s: spec.replicas: %w", o.GetName(), err)
		}
		if !set {
			replicas = 1
		}
		o = o.DeepCopy()
		if err := unstructured.SetNestedField(o.Object, int64(scale.Of(int(replicas))), "spec", "replicas"); err != nil {
			return fmt.Errorf("deployment %s: set spec.replicas: %w", o.GetName(), err)
		}
		objs[i] = o
	}
	return nil
}

// ProductionObjects returns the plan's manifests as the production
// namespace gets them.
func (p *Plan) ProductionObjects() ([]*unstructured.Unstructured, error) {
	objs, err := p.Manifests()
	if err != nil {
		return nil, err
	}
	return p.Production(objs)
}

// KeepCanary returns production's objects (ProductionObjects) in the form
// that keeps the requests a canary has while production is applied. Only
// a route that production and the canary share (Gateway API's HTTPRoute)
// needs it: its manifest is production's form, and live, which reads an
// object in production's namespace (nil, nil when it does not exist),
// tells what the canary has now; promoted says the canary is being given
// every request meanwhile, so the route is written at weight 100 whatever
// live says. The NGINX layouts give the canary an Ingress of its own, so
// their objects are returned as they are.
func (p *Plan) KeepCanary(ctx context.Context, objs []*unstructured.Unstructured, live func(context.Context, *unstructured.Unstructured) (*unstructured.Unstructured, error), promoted bool) ([]*unstructured.Unstructured, error) {
	g, ok := p.Provider.(gatewayAPI)
	if !ok {
		return objs, nil
	}
	for _, o := range objs {
		if o.GetKind() != gatewayapi.RouteKind || o.GetName() != g.t.HTTPRoute {
			continue
		}
		cur, err := live(ctx, o)
		if err != nil {
			return nil, fmt.Errorf("read HTTPRoute %s/%s: %w", g.ns.Production, o.GetName(), err)
		}
		return gatewayapi.KeepCanary(objs, g.t.HTTPRoute, g.ns.Canary, cur, promoted)
	}
	return objs, nil
}

func header(t v1alpha1.TrafficRouting) traffic.HeaderRoute {
	h := traffic.HeaderRoute{Name: t.TesterHeader.Name, Value: t.TesterHeader.Value}
	if h.Name == "" {
		h = nginx.DefaultHeader
	}
	h.Cookie = t.TesterCookie
	if h.Value == "" {
		h.Value = v1alpha1.DefaultTesterHeaderValue
	}
	return h
}

// nginxIngress is what both NGINX layouts share: production gets the
// manifests' Ingress without canary annotations.
type nginxIngress struct {
	t  v1alpha1.TrafficRouting
	ns Namespaces
}

func (p nginxIngress) Production(objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	return nginx.StripCanary(objs, p.t.Ingress)
}

func (p nginxIngress) Services(objs []*unstructured.Unstructured) ([]string, error) {
	return nginx.Services(objs, p.t.Ingress)
}

func (p nginxIngress) Check(objs []*unstructured.Unstructured) error {
	_, err := nginx.MarkCanary(objs, p.t.Ingress)
	return err
}

// nginxCanaryNamespace is NGINX with the canary Ingress deployed in the
// canary namespace from the manifests, splitting the requests of the main
// Ingress of the production namespace.
type nginxCanaryNamespace struct{ nginxIngress }

func (p nginxCanaryNamespace) Canary(objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	return surged(nginx.MarkCanaryHeader(objs, p.t.Ingress, header(p.t)))
}

func (p nginxCanaryNamespace) RouteName() string {
	return "ingress " + p.ns.Canary + "/" + p.t.Ingress
}

func (p nginxCanaryNamespace) RouterWrites() []kube.Access {
	return nginx.Writes(p.ns.Canary, p.t.Ingress)
}

func (p nginxCanaryNamespace) NewRouter(c *kube.Client, _ Target) traffic.Router {
	return nginx.NewRouter(c, p.ns.Canary, p.ns.Production, p.t.Ingress)
}

// nginxBeside is NGINX with the canary Ingress built beside the main one in
// the production namespace (see nginx.BesideProduction).
type nginxBeside struct{ nginxIngress }

func (p nginxBeside) Canary(objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	return surged(nginx.WithoutIngress(objs, p.t.Ingress))
}

func (p nginxBeside) Check(objs []*unstructured.Unstructured) error {
	if err := p.nginxIngress.Check(objs); err != nil {
		return err
	}
	h := header(p.t)
	_, err := nginx.BesideProduction(objs, p.t.Ingress, "canary", &h, 0)
	return err
}

func (p nginxBeside) RouteName() string {
	return "ingress " + p.ns.Production + "/" + p.t.Ingress + nginx.CanarySuffix
}

func (p nginxBeside) NewRouter(c *kube.Client, to Target) traffic.Router {
	return nginx.NewBesideRouter(c, p.config(to))
}

func (p nginxBeside) RouterWrites() []kube.Access { return nginx.BesideWrites(p.config(Target{})) }

func (p nginxBeside) config(to Target) nginx.BesideConfig {
	return nginx.BesideConfig{
		ProductionNamespace: p.ns.Production, CanaryNamespace: p.ns.Canary,
		IngressName: p.t.Ingress, Manifests: to.Manifests, Header: header(p.t), Recorder: to.Recorder,
	}
}

// gatewayAPI is a Gateway API HTTPRoute of the production namespace with a
// weighted backend in the canary namespace.
type gatewayAPI struct {
	t  v1alpha1.TrafficRouting
	ns Namespaces
}

func (p gatewayAPI) Canary(objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	return surged(gatewayapi.CanaryManifests(objs, p.t.HTTPRoute))
}

func (p gatewayAPI) Production(objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	if err := p.Check(objs); err != nil {
		return nil, err
	}
	out := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		out[i] = o.DeepCopy()
	}
	return out, nil
}

func (p gatewayAPI) Services(objs []*unstructured.Unstructured) ([]string, error) {
	return gatewayapi.Check(objs, p.t.HTTPRoute)
}

func (p gatewayAPI) Check(objs []*unstructured.Unstructured) error {
	_, err := gatewayapi.Check(objs, p.t.HTTPRoute)
	return err
}

func (p gatewayAPI) RouteName() string {
	return "HTTPRoute " + p.ns.Production + "/" + p.t.HTTPRoute
}

func (p gatewayAPI) NewRouter(c *kube.Client, to Target) traffic.Router {
	return gatewayapi.NewRouter(c, p.config(to))
}

func (p gatewayAPI) RouterWrites() []kube.Access { return gatewayapi.Writes(p.config(Target{})) }

func (p gatewayAPI) config(to Target) gatewayapi.Config {
	return gatewayapi.Config{
		ProductionNamespace: p.ns.Production, CanaryNamespace: p.ns.Canary,
		RouteName: p.t.HTTPRoute, Recorder: to.Recorder, StatusTimeout: to.StatusTimeout,
	}
}

// surged finishes a provider's canary form with SurgeCanary.
func surged(objs []*unstructured.Unstructured, err error) ([]*unstructured.Unstructured, error) {
	if err != nil {
		return nil, err
	}
	return objs, SurgeCanary(objs)
}

// CanarySurge is the maxSurge SurgeCanary gives canary Deployments.
const CanarySurge = "100%"

// SurgeCanary sets maxSurge to CanarySurge on the rolling update of every
// apps/v1 Deployment among objs whose manifest leaves it unset, replacing
// it in objs by a changed copy. A new canary takes no weighted traffic until its rollout
// is complete (the weight is 0 between releases), so there is no reason to
// replace its pods a few at a time: all new pods start at once and the
// canary is ready after one pod start-up instead of one per surge step. A
// Deployment's explicit maxSurge, and the Recreate strategy, are kept. The
// pod template is not touched, so canary and production pods keep the same
// pod-template hash. Production gets the manifests as written, except
// while a promoted canary holds every request: production then takes none
// during its rollout, and it rolls out at full surge too.
func SurgeCanary(objs []*unstructured.Unstructured) error {
	for i, o := range objs {
		if o.GetAPIVersion() != "apps/v1" || o.GetKind() != "Deployment" {
			continue
		}
		typ, _, err := unstructured.NestedString(o.Object, "spec", "strategy", "type")
		if err != nil {
			return fmt.Errorf("deployment %s: spec.strategy.type: %w", o.GetName(), err)
		}
		if typ != "" && typ != "RollingUpdate" {
			continue
		}
		if _, set, err := unstructured.NestedFieldNoCopy(o.Object, "spec", "strategy", "rollingUpdate", "maxSurge"); err != nil || set {
			if err != nil {
				return fmt.Errorf("deployment %s: spec.strategy.rollingUpdate.maxSurge: %w", o.GetName(), err)
			}
			continue
		}
		o = o.DeepCopy()
		if err := unstructured.SetNestedField(o.Object, CanarySurge, "spec", "strategy", "rollingUpdate", "maxSurge"); err != nil {
			return fmt.Errorf("deployment %s: set spec.strategy.rollingUpdate.maxSurge: %w", o.GetName(), err)
		}
		objs[i] = o
	}
	return nil
}
