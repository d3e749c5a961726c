package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

// The Gateway API example on a cluster without the Gateway API CRDs fails
// before anything is applied, says why once, and leaves no namespace.
func TestGatewayAPIWithoutCRDs(t *testing.T) {
	s := startServer(t)
	dir := t.TempDir()
	for _, name := range []string{"artifact.yaml", "manifests.yaml", "pipeline.yaml"} {
		b, err := os.ReadFile(filepath.Join(repoRoot, "examples", "webpage-gateway", name))
		if err != nil {
			t.Fatal(err)
		}
		text := strings.NewReplacer("environment: local", "environment: gw-local",
			"namespace: ns-canary-stage", "namespace: gw-canary", "namespace: ns-canary-prod", "namespace: gw-prod").Replace(string(b))
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
}
