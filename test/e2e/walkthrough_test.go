package e2e

import (
	"encoding/json"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

const image = "registry.example.com/webpage:"

// The walkthrough of seed-walkthrough.md, step by step, through the CLI,
// asserting the objects of both namespaces at each step.
func TestWalkthrough(t *testing.T) {
	const (
		pipeline = "webpage-canary-deployment-pipeline"
		canaryNS = "ns-canary-stage"
		prodNS   = "ns-canary-prod"
	)
	// TestReadmeUsingIt uses the same namespaces and deletes them after it.
	waitNamespacesGone(t, canaryNS, prodNS)
	s := startServer(t)
	dir := writeFixture(t, fixture{Pipeline: pipeline, Environment: "local", Artifact: "webpage-manifest", CanaryNS: canaryNS, ProdNS: prodNS})
	out := s.fledge("admin", "apply", "-f", dir)
	for _, want := range []string{"environment/local created", "artifact/webpage-manifest created", "pipeline/" + pipeline + " created"} {
		if !strings.Contains(out, want) {
			t.Fatalf("apply output lacks %q:\n%s", want, out)
		}
	}
	if out := s.fledge("admin", "apply", "-f", dir); !strings.Contains(out, "pipeline/"+pipeline+" unchanged") {
		t.Fatalf("second apply should be unchanged:\n%s", out)
	}

	canaryAnn := func(weight string) map[string]string {
		return map[string]string{
			"kubernetes.io/ingress.class":                  "nginx",
			"nginx.ingress.kubernetes.io/canary":           "true",
			"nginx.ingress.kubernetes.io/canary-by-header": "redirect-to-canary",
			"nginx.ingress.kubernetes.io/canary-weight":    weight,
			"nginx.ingress.kubernetes.io/rewrite-target":   "/$2",
		}
	}
	prodAnn := map[string]string{
		"kubernetes.io/ingress.class":                "nginx",
		"nginx.ingress.kubernetes.io/rewrite-target": "/$2",
	}
	checkAnn := func(ns string, want map[string]string) {
		t.Helper()
		if got := ingressAnnotations(t, ns); !maps.Equal(got, want) {
			t.Fatalf("ingress %s/webpage-ingress annotations:\n got  %v\n want %v", ns, got, want)
		}
	}

	// First release, 2.0 (blue).
	d1 := s.run("ci", pipeline, "IMAGE_TAG=2.0")
	if d1.Status != v1alpha1.StatusQueued || d1.TriggeredBy != "ci" || d1.Parameters["IMAGE_TAG"] != "2.0" {
		t.Fatalf("new deployment: %+v", d1)
	}
	d1 = s.waitStatus(d1.ID, time.Minute, v1alpha1.StatusWaitingForApproval)
	// Production has no Ingress yet for the canary Ingress to split
	// with: the weight stays at 0 and the events say why.
	if d1.CurrentStage != "approval-stage" || d1.CanaryWeight != 0 {
		t.Fatalf("waiting deployment: stage %q weight %d, want weight 0 (no production yet)", d1.CurrentStage, d1.CanaryWeight)
	}
	waitWorkload(t, canaryNS, image+"2.0")
	checkAnn(canaryNS, canaryAnn("0"))
	if !namespaceEmpty(t, prodNS) {
		t.Fatalf("production must be empty before the first approval")
	}
	for _, e := range s.events(d1.ID) {
		if e.Type == "WeightSet" {
			t.Errorf("first release: %s %q, want the weight kept at 0", e.Type, e.Message)
		}
	}
	s.waitEvent(d1.ID, time.Second, "WeightKept", "canary weight kept at 0% instead of 25% (batch 1 of 1): set canary weight 25: set canary weight of ingress "+canaryNS+"/webpage-ingress to 25: no production route to split traffic with: production namespace "+prodNS+" has no Ingress webpage-ingress yet")
	s.waitEvent(d1.ID, time.Second, "HeaderRouteNotSet", "production namespace "+prodNS+" has no Ingress webpage-ingress yet")
	s.fledge("alice", "approve", itoa(d1.ID), "--reason", "blue looks good")
	d1 = s.waitStatus(d1.ID, time.Minute, v1alpha1.StatusSucceeded)
	prod := waitWorkload(t, prodNS, image+"2.0")
	checkAnn(prodNS, prodAnn)
	checkAnn(canaryNS, canaryAnn("0"))
	if len(d1.Decisions) != 1 || d1.Decisions[0].User != "alice" || d1.Decisions[0].Reason != "blue looks good" || d1.Decisions[0].Decision != v1alpha1.DecisionApprove {
		t.Fatalf("decisions of #1: %+v", d1.Decisions)
	}
	if !d1.Live || d1.CanaryWeight != 0 {
		t.Fatalf("#1 should be live with weight 0: live=%v weight=%d", d1.Live, d1.CanaryWeight)
	}

	// Second release, 2.1 (green): canary at 25% while production runs 2.0.
	d2 := s.run("ci", pipeline, "IMAGE_TAG=2.1")
	d2 = s.waitStatus(d2.ID, time.Minute, v1alpha1.StatusWaitingForApproval)
	canary := waitWorkload(t, canaryNS, image+"2.1")
	checkAnn(canaryNS, canaryAnn("25"))
	checkAnn(prodNS, prodAnn)
	if w := getWorkload(t, prodNS); w.Image != image+"2.0" {
		t.Fatalf("production must still run 2.0, runs %s", w.Image)
	}
	if onlyHash(canary) == onlyHash(prod) {
		t.Fatalf("canary 2.1 should have a new replicaset hash, both are %s", onlyHash(prod))
	}
	s.fledge("bob", "approve", itoa(d2.ID))
	d2 = s.waitStatus(d2.ID, time.Minute, v1alpha1.StatusSucceeded)
	// On approval the canary takes every request before production rolls,
	// and gives them back once production runs 2.1.
	// In between, production's endpoints settle (no promotion hold by
	// default).
	var order []string
	for _, e := range s.events(d2.ID) {
		switch {
		case e.Type == "WeightSet", e.Type == "ProductionReleased", e.Type == "EndpointsSettled",
			e.Type == "Applied" && strings.Contains(e.Message, "production namespace"):
			order = append(order, e.Type+" "+strings.SplitN(e.Message, ":", 2)[0])
		}
	}
	if got, want := strings.Join(order, " | "), "WeightSet canary weight set to 25% (batch 1 of 1) on ingress "+canaryNS+"/webpage-ingress, read back 25 | "+
		"WeightSet canary weight set to 100% on ingress "+canaryNS+"/webpage-ingress, read back 100 | "+
		"Applied applied 3 objects to production namespace "+prodNS+" | "+
		"EndpointsSettled production's Services have only the new pods as endpoints; the requests go back to production | "+
		"ProductionReleased production namespace "+prodNS+" now runs deployment "+pipeline+"#2 (IMAGE_TAG=2.1) | "+
		"WeightSet canary weight set to 0% on ingress "+canaryNS+"/webpage-ingress, read back 0"; got != want {
		t.Errorf("release #2 traffic events:\n got %s\nwant %s", got, want)
	}
	prod = waitWorkload(t, prodNS, image+"2.1")
	if onlyHash(prod) != onlyHash(canary) {
		t.Fatalf("after approval production pods should share the canary's replicaset hash: prod %s canary %s", onlyHash(prod), onlyHash(canary))
	}
	checkAnn(canaryNS, canaryAnn("0"))
	checkAnn(prodNS, prodAnn)

	// Third release, 2.2 (red), rejected.
	d3 := s.run("ci", pipeline, "IMAGE_TAG=2.2")
	s.waitStatus(d3.ID, time.Minute, v1alpha1.StatusWaitingForApproval)
	waitWorkload(t, canaryNS, image+"2.2")
	checkAnn(canaryNS, canaryAnn("25"))
	if _, err := s.fledgeErr("carol", "reject", itoa(d3.ID)); err == nil {
		t.Fatalf("reject without a reason must fail")
	}
	s.fledge("carol", "reject", itoa(d3.ID), "--reason", "red is wrong")
	d3 = s.waitStatus(d3.ID, time.Minute, v1alpha1.StatusRejected)
	checkAnn(canaryNS, canaryAnn("0"))
	if w := getWorkload(t, prodNS); w.Image != image+"2.1" {
		t.Fatalf("production must keep 2.1 after the rejection, runs %s", w.Image)
	}
	if !strings.Contains(d3.Message, "rejected by carol") || !strings.Contains(d3.Message, "red is wrong") {
		t.Fatalf("rejection message: %q", d3.Message)
	}

	// History: three releases, #2 live.
	var hist v1alpha1.DeploymentList
	if err := json.Unmarshal([]byte(s.fledge("dave", "history", pipeline, "-o", "json")), &hist); err != nil {
		t.Fatalf("history -o json: %v", err)
	}
	if len(hist.Items) != 3 || hist.Items[0].ID != d3.ID || !hist.Items[1].Live || hist.Items[1].ID != d2.ID {
		t.Fatalf("history: %+v", hist.Items)
	}
	table := s.fledge("dave", "history", pipeline)
	for _, want := range []string{"IMAGE_TAG=2.0", "IMAGE_TAG=2.1", "IMAGE_TAG=2.2", "alice", "bob", "Rejected"} {
		if !strings.Contains(table, want) {
			t.Fatalf("history table lacks %q:\n%s", want, table)
		}
	}

	// Rollback to 2.0: the preview shows the image change, then it runs.
	preview := s.fledge("dave", "rollback", pipeline, "--to", itoa(d1.ID), "--dry-run")
	if !strings.Contains(preview, "-        image: "+image+"2.1") && !strings.Contains(preview, "- "+image+"2.1") && !strings.Contains(preview, image+"2.1") {
		t.Fatalf("rollback preview should show 2.1 going away:\n%s", preview)
	}
	if !strings.Contains(preview, image+"2.0") {
		t.Fatalf("rollback preview should show 2.0 coming back:\n%s", preview)
	}
	if w := getWorkload(t, prodNS); w.Image != image+"2.1" {
		t.Fatalf("a dry run must not change production, runs %s", w.Image)
	}
	s.fledge("dave", "rollback", pipeline, "--to", itoa(d1.ID), "--yes")
	var list v1alpha1.DeploymentList
	s.getJSON("/api/v1/deployments?pipeline="+pipeline+"&limit=1", &list)
	rb := list.Items[0]
	if rb.Kind != v1alpha1.KindRollback || rb.RollbackTo != d1.ID {
		t.Fatalf("newest deployment should be the rollback to %d: %+v", d1.ID, rb)
	}
	rb = s.waitStatus(rb.ID, time.Minute, v1alpha1.StatusSucceeded)
	waitWorkload(t, prodNS, image+"2.0")
	checkAnn(canaryNS, canaryAnn("0"))
	checkAnn(prodNS, prodAnn)
	if !s.deployment(rb.ID).Live || s.deployment(d2.ID).Live {
		t.Fatalf("the rollback should be live now, not #2")
	}
}

func itoa(id int64) string { return strconv.FormatInt(id, 10) }
