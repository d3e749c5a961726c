package e2e

import (
	"strings"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

// A canary whose pods never become ready fails the deployment at the
// canary stage: weight 0, production untouched.
func TestCanaryNeverReady(t *testing.T) {
	s := startServer(t)
	const good, bad = "fail-good", "fail-bad"
	// A healthy release first, so production has something to keep.
	dir := writeFixture(t, fixture{Pipeline: good, Environment: "local", Artifact: "webpage", CanaryNS: "fail-canary", ProdNS: "fail-prod"})
	s.fledge("admin", "apply", "-f", dir)
	s.release(good, "1.0")
	waitWorkload(t, "fail-prod", image+"1.0")

	dir = writeFixture(t, fixture{Pipeline: bad, Environment: "local", Artifact: "webpage-unready", CanaryNS: "fail-canary", ProdNS: "fail-prod", Unready: true, CanaryTimeout: "4s"})
	s.fledge("admin", "apply", "-f", dir)
	d := s.run("ci", bad, "IMAGE_TAG=1.1")
	d = s.waitStatus(d.ID, time.Minute, v1alpha1.StatusFailed)
	if !strings.Contains(d.Message, "canary-deploy-stage") || !strings.Contains(d.Message, "after 4s") || !strings.Contains(d.Message, "webpage-deployment") {
		t.Fatalf("failure message should say what, where and why: %q", d.Message)
	}
	if d.Stages[0].Status != v1alpha1.StageFailed || d.Stages[1].Status != v1alpha1.StageSkipped || d.Stages[3].Status != v1alpha1.StageSkipped {
		t.Fatalf("stages: %+v", d.Stages)
	}
	if got := ingressAnnotations(t, "fail-canary")["nginx.ingress.kubernetes.io/canary-weight"]; got != "0" {
		t.Fatalf("canary weight after failure: %q, want 0", got)
	}
	if w := getWorkload(t, "fail-prod"); w.Image != image+"1.0" || w.Ready != 3 {
		t.Fatalf("production must be untouched: %+v", w)
	}
}

// Restarting the server while a deployment waits for approval, and
// killing it in the middle of a stage, loses nothing.
func TestServerRestart(t *testing.T) {
	const pipeline = "restart"
	s := startServer(t)
	dir := writeFixture(t, fixture{Pipeline: pipeline, Environment: "local", Artifact: "webpage", CanaryNS: "restart-canary", ProdNS: "restart-prod"})
	s.fledge("admin", "apply", "-f", dir)

	// Waiting for approval: kill -9, restart, approve.
	d := s.run("ci", pipeline, "IMAGE_TAG=3.0")
	s.waitStatus(d.ID, time.Minute, v1alpha1.StatusWaitingForApproval)
	s.kill()
	s.start()
	if got := s.deployment(d.ID).Status; got != v1alpha1.StatusWaitingForApproval {
		t.Fatalf("after restart: %s", got)
	}
	s.fledge("alice", "approve", itoa(d.ID))
	s.waitStatus(d.ID, time.Minute, v1alpha1.StatusSucceeded)
	waitWorkload(t, "restart-prod", image+"3.0")

	// In the middle of the canary stage: the server kills itself right
	// after applying the canary manifests, before recording it.
	s.stop()
	s.start("FLEDGE_FAULT_KILL_AT=done:ApplyCanary")
	d = s.run("ci", pipeline, "IMAGE_TAG=3.1")
	if !s.exited(30 * time.Second) {
		t.Fatalf("the fault hook should have killed the server")
	}
	s.start()
	d = s.waitStatus(d.ID, time.Minute, v1alpha1.StatusWaitingForApproval)
	s.fledge("alice", "approve", itoa(d.ID))
	s.waitStatus(d.ID, time.Minute, v1alpha1.StatusSucceeded)
	waitWorkload(t, "restart-prod", image+"3.1")
	// Every event was written once, in order.
	checkSeqs(t, s.events(d.ID))
}
