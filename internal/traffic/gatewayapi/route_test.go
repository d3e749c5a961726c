package gatewayapi

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"fledge.dev/fledge/internal/golden"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"fledge.dev/fledge/internal/kube"
	"fledge.dev/fledge/internal/traffic"
)

func decodeFile(t *testing.T, name string) []*unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := kube.Decode(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// route returns the HTTPRoute of a testdata file, in namespace ns.
func route(t *testing.T, file, ns string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range decodeFile(t, file) {
		if o.GetKind() == RouteKind {
			if ns != "" {
				o.SetNamespace(ns)
			}
			return o
		}
	}
	t.Fatalf("no HTTPRoute in %s", file)
	return nil
}

var tester = &traffic.HeaderRoute{Name: "redirect-to-canary", Value: "always"}

func TestCanary(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		file   string
		state  State
		golden string
	}{
		{"weight 0 is the route as written", "webpage.yaml", State{}, "webpage.w0.golden.yaml"},
		{"probe", "webpage.yaml", State{Probe: true}, "webpage.probe.golden.yaml"},
		{"weight 25", "webpage.yaml", State{Weight: 25}, "webpage.w25.golden.yaml"},
		{"weight 25 and tester header", "webpage.yaml", State{Weight: 25, Header: tester}, "webpage.w25-header.golden.yaml"},
		{"header only", "webpage.yaml", State{Header: tester}, "webpage.header.golden.yaml"},
		{"all to the canary", "webpage.yaml", State{Weight: 100}, "webpage.w100.golden.yaml"},
		{"live route, two split rules, header with value", "live-route.yaml", State{Weight: 10, Header: &traffic.HeaderRoute{Name: "X-Beta", Value: "beta"}}, "live.w10-header.golden.yaml"},
		{"weight 25, tester header and cookie", "webpage.yaml", State{Weight: 25, Header: &traffic.HeaderRoute{Name: "redirect-to-canary", Value: "always", Cookie: "fledge-canary"}}, "webpage.w25-header-cookie.golden.yaml"},
		{"live route, two split rules, header and cookie", "live-route.yaml", State{Weight: 10, Header: &traffic.HeaderRoute{Name: "X-Beta", Value: "beta", Cookie: "beta_cookie"}}, "live.w10-header-cookie.golden.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := route(t, tt.file, "ns-canary-prod")
			before := golden.YAML(t, in)
			out, err := Canary(in, "ns-canary-stage", tt.state)
			if err != nil {
				t.Fatal(err)
			}
			if golden.YAML(t, in) != before {
				t.Error("Canary changed its input")
			}
			golden.Check(t, filepath.Join("testdata", tt.golden), golden.YAML(t, out))

			// What Canary builds, Observe reads back and Production undoes.
			got := Observe(out, "ns-canary-stage")
			want := tt.state
			want.Probe = want.Probe || (want.Weight == 0 && got.Probe)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Observe = %+v, want %+v", got, want)
			}
			// (up to the weight 1 the API server writes when none is set)
			if back := Production(out, "ns-canary-stage"); !sameSpec(dropDefaultWeights(back), dropDefaultWeights(in)) {
				t.Errorf("Production(Canary(r)) differs from r:\n%s", golden.YAML(t, back))
			}
			// Canary is idempotent: applied to its own output, nothing moves.
			again, err := Canary(out, "ns-canary-stage", tt.state)
			if err != nil {
				t.Fatal(err)
			}
			if !sameSpec(again, out) {
				t.Errorf("Canary(Canary(r)) differs:\n%s", golden.YAML(t, again))
			}
		})
	}
}

