package traffic

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

// blueGreenPipeline is f's pipeline as one blueGreen stage: the Ingress
// (or, with the Gateway API provider, the HTTPRoute) in f's production
// namespace, the slots beside it, an approval before the switch and a
// scale down delay of delay.
func blueGreenPipeline(f fixture, delay string) string {
	return blueGreenPipelineWith(f, delay, "        approval: {}\n")
}

// blueGreenPipelineWith is blueGreenPipeline with settings (YAML lines of
// the stage, indented eight spaces) instead of the approval.
func blueGreenPipelineWith(f fixture, delay, settings string) string {
	params := "    - name: IMAGE_TAG\n"
	if f.faults {
		params += "    - name: ERROR_RATE\n      default: \"\"\n    - name: LATENCY\n      default: \"\"\n"
	}
	front := "ingressName: webpage-ingress"
	if f.provider == v1alpha1.TrafficProviderGatewayAPI {
		front = "httpRouteName: webpage"
	}
	return fmt.Sprintf(`apiVersion: fledge.dev/v1alpha1
kind: Pipeline
metadata:
  name: %s
spec:
  parameters:
%s  stages:
    - name: blue-green
      blueGreen:
        environment: local
        artifacts: [webpage-manifest]
        namespace: %s
        %s
%s        scaleDownDelay: %s
        rolloutTimeout: 90s
`, f.pipeline(), params, f.prodNS(), front, settings, delay)
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

// Blue/green with a Gateway API HTTPRoute through Traefik (its Gateway API
// provider), under a steady load from before the second release to the
// end: the preview header reaches the new slot only; the switch moves
// every request at once; the post-promotion analysis, measured on
// Traefik's metrics through the real Prometheus, passes a good version
// and fails a version answering 10% 5xx, which switches every request
// back to the previous slot at once, nothing redeployed. No request fails
// but the bad version's own answers.
func TestBlueGreenGatewayThroughTraefik(t *testing.T) {
	f := fixture{name: "bg-gw", provider: v1alpha1.TrafficProviderGatewayAPI, faults: true}
	analysis := fmt.Sprintf(`        postPromotionAnalysis:
          templates: [{name: %ssuccess-rate}]
          args: [{name: window, value: 6s}]
`, f.templatePrefix())
	f.files = map[string]string{
		"pipeline.yaml":  blueGreenPipelineWith(f, "2s", "        approval: {}\n"+analysis),
		"templates.yaml": analysisTemplates(t, f.provider),
	}
	s := startServer(t)
	s.fledge("ci", "apply", "-f", f.write(t))
	rep := newReport(t, "blue/green with an HTTPRoute measured through Traefik, 2000 requests each")

	d1 := s.run("ci", f.pipeline(), "IMAGE_TAG=2.0")
	s.waitStatus(d1.ID, 2*time.Minute, v1alpha1.StatusWaitingForApproval)
	s.fledge("alice", "approve", strconv.FormatInt(d1.ID, 10))
	s.waitEvent(d1.ID, time.Minute, "TrafficSwitched", "now goes to slot blue")
	converge(t, f, "", 30*time.Second, "blue 2.0 served", only("2.0"))
	// The load begins before the first release's analysis measures.
	stopLoad := startSteady(t, f, analysisLoad)
	s.waitStatus(d1.ID, 3*time.Minute, v1alpha1.StatusSucceeded)

	d2 := s.run("ci", f.pipeline(), "IMAGE_TAG=2.1")
	s.waitStatus(d2.ID, 2*time.Minute, v1alpha1.StatusWaitingForApproval)
	converge(t, f, testerHeader, 10*time.Second, "preview of green 2.1 reached", only("2.1"))
	measure(t, rep, f, "", "green waits for approval", "2.0", 1)
	measure(t, rep, f, testerHeader, "green waits, tester header ("+testerHeader+")", "2.1", 1)
	s.fledge("alice", "approve", strconv.FormatInt(d2.ID, 10))
	switched := s.waitEvent(d2.ID, time.Minute, "TrafficSwitched", "now goes to slot green")
	took := converge(t, f, "", 10*time.Second, "green 2.1 serves every request", only("2.1"))
	rep.add("switch read back and accepted on the HTTPRoute → every probe answered by 2.1: %s", took.Round(time.Millisecond))
	rep.add("%s", switched.Message)
	d2 = s.waitStatus(d2.ID, 3*time.Minute, v1alpha1.StatusSucceeded)
	rep.add("2.1 after its post-promotion analysis: %s", d2.Status)
	measure(t, rep, f, "", "after the switch", "2.1", 1)

	// A bad version: switched to, failed by its analysis, switched back.
	d3 := s.run("ci", f.pipeline(), "IMAGE_TAG=2.2", "ERROR_RATE=10%")
	s.waitStatus(d3.ID, 2*time.Minute, v1alpha1.StatusWaitingForApproval)
	s.fledge("alice", "approve", strconv.FormatInt(d3.ID, 10))
	s.waitEvent(d3.ID, time.Minute, "TrafficSwitched", "now goes to slot blue")
	converge(t, f, "", 10*time.Second, "blue 2.2 gets requests", some("2.2"))
	d3 = s.waitStatus(d3.ID, 3*time.Minute, v1alpha1.StatusFailed)
	back := s.waitEvent(d3.ID, time.Second, "TrafficSwitchedBack", "nothing was redeployed")
	rep.add("2.2 with 10%% 5xx: %s: %s", d3.Status, d3.Message)
	rep.add("%s", back.Message)
	if !strings.Contains(d3.Message, "post-promotion") || !strings.Contains(d3.Message, "success-rate") {
		t.Errorf("the failed release's message does not name its analysis and metric: %q", d3.Message)
	}
	took = converge(t, f, "", 10*time.Second, "green 2.1 serves every request again", only("2.1"))
	rep.add("switch back → every probe answered by 2.1: %s", took.Round(time.Millisecond))
	measure(t, rep, f, "", "after the switch back", "2.1", 1)
	if !s.deployment(d2.ID).Live {
		t.Errorf("deployment %d is not live again after the switch back", d2.ID)
	}

	res, err := stopLoad()
	if err != nil {
		t.Fatal(err)
	}
	rep.add("steady load: %d requests (%.0f/s), versions %v, failed %v, %d connection errors",
		res.Total, float64(res.Total)/res.Seconds, res.Versions, res.Failed, res.Errors)
	if res.Errors != 0 || res.Failed["2.0"] != 0 || res.Failed["2.1"] != 0 || res.Failed[""] != 0 {
		t.Errorf("requests failed other than the bad version's own answers: %v", res)
	}
	if res.Failed["2.2"] == 0 {
		t.Errorf("the bad version answered no 5xx: it was never bad: %v", res)
	}
}
