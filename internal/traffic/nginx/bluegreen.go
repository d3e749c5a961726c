package nginx

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"fledge.dev/fledge/internal/traffic"
)

// The blue/green strategy keeps users' Ingress in one namespace and the
// versions in two slot namespaces. For each Service the Ingress routes
// to, the Ingress's namespace has an ExternalName Service per slot,
// "<service>-<slot>", reaching that Service in the slot's namespace; the
// switch renames the Ingress's backends from one slot's to the other's.

// SlotRouting returns what the Ingress's namespace gets for every request
// to go to slot, whose namespace is slotNS: the ExternalName Services
// "<service>-<slot>", then the manifests' Ingress ingressName with its
// backends renamed to them and without canary annotations.
func SlotRouting(objs []*unstructured.Unstructured, ingressName, slot, slotNS string) ([]*unstructured.Unstructured, error) {
	out, ing, err := routeTo(objs, ingressName, slotNS, "-"+slot)
	if err != nil {
		return nil, err
	}
	if ann := withoutCanary(ing.GetAnnotations()); len(ann) > 0 {
		ing.SetAnnotations(ann)
	} else {
		unstructured.RemoveNestedField(ing.Object, "metadata", "annotations")
	}
	return append(out, ing), nil
}

// PreviewRouting returns the preview of slot for testers: the
// ExternalName Services "<service>-<slot>" and the canary Ingress
// "<ingress>-preview" with weight 0 routing to them, so that only the
// requests with tester header h reach slot.
func PreviewRouting(objs []*unstructured.Unstructured, ingressName, slot, slotNS string, h traffic.HeaderRoute) ([]*unstructured.Unstructured, error) {
	return canaryBeside(objs, ingressName, slotNS, "-"+slot, PreviewName(ingressName), &h, 0)
}

// PreviewName is the name of the preview Ingress of Ingress ingressName.
func PreviewName(ingressName string) string { return ingressName + "-preview" }

// SlotOf returns the slot among slots that every backend of the live
// Ingress ing routes to ("<service>-<slot>"), or an error saying what it
// routes to when that is not one slot (an Ingress of the manifests applied
// by hand, or one half edited).
func SlotOf(ing *unstructured.Unstructured, slots []string) (string, error) {
	var names []string
	if def, ok, _ := unstructured.NestedMap(ing.Object, "spec", "defaultBackend"); ok {
		name, _, _ := unstructured.NestedString(def, "service", "name")
		names = append(names, name)
	}
	rules, _, _ := unstructured.NestedSlice(ing.Object, "spec", "rules")
	for _, r := range rules {
		rule, _ := r.(map[string]any)
		paths, _, _ := unstructured.NestedSlice(rule, "http", "paths")
		for _, p := range paths {
			path, _ := p.(map[string]any)
			name, _, _ := unstructured.NestedString(path, "backend", "service", "name")
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return "", fmt.Errorf("ingress %s routes to no Service", ing.GetName())
	}
	for _, slot := range slots {
		all := true
		for _, n := range names {
			all = all && strings.HasSuffix(n, "-"+slot)
		}
		if all {
			return slot, nil
		}
	}
	return "", fmt.Errorf("ingress %s/%s routes to %s, not to the Services of one slot (%s)",
		ing.GetNamespace(), ing.GetName(), strings.Join(names, ", "), strings.Join(slots, " or "))
}
