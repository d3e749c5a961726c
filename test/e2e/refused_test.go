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

// Manifests the API server refuses leave no namespace behind, and the
// events claim nothing that was not done (no weight set on an Ingress that
// never existed).
func TestRefusedManifestsLeaveNothing(t *testing.T) {
	s := startServer(t)
	for _, tc := range []struct {
		name string
		edit func(string) string
		want string
	}{
		{"invalid", func(m string) string {
			return strings.Replace(m, "  replicas: 3\n", "  replicas: -1\n", 1)
		}, "spec.replicas"},
		{"selector", func(m string) string {
			return strings.Replace(m, "    matchLabels:\n      app: webpage\n", "    matchLabels:\n      app: elsewhere\n", 1)
		}, "selector"},
		{"cluster-scoped", func(m string) string {
			return m + "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: webpage-reader\nrules: []\n"
		}, "ClusterRole/webpage-reader"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			canaryNS := "refused-" + tc.name + "-canary"
			dir := writeFixture(t, fixture{
				Pipeline: "refused-" + tc.name, Environment: "refused-" + tc.name, Artifact: "refused-" + tc.name,
				CanaryNS: canaryNS, ProdNS: "refused-" + tc.name + "-prod", Edit: tc.edit,
			})
			s.fledge("admin", "apply", "-f", dir)
			d := s.run("ci", "refused-"+tc.name, "IMAGE_TAG=1.0")
			d = s.waitStatus(d.ID, time.Minute, v1alpha1.StatusFailed)
			if !strings.Contains(d.Message, tc.want) {
				t.Errorf("failure message %q does not name %q", d.Message, tc.want)
			}
			for _, e := range s.events(d.ID) {
				if e.Type == "WeightSet" || e.Type == "NamespaceCreated" {
					t.Errorf("event %s %q claims what was not done", e.Type, e.Message)
				}
			}
			waitNamespaceGone(t, canaryNS)
		})
	}
}

// waitNamespaceGone waits until namespace ns no longer exists (the
// namespace controller removes a deleted one within seconds).
func waitNamespaceGone(t *testing.T, ns string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := cluster.Clientset().CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("namespace %s still exists a minute after the refused run (%v)", ns, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
