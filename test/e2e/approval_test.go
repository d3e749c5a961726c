package e2e

import (
	"strings"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

// Two approvals must come from two distinct people; the same person twice
// is refused and does not count.
func TestTwoDistinctApprovers(t *testing.T) {
	const p = "two-approvers"
	s := startServer(t)
	s.fledge("admin", "apply", "-f", writeFixture(t, fixture{Pipeline: p, Environment: "local", Artifact: p, CanaryNS: p + "-c", ProdNS: p + "-p", Approvals: 2}))
	d := s.run("ci", p, "IMAGE_TAG=1.0")
	s.waitStatus(d.ID, time.Minute, v1alpha1.StatusWaitingForApproval)
	s.fledge("alice", "approve", itoa(d.ID))
	if out, err := s.fledgeErr("alice", "approve", itoa(d.ID)); err == nil || !strings.Contains(out, "already decided") {
		t.Fatalf("a second approval by alice must be refused: err=%v\n%s", err, out)
	}
	time.Sleep(time.Second)
	if st := s.deployment(d.ID).Status; st != v1alpha1.StatusWaitingForApproval {
		t.Fatalf("one distinct approver of two required: status %s", st)
	}
	s.fledge("bob", "approve", itoa(d.ID), "--reason", "second pair of eyes")
	d = s.waitStatus(d.ID, time.Minute, v1alpha1.StatusSucceeded)
	if len(d.Decisions) != 2 || d.Decisions[0].User != "alice" || d.Decisions[1].User != "bob" {
		t.Fatalf("decisions: %+v", d.Decisions)
	}
	waitWorkload(t, p+"-p", image+"1.0")
}

// An approval that times out fails the deployment with the canary weight
// back at 0 and production untouched.
func TestApprovalTimeout(t *testing.T) {
	const p = "approval-timeout"
	s := startServer(t)
	s.fledge("admin", "apply", "-f", writeFixture(t, fixture{Pipeline: p, Environment: "local", Artifact: p, CanaryNS: p + "-c", ProdNS: p + "-p", ApprovalTimeout: "2s"}))
	d := s.run("ci", p, "IMAGE_TAG=1.0")
	d = s.waitStatus(d.ID, time.Minute, v1alpha1.StatusFailed)
	if !strings.Contains(d.Message, "approval timed out") {
		t.Fatalf("message: %q", d.Message)
	}
	if w := ingressAnnotations(t, p+"-c")["nginx.ingress.kubernetes.io/canary-weight"]; w != "0" || d.CanaryWeight != 0 {
		t.Fatalf("weight after timeout: annotation %q, deployment %d", w, d.CanaryWeight)
	}
	if !namespaceEmpty(t, p+"-p") {
		t.Fatalf("production must be untouched")
	}
}

// Runs of one pipeline go one at a time: a newer run is Queued behind the
// running one and can be cancelled while it waits; a running one can be
// cancelled too, which undoes its canary. Production runs a first release
// already, so each canary takes its 25%.
func TestQueueAndCancel(t *testing.T) {
	const p = "queue"
	s := startServer(t)
	s.fledge("admin", "apply", "-f", writeFixture(t, fixture{Pipeline: p, Environment: "local", Artifact: p, CanaryNS: p + "-c", ProdNS: p + "-p"}))
	s.release(p, "0.9")
	first := s.run("ci", p, "IMAGE_TAG=1.0")
	first = s.waitStatus(first.ID, time.Minute, v1alpha1.StatusWaitingForApproval)
	if w := ingressAnnotations(t, p+"-c")["nginx.ingress.kubernetes.io/canary-weight"]; w != "25" || first.CanaryWeight != 25 {
		t.Fatalf("first run at approval: annotation %q, deployment %d; want 25", w, first.CanaryWeight)
	}
	second := s.run("ci", p, "IMAGE_TAG=2.0")
	third := s.run("ci", p, "IMAGE_TAG=3.0")
	time.Sleep(time.Second)
	if st := s.deployment(second.ID).Status; st != v1alpha1.StatusQueued {
		t.Fatalf("second run: %s, want Queued", st)
	}
	s.fledge("ci", "cancel", itoa(second.ID))
	d := s.waitStatus(second.ID, 30*time.Second, v1alpha1.StatusCancelled)
	if d.StartedAt != nil {
		t.Fatalf("a cancelled queued run never starts")
	}
	if st := s.deployment(first.ID).Status; st != v1alpha1.StatusWaitingForApproval {
		t.Fatalf("cancelling the queued run must not disturb the running one: %s", st)
	}
	// Cancel the running one: its canary weight goes back to 0, and the
	// third run starts.
	s.fledge("ci", "cancel", itoa(first.ID))
	d = s.waitStatus(first.ID, 30*time.Second, v1alpha1.StatusCancelled)
	if d.CanaryWeight != 0 {
		t.Fatalf("cancelled run weight %d", d.CanaryWeight)
	}
	s.waitStatus(third.ID, time.Minute, v1alpha1.StatusWaitingForApproval)
	waitWorkload(t, p+"-c", image+"3.0")
	if w := ingressAnnotations(t, p+"-c")["nginx.ingress.kubernetes.io/canary-weight"]; w != "25" {
		t.Fatalf("third run at approval: weight %q", w)
	}
	if _, err := s.fledgeErr("ci", "cancel", itoa(second.ID)); err == nil {
		t.Fatalf("cancelling an ended deployment must fail")
	}
	s.fledge("bob", "reject", itoa(third.ID), "--reason", "done")
	s.waitStatus(third.ID, time.Minute, v1alpha1.StatusRejected)
}
