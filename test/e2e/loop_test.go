package e2e

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

// People in the loop of a canarySteps release, on the real control plane:
// fledge resume lets a pause without a duration go on and ends a timed
// pause early; fledge abort takes the canary out of traffic with its
// reason recorded, leaving production alone; fledge retry runs the aborted
// release again with its plan; fledge promote skips the steps left. Each refuses what it cannot do, saying why.
func TestPeopleInTheLoop(t *testing.T) {
	const pipeline = "loop"
	s := startServer(t)
	dir := writeFixture(t, fixture{
		Pipeline: pipeline, Environment: "local", Artifact: "webpage", CanaryNS: "loop-canary", ProdNS: "loop-prod",
		Steps: "          - setWeight: 25\n          - pause: {}\n          - setWeight: 50\n          - pause: {duration: 1h}\n",
	})
	s.fledge("admin", "apply", "-f", dir)
	id := func(d v1alpha1.Deployment) string { return strconv.FormatInt(d.ID, 10) }

	// resumeThrough resumes d at both pauses and waits for the end.
	resumeThrough := func(d v1alpha1.Deployment) v1alpha1.Deployment {
		t.Helper()
		d = s.waitStatus(d.ID, time.Minute, v1alpha1.StatusWaitingForApproval)
		if d.CurrentStage != "progressive/step-2" {
			t.Fatalf("waits at %q, want the pause progressive/step-2", d.CurrentStage)
		}
		out := s.fledge("alice", "resume", id(d), "--reason", "dashboards fine")
		if !strings.Contains(out, "resumed at progressive/step-2") {
			t.Errorf("fledge resume said %q", out)
		}
		s.waitEvent(d.ID, time.Minute, "Paused", "until")
		s.fledge("alice", "resume", id(d))
		s.waitEvent(d.ID, time.Minute, "Resumed", "ended early: resumed by alice")
		return s.waitStatus(d.ID, 2*time.Minute, v1alpha1.StatusSucceeded)
	}

	d1 := resumeThrough(s.run("ci", pipeline, "IMAGE_TAG=1.0"))
	waitWorkload(t, "loop-prod", image+"1.0")
	if out, err := s.fledgeErr("alice", "resume", id(d1)); err == nil || !strings.Contains(out, "has ended") {
		t.Errorf("resume of an ended deployment: %v %s", err, out)
	}

	// An aborted release: weight 0, production untouched, the reason kept.
	d2 := s.run("ci", pipeline, "IMAGE_TAG=1.1")
	d2 = s.waitStatus(d2.ID, time.Minute, v1alpha1.StatusWaitingForApproval)
	if d2.CanaryWeight != 25 {
		t.Fatalf("canary weight %d at the pause, want 25", d2.CanaryWeight)
	}
	s.fledge("bob", "abort", id(d2), "--reason", "error rate rising")
	d2 = s.waitStatus(d2.ID, time.Minute, v1alpha1.StatusCancelled)
	s.waitEvent(d2.ID, time.Second, "CancelRequested", "cancellation requested by bob: error rate rising")
	if got := ingressAnnotations(t, "loop-canary")["nginx.ingress.kubernetes.io/canary-weight"]; got != "0" {
		t.Errorf("canary weight after the abort: %q, want 0", got)
	}
	if w := getWorkload(t, "loop-prod"); w.Image != image+"1.0" {
		t.Errorf("production after the abort: %+v, want 1.0 untouched", w)
	}

	// Retried: a new deployment with the same plan and parameters.
	out := s.fledge("ci", "retry", id(d2), "-o", "json")
	d3 := s.latest(pipeline)
	if d3.ID == d2.ID || d3.Parameters["IMAGE_TAG"] != "1.1" || !strings.Contains(out, `"id": `+id(d3)) {
		t.Fatalf("retry made %+v (output %s), want a new deployment of 1.1", d3, out)
	}
	s.waitEvent(d3.ID, time.Second, "DeploymentCreated", "retrying deployment "+id(d2))
	resumeThrough(d3)
	waitWorkload(t, "loop-prod", image+"1.1")
	// Promoted at its first pause: the rest of the steps are skipped and
	// the canary goes to production.
	d4 := s.run("ci", pipeline, "IMAGE_TAG=1.2")
	s.waitStatus(d4.ID, time.Minute, v1alpha1.StatusWaitingForApproval)
	s.fledge("carol", "promote", id(d4), "--reason", "hotfix verified by hand")
	d4 = s.waitStatus(d4.ID, 2*time.Minute, v1alpha1.StatusSucceeded)
	s.waitEvent(d4.ID, time.Second, "Promoted", "promoted by carol: hotfix verified by hand")
	waitWorkload(t, "loop-prod", image+"1.2")
	for _, e := range s.events(d4.ID) {
		if e.Type == "Resumed" || strings.Contains(e.Message, "set to 50%") {
			t.Errorf("a promoted deployment ran a step it should skip: %s %s", e.Type, e.Message)
		}
	}
	for _, c := range []struct {
		user string
		args []string
		want string
	}{
		{"carol", []string{"promote", id(d4)}, "has ended"},
		{"ci", []string{"retry", id(d3)}, "only a failed, cancelled or rejected deployment can be retried"},
		{"ci", []string{"abort", id(d3)}, "has already ended"},
	} {
		if out, err := s.fledgeErr(c.user, c.args...); err == nil || !strings.Contains(out, c.want) {
			t.Errorf("fledge %v: %v %s, want an error with %q", c.args, err, out, c.want)
		}
	}
}
