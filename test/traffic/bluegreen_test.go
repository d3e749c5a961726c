package traffic

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/test/dataplane"
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
// provider), with steady loads of users and of testers (the tester header)
// from before the second release to the end, and both analyses measured
// on Traefik's metrics through the real Prometheus: before the switch the
// new slot's p99 latency (only the testers reach it), after it its
// success rate (everyone reaches it). The preview header reaches the new
// slot only; the switch moves every request at once. A version 300 ms
// slower fails its pre-promotion analysis on the testers' requests and is
// never switched to; a version answering 10% 5xx passes it, is switched
// to, fails its post-promotion analysis and every request goes back to
// the previous slot at once, nothing redeployed. No request fails but the
// bad version's own answers.
func TestBlueGreenGatewayThroughTraefik(t *testing.T) {
	f := fixture{name: "bg-gw", provider: v1alpha1.TrafficProviderGatewayAPI, faults: true}
	analyses := fmt.Sprintf(`        prePromotionAnalysis:
          templates: [{name: %[1]slatency-p99}]
          args: [{name: window, value: 6s}, {name: maxLatencySeconds, value: "0.2"}]
        postPromotionAnalysis:
          templates: [{name: %[1]ssuccess-rate}]
          args: [{name: window, value: 6s}]
`, f.templatePrefix())
	f.files = map[string]string{
		"pipeline.yaml":  blueGreenPipelineWith(f, "2s", "        approval: {}\n"+analyses),
		"templates.yaml": analysisTemplates(t, f.provider),
	}
	s := startServer(t)
	s.fledge("ci", "apply", "-f", f.write(t))
	rep := newReport(t, "blue/green with an HTTPRoute measured through Traefik, 2000 requests each")

	// The first release: nothing serves, so no route sends testers to it
	// and its pre-promotion analysis is skipped; its post-promotion one
	// measures everyone's requests.
	d1 := s.run("ci", f.pipeline(), "IMAGE_TAG=2.0")
	s.waitStatus(d1.ID, 2*time.Minute, v1alpha1.StatusWaitingForApproval)
	s.fledge("alice", "approve", strconv.FormatInt(d1.ID, 10))
	s.waitEvent(d1.ID, time.Minute, "TrafficSwitched", "now goes to slot blue")
	converge(t, f, "", 30*time.Second, "blue 2.0 served", only("2.0"))
	users := startSteady(t, f, analysisLoad)
	testers := startTesters(t, f, analysisLoad/2)
	d1 = s.waitStatus(d1.ID, 3*time.Minute, v1alpha1.StatusSucceeded)
	rep.add("first release 2.0: %s", s.waitEvent(d1.ID, time.Second, "AnalysisSkipped", "first release").Message)

	// A good version: previewed, both analyses pass.
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
	rep.add("2.1 after both analyses: %s", d2.Status)
	measure(t, rep, f, "", "after the switch", "2.1", 1)

	// A slow version: its pre-promotion analysis fails on the testers'
	// requests; users never reach it.
	d3 := s.run("ci", f.pipeline(), "IMAGE_TAG=2.2", "LATENCY=300ms")
	d3 = s.waitStatus(d3.ID, 3*time.Minute, v1alpha1.StatusFailed)
	rep.add("2.2 +300ms: %s: %s", d3.Status, d3.Message)
	if !strings.Contains(d3.Message, "pre-promotion") || !strings.Contains(d3.Message, "latency-p99") {
		t.Errorf("the slow release's message does not name its analysis and metric: %q", d3.Message)
	}
	if _, ok := s.event(d3.ID, "TrafficSwitched", ""); ok {
		t.Error("the slow release was switched to")
	}
	converge(t, f, testerHeader, 10*time.Second, "the preview of 2.2 is gone", only("2.1"))
	// The next release goes into the same slot, whose requests are the
	// same series to Prometheus: wait out the analyses' 6 s window, with
	// a margin (a run where the next slot was ready sooner measured 2.2's
	// slow answers after 7 s), so that they are not measured as the next
	// version's.
	time.Sleep(15 * time.Second)

	// A version answering 10% 5xx: fast enough for the testers' check,
	// switched to, failed by its post-promotion analysis, switched back.
	d4 := s.run("ci", f.pipeline(), "IMAGE_TAG=2.3", "ERROR_RATE=10%")
	s.waitStatus(d4.ID, 3*time.Minute, v1alpha1.StatusWaitingForApproval)
	s.fledge("alice", "approve", strconv.FormatInt(d4.ID, 10))
	s.waitEvent(d4.ID, time.Minute, "TrafficSwitched", "now goes to slot blue")
	d4 = s.waitStatus(d4.ID, 3*time.Minute, v1alpha1.StatusFailed)
	back := s.waitEvent(d4.ID, time.Second, "TrafficSwitchedBack", "nothing was redeployed")
	rep.add("2.3 with 10%% 5xx: %s: %s", d4.Status, d4.Message)
	rep.add("%s", back.Message)
	if !strings.Contains(d4.Message, "post-promotion") || !strings.Contains(d4.Message, "success-rate") {
		t.Errorf("the failed release's message does not name its analysis and metric: %q", d4.Message)
	}
	took = converge(t, f, "", 10*time.Second, "green 2.1 serves every request again", only("2.1"))
	rep.add("switch back → every probe answered by 2.1: %s", took.Round(time.Millisecond))
	measure(t, rep, f, "", "after the switch back", "2.1", 1)
	if !s.deployment(d2.ID).Live {
		t.Errorf("deployment %d is not live again after the switch back", d2.ID)
	}

	for _, l := range []struct {
		name string
		stop func() (dataplane.Result, error)
	}{{"users", users}, {"testers", testers}} {
		res, err := l.stop()
		if err != nil {
			t.Fatal(err)
		}
		rep.add("steady load of %s: %d requests (%.0f/s), versions %v, failed %v, %d connection errors",
			l.name, res.Total, float64(res.Total)/res.Seconds, res.Versions, res.Failed, res.Errors)
		if res.Errors != 0 || res.Failed["2.0"] != 0 || res.Failed["2.1"] != 0 || res.Failed["2.2"] != 0 || res.Failed[""] != 0 {
			t.Errorf("%s: requests failed other than the bad version's own answers: %v", l.name, res)
		}
		if l.name == "users" && (res.Failed["2.3"] == 0 || res.Versions["2.2"] != 0) {
			t.Errorf("users: the bad version answered no 5xx, or the slow one was reached: %v", res)
		}
	}
}

// startTesters is startSteady with the tester header on every request.
func startTesters(t *testing.T, f fixture, rate int) (stop func() (dataplane.Result, error)) {
	t.Helper()
	return startLoad(t, dataplane.Request{Path: f.path(), Header: testerHeader}, rate)
}
