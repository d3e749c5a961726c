package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"fledge.dev/fledge/api/v1alpha1"
)

// writeBlueGreen writes the resource files of a blue/green pipeline named
// name: the walkthrough's environment and manifests, and
// examples/bluegreen's pipeline in namespace ns with the given scale down
// delay.
func writeBlueGreen(t *testing.T, name, ns, delay string) string {
	t.Helper()
	dir := t.TempDir()
	manifests, err := os.ReadFile(filepath.Join(repoRoot, "examples", "webpage", "manifests.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	pl, err := os.ReadFile(filepath.Join(repoRoot, "examples", "bluegreen", "pipeline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p := strings.NewReplacer("name: webpage-blue-green", "name: "+name, "ns-bg-prod", ns, "webpage-manifest", name,
		"scaleDownDelay: 10m", "scaleDownDelay: "+delay).Replace(string(pl))
	files := map[string]string{
		"manifests.yaml": string(manifests),
		"environment.yaml": fmt.Sprintf("apiVersion: fledge.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: local\nspec:\n  kubeconfig:\n    path: %s\n",
			cluster.Kubeconfig()),
		"artifact.yaml": fmt.Sprintf("apiVersion: fledge.dev/v1alpha1\nkind: Artifact\nmetadata:\n  name: %s\nspec:\n  file: manifests.yaml\n", name),
		"pipeline.yaml": p,
	}
	for f, body := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, n := range []string{ns, ns + "-blue", ns + "-green"} {
			_ = cluster.Clientset().CoreV1().Namespaces().Delete(context.Background(), n, metav1.DeleteOptions{})
		}
	})
	return dir
}

// servedSlot is the slot the Ingress of namespace ns routes to, read from
// its backend and the ExternalName Service behind it.
func servedSlot(t *testing.T, ns string) string {
	t.Helper()
	ing := ingressNamed(t, ns, "webpage-ingress")
	name := ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name
	svc, err := cluster.Clientset().CoreV1().Services(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the Ingress routes to Service %s: %v", name, err)
	}
	slot := strings.TrimPrefix(name, "webpage-service-")
	if want := "webpage-service." + ns + "-" + slot + ".svc.cluster.local"; svc.Spec.ExternalName != want {
		t.Fatalf("Service %s/%s reaches %q, want %q", ns, name, svc.Spec.ExternalName, want)
	}
	return slot
}

// replicasOf returns the replicas of the slot's webpage-deployment, -1
// when it does not exist.
func replicasOf(t *testing.T, ns string) int32 {
	t.Helper()
	d, err := cluster.Clientset().AppsV1().Deployments(ns).Get(context.Background(), "webpage-deployment", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return -1
	}
	if err != nil {
		t.Fatal(err)
	}
	return *d.Spec.Replicas
}