// Production's apply keeps what the live route gives the canary: the
// manifests' route, production's form, goes out with the live weight and
// header rules (weight 100 when the canary is being promoted).
func TestKeepCanary(t *testing.T) {
	t.Parallel()
	const prodNS, canaryNS = "ns-canary-prod", "ns-canary-stage"
	liveAt := func(st State) *unstructured.Unstructured {
		r, err := Canary(route(t, "webpage.yaml", prodNS), canaryNS, st)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	tests := []struct {
		name     string
		live     *unstructured.Unstructured
		promoted bool
		want     *State // nil: objs returned as they are
	}{
		{name: "first release: no live route", live: nil},
		{name: "live route without the canary", live: route(t, "webpage.yaml", prodNS)},
		{name: "weight 25 and tester header", live: liveAt(State{Weight: 25, Header: tester}), want: &State{Weight: 25, Header: tester}},
		{name: "promoted", live: liveAt(State{Weight: 25, Header: tester}), promoted: true, want: &State{Weight: 100, Header: tester}},
		{name: "header only, between releases", live: liveAt(State{Header: tester}), want: &State{Header: tester}},
		{name: "probe at weight 0", live: liveAt(State{Probe: true}), want: &State{Probe: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			objs := decodeFile(t, "webpage.yaml")
			before := make([]string, len(objs))
			for i, o := range objs {
				before[i] = golden.YAML(t, o)
			}
			out, err := KeepCanary(objs, "webpage", canaryNS, tt.live, tt.promoted)
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != len(objs) {
				t.Fatalf("%d objects, want %d", len(out), len(objs))
			}
			for i, o := range objs {
				if golden.YAML(t, o) != before[i] {
					t.Errorf("KeepCanary changed its input %s", o.GetName())
				}
			}
			for i, o := range out {
				if o.GetKind() != RouteKind {
					if golden.YAML(t, o) != before[i] {
						t.Errorf("%s %s changed", o.GetKind(), o.GetName())
					}
					continue
				}
				if tt.want == nil {
					if golden.YAML(t, o) != before[i] {
						t.Errorf("route changed:\n%s", golden.YAML(t, o))
					}
					continue
				}
				if got := Observe(o, canaryNS); !reflect.DeepEqual(got, *tt.want) {
					t.Errorf("Observe(kept route) = %+v, want %+v", got, *tt.want)
				}
				if back := Production(o, canaryNS); !sameSpec(dropDefaultWeights(back), dropDefaultWeights(route(t, "webpage.yaml", prodNS))) {
					t.Errorf("the kept route is not the manifests' route plus the canary:\n%s", golden.YAML(t, o))
				}
			}
		})
	}
}

func TestCanaryErrors(t *testing.T) {
	t.Parallel()
	noSplit := route(t, "webpage.yaml", "ns-canary-prod")
	rules, _, _ := unstructured.NestedSlice(noSplit.Object, "spec", "rules")
	_ = unstructured.SetNestedSlice(noSplit.Object, rules[1:], "spec", "rules")
	tests := []struct {
		name  string
		route *unstructured.Unstructured
		ns    string
		state State
		want  string
	}{
		{"weight above 100", route(t, "webpage.yaml", "ns-canary-prod"), "ns-canary-stage", State{Weight: 101}, "weight must be between 0 and 100"},
		{"no canary namespace", route(t, "webpage.yaml", "ns-canary-prod"), "", State{Weight: 5}, "no canary namespace"},
		{"canary namespace is the route's", route(t, "webpage.yaml", "ns-canary-prod"), "ns-canary-prod", State{Weight: 5}, "is the route's own"},
		{"no rule to split", noSplit, "ns-canary-stage", State{Weight: 5}, "no rule with exactly one backend"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Canary(tt.route, tt.ns, tt.state)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Canary error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestManifests(t *testing.T) {
	t.Parallel()
	objs := decodeFile(t, "webpage.yaml")
	canary, err := CanaryManifests(objs, "webpage")
	if err != nil {
		t.Fatal(err)
	}
	if len(canary) != 2 || canary[0].GetKind() != "Deployment" || canary[1].GetKind() != "Service" {
		t.Errorf("canary manifests = %s, want the Deployment and the Service", golden.YAML(t, canary...))
	}
	services, err := Check(objs, "webpage")
	if err != nil || !reflect.DeepEqual(services, []string{"webpage-service"}) {
		t.Errorf("Check = %v, %v; want [webpage-service]", services, err)
	}

	tests := []struct {
		name  string
		objs  []*unstructured.Unstructured
		route string
		want  string
	}{
		{"wrong name", objs, "web", `no gateway.networking.k8s.io/v1 HTTPRoute named "web" to split traffic with; they have Deployment/webpage-deployment, Service/webpage-service, HTTPRoute/webpage`},
		{"no objects", nil, "webpage", "they have nothing"},
		{"route to a service not in the manifests", []*unstructured.Unstructured{objs[0], objs[2]}, "webpage", "routes to Service webpage-service, which is not in the manifests"},
		{"route twice", []*unstructured.Unstructured{objs[1], objs[2], objs[2]}, "webpage", "appears more than once"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Check(tt.objs, tt.route)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Check error = %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := CanaryManifests(objs, "web"); err == nil {
		t.Error("CanaryManifests of a missing route succeeded")
	}
}

func TestGrant(t *testing.T) {
	t.Parallel()
	golden.Check(t, filepath.Join("testdata", "grant.golden.yaml"), golden.YAML(t, Grant("webpage", "ns-canary-prod", "ns-canary-stage", []string{"webpage-service"})))
	if n := GrantName(strings.Repeat("r", 300), "prod"); len(n) > 253 {
		t.Errorf("grant name of %d characters", len(n))
	}
}

func TestRouteStatus(t *testing.T) {
	t.Parallel()
	live := route(t, "live-route.yaml", "")
	if got := routeStatus(live, 3); got != "" {
		t.Errorf("status of generation 3 = %q, want accepted", got)
	}
	tests := []struct {
		name   string
		mutate func(u *unstructured.Unstructured)
		gen    int64
		want   string
	}{
		{"older generation", func(*unstructured.Unstructured) {}, 4, "ResolvedRefs is for generation 3"},
		{"no status", func(u *unstructured.Unstructured) { delete(u.Object, "status") }, 3, "no Gateway controller reported a status"},
		{"ref not permitted", func(u *unstructured.Unstructured) {
			parents, _, _ := unstructured.NestedSlice(u.Object, "status", "parents")
			p := parents[0].(map[string]any)
			p["conditions"] = []any{
				map[string]any{"type": "Accepted", "status": "True", "observedGeneration": int64(3)},
				map[string]any{"type": "ResolvedRefs", "status": "False", "observedGeneration": int64(3), "reason": "RefNotPermitted", "message": "no grant"},
			}
			_ = unstructured.SetNestedSlice(u.Object, parents, "status", "parents")
		}, 3, "ResolvedRefs=False, reason RefNotPermitted: no grant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u := live.DeepCopy()
			tt.mutate(u)
			if got := routeStatus(u, tt.gen); !strings.Contains(got, tt.want) {
				t.Errorf("routeStatus = %q, want it to contain %q", got, tt.want)
			}
		})
	}
}

// dropDefaultWeights removes the backend weights equal to Gateway API's
// default, 1.
func dropDefaultWeights(u *unstructured.Unstructured) *unstructured.Unstructured {
	out := u.DeepCopy()
	var all []any
	for _, rule := range rules(out) {
		refs := backendRefs(rule)
		for _, ref := range refs {
			if w, ok := ref["weight"]; ok && toInt64(w) == 1 {
				delete(ref, "weight")
			}
		}
		setBackendRefs(rule, refs)
		all = append(all, rule)
	}
	_ = unstructured.SetNestedSlice(out.Object, all, "spec", "rules")
	return out
}
