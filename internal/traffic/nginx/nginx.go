// Package nginx is the traffic provider for the NGINX ingress controller
// (ingress-nginx) and the controllers that read its annotations. Its canary
// is a second Ingress, with the same host and path as production's,
// carrying the canary annotations: NGINX sends it the requests that have
// the tester header ("redirect-to-canary: always") and a weighted share of
// the others.
//
// Two layouts, chosen per environment (v1alpha1.EnvironmentSpec.IngressLayout):
//
//   - canary-namespace, the walkthrough's: the manifests' Ingress is deployed
//     into the canary namespace marked as canary with weight 0 (MarkCanary)
//     and into production without any canary annotation (StripCanary).
//     Router changes only the weight annotation, as its own field manager,
//     so that it never disturbs the fields the deployment's manager owns.
//     Only ingress-nginx matches a canary with its main Ingress across
//     namespaces.
//   - beside-production: the canary namespace gets the manifests without
//     the Ingress (WithoutIngress); the canary Ingress "<name>-canary" lives
//     in the production namespace and routes to ExternalName Services
//     "<service>-canary" that reach the canary namespace's Services
//     (BesideProduction). BesideRouter owns those objects. Traefik's
//     kubernetesIngressNGINX provider needs this layout.
package nginx

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"fledge.dev/fledge/internal/traffic"
)

// The annotations of ingress-nginx's canary feature.
const (
	// AnnotationPrefix starts every canary annotation.
	AnnotationPrefix = "nginx.ingress.kubernetes.io/canary"
	// AnnotationCanary marks an Ingress as the canary of the Ingress with
	// the same host and path ("true").
	AnnotationCanary = "nginx.ingress.kubernetes.io/canary"
	// AnnotationCanaryByHeader names the request header that forces the
	// choice: "always" to the canary, "never" to production.
	AnnotationCanaryByHeader = "nginx.ingress.kubernetes.io/canary-by-header"
	// AnnotationCanaryByHeaderValue is the value of that header that sends
	// a request to the canary, when it is not "always".
	AnnotationCanaryByHeaderValue = "nginx.ingress.kubernetes.io/canary-by-header-value"
	// AnnotationCanaryByCookie names the cookie that sends a request to the
	// canary when its value is "always" (and keeps it away with "never").
	AnnotationCanaryByCookie = "nginx.ingress.kubernetes.io/canary-by-cookie"
	// AnnotationCanaryWeight is the percentage of the other requests sent
	// to the canary, as a decimal string.
	AnnotationCanaryWeight = "nginx.ingress.kubernetes.io/canary-weight"
	// CanaryHeader is the header Fledge's canaries listen to by default.
	CanaryHeader = "redirect-to-canary"
	// HeaderAlways is ingress-nginx's header value for "to the canary".
	HeaderAlways = "always"
)

// DefaultHeader is the tester header of the walkthrough.
var DefaultHeader = traffic.HeaderRoute{Name: CanaryHeader, Value: HeaderAlways}

// setHeader writes the annotations of tester header h into ann, or removes
// them when h is nil. "always" is ingress-nginx's own keyword and needs no
// value annotation.
func setHeader(ann map[string]string, h *traffic.HeaderRoute) {
	delete(ann, AnnotationCanaryByHeaderValue)
	delete(ann, AnnotationCanaryByCookie)
	if h == nil {
		delete(ann, AnnotationCanaryByHeader)
		return
	}
	ann[AnnotationCanaryByHeader] = h.Name
	if h.Value != HeaderAlways {
		ann[AnnotationCanaryByHeaderValue] = h.Value
	}
	if h.Cookie != "" {
		ann[AnnotationCanaryByCookie] = h.Cookie
	}
}

// headerOf reads the tester header of a canary Ingress's annotations, nil
// when it has none.
func headerOf(ann map[string]string) *traffic.HeaderRoute {
	name := ann[AnnotationCanaryByHeader]
	if name == "" {
		return nil
	}
	h := &traffic.HeaderRoute{Name: name, Value: ann[AnnotationCanaryByHeaderValue], Cookie: ann[AnnotationCanaryByCookie]}
	if h.Value == "" {
		h.Value = HeaderAlways
	}
	return h
}

// Identity of the Ingress kind this provider edits.
const (
	ingressAPIVersion = "networking.k8s.io/v1"
	ingressKind       = "Ingress"
)

// MarkCanary returns deep copies of objs in which the networking.k8s.io/v1
// Ingress named ingressName carries the canary annotations with weight 0,
// next to its own annotations. It fails when the manifests have no such
// Ingress, naming what they have instead.
func MarkCanary(objs []*unstructured.Unstructured, ingressName string) ([]*unstructured.Unstructured, error) {
	return MarkCanaryHeader(objs, ingressName, DefaultHeader)
}

// MarkCanaryHeader is MarkCanary with tester header h instead of the
// default one.
func MarkCanaryHeader(objs []*unstructured.Unstructured, ingressName string, h traffic.HeaderRoute) ([]*unstructured.Unstructured, error) {
	out, ing, err := copyWithIngress(objs, ingressName)
	if err != nil {
		return nil, err
	}
	ann := ing.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[AnnotationCanary] = "true"
	setHeader(ann, &h)
	ann[AnnotationCanaryWeight] = "0"
	ing.SetAnnotations(ann)
	return out, nil
}

// StripCanary returns deep copies of objs in which the Ingress named
// ingressName has no nginx.ingress.kubernetes.io/canary* annotation: the
// production form of the manifests. It fails like MarkCanary when there is
// no such Ingress.
func StripCanary(objs []*unstructured.Unstructured, ingressName string) ([]*unstructured.Unstructured, error) {
	out, ing, err := copyWithIngress(objs, ingressName)
	if err != nil {
		return nil, err
	}
	ann := ing.GetAnnotations()
	for k := range ann {
		if strings.HasPrefix(k, AnnotationPrefix) {
			delete(ann, k)
		}
	}
	if len(ann) == 0 {
		unstructured.RemoveNestedField(ing.Object, "metadata", "annotations")
	} else {
		ing.SetAnnotations(ann)
	}
	return out, nil
}

// copyWithIngress deep-copies objs and returns the copy of the Ingress
// named name.
func copyWithIngress(objs []*unstructured.Unstructured, name string) ([]*unstructured.Unstructured, *unstructured.Unstructured, error) {
	if name == "" {
		return nil, nil, fmt.Errorf("no ingress name given")
	}
	out := make([]*unstructured.Unstructured, len(objs))
	var (
		ing   *unstructured.Unstructured
		found []string
	)
	for i, o := range objs {
		out[i] = o.DeepCopy()
		found = append(found, o.GetKind()+"/"+o.GetName())
		if o.GetKind() != ingressKind || o.GetName() != name {
			continue
		}
		if o.GetAPIVersion() != ingressAPIVersion {
			return nil, nil, fmt.Errorf("ingress %s is %s, want %s", name, o.GetAPIVersion(), ingressAPIVersion)
		}
		if ing != nil {
			return nil, nil, fmt.Errorf("ingress %s appears more than once in the manifests", name)
		}
		ing = out[i]
	}
	if ing == nil {
		have := "nothing"
		if len(found) > 0 {
			have = strings.Join(found, ", ")
		}
		return nil, nil, fmt.Errorf("the manifests have no %s Ingress named %q to use as the canary; they have %s", ingressAPIVersion, name, have)
	}
	return out, ing, nil
}
