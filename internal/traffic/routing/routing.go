// Package routing picks the traffic provider a deployment's plan names:
// it prepares the manifests for the canary and production namespaces and
// builds the provider's traffic.Router. The executor and the service use
// it, so that no other package needs to know the providers.
package routing

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/kube"
	"fledge.dev/fledge/internal/traffic"
	"fledge.dev/fledge/internal/traffic/gatewayapi"
	"fledge.dev/fledge/internal/traffic/nginx"
)

func header(t v1alpha1.TrafficRouting) traffic.HeaderRoute {
	h := traffic.HeaderRoute{Name: t.TesterHeader.Name, Value: t.TesterHeader.Value}
	if h.Name == "" {
		h = nginx.DefaultHeader
	}
	if h.Value == "" {
		h.Value = v1alpha1.DefaultTesterHeaderValue
	}
	return h
}

// Canary returns the manifests the canary namespace gets: the provider's
// canary form, with Deployments rolled out at full surge (SurgeCanary).
func Canary(t v1alpha1.TrafficRouting, objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	var err error
	switch t.Provider {
	case v1alpha1.TrafficProviderGatewayAPI:
		out, err = gatewayapi.CanaryManifests(objs, t.HTTPRoute)
	case v1alpha1.TrafficProviderNGINX, "":
		if t.Layout == v1alpha1.IngressLayoutBesideProduction {
			out, err = nginx.WithoutIngress(objs, t.Ingress)
		} else {
			out, err = nginx.MarkCanaryHeader(objs, t.Ingress, header(t))
		}
	default:
		return nil, unknown(t)
	}
	if err != nil {
		return nil, err
	}
	return out, SurgeCanary(out)
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
// pod-template hash. Production gets the manifests as written.
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

// Production returns the manifests the production namespace gets.
func Production(t v1alpha1.TrafficRouting, objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	switch t.Provider {
	case v1alpha1.TrafficProviderGatewayAPI:
		if _, err := gatewayapi.Check(objs, t.HTTPRoute); err != nil {
			return nil, err
		}
		out := make([]*unstructured.Unstructured, len(objs))
		for i, o := range objs {
			out[i] = o.DeepCopy()
		}
		return out, nil
	case v1alpha1.TrafficProviderNGINX, "":
		return nginx.StripCanary(objs, t.Ingress)
	}
	return nil, unknown(t)
}

// Check reports what makes the manifests unusable with routing t, before
// anything is deployed: the named Ingress or HTTPRoute is missing, or
// routes to a Service the manifests do not have.
func Check(t v1alpha1.TrafficRouting, objs []*unstructured.Unstructured) error {
	switch t.Provider {
	case v1alpha1.TrafficProviderGatewayAPI:
		_, err := gatewayapi.Check(objs, t.HTTPRoute)
		return err
	case v1alpha1.TrafficProviderNGINX, "":
		if _, err := nginx.MarkCanary(objs, t.Ingress); err != nil {
			return err
		}
		if t.Layout == v1alpha1.IngressLayoutBesideProduction {
			h := header(t)
			if _, err := nginx.BesideProduction(objs, t.Ingress, "canary", &h, 0); err != nil {
				return err
			}
		}
		return nil
	}
	return unknown(t)
}

// Target is where a router works.
type Target struct {
	CanaryNamespace     string
	ProductionNamespace string
	// Manifests are the release's rendered objects (the NGINX
	// beside-production layout builds its canary Ingress from them).
	Manifests []*unstructured.Unstructured
	// Recorder receives the router's events.
	Recorder traffic.Recorder
	// StatusTimeout bounds the Gateway API router's waits for the route's
	// status; 0 means its default.
	StatusTimeout time.Duration
}

// NewRouter builds the router of routing t.
func NewRouter(c *kube.Client, t v1alpha1.TrafficRouting, to Target) (traffic.Router, error) {
	switch t.Provider {
	case v1alpha1.TrafficProviderGatewayAPI:
		return gatewayapi.NewRouter(c, gatewayapi.Config{
			ProductionNamespace: to.ProductionNamespace, CanaryNamespace: to.CanaryNamespace,
			RouteName: t.HTTPRoute, Recorder: to.Recorder, StatusTimeout: to.StatusTimeout,
		}), nil
	case v1alpha1.TrafficProviderNGINX, "":
		if t.Layout == v1alpha1.IngressLayoutBesideProduction {
			return nginx.NewBesideRouter(c, nginx.BesideConfig{
				ProductionNamespace: to.ProductionNamespace, CanaryNamespace: to.CanaryNamespace,
				IngressName: t.Ingress, Manifests: to.Manifests, Header: header(t), Recorder: to.Recorder,
			}), nil
		}
		return nginx.NewRouter(c, to.CanaryNamespace, t.Ingress), nil
	}
	return nil, unknown(t)
}

// RouteName names the object the routing edits, for events:
// "ingress ns/name", "HTTPRoute ns/name".
func RouteName(t v1alpha1.TrafficRouting, canaryNS, prodNS string) string {
	switch {
	case t.Provider == v1alpha1.TrafficProviderGatewayAPI:
		return "HTTPRoute " + prodNS + "/" + t.HTTPRoute
	case t.Layout == v1alpha1.IngressLayoutBesideProduction:
		return "ingress " + prodNS + "/" + t.Ingress + nginx.CanarySuffix
	}
	return "ingress " + canaryNS + "/" + t.Ingress
}

func unknown(t v1alpha1.TrafficRouting) error {
	return fmt.Errorf("unknown traffic provider %q (want %q or %q)", t.Provider, v1alpha1.TrafficProviderNGINX, v1alpha1.TrafficProviderGatewayAPI)
}
