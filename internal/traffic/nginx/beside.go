package nginx

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"fledge.dev/fledge/internal/traffic"
)

// CanarySuffix ends the names of the objects of the beside-production
// layout: the canary Ingress "<ingress>-canary" and the ExternalName
// Services "<service>-canary".
const CanarySuffix = "-canary"

// Marks of the objects Fledge builds for the beside-production layout.
const (
	// ManagedByLabel says which tool manages an object.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// CanaryOfAnnotation names the namespace/name an object stands in for.
	CanaryOfAnnotation = "fledge.dev/canary-of"
)

// WithoutIngress returns deep copies of objs without the Ingress named
// ingressName: what the canary namespace gets in the beside-production
// layout, where the canary Ingress lives next to production's. It fails
// like MarkCanary when there is no such Ingress.
func WithoutIngress(objs []*unstructured.Unstructured, ingressName string) ([]*unstructured.Unstructured, error) {
	all, ing, err := copyWithIngress(objs, ingressName)
	if err != nil {
		return nil, err
	}
	out := make([]*unstructured.Unstructured, 0, len(all)-1)
	for _, o := range all {
		if o != ing {
			out = append(out, o)
		}
	}
	return out, nil
}

// BesideProduction builds the objects of the beside-production layout, for
// the production namespace, from the manifests' Ingress ingressName:
//
//   - for each Service the Ingress routes to, an ExternalName Service
//     "<service>-canary" whose externalName is
//     "<service>.<canaryNS>.svc.cluster.local", with the same ports: a
//     backend that differs from production's by name (Traefik ignores a
//     canary whose backend equals the main one) and reaches the canary;
//   - the canary Ingress "<ingress>-canary": the same class, hosts, paths
//     and path types as the manifests' Ingress (controllers match a canary
//     to its main Ingress by those), its annotations plus the canary ones
//     with weight percent and tester header h (nil: none), routing to the
//     ExternalName Services.
//
// The canary Ingress comes last. Every Service the Ingress routes to must
// be in the manifests, since the canary namespace only has those.
func BesideProduction(objs []*unstructured.Unstructured, ingressName, canaryNS string, h *traffic.HeaderRoute, percent int) ([]*unstructured.Unstructured, error) {
	return canaryBeside(objs, ingressName, canaryNS, CanarySuffix, ingressName+CanarySuffix, h, percent)
}

// canaryBeside builds ExternalName Services "<service><suffix>" reaching
// targetNS and a canary Ingress called name routing to them, as
// BesideProduction describes.
func canaryBeside(objs []*unstructured.Unstructured, ingressName, targetNS, suffix, name string, h *traffic.HeaderRoute, percent int) ([]*unstructured.Unstructured, error) {
	if percent < 0 || percent > 100 {
		return nil, fmt.Errorf("canary weight %d: %w", percent, traffic.ErrInvalidWeight)
	}
	out, ing, err := routeTo(objs, ingressName, targetNS, suffix)
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		if o.GetKind() == ingressKind && o.GetName() == name {
			return nil, fmt.Errorf("the manifests already have an Ingress named %s, the name of the Ingress Fledge creates next to production's", name)
		}
	}
	ing.SetName(name)
	ann := withoutCanary(ing.GetAnnotations())
	ann[AnnotationCanary] = "true"
	setHeader(ann, h)
	ann[AnnotationCanaryWeight] = fmt.Sprint(percent)
	ann[CanaryOfAnnotation] = targetNS + "/" + ingressName
	ing.SetAnnotations(ann)
	ing.SetLabels(withManagedBy(ing.GetLabels()))
	return append(out, ing), nil
}

// routeTo copies the manifests' Ingress ingressName with its Service
// backends renamed "<service><suffix>", and builds those ExternalName
// Services reaching each Service in targetNS. It returns the Services and
// the Ingress apart (the Ingress has no namespace set). Every Service the
// Ingress routes to must be in the manifests, since targetNS only has
// those.
func routeTo(objs []*unstructured.Unstructured, ingressName, targetNS, suffix string) ([]*unstructured.Unstructured, *unstructured.Unstructured, error) {
	if targetNS == "" {
		return nil, nil, fmt.Errorf("no target namespace given")
	}
	copies, src, err := copyWithIngress(objs, ingressName)
	if err != nil {
		return nil, nil, err
	}
	services := map[string]*unstructured.Unstructured{}
	for _, o := range copies {
		if o.GetKind() == "Service" && o.GetAPIVersion() == "v1" {
			services[o.GetName()] = o
		}
	}
	ing := src.DeepCopy()
	backends, err := rewriteBackends(ing.Object, suffix)
	if err != nil {
		return nil, nil, fmt.Errorf("ingress %s: %w", ingressName, err)
	}
	if len(backends) == 0 {
		return nil, nil, fmt.Errorf("ingress %s routes to no Service: there is nothing to send to %s", ingressName, targetNS)
	}
	var out []*unstructured.Unstructured
	for _, name := range backends {
		svc, ok := services[name]
		if !ok {
			return nil, nil, fmt.Errorf("ingress %s routes to Service %s, which is not in the manifests: namespace %s would not have it", ingressName, name, targetNS)
		}
		ext, err := externalName(svc, targetNS, suffix)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, ext)
	}
	ing.SetNamespace("")
	return out, ing, nil
}

// withoutCanary returns a copy of ann without the canary annotations.
func withoutCanary(ann map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range ann {
		if !strings.HasPrefix(k, AnnotationPrefix) {
			out[k] = v
		}
	}
	return out
}

