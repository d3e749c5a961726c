package nginx

import (
	"errors"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"fledge.dev/fledge/internal/traffic"
)

// TestIntegrationBesideRouterWeight: the tester header creates the canary
// Ingress (and its ExternalName Service) next to production's whole, at
// weight 0; a weight is then patched into it, keeping the header and
// leaving the Services alone; the same weight again writes nothing; a
// weight above 0 needs production's Ingress, a weight of 0 does not.
func TestIntegrationBesideRouterWeight(t *testing.T) {
	t.Parallel()
	s := newSetup(t, true)
	prodNS := production(t, s, webpageTag(t, "2.0"))
	var events []string
	r := NewBesideRouter(s.client, BesideConfig{
		ProductionNamespace: prodNS, CanaryNamespace: s.ns, IngressName: "webpage-ingress",
		Manifests: webpageTag(t, "2.1"), Header: traffic.HeaderRoute{Name: "redirect-to-canary", Value: "always"},
		Recorder: func(e traffic.Event) { events = append(events, e.Type) },
	})
	canaryRef := r.canaryRef()
	live := func() *unstructured.Unstructured {
		t.Helper()
		o, err := s.client.Get(s.ctx, prodNS, canaryRef)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	if err := r.SetHeaderRoute(s.ctx, &traffic.HeaderRoute{Name: "x-tester", Value: "yes"}); err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 || events[0] == events[1] {
		t.Errorf("events %v, want a Service and the Ingress created", events)
	}
	created := live()
	if w, err := weightOf(created); err != nil || w != 0 {
		t.Fatalf("weight after the header = %d, %v; want 0", w, err)
	}
	svcs, err := Services(webpageTag(t, "2.1"), "webpage-ingress")
	if err != nil || len(svcs) != 1 {
		t.Fatalf("services of the ingress: %v, %v", svcs, err)
	}
	svcRef := &unstructured.Unstructured{}
	svcRef.SetAPIVersion("v1")
	svcRef.SetKind("Service")
	svcRef.SetName(svcs[0] + CanarySuffix)
	svc, err := s.client.Get(s.ctx, prodNS, svcRef)
	if err != nil {
		t.Fatal(err)
	}

	for _, w := range []int{25, 100} {
		if err := r.SetWeight(s.ctx, w); err != nil {
			t.Fatal(err)
		}
		got := live()
		if n, err := weightOf(got); err != nil || n != w {
			t.Errorf("weight = %d, %v; want %d", n, err, w)
		}
		if h := headerOf(got.GetAnnotations()); h == nil || h.Name != "x-tester" || h.Value != "yes" {
			t.Errorf("header after SetWeight(%d) = %v, want x-tester: yes", w, h)
		}
	}
	if again, err := s.client.Get(s.ctx, prodNS, svcRef); err != nil || again.GetResourceVersion() != svc.GetResourceVersion() {
		t.Errorf("the ExternalName Service was written by SetWeight (%v)", err)
	}
	before := live()
	if err := r.SetWeight(s.ctx, 100); err != nil {
		t.Fatal(err)
	}
	if live().GetResourceVersion() != before.GetResourceVersion() {
		t.Error("SetWeight to the current weight wrote the canary Ingress")
	}

	prodIngress := webpageTag(t, "2.0")[2]
	if _, err := s.cluster.Kubectl(s.ctx, "delete", "ingress", prodIngress.GetName(), "-n", prodNS); err != nil {
		t.Fatal(err)
	}
	if err := r.SetWeight(s.ctx, 50); !errors.Is(err, traffic.ErrNoProduction) {
		t.Errorf("SetWeight(50) without production's Ingress = %v, want ErrNoProduction", err)
	}
	if n, _ := weightOf(live()); n != 100 {
		t.Errorf("weight after a refused SetWeight = %d, want 100", n)
	}
	if err := r.SetWeight(s.ctx, 0); err != nil {
		t.Fatal(err)
	}
	if n, _ := weightOf(live()); n != 0 {
		t.Errorf("weight after SetWeight(0) = %d, want 0", n)
	}
}
