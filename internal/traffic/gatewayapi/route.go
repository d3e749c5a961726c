// Package gatewayapi is the traffic provider for Gateway API: the canary
// stage names an HTTPRoute of the manifests, deployed with production only.
// To send requests to the canary, Fledge gives each rule that routes to one
// Service of the manifests ("split rule") a second backend, the same Service
// in the canary namespace, with backend weights 100-w and w; and adds a rule
// per split rule that matches the tester header and routes to the canary
// only.
//
// A backend in another namespace needs a ReferenceGrant there. Without it
// the route is Accepted but ResolvedRefs=False, and Traefik answers HTTP 500
// for that backend's share instead of falling back. So the Router creates
// the grant, waits for ResolvedRefs=True with the canary backend at weight
// 0, and only then raises the weight; on Reset it removes the canary
// backends and the header rule, waits for the route's status, and deletes
// the grant last. Every change is a server-side apply of the whole route
// with Fledge's field manager, without force: fields someone else manages
// are refused, not taken over.
//
// The functions of this file are pure: they build the route's forms from a
// route object, so they are tested with golden files.
package gatewayapi

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"fledge.dev/fledge/internal/traffic"
)

// Identity of the Gateway API kinds this provider uses.
const (
	Group               = "gateway.networking.k8s.io"
	RouteAPIVersion     = Group + "/v1"
	RouteKind           = "HTTPRoute"
	GrantAPIVersion     = Group + "/v1beta1"
	GrantKind           = "ReferenceGrant"
	routeAPIVersionBeta = Group + "/v1beta1"
)

// HeaderRuleName names the rules that send the tester header to the canary
// (with a "-<n>" suffix after the first when several rules are split).
const HeaderRuleName = "fledge-canary-header"

// maxRules is the Gateway API limit of rules per HTTPRoute.
const maxRules = 16

// State is what a route does with the canary.
type State struct {
	// Weight is the canary's percentage of the requests of split rules.
	Weight int
	// Header, when set, sends every request carrying it to the canary.
	Header *traffic.HeaderRoute
	// Probe keeps the canary backend in the split rules at weight 0, to
	// check that it resolves before it gets any request.
	Probe bool
}

// attached reports whether the route references the canary namespace.
func (s State) attached() bool { return s.Weight > 0 || s.Header != nil || s.Probe }

// CanaryManifests returns deep copies of objs without the HTTPRoute
// routeName: the canary namespace runs the workloads and Services only,
// the route lives in production. It fails when objs have no such route.
func CanaryManifests(objs []*unstructured.Unstructured, routeName string) ([]*unstructured.Unstructured, error) {
	out := make([]*unstructured.Unstructured, 0, len(objs))
	found := false
	for _, o := range objs {
		if isRoute(o) && o.GetName() == routeName {
			found = true
			continue
		}
		out = append(out, o.DeepCopy())
	}
	if !found {
		return nil, noRoute(objs, routeName)
	}
	return out, nil
}

// Check verifies that the manifests have the HTTPRoute routeName and that
// it has at least one split rule, and returns the Services its split rules
// route to.
func Check(objs []*unstructured.Unstructured, routeName string) ([]string, error) {
	var route *unstructured.Unstructured
	services := map[string]bool{}
	for _, o := range objs {
		switch {
		case isRoute(o) && o.GetName() == routeName:
			if route != nil {
				return nil, fmt.Errorf("HTTPRoute %s appears more than once in the manifests", routeName)
			}
			route = o
		case o.GetKind() == "Service" && o.GetAPIVersion() == "v1":
			services[o.GetName()] = true
		}
	}
	if route == nil {
		return nil, noRoute(objs, routeName)
	}
	names := SplitServices(route)
	if len(names) == 0 {
		return nil, fmt.Errorf("HTTPRoute %s has no rule with exactly one backend, a Service of its own namespace: there is nothing to split with the canary", routeName)
	}
	for _, n := range names {
		if !services[n] {
			return nil, fmt.Errorf("HTTPRoute %s routes to Service %s, which is not in the manifests: the canary namespace would not have it", routeName, n)
		}
	}
	return names, nil
}

func isRoute(o *unstructured.Unstructured) bool {
	return o.GetKind() == RouteKind && (o.GetAPIVersion() == RouteAPIVersion || o.GetAPIVersion() == routeAPIVersionBeta)
}

func noRoute(objs []*unstructured.Unstructured, name string) error {
	var have []string
	for _, o := range objs {
		have = append(have, o.GetKind()+"/"+o.GetName())
	}
	h := "nothing"
	if len(have) > 0 {
		h = strings.Join(have, ", ")
	}
	return fmt.Errorf("the manifests have no %s HTTPRoute named %q to split traffic with; they have %s", RouteAPIVersion, name, h)
}

