package traffic

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

// Fledge edits an HTTPRoute with server-side apply as "fledge", without
// force: when someone else has since taken over the route's rules, the
// release stops with a clear error instead of overwriting them, and no
// request moves.
func TestGatewayRefusesRouteOfAnotherManager(t *testing.T) {
	f := fixture{name: "gw-owned", provider: v1alpha1.TrafficProviderGatewayAPI}
	s := startServer(t)
	s.fledge("ci", "apply", "-f", f.write(t))
	d1 := s.run("ci", f.pipeline(), "IMAGE_TAG=2.0")
	s.waitStatus(d1.ID, 2*time.Minute, v1alpha1.StatusWaitingForApproval)
	s.fledge("alice", "approve", strconv.FormatInt(d1.ID, 10))
	s.waitStatus(d1.ID, 2*time.Minute, v1alpha1.StatusSucceeded)
	converge(t, f, "", 30*time.Second, "production 2.0 served", only("2.0"))

	// An operator adds a request timeout with kubectl: the rules are now
	// kubectl-patch's.
	kubectl(t, "patch", "httproute", "webpage", "-n", f.prodNS(), "--type=merge", "-p",
		`{"spec":{"rules":[{"matches":[{"path":{"type":"PathPrefix","value":"/gw-owned"}}],"backendRefs":[{"name":"webpage-service","port":8080}],"timeouts":{"request":"10s"}}]}}`)
	before := kubectl(t, "get", "httproute", "webpage", "-n", f.prodNS(), "-o", "jsonpath={.spec.rules}")

	d2 := s.run("ci", f.pipeline(), "IMAGE_TAG=2.1")
	d2 = s.waitStatus(d2.ID, 2*time.Minute, v1alpha1.StatusFailed)
	for _, want := range []string{"managed by kubectl-patch", "does not take over fields others manage"} {
		if !strings.Contains(d2.Message, want) {
			t.Errorf("failure message lacks %q: %s", want, d2.Message)
		}
	}
	t.Logf("refused: %s", d2.Message)
	if after := kubectl(t, "get", "httproute", "webpage", "-n", f.prodNS(), "-o", "jsonpath={.spec.rules}"); after != before {
		t.Errorf("the route's rules changed:\n before %s\n after  %s", before, after)
	}
	s.waitEvent(d2.ID, 10*time.Second, "ReferenceGrantDeleted", f.canaryNS())
	rep := newReport(t, "route owned by another manager")
	measure(t, rep, f, testerHeader, "tester header after the refusal", "2.0", 1)
	measure(t, rep, f, "", "after the refusal", "2.0", 1)
}
