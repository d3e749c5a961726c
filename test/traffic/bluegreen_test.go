package traffic

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

// blueGreenPipeline is f's pipeline as one blueGreen stage: the Ingress in
// f's production namespace, the slots beside it, an approval before the
// switch and a scale down delay of delay.
func blueGreenPipeline(f fixture, delay string) string {
	return fmt.Sprintf(`apiVersion: fledge.dev/v1alpha1
kind: Pipeline
metadata:
  name: %s
spec:
  parameters:
    - name: IMAGE_TAG
  stages:
    - name: blue-green
      blueGreen:
        environment: local
        artifacts: [webpage-manifest]
        namespace: %s
        ingressName: webpage-ingress
        approval: {}
        scaleDownDelay: %s
        rolloutTimeout: 90s
`, f.pipeline(), f.prodNS(), delay)
}

// Blue/green through Traefik (its kubernetesIngressNGINX provider), with a
// steady 200 requests per second from before the second release to the
// end: while the new version waits for approval only the tester header
// reaches it; after the switch every request is answered by it, none by
// the previous one; a rollback within the scale down delay switches back
// as completely; a third release switches and scales the previous slot
// down. Not one request fails throughout.
func TestBlueGreenThroughTraefik(t *testing.T) {
	f := fixture{name: "bg-dp", provider: v1alpha1.TrafficProviderNGINX}
	f.files = map[string]string{"pipeline.yaml": blueGreenPipeline(f, "1m")}
	s := startServer(t)
	s.fledge("ci", "apply", "-f", f.write(t))
	rep := newReport(t, "blue/green measured through Traefik, 2000 requests each")

	d1 := s.run("ci", f.pipeline(), "IMAGE_TAG=2.0")
	s.waitStatus(d1.ID, 2*time.Minute, v1alpha1.StatusWaitingForApproval)
	s.fledge("alice", "approve", strconv.FormatInt(d1.ID, 10))
	s.waitStatus(d1.ID, 2*time.Minute, v1alpha1.StatusSucceeded)
	converge(t, f, "", 30*time.Second, "blue 2.0 served", only("2.0"))

	const rate = 200
	stopLoad := startSteady(t, f, rate)

	d2 := s.run("ci", f.pipeline(), "IMAGE_TAG=2.1")
	s.waitStatus(d2.ID, 2*time.Minute, v1alpha1.StatusWaitingForApproval)
	converge(t, f, testerHeader, 10*time.Second, "preview of green 2.1 reached", only("2.1"))
	measure(t, rep, f, "", "green waits for approval", "2.0", 1)
	measure(t, rep, f, testerHeader, "green waits, tester header ("+testerHeader+")", "2.1", 1)

	s.fledge("alice", "approve", strconv.FormatInt(d2.ID, 10))
	switched := s.waitEvent(d2.ID, time.Minute, "TrafficSwitched", "now goes to slot green")
	took := converge(t, f, "", 10*time.Second, "green 2.1 serves every request", only("2.1"))
	rep.add("switch read back on the Ingress → every probe answered by 2.1: %s", took.Round(time.Millisecond))
	rep.add("%s", switched.Message)
	measure(t, rep, f, "", "after the switch", "2.1", 1)

	// Within the scale down delay a rollback switches back at once.
	s.fledge("alice", "rollback", f.pipeline(), "--to", strconv.FormatInt(d1.ID, 10), "--yes")
	s.waitStatus(d2.ID, time.Minute, v1alpha1.StatusCancelled)
	took = converge(t, f, "", 10*time.Second, "blue 2.0 serves every request again", only("2.0"))
	rep.add("switch back read back → every probe answered by 2.0: %s", took.Round(time.Millisecond))
	measure(t, rep, f, "", "after the switch back", "2.0", 1)

	// A short delay: the third release switches and scales blue down.
	f.files["pipeline.yaml"] = blueGreenPipeline(f, "3s")
	s.fledge("ci", "apply", "-f", f.write(t))
	d3 := s.run("ci", f.pipeline(), "IMAGE_TAG=2.2")
	s.waitStatus(d3.ID, 2*time.Minute, v1alpha1.StatusWaitingForApproval)
	s.fledge("alice", "approve", strconv.FormatInt(d3.ID, 10))
	s.waitStatus(d3.ID, 2*time.Minute, v1alpha1.StatusSucceeded)
	converge(t, f, "", 10*time.Second, "green 2.2 serves every request", only("2.2"))
	time.Sleep(2 * time.Second)
	measure(t, rep, f, "", "after blue is scaled down", "2.2", 1)

	res, err := stopLoad()
	if err != nil {
		t.Fatal(err)
	}
	rep.add("steady load: %d requests (%.0f/s), versions %v, %d non-2xx, %d connection errors",
		res.Total, float64(res.Total)/res.Seconds, res.Versions, res.Non2xx, res.Errors)
	if res.Non2xx != 0 || res.Errors != 0 {
		t.Errorf("%d non-2xx answers and %d connection errors during the releases: %v", res.Non2xx, res.Errors, res.Samples)
	}
	if float64(res.Total) < 0.6*rate*res.Seconds {
		t.Errorf("only %d requests in %.1fs: the load fell below %d/s", res.Total, res.Seconds, rate)
	}
}
