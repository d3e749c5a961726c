package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"fledge.dev/fledge/api/v1alpha1"
)

// A pipeline's first release, with every provider and layout: production
// has no Ingress or HTTPRoute for the canary to split with, so each batch
// keeps the weight at 0 with a WeightKept event saying why, the tester
// header is not routed, nothing routes requests to the canary (read back
// from the cluster), and the release still goes to approval and production.
// The second release then ramps (NGINX layouts; the Gateway API ramp needs
// a controller reporting the route's status, which test/traffic has).
func TestFirstReleaseKeepsWeight(t *testing.T) {
	tests := []struct {
		name string
		f    fixture
		// route names what the canary stage splits, in event messages.
		route string
		// noCanaryRoute checks nothing routes requests to the canary.
		noCanaryRoute func(t *testing.T, f fixture)
		// weight reads back the canary's weight on the second release; nil
		// for none.
		weight func(t *testing.T, f fixture) string
	}{
		{
			name:  "nginx canary-namespace",
			f:     fixture{Pipeline: "first-cns"},
			route: "Ingress webpage-ingress",
			noCanaryRoute: func(t *testing.T, f fixture) {
				if w := ingressAnnotations(t, f.CanaryNS)["nginx.ingress.kubernetes.io/canary-weight"]; w != "0" {
					t.Errorf("canary Ingress %s/webpage-ingress has weight %q, want \"0\"", f.CanaryNS, w)
				}
				noIngresses(t, f.ProdNS)
			},
			weight: func(t *testing.T, f fixture) string {
				return ingressAnnotations(t, f.CanaryNS)["nginx.ingress.kubernetes.io/canary-weight"]
			},
		},
		{
			name:  "nginx beside-production",
			f:     fixture{Pipeline: "first-bes", Layout: v1alpha1.IngressLayoutBesideProduction},
			route: "Ingress webpage-ingress",
			noCanaryRoute: func(t *testing.T, f fixture) {
				noIngresses(t, f.CanaryNS)
				noIngresses(t, f.ProdNS)
			},
			weight: func(t *testing.T, f fixture) string {
				return ingressNamed(t, f.ProdNS, "webpage-ingress-canary").Annotations["nginx.ingress.kubernetes.io/canary-weight"]
			},
		},
		{
			name:  "gatewayapi",
			f:     fixture{Pipeline: "first-gw", HTTPRoute: true},
			route: "HTTPRoute webpage",
			noCanaryRoute: func(t *testing.T, f fixture) {
				for _, where := range [][2]string{{"httproute", f.ProdNS}, {"httproute", f.CanaryNS}, {"referencegrant", f.CanaryNS}} {
					if out := kubectlOut(t, "get", where[0], "-n", where[1], "-o", "name"); out != "" {
						t.Errorf("%s has %s, want none on a first release", where[1], out)
					}
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.f
			f.Environment, f.Artifact = "local", f.Pipeline
			f.CanaryNS, f.ProdNS = f.Pipeline+"-c", f.Pipeline+"-p"
			f.Ramp, f.Batches = 50, 2
			if f.HTTPRoute {
				installGatewayCRDs(t)
			}
			s := startServer(t)
			s.fledge("admin", "apply", "-f", writeFixture(t, f))

			d1 := s.run("ci", f.Pipeline, "IMAGE_TAG=1.0")
			d1 = s.waitStatus(d1.ID, time.Minute, v1alpha1.StatusWaitingForApproval)
			if d1.CanaryWeight != 0 {
				t.Errorf("first release waits for approval at weight %d, want 0", d1.CanaryWeight)
			}
			kept := 0
			for _, e := range s.events(d1.ID) {
				switch e.Type {
				case "WeightSet":
					t.Errorf("first release: %s %q, want the weight kept at 0", e.Type, e.Message)
				case "HeaderRouteSet":
					t.Errorf("first release: %s %q, want the tester header not routed", e.Type, e.Message)
				case "WeightKept":
					kept++
					if !strings.Contains(e.Message, "no production route to split traffic with") ||
						!strings.Contains(e.Message, "production namespace "+f.ProdNS+" has no "+tt.route+" yet") {
						t.Errorf("WeightKept %q should say production %s has no %s yet", e.Message, f.ProdNS, tt.route)
					}
				}
			}
			if kept != 2 {
				t.Errorf("%d WeightKept events, want one per batch (2)", kept)
			}
			s.waitEvent(d1.ID, time.Second, "WeightKept", "canary weight kept at 0% instead of 25% (batch 1 of 2)")
			s.waitEvent(d1.ID, time.Second, "WeightKept", "canary weight kept at 0% instead of 50% (batch 2 of 2)")
			s.waitEvent(d1.ID, time.Second, "HeaderRouteNotSet", "production namespace "+f.ProdNS+" has no "+tt.route+" yet")
			tt.noCanaryRoute(t, f)

			s.fledge("alice", "approve", itoa(d1.ID))
			s.waitStatus(d1.ID, time.Minute, v1alpha1.StatusSucceeded)
			waitWorkload(t, f.ProdNS, image+"1.0")
			if f.HTTPRoute {
				// Production's route as the manifests have it: its only
				// backend is production's Service.
				refs := kubectlOut(t, "get", "httproute", "-n", f.ProdNS, "webpage", "-o", "jsonpath={.spec.rules[*].backendRefs[*].name}/{.spec.rules[*].backendRefs[*].namespace}")
				if refs != "webpage-service/" {
					t.Errorf("production HTTPRoute backends %q, want only webpage-service of its own namespace", refs)
				}
			}
			if tt.weight == nil {
				return
			}

			// The second release has production to split with: it ramps.
			d2 := s.run("ci", f.Pipeline, "IMAGE_TAG=1.1")
			d2 = s.waitStatus(d2.ID, time.Minute, v1alpha1.StatusWaitingForApproval)
			s.waitEvent(d2.ID, time.Second, "WeightSet", "canary weight set to 25% (batch 1 of 2)")
			s.waitEvent(d2.ID, time.Second, "WeightSet", "canary weight set to 50% (batch 2 of 2)")
			s.waitEvent(d2.ID, time.Second, "HeaderRouteSet", "redirect-to-canary: always")
			if w := tt.weight(t, f); w != "50" || d2.CanaryWeight != 50 {
				t.Errorf("second release at approval: weight read back %q, deployment %d; want 50", w, d2.CanaryWeight)
			}
			s.fledge("bob", "reject", itoa(d2.ID), "--reason", "test done")
			s.waitStatus(d2.ID, time.Minute, v1alpha1.StatusRejected)
			if w := tt.weight(t, f); w != "0" {
				t.Errorf("after the rejection the canary weight is %q, want 0", w)
			}
		})
	}
}

// kubectlOut runs the cluster's kubectl and returns its trimmed output.
func kubectlOut(t *testing.T, args ...string) string {
	t.Helper()
	out, err := cluster.Kubectl(context.Background(), args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(out)
}

// noIngresses fails unless namespace ns has no Ingress (or does not exist).
func noIngresses(t *testing.T, ns string) {
	t.Helper()
	l, err := cluster.Clientset().NetworkingV1().Ingresses(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("list ingresses of %s: %v", ns, err)
	}
	if err == nil && len(l.Items) > 0 {
		var names []string
		for _, i := range l.Items {
			names = append(names, i.Name)
		}
		t.Errorf("namespace %s has Ingresses %v, want none on a first release", ns, names)
	}
}
