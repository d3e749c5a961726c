package traffic

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

// A ramp to 50% in five batches, 6s apart: the canary's share is measured
// at every batch.
func TestMultiBatchRamp(t *testing.T) {
	for _, f := range []fixture{
		{name: "gw-ramp", provider: v1alpha1.TrafficProviderGatewayAPI},
		{name: "ngx-ramp", provider: v1alpha1.TrafficProviderNGINX},
	} {
		t.Run(f.provider, func(t *testing.T) {
			f.ramp, f.batches, f.delay = 50, 5, "6s"
			s := startServer(t)
			s.fledge("ci", "apply", "-f", f.write(t))
			rep := newReport(t, "multi-batch ramp through Traefik, "+f.provider+", 2000 requests per batch")

			d1 := s.run("ci", f.pipeline(), "IMAGE_TAG=2.0")
			// The first release keeps weight 0 at every batch: no production.
			s.waitStatus(d1.ID, 3*time.Minute, v1alpha1.StatusWaitingForApproval)
			s.fledge("alice", "approve", strconv.FormatInt(d1.ID, 10))
			s.waitStatus(d1.ID, 2*time.Minute, v1alpha1.StatusSucceeded)
			converge(t, f, "", 30*time.Second, "production 2.0 served", only("2.0"))

			d2 := s.run("ci", f.pipeline(), "IMAGE_TAG=2.1")
			for i, w := range []int{10, 20, 30, 40, 50} {
				e := s.waitEvent(d2.ID, 2*time.Minute, "WeightSet", fmt.Sprintf("canary weight set to %d%% (batch %d of 5)", w, i+1))
				// A weight change is live in Traefik within 0.7s.
				if wait := time.Until(e.Time.Add(time.Second)); wait > 0 {
					time.Sleep(wait)
				}
				measure(t, rep, f, "", fmt.Sprintf("batch %d of 5, weight %d", i+1, w), "2.1", float64(w)/100)
			}
			s.waitStatus(d2.ID, time.Minute, v1alpha1.StatusWaitingForApproval)
			s.fledge("bob", "reject", strconv.FormatInt(d2.ID, 10), "--reason", "ramp measured")
			s.waitStatus(d2.ID, time.Minute, v1alpha1.StatusRejected)
		})
	}
}
