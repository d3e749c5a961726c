package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

// The kube-apiserver stops in the middle of the shift-traffic stage. If it
// comes back within the step timeout the stage retries and completes;
// otherwise the deployment fails and, once the server is back, the canary
// weight ends at 0.
func TestAPIServerStoppedMidStage(t *testing.T) {
	cases := []struct {
		name        string
		stepTimeout string
		outage      time.Duration
		want        v1alpha1.DeploymentStatus
	}{
		{name: "back-within-timeout", stepTimeout: "40s", outage: 6 * time.Second, want: v1alpha1.StatusWaitingForApproval},
		{name: "back-too-late", stepTimeout: "10s", outage: 20 * time.Second, want: v1alpha1.StatusFailed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := startServerArgs(t, []string{"--step-timeout", tc.stepTimeout})
			p := "apiserver-" + tc.name
			dir := writeFixture(t, fixture{Pipeline: p, Environment: "local", Artifact: "webpage", CanaryNS: p + "-canary", ProdNS: p + "-prod", Ramp: 50, Batches: 2, BatchDelay: "3s"})
			s.fledge("admin", "apply", "-f", dir)
			// The namespaces (and their default service accounts) exist
			// first: after the previous case's restart the controller-manager
			// may take longer than this case's short step timeout to fill a
			// new namespace, and the outage under test is the one below.
			for _, ns := range []string{p + "-canary", p + "-prod"} {
				if err := cluster.CreateNamespace(context.Background(), ns); err != nil {
					t.Fatal(err)
				}
			}
			// A first release keeps the weight at 0; the ramp under test is
			// the second one's.
			s.release(p, "4.0")
			d := s.run("ci", p, "IMAGE_TAG=5.0")
			s.waitEvent(d.ID, time.Minute, "WeightSet", "set to 25%")

			ctx := context.Background()
			if err := cluster.StopAPIServer(ctx); err != nil {
				t.Fatalf("stop kube-apiserver: %v", err)
			}
			stopped := time.Now()
			time.Sleep(tc.outage)
			if err := cluster.StartAPIServer(ctx); err != nil {
				t.Fatalf("start kube-apiserver: %v", err)
			}
			t.Logf("kube-apiserver was down for %s", time.Since(stopped).Round(time.Millisecond))

			d = s.waitStatus(d.ID, 2*time.Minute, tc.want)
			weight := ingressAnnotations(t, p+"-canary")["nginx.ingress.kubernetes.io/canary-weight"]
			switch tc.want {
			case v1alpha1.StatusWaitingForApproval:
				if weight != "50" || d.CanaryWeight != 50 {
					t.Fatalf("after the outage the ramp should complete at 50: annotation %q, deployment %d", weight, d.CanaryWeight)
				}
				s.fledge("bob", "reject", itoa(d.ID), "--reason", "test done")
				s.waitStatus(d.ID, time.Minute, v1alpha1.StatusRejected)
			case v1alpha1.StatusFailed:
				if !strings.Contains(d.Message, "SetWeight") || !strings.Contains(d.Message, "shift-traffic-stage") {
					t.Fatalf("failure message should name the stage and step: %q", d.Message)
				}
			}
			if w := ingressAnnotations(t, p+"-canary")["nginx.ingress.kubernetes.io/canary-weight"]; w != "0" {
				t.Fatalf("canary weight at the end: %q, want 0", w)
			}
		})
	}
}
