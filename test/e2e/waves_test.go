package e2e

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/localcluster"
	"fledge.dev/fledge/internal/testenv"
)

// wavesPipeline releases the canary and production in the package's
// cluster ("local"), then wave eu into a second cluster ("eu"), then, after
// an approval, wave us into both clusters at once.
const wavesPipeline = "waves"

// writeWavesFixture writes the resource files of the waves pipeline, with
// productionRelease.rollbackOnFailure and the waves' rollout timeout.
func writeWavesFixture(t *testing.T, eu *localcluster.Cluster, rollbackOnFailure, waveTimeout string) string {
	t.Helper()
	dir := t.TempDir()
	manifests, err := os.ReadFile(filepath.Join(repoRoot, "examples", "webpage", "manifests.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	env := func(name, kubeconfig string) string {
		return fmt.Sprintf("apiVersion: fledge.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: %s\nspec:\n  kubeconfig:\n    path: %s\n", name, kubeconfig)
	}
	files := map[string]string{
		"manifests.yaml": string(manifests),
		"local.yaml":     env("local", cluster.Kubeconfig()),
		"eu.yaml":        env("eu", eu.Kubeconfig()),
		"artifact.yaml":  "apiVersion: fledge.dev/v1alpha1\nkind: Artifact\nmetadata:\n  name: webpage-waves\nspec:\n  file: manifests.yaml\n",
		"pipeline.yaml": fmt.Sprintf(`apiVersion: fledge.dev/v1alpha1
kind: Pipeline
metadata:
  name: %s
spec:
  parameters:
    - name: IMAGE_TAG
  stages:
    - name: canary-deploy-stage
      canaryDeployment:
        environment: local
        artifacts: [webpage-waves]
        namespace: waves-canary
        ingressName: webpage-ingress
    - name: shift-traffic-stage
      shiftTraffic:
        rampLimitPercent: 25
    - name: approval-stage
      approval: {}
    - name: switch-to-production-stage
      productionRelease:
        namespace: waves-prod
        rollbackOnFailure: %s
    - name: eu
      productionWave:
        targets:
          - {environment: eu, namespace: waves-eu}
        rolloutTimeout: %s
    - name: us
      productionWave:
        steps:
          - approval: {}
        targets:
          - {environment: eu, namespace: waves-us}
          - {environment: local, namespace: waves-us}
        rolloutTimeout: %s
`, wavesPipeline, rollbackOnFailure, waveTimeout, waveTimeout),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestProductionWaves releases production in two waves across two real
// control planes: a release through both waves, a kill -9 between waves, a
// failure in the second wave that rolls every target back, a rollback of
// every target and of one, and a wave whose cluster's API server is down,
// which applies nothing to the wave's other target.
func TestProductionWaves(t *testing.T) {
	ctx := context.Background()
	opts, err := testenv.ClusterOptions()
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	eu, err := testenv.StartCluster(sctx, "e2e waves (second cluster)", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eu.Stop() })
	local := cluster.Clientset()
	t.Cleanup(func() {
		for _, ns := range []string{"waves-canary", "waves-prod", "waves-us"} {
			_ = local.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
		}
	})

	s := startServer(t)
	s.fledge("admin", "apply", "-f", writeWavesFixture(t, eu, "wave", "1m"))
	type place struct {
		cs   kubernetes.Interface
		ns   string
		name string
	}
	places := []place{
		{local, "waves-prod", "production"},
		{eu.Clientset(), "waves-eu", "eu/waves-eu"},
		{eu.Clientset(), "waves-us", "eu/waves-us"},
		{local, "waves-us", "local/waves-us"},
	}
	// runs checks that each place runs the version given in the same order.
	runs := func(tags ...string) {
		t.Helper()
		for i, p := range places {
			if w := waitWorkloadIn(t, p.cs, p.ns, image+tags[i]); w.Ready != 3 {
				t.Fatalf("%s: %+v", p.name, w)
			}
		}
	}
	targetStatuses := func(d v1alpha1.Deployment) map[string]v1alpha1.TargetStatus {
		out := map[string]v1alpha1.TargetStatus{}
		for _, tg := range d.Targets {
			out[tg.Name] = tg.Status
		}
		return out
	}
	all := func(st v1alpha1.TargetStatus) map[string]v1alpha1.TargetStatus {
		return map[string]v1alpha1.TargetStatus{"eu/waves-eu": st, "eu/waves-us": st, "local/waves-us": st}
	}
	checkTargets := func(d v1alpha1.Deployment, want map[string]v1alpha1.TargetStatus) {
		t.Helper()
		if got := targetStatuses(d); !maps.Equal(got, want) {
			t.Fatalf("deployment %d targets: %v, want %v", d.ID, got, want)
		}
	}
	// approveWaves approves the canary, then the us wave at its gate.
	approveWaves := func(d v1alpha1.Deployment) {
		t.Helper()
		s.waitStatus(d.ID, time.Minute, v1alpha1.StatusWaitingForApproval)
		s.fledge("alice", "approve", itoa(d.ID))
		s.waitGate(d.ID, "us/step-1")
		s.fledge("alice", "approve", itoa(d.ID))
	}

	// A release through both waves: every target runs it and says so.
	d1 := s.run("ci", wavesPipeline, "IMAGE_TAG=1.0")
	approveWaves(d1)
	d1 = s.waitStatus(d1.ID, time.Minute, v1alpha1.StatusSucceeded)
	runs("1.0", "1.0", "1.0", "1.0")
	checkTargets(d1, all(v1alpha1.TargetReleased))
	if d1.CanaryWeight != 0 {
		t.Fatalf("canary weight after the release: %d", d1.CanaryWeight)
	}

	// kill -9 between the waves: after wave eu is recorded, before the
	// approval of wave us. The restarted server goes on from there.
	s.stop()
	s.start("FLEDGE_FAULT_KILL_AT=after:WaitTargetsRollout")
	d2 := s.run("ci", wavesPipeline, "IMAGE_TAG=2.0")
	s.waitStatus(d2.ID, time.Minute, v1alpha1.StatusWaitingForApproval)
	s.fledge("alice", "approve", itoa(d2.ID))
	if !s.exited(2 * time.Minute) {
		t.Fatal("the fault hook should have killed the server between the waves")
	}
	s.start()
	s.waitGate(d2.ID, "us/step-1")
	if w := waitWorkloadIn(t, eu.Clientset(), "waves-eu", image+"2.0"); w.Ready != 3 {
		t.Fatalf("wave eu: %+v", w)
	}
	if w := getWorkloadIn(t, local, "waves-us"); w.Image != image+"1.0" {
		t.Fatalf("wave us must wait for its approval: %+v", w)
	}
	s.fledge("alice", "approve", itoa(d2.ID))
	d2 = s.waitStatus(d2.ID, time.Minute, v1alpha1.StatusSucceeded)
	runs("2.0", "2.0", "2.0", "2.0")
	checkSeqs(t, s.events(d2.ID))
	history := s.fledge("alice", "history", wavesPipeline)
	if !regexp.MustCompile(`(?m)^` + itoa(d2.ID) + `\s.*\*,eu/waves-eu,eu/waves-us,local/waves-us\s*$`).MatchString(history) {
		t.Fatalf("history should mark deployment %d live everywhere:\n%s", d2.ID, history)
	}

	// A failure in wave us (a quota keeps the new pods of eu/waves-us
	// out) with rollbackOnFailure all: every target and the production
	// beside the canary go back to 2.0, and 2.0 is live again.
	s.fledge("admin", "apply", "-f", writeWavesFixture(t, eu, "all", "8s"))
	quota := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "pods"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("3")}},
	}
	if _, err := eu.Clientset().CoreV1().ResourceQuotas("waves-us").Create(ctx, quota, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d3 := s.run("ci", wavesPipeline, "IMAGE_TAG=3.0")
	approveWaves(d3)
	d3 = s.waitStatus(d3.ID, time.Minute, v1alpha1.StatusFailed)
	if !strings.Contains(d3.Message, "eu/waves-us") {
		t.Fatalf("failure should name the target: %q", d3.Message)
	}
	runs("2.0", "2.0", "2.0", "2.0")
	checkTargets(d3, all(v1alpha1.TargetRestored))
	if d3.Live || d3.ProductionAt != nil {
		t.Fatalf("a deployment rolled back everywhere is not live: live %v, production at %v", d3.Live, d3.ProductionAt)
	}
	if d := s.deployment(d2.ID); !d.Live || len(d.LiveTargets) != 3 {
		t.Fatalf("deployment %d should be live everywhere again: live %v, targets %v", d2.ID, d.Live, d.LiveTargets)
	}
	if err := eu.Clientset().CoreV1().ResourceQuotas("waves-us").Delete(ctx, "pods", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	// A rollback of every target, each diff shown first, then of one.
	out := s.fledge("alice", "rollback", wavesPipeline, "--to", itoa(d1.ID), "--yes")
	for _, want := range []string{"Production now runs deployment " + itoa(d2.ID), "Target eu/waves-eu now runs deployment " + itoa(d2.ID), "would change in target local/waves-us"} {
		if !strings.Contains(out, want) {
			t.Fatalf("rollback preview should say %q:\n%s", want, out)
		}
	}
	rb := createdID(t, out)
	rbd := s.waitStatus(rb, time.Minute, v1alpha1.StatusSucceeded)
	runs("1.0", "1.0", "1.0", "1.0")
	checkTargets(rbd, all(v1alpha1.TargetReleased))
	out = s.fledge("alice", "rollback", wavesPipeline, "--to", itoa(d2.ID), "--target", "eu/waves-eu", "--yes")
	if !strings.Contains(out, "Production beside the canary is left as it is.") {
		t.Fatalf("a rollback of one target leaves production alone:\n%s", out)
	}
	s.waitStatus(createdID(t, out), time.Minute, v1alpha1.StatusSucceeded)
	runs("1.0", "2.0", "1.0", "1.0")
	if _, err := s.fledgeErr("alice", "rollback", wavesPipeline, "--to", itoa(d3.ID), "--target", "eu/waves-us", "--yes"); err == nil {
		t.Fatal("a rollback to a deployment that did not release the target must be refused")
	}

	// The API server of cluster eu down when wave us starts: the wave
	// fails naming the environment and nothing is applied to its other
	// target; wave eu, released before, keeps the new version.
	s.fledge("admin", "apply", "-f", writeWavesFixture(t, eu, "wave", "1m"))
	d5 := s.run("ci", wavesPipeline, "IMAGE_TAG=5.0")
	s.waitStatus(d5.ID, time.Minute, v1alpha1.StatusWaitingForApproval)
	s.fledge("alice", "approve", itoa(d5.ID))
	s.waitGate(d5.ID, "us/step-1")
	if err := eu.StopAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	s.fledge("alice", "approve", itoa(d5.ID))
	d5 = s.waitStatus(d5.ID, 3*time.Minute, v1alpha1.StatusFailed)
	if err := eu.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(d5.Message, `environment "eu"`) || !strings.Contains(d5.Message, "nothing was applied") {
		t.Fatalf("failure should name the unreachable environment and say nothing was applied: %q", d5.Message)
	}
	checkTargets(d5, map[string]v1alpha1.TargetStatus{"eu/waves-eu": v1alpha1.TargetReleased, "eu/waves-us": v1alpha1.TargetSkipped, "local/waves-us": v1alpha1.TargetSkipped})
	runs("5.0", "5.0", "1.0", "1.0")
}

// waitGate waits until deployment id waits for people at gate.
func (s *server) waitGate(id int64, gate string) {
	s.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		d := s.waitStatus(id, time.Minute, v1alpha1.StatusWaitingForApproval, v1alpha1.StatusRunning)
		if d.Status == v1alpha1.StatusWaitingForApproval && d.CurrentStage == gate {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("deployment %d did not wait at %s", id, gate)
}

// createdID reads the id from "deployment/ID created".
func createdID(t *testing.T, out string) int64 {
	t.Helper()
	m := regexp.MustCompile(`deployment/(\d+) created`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no deployment created in:\n%s", out)
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	return id
}
