package e2e

import (
	"fmt"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

// blueGreenCrashSteps are the steps of a blue/green release with an
// approval, in order.
var blueGreenCrashSteps = []string{
	"ChooseSlot", "ApplyNewSlot", "WaitNewSlot", "OpenApproval", "AwaitApproval",
	"SwitchTraffic", "KeepPreviousSlot", "ScaleDownPreviousSlot",
}

// The server is killed with SIGKILL at every step boundary of a
// pipeline's second blue/green release in turn, restarted, and the
// release must complete: green serves the new version with its
// Deployment written once, blue is scaled down, and every event is
// recorded exactly once. Both stores.
func TestBlueGreenKillAtEveryStepBoundary(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			s := startServerOn(t, newStoreURL(t, kind), []string{"--lease-ttl", "2s"})
			for i, step := range blueGreenCrashSteps {
				for _, when := range []string{"before", "done", "after"} {
					point := when + ":" + step
					name := fmt.Sprintf("bgcrash-%s-%d-%s", kind[:2], i, when)
					t.Run(point, func(t *testing.T) {
						crashBlueGreen(t, s, name, point)
					})
				}
			}
		})
	}
}

func crashBlueGreen(t *testing.T, s *server, name, point string) {
	parent := s.t
	s.t = t
	defer func() { s.t = parent }()
	dir := writeBlueGreen(t, name, name, "1s")
	s.stop()
	s.start()
	s.fledge("admin", "apply", "-f", dir)
	first := s.release(name, "1.0")
	s.stop()
	s.start("FLEDGE_FAULT_KILL_AT=" + point)

	d := s.runThroughKill(name, "IMAGE_TAG=2.0", point)
	d = s.waitStatus(d.ID, time.Second, v1alpha1.StatusSucceeded)

	blue, green := name+"-blue", name+"-green"
	waitWorkload(t, green, image+"2.0")
	if slot := servedSlot(t, name); slot != v1alpha1.SlotGreen {
		t.Fatalf("the Ingress routes to %q, want green", slot)
	}
	if r := replicasOf(t, blue); r != 0 {
		t.Fatalf("blue has %d replicas, want 0", r)
	}
	if g := deploymentGeneration(t, green); g != 1 {
		t.Fatalf("%s/webpage-deployment has generation %d: its spec was written more than once", green, g)
	}
	if !d.Live || s.deployment(first.ID).Live || d.BlueGreen.FromDeployment != first.ID || !d.BlueGreen.ScaledDown {
		t.Fatalf("live %v (first %v), blue/green %+v", d.Live, s.deployment(first.ID).Live, d.BlueGreen)
	}
	// Events: in order (a finished deployment keeps only the last
	// rollout progress line of each workload), each transition once.
	evs := s.events(d.ID)
	checkSeqs(t, evs)
	count := map[string]int{}
	for _, e := range evs {
		count[e.Type]++
	}
	want := map[string]int{
		"DeploymentCreated": 1, "DeploymentStarted": 1, "StageStarted": 1, "StageSucceeded": 1, "SlotChosen": 1,
		"Applied": 3, "RolloutComplete": 1, "PreviewReady": 1, "WaitingForApproval": 1, "Approved": 1, "ApprovalGranted": 1,
		"TrafficSwitched": 1, "KeepingPreviousSlot": 1, "PreviousSlotScaledDown": 1, "DeploymentSucceeded": 1,
	}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("event %s recorded %d times, want %d (all: %v)", k, count[k], n, count)
		}
	}
}
