package executor_test

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/pipeline"
)

// withRoute returns manifests with their Ingress replaced by an HTTPRoute
// web to the same Service.
func withRoute(manifests string) string {
	ing := manifests[strings.Index(manifests, "---\napiVersion: networking.k8s.io/v1"):]
	return strings.Replace(manifests, ing, `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web}
spec:
  parentRefs: [{name: gw}]
  rules:
  - backendRefs: [{name: web, port: 80}]
`, 1)
}

// releaseRoute is release with Gateway API routing: the canary's share is
// written into production's HTTPRoute web.
func releaseRoute(tag string, stages ...v1alpha1.Stage) *pipeline.Plan {
	p := release(tag, 0, stages...)
	p.Manifests = withRoute(p.Manifests)
	p.IngressName = ""
	p.Traffic = &v1alpha1.TrafficRouting{Provider: v1alpha1.TrafficProviderGatewayAPI, HTTPRoute: "web"}
	return p
}

// With Gateway API the canary's share lives in production's HTTPRoute,
// which production's manifests also carry: applying them, to release or
// to restore the earlier release after a failure, keeps the canary's
// share (every request once promoted) until production's pods are ready,
// and only the reset at the end takes it away. An apply of the manifests'
// route as written would give the requests back to production's pods
// while they are being replaced.
func TestGatewayRouteKeepsCanary(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		fail bool // production's rollout of web:2 fails
		// weights is the canary's weight in the route at each of
		// production's rollouts.
		weights []int
		image   string
		status  v1alpha1.DeploymentStatus
	}{
		{name: "released", weights: []int{100}, image: "web:2", status: v1alpha1.StatusSucceeded},
		{name: "production fails and is restored", fail: true, weights: []int{100, 100}, image: "web:1", status: v1alpha1.StatusFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			first := b.create(releaseRoute("1", canaryStage(), productionStage()))
			s := b.start("")
			b.waitStatus(first, v1alpha1.StatusSucceeded)
			s.stop()

			var mu sync.Mutex
			var weights []int
			b.cluster.mu.Lock()
			b.cluster.rolloutErr = func(ns string, objs []*unstructured.Unstructured) error {
				if ns != prodNS {
					return nil
				}
				mu.Lock()
				weights = append(weights, b.cluster.RouteWeight())
				mu.Unlock()
				if tt.fail && b.cluster.imageOf(objs) == "web:2" {
					return errors.New("deployment web: 0 of 2 updated replicas are available")
				}
				return nil
			}
			b.cluster.mu.Unlock()
			id := b.create(releaseRoute("2", canaryStage(), shiftStage(50, 1, 0), productionStage()))
			b.start("")
			b.waitStatus(id, tt.status)
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(weights, tt.weights) {
				t.Errorf("canary weight at production's rollouts %v, want %v; calls %v", weights, tt.weights, b.cluster.Calls())
			}
			if w := b.cluster.RouteWeight(); w != 0 {
				t.Errorf("canary weight %d at the end, want 0", w)
			}
			if img := b.cluster.Image(prodNS, "web"); img != tt.image {
				t.Errorf("production runs %q, want %q", img, tt.image)
			}
		})
	}
}
