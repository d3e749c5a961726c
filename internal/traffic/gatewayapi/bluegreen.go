package gatewayapi

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"fledge.dev/fledge/internal/traffic"
)

// The blue/green strategy with Gateway API: the manifests' HTTPRoute lives
// in the pipeline's namespace, and its backends are the manifests'
// Services in one of two slot namespaces. Every backend reference to a
// Service of the route's own namespace is moved to the slot's namespace;
// the switch moves them to the other slot. Each slot namespace has a
// ReferenceGrant (SlotGrant) that lets the route reach its Services.

// SlotRoute returns a copy of the manifests' route in which every backend
// reference to a Service of the route's own namespace points at slotNS
// instead, without the tester header's rules: every request goes to that
// slot. References to other namespaces or other kinds stay as written.
func SlotRoute(route *unstructured.Unstructured, slotNS string) (*unstructured.Unstructured, error) {
	return slotRoute(route, slotNS, false)
}

// slotRoute is SlotRoute, keeping the tester header's rules when
// keepHeader is set.
func slotRoute(route *unstructured.Unstructured, slotNS string, keepHeader bool) (*unstructured.Unstructured, error) {
	if slotNS == "" {
		return nil, fmt.Errorf("no slot namespace given")
	}
	out := route.DeepCopy()
	ns := route.GetNamespace()
	var kept []any
	moved := 0
	for _, rule := range rules(out) {
		if isHeaderRule(rule) {
			if keepHeader {
				kept = append(kept, rule)
			}
			continue
		}
		refs := backendRefs(rule)
		for _, ref := range refs {
			if isServiceRef(ref) && refNamespace(ref, ns) == "" {
				ref["namespace"] = slotNS
				moved++
			}
		}
		if len(refs) > 0 {
			setBackendRefs(rule, refs)
		}
		kept = append(kept, rule)
	}
	if moved == 0 {
		return nil, fmt.Errorf("HTTPRoute %s routes to no Service of its own namespace: there is nothing to send to a slot", route.GetName())
	}
	if err := unstructured.SetNestedSlice(out.Object, kept, "spec", "rules"); err != nil {
		return nil, fmt.Errorf("set rules: %w", err)
	}
	return out, nil
}

// PreviewRoute returns the manifests' route while liveNS serves and
// testers preview newNS: every request goes to liveNS (SlotRoute), except
// those carrying tester header h, which the header rules (one per rule
// with exactly one backend, a Service of the route's namespace) send to
// newNS.
func PreviewRoute(route *unstructured.Unstructured, liveNS, newNS string, h traffic.HeaderRoute) (*unstructured.Unstructured, error) {
	if liveNS == newNS {
		return nil, fmt.Errorf("preview of %s while it serves: the preview must be the other slot", newNS)
	}
	withHeader, err := Canary(route, newNS, State{Header: &h})
	if err != nil {
		return nil, err
	}
	return slotRoute(withHeader, liveNS, true)
}

// SlotOfRoute returns the slot every Service backend of the live route's
// rules (the tester header's aside) is in, given each slot's namespace; an
// error says what it routes to when that is not one slot (a route applied
// by hand, or the manifests' route as written). Backends in namespaces
// other than the route's and the slots' are not the slots' business.
func SlotOfRoute(route *unstructured.Unstructured, slots map[string]string) (string, error) {
	ns := route.GetNamespace()
	ours := map[string]bool{ns: true}
	for _, slotNS := range slots {
		ours[slotNS] = true
	}
	var where []string
	seen := map[string]bool{}
	for _, rule := range rules(route) {
		if isHeaderRule(rule) {
			continue
		}
		for _, ref := range backendRefs(rule) {
			to := refNamespace(ref, ns)
			if to == "" {
				to = ns
			}
			if !isServiceRef(ref) || !ours[to] {
				continue
			}
			if !seen[to] {
				seen[to] = true
				where = append(where, to)
			}
		}
	}
	if len(where) == 1 {
		for slot, slotNS := range slots {
			if where[0] == slotNS {
				return slot, nil
			}
		}
	}
	if len(where) == 0 {
		return "", fmt.Errorf("HTTPRoute %s/%s routes to no Service", ns, route.GetName())
	}
	var names []string
	for _, n := range slices.Sorted(maps.Keys(slots)) {
		names = append(names, slots[n])
	}
	return "", fmt.Errorf("HTTPRoute %s/%s routes to Services in %s, not to the Services of one slot (%s)",
		ns, route.GetName(), strings.Join(where, ", "), strings.Join(names, " or "))
}

// SlotGrant is the ReferenceGrant of slot namespace slotNS that lets the
// HTTPRoute routeName of namespace ns route to the Services among the
// manifests' route backends.
func SlotGrant(route *unstructured.Unstructured, ns, slotNS string) *unstructured.Unstructured {
	var services []string
	for _, rule := range rules(route) {
		for _, ref := range backendRefs(rule) {
			name, _ := ref["name"].(string)
			if isServiceRef(ref) && refNamespace(ref, route.GetNamespace()) == "" && name != "" && !contains(services, name) {
				services = append(services, name)
			}
		}
	}
	return Grant(route.GetName(), ns, slotNS, services)
}

// FindRoute returns the manifests' HTTPRoute routeName.
func FindRoute(objs []*unstructured.Unstructured, routeName string) (*unstructured.Unstructured, error) {
	for _, o := range objs {
		if isRoute(o) && o.GetName() == routeName {
			return o, nil
		}
	}
	return nil, noRoute(objs, routeName)
}

// RouteStatus returns "" when every parent of route reports Accepted and
// ResolvedRefs True for generation gen or later, else what is missing.
func RouteStatus(route *unstructured.Unstructured, gen int64) string { return routeStatus(route, gen) }

// RouteRef names the HTTPRoute routeName: its apiVersion, kind and name
// only.
func RouteRef(routeName string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(RouteAPIVersion)
	u.SetKind(RouteKind)
	u.SetName(routeName)
	return u
}
