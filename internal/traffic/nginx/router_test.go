package nginx

import (
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"fledge.dev/fledge/internal/kube"
	"fledge.dev/fledge/internal/traffic"
)

// webpageTag is the walkthrough's manifests with another image tag.
func webpageTag(t *testing.T, tag string) []*unstructured.Unstructured {
	t.Helper()
	objs := webpage(t)
	containers, _, _ := unstructured.NestedSlice(objs[0].Object, "spec", "template", "spec", "containers")
	containers[0].(map[string]any)["image"] = "registry.example/webpage:" + tag
	if err := unstructured.SetNestedSlice(objs[0].Object, containers, "spec", "template", "spec", "containers"); err != nil {
		t.Fatal(err)
	}
	return objs
}

// kubectlAnnotations reads the ingress's annotations with kubectl, as the
// walkthrough's user does.
func kubectlAnnotations(t *testing.T, s setup) map[string]string {
	t.Helper()
	out, err := s.cluster.Kubectl(s.ctx, "get", "ingress", "webpage-ingress", "-n", s.ns, "-o", "jsonpath={.metadata.annotations}")
	if err != nil {
		t.Fatalf("kubectl: %v", err)
	}
	ann := map[string]string{}
	if err := json.Unmarshal([]byte(out), &ann); err != nil {
		t.Fatalf("kubectl output %q: %v", out, err)
	}
	return ann
}

// weightOwners returns the managers of the canary-weight annotation.
func weightOwners(t *testing.T, s setup) []string {
	t.Helper()
	ing, err := s.client.Get(s.ctx, s.ns, webpage(t)[2])
	if err != nil {
		t.Fatal(err)
	}
	var owners []string
	for _, mf := range ing.GetManagedFields() {
		if mf.FieldsV1 != nil && strings.Contains(mf.FieldsV1.GetRawString(), `"f:`+AnnotationCanaryWeight+`"`) {
			owners = append(owners, mf.Manager)
		}
	}
	return owners
}