// The blue/green walkthrough on a real control plane: the first release
// goes into the blue slot and the Ingress is created pointing at it; the
// second runs in green beside blue, previewed with the tester header while
// every other request stays on blue, and is switched to at once on
// approval; a rollback within the scale down delay switches back with
// nothing redeployed; a third release, with a short delay, scales the
// previous slot down; a rollback after that deploys the old version into
// the idle slot and switches to it.
func TestBlueGreenWalkthrough(t *testing.T) {
	s := startServer(t)
	const name, ns = "bg-walk", "bg-walk"
	blue, green := ns+"-blue", ns+"-green"
	s.fledge("admin", "apply", "-f", writeBlueGreen(t, name, ns, "10m"))

	first := s.release(name, "1.0")
	waitWorkload(t, blue, image+"1.0")
	if slot := servedSlot(t, ns); slot != v1alpha1.SlotBlue {
		t.Fatalf("after the first release the Ingress routes to %q", slot)
	}
	if first.BlueGreen == nil || first.BlueGreen.To != v1alpha1.SlotBlue || first.BlueGreen.From != "" || !first.Live {
		t.Fatalf("first release: %+v, live %v", first.BlueGreen, first.Live)
	}

	second := s.run("ci", name, "IMAGE_TAG=2.0")
	s.waitStatus(second.ID, time.Minute, v1alpha1.StatusWaitingForApproval)
	waitWorkload(t, green, image+"2.0")
	if slot := servedSlot(t, ns); slot != v1alpha1.SlotBlue {
		t.Fatalf("before the approval the Ingress routes to %q", slot)
	}
	preview := ingressNamed(t, ns, "webpage-ingress-preview")
	if a := preview.Annotations; a["nginx.ingress.kubernetes.io/canary"] != "true" || a["nginx.ingress.kubernetes.io/canary-weight"] != "0" ||
		a["nginx.ingress.kubernetes.io/canary-by-header"] != "x-preview" || a["nginx.ingress.kubernetes.io/canary-by-header-value"] != "yes" ||
		preview.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name != "webpage-service-green" {
		t.Fatalf("preview ingress %v routes to %s", a, preview.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name)
	}
	if out := s.fledge("viewer", "describe", "deployment", itoa(second.ID)); !strings.Contains(out, "not switched: every request still goes to the previous slot") ||
		!strings.Contains(out, fmt.Sprintf("blue (%s), deployment #%d", blue, first.Number)) {
		t.Errorf("describe while waiting:\n%s", out)
	}
	s.fledge("alice", "approve", itoa(second.ID))
	s.waitEvent(second.ID, time.Minute, "TrafficSwitched", "now goes to slot green")
	if slot := servedSlot(t, ns); slot != v1alpha1.SlotGreen {
		t.Fatalf("after the switch the Ingress routes to %q", slot)
	}
	if r := replicasOf(t, blue); r != 3 {
		t.Fatalf("within the delay blue has %d replicas, want 3", r)
	}
	if _, err := cluster.Clientset().NetworkingV1().Ingresses(ns).Get(context.Background(), "webpage-ingress-preview", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the preview ingress is left after the switch: %v", err)
	}
	d := s.deployment(second.ID)
	if d.Status != v1alpha1.StatusRunning || !d.Live || !d.BlueGreen.InWindow() {
		t.Fatalf("within the delay: status %s, live %v, blue/green %+v", d.Status, d.Live, d.BlueGreen)
	}
	blueGen := deploymentGeneration(t, blue)

	// A rollback to the first release within the delay switches back.
	out := s.fledge("alice", "rollback", name, "--to", itoa(first.ID), "--reason", "checkout broken", "--yes")
	if !strings.Contains(out, fmt.Sprintf("deployment/%d (#%d) switches back to #%d", second.ID, second.Number, first.Number)) {
		t.Errorf("rollback within the delay answered:\n%s", out)
	}
	d = s.waitStatus(second.ID, time.Minute, v1alpha1.StatusCancelled)
	if slot := servedSlot(t, ns); slot != v1alpha1.SlotBlue {
		t.Fatalf("after the switch back the Ingress routes to %q", slot)
	}
	if g := deploymentGeneration(t, blue); g != blueGen {
		t.Errorf("blue's Deployment was written again (generation %d, was %d)", g, blueGen)
	}
	if r := replicasOf(t, green); r != -1 {
		t.Errorf("green still has its Deployment (%d replicas)", r)
	}
	if d.Live || !s.deployment(first.ID).Live || d.ProductionAt != nil {
		t.Errorf("after the switch back: second live %v (production %v), first live %v", d.Live, d.ProductionAt, s.deployment(first.ID).Live)
	}
	s.waitEvent(second.ID, time.Second, "TrafficSwitchedBack", "goes to slot blue deployment "+name+"#1 again")
	s.waitEvent(second.ID, time.Second, "CancelRequested", "switch back to slot blue: checkout broken")

	// A short delay: the third release scales blue down by itself.
	s.fledge("admin", "apply", "-f", writeBlueGreen(t, name, ns, "1s"))
	third := s.release(name, "3.0")
	if slot := servedSlot(t, ns); slot != v1alpha1.SlotGreen || replicasOf(t, blue) != 0 {
		t.Fatalf("third release: the Ingress routes to %q, blue has %d replicas", slot, replicasOf(t, blue))
	}
	if !third.BlueGreen.ScaledDown || third.BlueGreen.FromDeployment != first.ID {
		t.Errorf("third release: %+v", third.BlueGreen)
	}

	// Out of the delay a rollback redeploys the old version into the
	// idle slot and switches to it.
	out = s.fledge("alice", "rollback", name, "--to", itoa(first.ID), "--yes")
	var rbID int64
	if _, err := fmt.Sscanf(out[strings.LastIndex(out, "deployment/"):], "deployment/%d created", &rbID); err != nil {
		t.Fatalf("rollback after the delay answered %q: %v", out, err)
	}
	rb := s.waitStatus(rbID, time.Minute, v1alpha1.StatusSucceeded)
	if rb.Kind != v1alpha1.KindRollback {
		t.Errorf("rollback after the delay is a %s", rb.Kind)
	}
	waitWorkload(t, blue, image+"1.0")
	if slot := servedSlot(t, ns); slot != v1alpha1.SlotBlue || replicasOf(t, green) != 0 || !rb.Live {
		t.Fatalf("after the rollback the Ingress routes to %q, green has %d replicas, live %v", slot, replicasOf(t, green), rb.Live)
	}
	hist := s.fledge("viewer", "history", name)
	t.Logf("history:\n%s", hist)
}

func deploymentGeneration(t *testing.T, ns string) int64 {
	t.Helper()
	d, err := cluster.Clientset().AppsV1().Deployments(ns).Get(context.Background(), "webpage-deployment", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Generation
}
