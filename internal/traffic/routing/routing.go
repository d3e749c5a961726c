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

// Canary returns the manifests the canary namespace gets.
func Canary(t v1alpha1.TrafficRouting, objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	switch t.Provider {
	case v1alpha1.TrafficProviderGatewayAPI:
		return gatewayapi.CanaryManifests(objs, t.HTTPRoute)
	case v1alpha1.TrafficProviderNGINX, "":
		if t.Layout == v1alpha1.IngressLayoutBesideProduction {
			return nginx.WithoutIngress(objs, t.Ingress)
		}
		return nginx.MarkCanaryHeader(objs, t.Ingress, header(t))
	}
	return nil, unknown(t)
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
