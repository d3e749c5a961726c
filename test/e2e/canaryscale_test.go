package e2e

import (
	"strconv"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

// A canary of one replica (canaryDeployment.scale) beside a production of
// three: it takes its share of the requests at 25%, and on approval it is
// not given every request while production rolls out, which one pod could
// not carry; production then runs the new version at its own size.
func TestSmallCanary(t *testing.T) {
	const pipeline = "small-canary"
	s := startServer(t)
	dir := writeFixture(t, fixture{
		Pipeline: pipeline, Environment: "local", Artifact: "webpage", CanaryNS: "small-canary", ProdNS: "small-prod",
		CanaryScale: "{replicas: 1}",
	})
	s.fledge("admin", "apply", "-f", dir)
	s.release(pipeline, "1.0")
	waitWorkload(t, "small-prod", image+"1.0")

	d := s.run("ci", pipeline, "IMAGE_TAG=1.1")
	d = s.waitStatus(d.ID, time.Minute, v1alpha1.StatusWaitingForApproval)
	if d.CanaryWeight != 25 {
		t.Fatalf("canary weight %d, want 25", d.CanaryWeight)
	}
	if w := getWorkload(t, "small-canary"); w.Replicas != 1 || w.Ready != 1 || w.Image != image+"1.1" {
		t.Errorf("canary: %+v, want 1 ready replica of 1.1", w)
	}
	if w := getWorkload(t, "small-prod"); w.Replicas != 3 || w.Image != image+"1.0" {
		t.Errorf("production: %+v, want the manifests' 3 replicas of 1.0", w)
	}
	s.fledge("alice", "approve", strconv.FormatInt(d.ID, 10))
	s.waitStatus(d.ID, 2*time.Minute, v1alpha1.StatusSucceeded)
	s.waitEvent(d.ID, time.Second, "PromotionSkipped", "scaled down (1 replica(s) per Deployment)")
	if w := getWorkload(t, "small-prod"); w.Replicas != 3 || w.Ready != 3 || w.Image != image+"1.1" {
		t.Errorf("production after approval: %+v, want 3 ready replicas of 1.1", w)
	}
}