// production creates a namespace next to s's holding objs in their
// production form (StripCanary) and returns its name.
func production(t *testing.T, s setup, objs []*unstructured.Unstructured) string {
	t.Helper()
	prod, err := StripCanary(objs, "webpage-ingress")
	if err != nil {
		t.Fatal(err)
	}
	ns := s.ns + "-prod"
	if _, err := s.client.EnsureNamespace(s.ctx, ns, true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.Apply(s.ctx, ns, prod, kube.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	return ns
}

func TestIntegrationRouterCanaryWeight(t *testing.T) {
	t.Parallel()
	s := newSetup(t, true)
	canary, err := MarkCanary(webpageTag(t, "2.1"), "webpage-ingress")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.Apply(s.ctx, s.ns, canary, kube.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	r := NewRouter(s.client, s.ns, production(t, s, webpageTag(t, "2.0")), "webpage-ingress")
	if w, err := r.Weight(s.ctx); err != nil || w != 0 {
		t.Errorf("weight after deploying the canary = %d, %v; want 0", w, err)
	}

	if err := r.SetWeight(s.ctx, 25); err != nil {
		t.Fatal(err)
	}
	if w, err := r.Weight(s.ctx); err != nil || w != 25 {
		t.Errorf("Weight = %d, %v; want 25", w, err)
	}
	// Exactly the annotations of the walkthrough's canary ingress.
	want := map[string]string{
		"kubernetes.io/ingress.class":                  "nginx",
		"nginx.ingress.kubernetes.io/canary":           "true",
		"nginx.ingress.kubernetes.io/canary-by-header": "redirect-to-canary",
		"nginx.ingress.kubernetes.io/canary-weight":    "25",
		"nginx.ingress.kubernetes.io/rewrite-target":   "/$2",
	}
	if got := kubectlAnnotations(t, s); !maps.Equal(got, want) {
		t.Errorf("kubectl shows annotations %v, want %v", got, want)
	}
	if got := weightOwners(t, s); strings.Join(got, ",") != FieldManager {
		t.Errorf("canary-weight is owned by %v, want only %s", got, FieldManager)
	}

	// Setting the same weight again writes nothing.
	before, err := s.client.Get(s.ctx, s.ns, canary[2])
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetWeight(s.ctx, 25); err != nil {
		t.Fatal(err)
	}
	after, err := s.client.Get(s.ctx, s.ns, canary[2])
	if err != nil {
		t.Fatal(err)
	}
	if before.GetResourceVersion() != after.GetResourceVersion() {
		t.Error("SetWeight to the current weight wrote the ingress")
	}

	// The next canary deployment (weight "0") takes the field back.
	next, err := MarkCanary(webpageTag(t, "2.2"), "webpage-ingress")
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.client.Apply(s.ctx, s.ns, next, kube.ApplyOptions{})
	if err != nil {
		t.Fatalf("apply of the canary manifests after a weight change: %v", err)
	}
	if res[2].Action != kube.ActionConfigured {
		t.Errorf("ingress %s, want configured", res[2].Action)
	}
	if w, err := r.Weight(s.ctx); err != nil || w != 0 {
		t.Errorf("weight after redeploying the canary = %d, %v; want 0", w, err)
	}
	if got := weightOwners(t, s); strings.Join(got, ",") != kube.FieldManager {
		t.Errorf("canary-weight is owned by %v, want only %s", got, kube.FieldManager)
	}

	// And the router can take it again, then close the canary.
	for _, p := range []int{25, 0} {
		if err := r.SetWeight(s.ctx, p); err != nil {
			t.Fatal(err)
		}
		if w, err := r.Weight(s.ctx); err != nil || w != p {
			t.Errorf("Weight = %d, %v; want %d", w, err, p)
		}
	}
	want["nginx.ingress.kubernetes.io/canary-weight"] = "0"
	if got := kubectlAnnotations(t, s); !maps.Equal(got, want) {
		t.Errorf("kubectl shows annotations %v, want %v", got, want)
	}

	for _, p := range []int{-1, 101} {
		if err := r.SetWeight(s.ctx, p); !errors.Is(err, traffic.ErrInvalidWeight) {
			t.Errorf("SetWeight(%d) = %v, want ErrInvalidWeight", p, err)
		}
	}
}

func TestIntegrationRouterProduction(t *testing.T) {
	t.Parallel()
	s := newSetup(t, true)
	canary, err := MarkCanary(webpage(t), "webpage-ingress")
	if err != nil {
		t.Fatal(err)
	}
	prod, err := StripCanary(canary, "webpage-ingress")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.Apply(s.ctx, s.ns, prod, kube.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"kubernetes.io/ingress.class":                "nginx",
		"nginx.ingress.kubernetes.io/rewrite-target": "/$2",
	}
	if got := kubectlAnnotations(t, s); !maps.Equal(got, want) {
		t.Errorf("production ingress annotations %v, want %v", got, want)
	}
	// Production is not a canary: no weight can be set on it.
	r := NewRouter(s.client, s.ns, s.ns, "webpage-ingress")
	if err := r.SetWeight(s.ctx, 25); !errors.Is(err, ErrNotCanary) {
		t.Errorf("SetWeight(25) on production = %v, want ErrNotCanary", err)
	}
	if err := r.SetWeight(s.ctx, 0); err != nil {
		t.Errorf("SetWeight(0) on production = %v, want nil", err)
	}
	if got := kubectlAnnotations(t, s); !maps.Equal(got, want) {
		t.Errorf("production ingress annotations %v after SetWeight, want %v", got, want)
	}
}

func TestIntegrationRouterMissingIngress(t *testing.T) {
	t.Parallel()
	noNamespace := newSetup(t, false)
	emptyNamespace := newSetup(t, true)
	for name, s := range map[string]setup{"missing namespace": noNamespace, "missing ingress": emptyNamespace} {
		r := NewRouter(s.client, s.ns, s.ns+"-prod", "webpage-ingress")
		if err := r.SetWeight(s.ctx, 0); err != nil {
			t.Errorf("%s: SetWeight(0) = %v, want nil", name, err)
		}
		if err := r.SetWeight(s.ctx, 25); !errors.Is(err, traffic.ErrRouteNotFound) || !strings.Contains(err.Error(), s.ns+"/webpage-ingress") {
			t.Errorf("%s: SetWeight(25) = %v, want ErrRouteNotFound naming the ingress", name, err)
		}
		if _, err := r.Weight(s.ctx); !errors.Is(err, traffic.ErrRouteNotFound) {
			t.Errorf("%s: Weight = %v, want ErrRouteNotFound", name, err)
		}
	}
}

// A first release: the canary Ingress is deployed but the production
// namespace has no main Ingress, or one whose paths are not the canary's.
// A weight above 0 and the tester header are refused with ErrNoProduction
// and the canary Ingress keeps weight "0"; once production has the main
// Ingress the weight is set.
func TestIntegrationRouterNoProduction(t *testing.T) {
	t.Parallel()
	otherPath := func(t *testing.T) []*unstructured.Unstructured {
		objs := webpage(t)
		rules, _, err := unstructured.NestedSlice(objs[2].Object, "spec", "rules")
		if err != nil || len(rules) != 1 {
			t.Fatalf("testdata ingress rules: %d, %v", len(rules), err)
		}
		paths := rules[0].(map[string]any)["http"].(map[string]any)["paths"].([]any)
		paths[0].(map[string]any)["path"] = "/elsewhere"
		if err := unstructured.SetNestedSlice(objs[2].Object, rules, "spec", "rules"); err != nil {
			t.Fatal(err)
		}
		return objs
	}
	tests := []struct {
		name string
		prod func(t *testing.T, s setup) string // the production namespace
		want string                             // part of the error
	}{
		{"no production namespace", func(_ *testing.T, s setup) string { return s.ns + "-none" }, "has no Ingress webpage-ingress yet"},
		{"production namespace without the Ingress", func(t *testing.T, s setup) string {
			ns := s.ns + "-empty"
			if _, err := s.client.EnsureNamespace(s.ctx, ns, true); err != nil {
				t.Fatal(err)
			}
			return ns
		}, "has no Ingress webpage-ingress yet"},
		{"production Ingress on other paths", func(t *testing.T, s setup) string { return production(t, s, otherPath(t)) }, "are not paths of production's Ingress"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSetup(t, true)
			canary, err := MarkCanary(webpage(t), "webpage-ingress")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.client.Apply(s.ctx, s.ns, canary, kube.ApplyOptions{}); err != nil {
				t.Fatal(err)
			}
			before := kubectlAnnotations(t, s)
			r := NewRouter(s.client, s.ns, tt.prod(t, s), "webpage-ingress")
			if err := r.SetWeight(s.ctx, 25); !errors.Is(err, traffic.ErrNoProduction) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("SetWeight(25) = %v, want ErrNoProduction saying %q", err, tt.want)
			}
			if err := r.SetHeaderRoute(s.ctx, &DefaultHeader); !errors.Is(err, traffic.ErrNoProduction) {
				t.Errorf("SetHeaderRoute = %v, want ErrNoProduction", err)
			}
			if err := r.SetWeight(s.ctx, 0); err != nil {
				t.Errorf("SetWeight(0) = %v, want nil", err)
			}
			if w, err := r.Weight(s.ctx); err != nil || w != 0 {
				t.Errorf("Weight = %d, %v; want 0", w, err)
			}
			if got := kubectlAnnotations(t, s); !maps.Equal(got, before) || got[AnnotationCanaryWeight] != "0" {
				t.Errorf("canary annotations %v, want them unchanged %v", got, before)
			}
			if got := weightOwners(t, s); strings.Join(got, ",") != kube.FieldManager {
				t.Errorf("canary-weight is owned by %v, want only %s: nothing written", got, kube.FieldManager)
			}
		})
	}
}