// rewriteBackends renames every Service backend of the Ingress object m to
// its name plus suffix and returns the original names, in order of
// appearance.
func rewriteBackends(m map[string]any, suffix string) ([]string, error) {
	var names []string
	rename := func(backend map[string]any, where string) error {
		if _, ok := backend["resource"]; ok {
			return fmt.Errorf("%s routes to a resource, not a Service: the NGINX canary only splits Service backends", where)
		}
		name, _, _ := unstructured.NestedString(backend, "service", "name")
		if name == "" {
			return fmt.Errorf("%s has no service name", where)
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
		return unstructured.SetNestedField(backend, name+suffix, "service", "name")
	}
	if def, ok, _ := unstructured.NestedMap(m, "spec", "defaultBackend"); ok {
		if err := rename(def, "spec.defaultBackend"); err != nil {
			return nil, err
		}
		if err := unstructured.SetNestedMap(m, def, "spec", "defaultBackend"); err != nil {
			return nil, err
		}
	}
	rules, _, _ := unstructured.NestedSlice(m, "spec", "rules")
	for i, r := range rules {
		rule, _ := r.(map[string]any)
		paths, _, _ := unstructured.NestedSlice(rule, "http", "paths")
		for j, p := range paths {
			path, _ := p.(map[string]any)
			backend, _, _ := unstructured.NestedMap(path, "backend")
			if err := rename(backend, fmt.Sprintf("spec.rules[%d].http.paths[%d].backend", i, j)); err != nil {
				return nil, err
			}
			path["backend"] = backend
		}
		if len(paths) > 0 {
			if err := unstructured.SetNestedSlice(rule, paths, "http", "paths"); err != nil {
				return nil, err
			}
		}
	}
	if len(rules) > 0 {
		if err := unstructured.SetNestedSlice(m, rules, "spec", "rules"); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// externalName builds the ExternalName Service "<svc><suffix>" that
// reaches svc in namespace canaryNS, with svc's ports.
func externalName(svc *unstructured.Unstructured, canaryNS, suffix string) (*unstructured.Unstructured, error) {
	name := svc.GetName() + suffix
	if len(name) > 63 {
		return nil, fmt.Errorf("service %s: the Service name %s that Fledge creates for it would be longer than 63 characters; shorten the Service's name", svc.GetName(), name)
	}
	// A client of an ExternalName Service dials the external name at the
	// port's targetPort: here the canary Service's ClusterIP, which listens
	// on the Service's port.
	ports, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
	var outPorts []any
	for _, p := range ports {
		pm, _ := p.(map[string]any)
		np := map[string]any{}
		for _, k := range []string{"name", "port", "protocol", "appProtocol"} {
			if v, ok := pm[k]; ok {
				np[k] = v
			}
		}
		if v, ok := pm["port"]; ok {
			np["targetPort"] = v
		}
		outPorts = append(outPorts, np)
	}
	spec := map[string]any{
		"type":         "ExternalName",
		"externalName": svc.GetName() + "." + canaryNS + ".svc.cluster.local",
	}
	if len(outPorts) > 0 {
		spec["ports"] = outPorts
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "Service",
		"metadata": map[string]any{
			"name":        name,
			"annotations": map[string]any{CanaryOfAnnotation: canaryNS + "/" + svc.GetName()},
		},
		"spec": spec,
	}}
	u.SetLabels(withManagedBy(svc.GetLabels()))
	return u, nil
}

func withManagedBy(labels map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range labels {
		out[k] = v
	}
	out[ManagedByLabel] = "fledge"
	return out
}

// pathKey is what a controller matches a canary Ingress to its main one by.
type pathKey struct{ host, path, pathType string }

func (k pathKey) String() string {
	host := k.host
	if host == "" {
		host = "*"
	}
	return fmt.Sprintf("%s%s (%s)", host, k.path, k.pathType)
}

// ingressPaths lists the host, path and path type of every rule of an
// Ingress object.
func ingressPaths(m map[string]any) []pathKey {
	var out []pathKey
	rules, _, _ := unstructured.NestedSlice(m, "spec", "rules")
	for _, r := range rules {
		rule, _ := r.(map[string]any)
		host, _, _ := unstructured.NestedString(rule, "host")
		paths, _, _ := unstructured.NestedSlice(rule, "http", "paths")
		for _, p := range paths {
			pm, _ := p.(map[string]any)
			path, _, _ := unstructured.NestedString(pm, "path")
			pt, _, _ := unstructured.NestedString(pm, "pathType")
			out = append(out, pathKey{host, path, pt})
		}
	}
	return out
}

// unmatched returns the paths of the canary Ingress that the main Ingress
// does not have: a controller would route none of their requests to the
// canary.
func unmatched(main, canary map[string]any) []string {
	have := map[pathKey]bool{}
	for _, k := range ingressPaths(main) {
		have[k] = true
	}
	var out []string
	for _, k := range ingressPaths(canary) {
		if !have[k] {
			out = append(out, k.String())
		}
	}
	return out
}

// Services returns the Services the Ingress named ingressName routes to,
// in order of appearance and without repeats.
func Services(objs []*unstructured.Unstructured, ingressName string) ([]string, error) {
	_, ing, err := copyWithIngress(objs, ingressName)
	if err != nil {
		return nil, err
	}
	return rewriteBackends(ing.Object, CanarySuffix)
}
