package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"fledge.dev/fledge/api/v1alpha1"
)

// crashSteps are the steps of a release, in order; each has three
// injection points: before acting, acted but not recorded, recorded.
var crashSteps = []string{
	"ApplyCanary", "WaitCanaryRollout", "SetWeight", "OpenApproval", "AwaitApproval",
	"ApplyProduction", "WaitProductionRollout", "ResetWeight",
}

// The server is killed with SIGKILL at every step boundary of a release in
// turn, restarted, and the release must complete with the right final state,
// each Kubernetes object written once (generation 1 in fresh namespaces) and
// every event recorded exactly once. Both stores.
func TestKillAtEveryStepBoundary(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			storeURL := newStoreURL(t, kind)
			s := startServerOn(t, storeURL, []string{"--lease-ttl", "2s"})
			points := 0
			start := time.Now()
			for i, step := range crashSteps {
				for _, when := range []string{"before", "done", "after"} {
					point := when + ":" + step
					name := fmt.Sprintf("crash-%s-%d-%s", kind[:2], i, when)
					t.Run(point, func(t *testing.T) {
						crashRelease(t, s, name, point, false)
					})
					points++
				}
			}
			t.Logf("%s: %d injection points, each killed and resumed, in %s", kind, points, time.Since(start).Round(time.Second))
		})
	}
}

// waveCrashPoints are the injection points of a production wave's steps:
// ApplyTargets is performed twice, a check recorded before the apply.
var waveCrashPoints = []string{
	"before:ApplyTargets", "after:ApplyTargets", "before:ApplyTargets#2", "done:ApplyTargets",
	"before:WaitTargetsRollout", "done:WaitTargetsRollout", "after:WaitTargetsRollout",
	"after:ResetWeight", "before:ResetWeight#2",
}

// The same for a release with a production wave (a target in the same
// cluster): killed at every boundary of the wave's steps, it releases the
// target once and records each of its events once.
func TestKillAtWaveBoundaries(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			s := startServerOn(t, newStoreURL(t, kind), []string{"--lease-ttl", "2s"})
			for i, point := range waveCrashPoints {
				name := fmt.Sprintf("crash-w%s-%d", kind[:2], i)
				t.Run(point, func(t *testing.T) {
					crashRelease(t, s, name, point, true)
				})
			}
		})
	}
}

// runThroughKill runs the pipeline with param on a server armed to kill
// itself at point, drives the release (approving when asked) until the
// server dies there, restarts it, and drives the release until it ends.
// It returns the deployment as it ended.
func (s *server) runThroughKill(name, param, point string) v1alpha1.Deployment {
	s.t.Helper()
	d, answered := s.tryRun("ci", name, param)
	approved := false
	approve := func() { s.approveOnce(&approved, d.ID) }
	deadline := time.Now().Add(3 * time.Minute)
	for !s.exited(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			s.t.Fatalf("the server was not killed at %s", point)
		}
		approve()
	}
	s.start()
	if !answered {
		// Killed before the run's answer got out: it was stored all the
		// same, and is resumed.
		d = s.latest(name)
	}
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if s.deployment(d.ID).Status.Final() {
			break
		}
		approve()
	}
	return d
}

// approveOnce approves deployment id once it waits for it, unless
// *approved says it was. The server may die under the request (the kill
// is near): then it is tried again after the restart, where an approval
// that did get recorded is fine.
func (s *server) approveOnce(approved *bool, id int64) {
	s.t.Helper()
	if *approved {
		return
	}
	cur, ok := s.tryDeployment(id)
	if !ok || cur.Status != v1alpha1.StatusWaitingForApproval {
		return
	}
	out, err := s.fledgeErr("alice", "approve", itoa(id))
	switch {
	case err == nil, strings.Contains(out, "already decided"), strings.Contains(out, "not waiting for approval"):
		*approved = true
	case strings.Contains(out, "cannot reach the Fledge server"):
	default:
		s.t.Fatalf("fledge approve %d: %v\n%s", id, err, out)
	}
}

func crashRelease(t *testing.T, s *server, name, point string, wave bool) {
	parent := s.t
	s.t = t
	defer func() { s.t = parent }()
	canaryNS, prodNS, waveNS := name+"-c", name+"-p", ""
	f := fixture{Pipeline: name, Environment: "local", Artifact: name, CanaryNS: canaryNS, ProdNS: prodNS}
	if wave {
		waveNS = name + "-w"
		f.WaveNS = waveNS
	}
	dir := writeFixture(t, f)
	s.stop()
	s.start("FLEDGE_FAULT_KILL_AT=" + point)
	s.fledge("admin", "apply", "-f", dir)
	d := s.runThroughKill(name, "IMAGE_TAG=7.0", point)
	d = s.waitStatus(d.ID, time.Second, v1alpha1.StatusSucceeded)

	// Final state in the cluster.
	waitWorkload(t, prodNS, image+"7.0")
	waitWorkload(t, canaryNS, image+"7.0")
	if w := ingressAnnotations(t, canaryNS)["nginx.ingress.kubernetes.io/canary-weight"]; w != "0" {
		t.Fatalf("canary weight %q, want 0", w)
	}
	namespaces := []string{canaryNS, prodNS}
	if wave {
		waitWorkload(t, waveNS, image+"7.0")
		namespaces = append(namespaces, waveNS)
	}
	for _, ns := range namespaces {
		dep, err := cluster.Clientset().AppsV1().Deployments(ns).Get(context.Background(), "webpage-deployment", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if dep.Generation != 1 {
			t.Fatalf("%s/webpage-deployment has generation %d: its spec was written more than once", ns, dep.Generation)
		}
	}

	// Events: in order, and each transition exactly once.
	evs := s.events(d.ID)
	checkSeqs(t, evs)
	count := map[string]int{}
	for _, e := range evs {
		key := e.Type
		if e.Type == "WeightSet" {
			key += strings.Fields(strings.SplitAfter(e.Message, "set to ")[1])[0]
		}
		count[key]++
	}
	want := map[string]int{
		"DeploymentCreated": 1, "DeploymentStarted": 1, "StageStarted": 4, "StageSucceeded": 4,
		"Applied": 2, "RolloutComplete": 2, "WeightKept": 1, "HeaderRouteNotSet": 1, "WeightUnchanged": 1,
		"WaitingForApproval": 1, "Approved": 1, "ApprovalGranted": 1, "ProductionReleased": 1, "DeploymentSucceeded": 1,
	}
	if wave {
		// The wave's stage, apply and rollout; the production release
		// hands the weight back before it (unchanged: a first release).
		want["StageStarted"], want["StageSucceeded"], want["Applied"], want["RolloutComplete"] = 5, 5, 3, 3
		want["WeightUnchanged"], want["TargetsChecked"], want["TargetReleased"] = 2, 1, 1
	}
	// A first release has no production Ingress to split with: the weight
	// stays at 0, so there is nothing to promote, nor to reset, either.
	for _, k := range []string{"WeightSet25%", "WeightSet100%", "PromotionSkipped", "WeightSet0%"} {
		if count[k] != 0 {
			t.Errorf("event %s recorded %d times on a first release, want none (all: %v)", k, count[k], count)
		}
	}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("event %s recorded %d times, want %d (all: %v)", k, count[k], n, count)
		}
	}
}
