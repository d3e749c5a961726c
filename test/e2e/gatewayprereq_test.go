package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

// The Gateway API examples (canary and blue/green) on a cluster without
// the Gateway API CRDs fail before anything is applied, say why once, and
// leave no namespace.
func TestGatewayAPIWithoutCRDs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), gatewayCRDsRemoval)
	defer cancel()
	awaitGatewayCRDsGone(ctx, t)
	s := startServer(t)
	dir := t.TempDir()
	files := map[string]string{
		"artifact.yaml": "webpage-gateway", "manifests.yaml": "webpage-gateway", "pipeline.yaml": "webpage-gateway",
		"gateway-pipeline.yaml": "bluegreen", "templates.yaml": "analysis",
	}
	for name, example := range files {
		b, err := os.ReadFile(filepath.Join(repoRoot, "examples", example, name))
		if err != nil {
			t.Fatal(err)
		}
		text := strings.NewReplacer("environment: local", "environment: gw-local",
			"namespace: ns-canary-stage", "namespace: gw-canary", "namespace: ns-canary-prod", "namespace: gw-prod",
			"namespace: ns-bggw-prod", "namespace: gw-bg").Replace(string(b))
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := "apiVersion: fledge.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: gw-local\nspec:\n  kubeconfig:\n    path: " + cluster.Kubeconfig() + "\n"
	if err := os.WriteFile(filepath.Join(dir, "environment.yaml"), []byte(env), 0o600); err != nil {
		t.Fatal(err)
	}
	s.fledge("admin", "apply", "-f", dir)
	d := s.run("ci", "webpage-gateway-pipeline", "IMAGE_TAG=1.0")
	d = s.waitStatus(d.ID, time.Minute, v1alpha1.StatusFailed)
	if !strings.Contains(d.Message, "HTTPRoute") || strings.Count(d.Message, "HTTPRoute/webpage") > 1 {
		t.Errorf("failure message %q should name the HTTPRoute once", d.Message)
	}
	for _, e := range s.events(d.ID) {
		switch e.Type {
		case "WeightSet", "NamespaceCreated", "Applied", "FinishingStepFailed":
			t.Errorf("event %s %q: nothing should have been done", e.Type, e.Message)
		}
	}
	waitNamespaceGone(t, "gw-canary")

	d = s.run("ci", "webpage-blue-green-gateway", "IMAGE_TAG=1.0")
	d = s.waitStatus(d.ID, time.Minute, v1alpha1.StatusFailed)
	if !strings.Contains(d.Message, "HTTPRoute gw-bg/webpage") || !strings.Contains(d.Message, "Gateway API CRDs") {
		t.Errorf("blue/green failure message %q should name the HTTPRoute and the missing CRDs", d.Message)
	}
	for _, e := range s.events(d.ID) {
		switch e.Type {
		case "SlotChosen", "NamespaceCreated", "Applied", "TrafficSwitched", "FinishingStepFailed":
			t.Errorf("event %s %q: nothing should have been done", e.Type, e.Message)
		}
	}
	for _, ns := range []string{"gw-bg", "gw-bg-blue", "gw-bg-green"} {
		waitNamespaceGone(t, ns)
	}
}
