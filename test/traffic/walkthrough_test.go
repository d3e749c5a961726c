package traffic

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

// The walkthrough of seed-walkthrough.md through a real data plane, with
// 2,000 requests at every point: before any canary, at weight 25, with the
// tester header, after approval, after a rejection and after a rollback.
func TestWalkthroughGatewayAPI(t *testing.T) {
	walkthrough(t, fixture{name: "gw-walk", provider: v1alpha1.TrafficProviderGatewayAPI})
}

// The same with the NGINX provider's beside-production layout (Traefik
// reads the ingress-nginx annotations).
func TestWalkthroughNGINXBesideProduction(t *testing.T) {
	walkthrough(t, fixture{name: "ngx-walk", provider: v1alpha1.TrafficProviderNGINX})
}

func walkthrough(t *testing.T, f fixture) {
	s := startServer(t)
	s.fledge("ci", "apply", "-f", f.write(t))
	rep := newReport(t, "measured through Traefik, "+f.provider+", 2000 requests each")
	gateway := f.provider == v1alpha1.TrafficProviderGatewayAPI

	// First release, 2.0: there is no production to split with yet, which
	// Fledge says, keeping the weight at 0.
	d1 := s.run("ci", f.pipeline(), "IMAGE_TAG=2.0")
	d1 = s.waitStatus(d1.ID, 2*time.Minute, v1alpha1.StatusWaitingForApproval)
	if d1.CanaryWeight != 0 {
		t.Fatalf("first release: canary weight %d, want 0 (no production yet)", d1.CanaryWeight)
	}
	kept := s.waitEvent(d1.ID, 5*time.Second, "WeightKept", "no production")
	rep.add("first release: %s", kept.Message)
	if d1.Traffic == nil || d1.Traffic.Provider != f.provider {
		t.Fatalf("deployment traffic = %+v, want provider %s", d1.Traffic, f.provider)
	}
	describe := s.fledge("ci", "describe", "deployment", strconv.FormatInt(d1.ID, 10))
	for _, want := range []string{"Traffic provider:         " + f.provider, "Tester header:            redirect-to-canary: always"} {
		if !strings.Contains(describe, want) {
			t.Errorf("describe deployment lacks %q:\n%s", want, describe)
		}
	}
	s.fledge("alice", "approve", strconv.FormatInt(d1.ID, 10))
	s.waitStatus(d1.ID, 2*time.Minute, v1alpha1.StatusSucceeded)

	converge(t, f, "", 30*time.Second, "production 2.0 served", only("2.0"))
	measure(t, rep, f, "", "before any canary", "2.0", 1)

	// Second release, 2.1, at weight 25.
	d2 := s.run("ci", f.pipeline(), "IMAGE_TAG=2.1")
	d2 = s.waitStatus(d2.ID, 2*time.Minute, v1alpha1.StatusWaitingForApproval)
	if d2.CanaryWeight != 25 {
		t.Fatalf("second release: canary weight %d, want 25\n%s", d2.CanaryWeight, s.eventLog(d2.ID))
	}
	if gateway {
		s.waitEvent(d2.ID, time.Second, "ReferenceGrantCreated", f.canaryNS())
		s.waitEvent(d2.ID, time.Second, "RouteStatus", "ResolvedRefs=True")
		kubectl(t, "get", "referencegrant", "-n", f.canaryNS(), "fledge-"+f.prodNS()+"-webpage")
	} else {
		ann := kubectl(t, "get", "ingress", "-n", f.prodNS(), "webpage-ingress-canary", "-o", "jsonpath={.metadata.annotations}")
		if !strings.Contains(ann, `"nginx.ingress.kubernetes.io/canary-weight":"25"`) {
			t.Errorf("canary ingress annotations: %s", ann)
		}
		if out, _ := kubectlErr("get", "ingress", "-n", f.canaryNS(), "-o", "name"); strings.TrimSpace(out) != "" {
			t.Errorf("beside-production: the canary namespace should have no ingress, has %s", out)
		}
	}
	converge(t, f, "", 10*time.Second, "canary 2.1 reached", some("2.1"))
	measure(t, rep, f, "", "ramp 25", "2.1", 0.25)
	measure(t, rep, f, testerHeader, "tester header ("+testerHeader+")", "2.1", 1)
	// The tester cookie, among other cookies, reaches the canary too.
	cookie := "Cookie: theme=dark; " + testerCookie + "=always; lang=en"
	measure(t, rep, f, cookie, "tester cookie ("+testerCookie+"=always)", "2.1", 1)
	measure(t, rep, f, "Cookie: not-"+testerCookie+"=always", "another cookie", "2.1", 0.25)
	if !gateway {
		// ingress-nginx's "never" keeps a request away from the canary.
		measure(t, rep, f, "Cookie: "+testerCookie+"=never", "tester cookie ("+testerCookie+"=never)", "2.0", 1)
	}

	// Approval: production becomes 2.1.
	// From the approval on only 2.1 is served: the canary takes every
	// request, then gives them back to production once it runs 2.1 (no
	// promotion hold by default), and no request reaches a 2.0 pod again.
	approved := time.Now()
	s.fledge("bob", "approve", strconv.FormatInt(d2.ID, 10))
	took, stale := promotion(t, s, f, d2.ID, approved, "2.1")
	rep.add("approve -> 100%% 2.1 served in %s; afterwards, until 1s after the release ended, other versions answered %v", took.Round(time.Millisecond), stale)
	t.Logf("%s: time from approve to 100%% new version: %s", f.provider, took.Round(time.Millisecond))
	if len(stale) > 0 {
		t.Errorf("after only 2.1 was served, other versions answered again: %v\n%s", stale, s.eventLog(d2.ID))
	}
	d2 = s.waitStatus(d2.ID, 2*time.Minute, v1alpha1.StatusSucceeded)
	rep.add("approve -> deployment Succeeded in %s", d2.EndedAt.Sub(approved).Round(time.Millisecond))
	measure(t, rep, f, "", "after approval", "2.1", 1)
	if gateway {
		s.waitEvent(d2.ID, time.Second, "ReferenceGrantDeleted", f.canaryNS())
		// The order that keeps every request answered: grant, canary
		// backend at weight 0 resolved, header rule, weight; then back to
		// the production form, and the grant last.
		s.inOrder(d2.ID,
			[2]string{"ReferenceGrantCreated", f.canaryNS()},
			[2]string{"RouteStatus", "canary backend added at weight 0): Accepted and ResolvedRefs=True"},
			[2]string{"RouteStatus", "canary weight 0%, tester header redirect-to-canary: always (or cookie " + testerCookie + "=always) to the canary"},
			[2]string{"HeaderRouteSet", "redirect-to-canary: always"},
			[2]string{"RouteStatus", "canary weight 25%"},
			[2]string{"WeightSet", "canary weight set to 25%"},
			[2]string{"ProductionReleased", f.prodNS()},
			[2]string{"ReferenceGrantDeleted", f.canaryNS()},
		)
		if out, err := kubectlErr("get", "referencegrant", "-n", f.canaryNS(), "-o", "name"); err != nil || strings.TrimSpace(out) != "" {
			t.Errorf("the ReferenceGrant should be gone after the release: %q %v", out, err)
		}
	}

	// Third release, 2.2, rejected.
	d3 := s.run("ci", f.pipeline(), "IMAGE_TAG=2.2")
	s.waitStatus(d3.ID, 2*time.Minute, v1alpha1.StatusWaitingForApproval)
	converge(t, f, "", 10*time.Second, "canary 2.2 reached", some("2.2"))
	measure(t, rep, f, "", "third release, ramp 25", "2.2", 0.25)
	s.fledge("carol", "reject", strconv.FormatInt(d3.ID, 10), "--reason", "red is wrong")
	s.waitStatus(d3.ID, time.Minute, v1alpha1.StatusRejected)
	converge(t, f, "", 10*time.Second, "no 2.2 after the rejection", none("2.2"))
	measure(t, rep, f, "", "after reject (canary share)", "2.2", 0)
	measure(t, rep, f, "", "after reject (production share)", "2.1", 1)

	// Rollback to 2.0.
	s.fledge("dave", "rollback", f.pipeline(), "--to", strconv.FormatInt(d1.ID, 10), "--yes")
	rb := s.newest(f.pipeline())
	if rb.Kind != v1alpha1.KindRollback {
		t.Fatalf("newest deployment is not the rollback: %+v", rb)
	}
	s.waitStatus(rb.ID, 2*time.Minute, v1alpha1.StatusSucceeded)
	converge(t, f, "", 30*time.Second, "only 2.0 after the rollback", only("2.0"))
	measure(t, rep, f, "", "after rollback", "2.0", 1)
}
