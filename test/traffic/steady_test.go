package traffic

import (
	"strconv"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

// A steady 200 requests per second during two whole releases, one approved
// and one rejected: not one request may fail, whatever Fledge changes (the
// canary namespace's rollout, the grant, the weights, the production
// rollout, the reset).
func TestSteadyLoadDuringReleases(t *testing.T) {
	for _, f := range []fixture{
		{name: "gw-steady", provider: v1alpha1.TrafficProviderGatewayAPI},
		{name: "ngx-steady", provider: v1alpha1.TrafficProviderNGINX},
	} {
		t.Run(f.provider, func(t *testing.T) {
			s := startServer(t)
			s.fledge("ci", "apply", "-f", f.write(t))
			releaseProduction(t, s, f, "2.0")

			const rate = 200
			stopLoad := startSteady(t, f, rate)
			start := time.Now()

			d2 := s.run("ci", f.pipeline(), "IMAGE_TAG=2.1")
			s.waitStatus(d2.ID, 2*time.Minute, v1alpha1.StatusWaitingForApproval)
			time.Sleep(2 * time.Second)
			s.fledge("bob", "approve", strconv.FormatInt(d2.ID, 10))
			s.waitStatus(d2.ID, 2*time.Minute, v1alpha1.StatusSucceeded)

			d3 := s.run("ci", f.pipeline(), "IMAGE_TAG=2.2")
			s.waitStatus(d3.ID, 2*time.Minute, v1alpha1.StatusWaitingForApproval)
			time.Sleep(2 * time.Second)
			s.fledge("carol", "reject", strconv.FormatInt(d3.ID, 10), "--reason", "steady load test")
			s.waitStatus(d3.ID, time.Minute, v1alpha1.StatusRejected)
			time.Sleep(2 * time.Second)

			res, err := stopLoad()
			if err != nil {
				t.Fatal(err)
			}
			elapsed := time.Since(start)
			t.Logf("%s: steady load for %s (approved release 2.1, rejected 2.2): %d requests (%.0f/s), versions %v, status %v, %d non-2xx, %d connection errors",
				f.provider, elapsed.Round(time.Millisecond), res.Total, float64(res.Total)/res.Seconds, res.Versions, res.Status, res.Non2xx, res.Errors)
			if res.Non2xx != 0 || res.Errors != 0 {
				t.Errorf("%d non-2xx answers and %d connection errors during the releases: %v", res.Non2xx, res.Errors, res.Samples)
			}
			if float64(res.Total) < 0.6*rate*res.Seconds {
				t.Errorf("only %d requests in %.1fs: the load fell below %d/s", res.Total, res.Seconds, rate)
			}
			for _, v := range []string{"2.0", "2.1", "2.2"} {
				if res.Versions[v] == 0 {
					t.Errorf("no answer from version %s during the releases: %v", v, res.Versions)
				}
			}
		})
	}
}