// rules returns the route's rules as maps (copies are not made).
func rules(route *unstructured.Unstructured) []map[string]any {
	raw, _, _ := unstructured.NestedSlice(route.Object, "spec", "rules")
	out := make([]map[string]any, 0, len(raw))
	for _, r := range raw {
		if m, ok := r.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func backendRefs(rule map[string]any) []map[string]any {
	raw, _ := rule["backendRefs"].([]any)
	out := make([]map[string]any, 0, len(raw))
	for _, r := range raw {
		if m, ok := r.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func setBackendRefs(rule map[string]any, refs []map[string]any) {
	l := make([]any, len(refs))
	for i, r := range refs {
		l[i] = r
	}
	rule["backendRefs"] = l
}

// isServiceRef reports whether ref is a core Service.
func isServiceRef(ref map[string]any) bool {
	g, _ := ref["group"].(string)
	k, _ := ref["kind"].(string)
	return g == "" && (k == "" || k == "Service")
}

// refNamespace is the namespace of a backend reference, "" for the
// route's own.
func refNamespace(ref map[string]any, routeNS string) string {
	ns, _ := ref["namespace"].(string)
	if ns == routeNS {
		return ""
	}
	return ns
}

// isSplitRule reports whether rule (in its production form) routes to
// exactly one Service of the route's namespace.
func isSplitRule(rule map[string]any, routeNS string) bool {
	if isHeaderRule(rule) {
		return false
	}
	refs := backendRefs(rule)
	return len(refs) == 1 && isServiceRef(refs[0]) && refNamespace(refs[0], routeNS) == ""
}

func isHeaderRule(rule map[string]any) bool {
	name, _ := rule["name"].(string)
	return strings.HasPrefix(name, HeaderRuleName)
}

// SplitServices returns the Services the split rules of a route (in its
// production form) route to, in order and without repeats.
func SplitServices(route *unstructured.Unstructured) []string {
	var out []string
	for _, rule := range rules(route) {
		if !isSplitRule(rule, route.GetNamespace()) {
			continue
		}
		name, _ := backendRefs(rule)[0]["name"].(string)
		if name != "" && !contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// Production returns a copy of a route without anything Canary added: no
// header rules, no backends in canaryNS, and no weight on a backend left
// alone in a rule that had a canary backend.
func Production(route *unstructured.Unstructured, canaryNS string) *unstructured.Unstructured {
	out := route.DeepCopy()
	ns := route.GetNamespace()
	var kept []any
	for _, rule := range rules(out) {
		if isHeaderRule(rule) {
			continue
		}
		refs := backendRefs(rule)
		var own []map[string]any
		for _, ref := range refs {
			if refNamespace(ref, ns) != canaryNS || canaryNS == "" {
				own = append(own, ref)
			}
		}
		if len(own) == 0 && len(refs) > 0 {
			continue // a rule of the canary only
		}
		if len(own) != len(refs) {
			if len(own) == 1 {
				delete(own[0], "weight")
			}
			setBackendRefs(rule, own)
		}
		kept = append(kept, rule)
	}
	if len(kept) > 0 {
		_ = unstructured.SetNestedSlice(out.Object, kept, "spec", "rules")
	}
	return out
}

// Canary returns a copy of route routing as st says: its production form
// (see Production) in which every split rule gets the canary backend (the
// same Service and port in canaryNS) with weight st.Weight next to the
// production one with 100-st.Weight, and, with st.Header, one more rule per
// split rule with the same matches plus the header, routing to the canary
// only. With weight 0 and no probe the split rules stay as written.
func Canary(route *unstructured.Unstructured, canaryNS string, st State) (*unstructured.Unstructured, error) {
	if st.Weight < 0 || st.Weight > 100 {
		return nil, fmt.Errorf("canary weight %d: %w", st.Weight, traffic.ErrInvalidWeight)
	}
	if canaryNS == "" {
		return nil, errors.New("no canary namespace given")
	}
	out := Production(route, canaryNS)
	ns := out.GetNamespace()
	if canaryNS == ns && ns != "" {
		return nil, fmt.Errorf("the canary namespace %s is the route's own", canaryNS)
	}
	var all, headerRules []any
	split := 0
	for _, rule := range rules(out) {
		all = append(all, rule)
		if !isSplitRule(rule, ns) {
			continue
		}
		split++
		prod := backendRefs(rule)[0]
		canary := canaryRef(prod, canaryNS)
		if st.Header != nil {
			h := *st.Header
			hr, err := headerRule(rule, canary, ruleName(HeaderRuleName, split), map[string]any{"type": "Exact", "name": h.Name, "value": h.Value})
			if err != nil {
				return nil, err
			}
			headerRules = append(headerRules, hr)
			if h.Cookie != "" {
				cr, err := headerRule(rule, canary, ruleName(CookieRuleName, split), map[string]any{"type": "RegularExpression", "name": "Cookie", "value": cookiePattern(h.Cookie)})
				if err != nil {
					return nil, err
				}
				headerRules = append(headerRules, cr)
			}
		}
		if st.Weight == 0 && !st.Probe {
			continue
		}
		p := copyMap(prod)
		p["weight"] = int64(100 - st.Weight)
		c := copyMap(canary)
		c["weight"] = int64(st.Weight)
		setBackendRefs(rule, []map[string]any{p, c})
	}
	if split == 0 {
		return nil, fmt.Errorf("HTTPRoute %s has no rule with exactly one backend, a Service of its own namespace: there is nothing to split with the canary", route.GetName())
	}
	all = append(all, headerRules...)
	if len(all) > maxRules {
		return nil, fmt.Errorf("HTTPRoute %s would have %d rules with the tester header's, more than Gateway API's %d", route.GetName(), len(all), maxRules)
	}
	if err := unstructured.SetNestedSlice(out.Object, all, "spec", "rules"); err != nil {
		return nil, fmt.Errorf("set rules: %w", err)
	}
	return out, nil
}

// canaryRef is the production backend reference moved to canaryNS, with
// its own filters but no weight.
func canaryRef(prod map[string]any, canaryNS string) map[string]any {
	c := copyMap(prod)
	delete(c, "weight")
	c["namespace"] = canaryNS
	return c
}

// CookieRuleName names the rules that send the tester cookie to the
// canary. It starts with HeaderRuleName, so that everything that leaves
// the tester header's rules alone leaves these alone too.
const CookieRuleName = HeaderRuleName + "-cookie"

// ruleName is base for the first split rule, base-N for the Nth.
func ruleName(base string, n int) string {
	if n > 1 {
		return fmt.Sprintf("%s-%d", base, n)
	}
	return base
}

// cookiePattern matches a Cookie header that holds cookie=always among
// its cookies. Cookie names are validated to need no quoting.
func cookiePattern(cookie string) string {
	return `(^|;\s*)` + cookie + `=` + traffic.CookieAlways + `(;|$)`
}

// cookieOf reads the cookie name back from cookiePattern's pattern, "" when
// p is not one.
func cookieOf(p string) string {
	rest, ok := strings.CutPrefix(p, `(^|;\s*)`)
	if !ok {
		return ""
	}
	name, ok := strings.CutSuffix(rest, `=`+traffic.CookieAlways+`(;|$)`)
	if !ok {
		return ""
	}
	return name
}

// headerRule copies a split rule into a rule named name that sends the
// requests matching header (a Gateway API header match) to the canary:
// every match also requires it.
func headerRule(rule, canary map[string]any, name string, header map[string]any) (map[string]any, error) {
	hr := copyMap(rule)
	hr["name"] = name
	hname, _ := header["name"].(string)
	matches, _ := hr["matches"].([]any)
	if len(matches) == 0 {
		matches = []any{map[string]any{}}
	}
	var out []any
	for _, m := range matches {
		mm, ok := m.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("rule %v: a match is not an object", rule["name"])
		}
		mm = copyMap(mm)
		hs, _ := mm["headers"].([]any)
		kept := make([]any, 0, len(hs)+1)
		for _, x := range hs {
			if xm, ok := x.(map[string]any); ok && strings.EqualFold(fmt.Sprint(xm["name"]), hname) {
				continue // ours replaces a match on the same header
			}
			kept = append(kept, x)
		}
		mm["headers"] = append(kept, header)
		out = append(out, mm)
	}
	hr["matches"] = out
	// Weight 1 is Gateway API's default: written out, the route reads back
	// exactly as applied, so that an unchanged route is seen as such.
	c := copyMap(canary)
	c["weight"] = int64(1)
	setBackendRefs(hr, []map[string]any{c})
	return hr, nil
}

// Observe reads the canary state of a live route: the weight of the first
// split rule's canary backend as a percentage, and the tester header of
// the first header rule.
func Observe(route *unstructured.Unstructured, canaryNS string) State {
	var st State
	cookie := ""
	ns := route.GetNamespace()
	weightFound := false
	for _, rule := range rules(route) {
		if isHeaderRule(rule) {
			if n, _ := rule["name"].(string); strings.HasPrefix(n, CookieRuleName) {
				if cookie == "" {
					if h := ruleHeader(rule); h != nil {
						cookie = cookieOf(h.Value)
					}
				}
			} else if st.Header == nil {
				st.Header = ruleHeader(rule)
			}
			continue
		}
		if weightFound {
			continue
		}
		var prodW, canaryW int64
		hasCanary := false
		for _, ref := range backendRefs(rule) {
			w := int64(1)
			if v, ok := ref["weight"]; ok {
				w = toInt64(v)
			}
			if refNamespace(ref, ns) == canaryNS {
				hasCanary = true
				canaryW += w
			} else {
				prodW += w
			}
		}
		if !hasCanary {
			continue
		}
		weightFound = true
		if total := prodW + canaryW; total > 0 {
			st.Weight = int((canaryW*100 + total/2) / total)
		}
		st.Probe = st.Weight == 0
	}
	if st.Header != nil {
		st.Header.Cookie = cookie
	}
	return st
}

// ruleHeader reads the tester header of a header rule: the last header of
// its first match, which headerRule appended.
func ruleHeader(rule map[string]any) *traffic.HeaderRoute {
	matches, _ := rule["matches"].([]any)
	if len(matches) == 0 {
		return nil
	}
	m, _ := matches[0].(map[string]any)
	hs, _ := m["headers"].([]any)
	if len(hs) == 0 {
		return nil
	}
	h, _ := hs[len(hs)-1].(map[string]any)
	name, _ := h["name"].(string)
	value, _ := h["value"].(string)
	return &traffic.HeaderRoute{Name: name, Value: value}
}

func toInt64(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int:
		return int64(n)
	case int32:
		return int64(n)
	case float64:
		return int64(n)
	}
	return 0
}

// Grant builds the ReferenceGrant that lets HTTPRoutes of prodNS reach
// services in canaryNS.
func Grant(routeName, prodNS, canaryNS string, services []string) *unstructured.Unstructured {
	var to []any
	for _, s := range services {
		to = append(to, map[string]any{"group": "", "kind": "Service", "name": s})
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": GrantAPIVersion,
		"kind":       GrantKind,
		"metadata": map[string]any{
			"name":      GrantName(routeName, prodNS),
			"namespace": canaryNS,
			"labels":    map[string]any{"app.kubernetes.io/managed-by": "fledge"},
			"annotations": map[string]any{
				"fledge.dev/for-route": prodNS + "/" + routeName,
			},
		},
		"spec": map[string]any{
			"from": []any{map[string]any{"group": Group, "kind": RouteKind, "namespace": prodNS}},
			"to":   to,
		},
	}}
	return u
}

// GrantName is the name of the ReferenceGrant Fledge creates for route
// routeName of namespace prodNS.
func GrantName(routeName, prodNS string) string {
	n := "fledge-" + prodNS + "-" + routeName
	if len(n) > 253 {
		n = n[:253]
	}
	return strings.TrimRight(n, "-.")
}

func copyMap(m map[string]any) map[string]any { return runtime.DeepCopyJSON(m) }

// KeepCanary returns objs with the HTTPRoute routeName in the form that
// keeps what live, the route in the cluster, gives the canary in canaryNS
// (its weight and tester header rules, see Observe): the manifests' route is
// production's form, and applying it as it is while a canary holds a share
// of the requests, or all of them once promoted, would give them back to
// production's pods while they are replaced. The route's own changes of a
// release (its matches, filters, backends) are applied all the same. With
// live nil, or not routing to the canary, objs are returned as they are.
// promoted writes the canary's weight as 100 whatever live has: the canary
// is being given every request meanwhile.
func KeepCanary(objs []*unstructured.Unstructured, routeName, canaryNS string, live *unstructured.Unstructured, promoted bool) ([]*unstructured.Unstructured, error) {
	if live == nil {
		return objs, nil
	}
	st := Observe(live, canaryNS)
	if promoted {
		st.Weight, st.Probe = 100, false
	}
	if !st.attached() {
		return objs, nil
	}
	out := slices.Clone(objs)
	for i, o := range out {
		if !isRoute(o) || o.GetName() != routeName {
			continue
		}
		route := o.DeepCopy()
		route.SetNamespace(live.GetNamespace())
		kept, err := Canary(route, canaryNS, st)
		if err != nil {
			return nil, fmt.Errorf("HTTPRoute %s with the canary's share kept: %w", routeName, err)
		}
		out[i] = kept
	}
	return out, nil
}
