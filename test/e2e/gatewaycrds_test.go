package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"fledge.dev/fledge/internal/gatewaycrd"
)

// gatewayCRDsRemoval bounds how long the Gateway API CRDs may take to go
// after their deletion. The API server removes a CRD only once its
// instances are gone; on a busy control plane that has been seen to take
// minutes.
const gatewayCRDsRemoval = 8 * time.Minute

// installGatewayCRDs installs the pinned Gateway API CRDs for the test and
// removes them after it, so that the other tests see a cluster without
// them (TestGatewayAPIWithoutCRDs).
func installGatewayCRDs(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := gatewaycrd.Install(ctx, cluster.Kubectl); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeGatewayCRDs(t) })
}

// removeGatewayCRDs deletes the Gateway API objects and CRDs and waits
// until the API server no longer has the CRDs.
func removeGatewayCRDs(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), gatewayCRDsRemoval)
	defer cancel()
	start := time.Now()
	// The routes and grants first, so that the CRDs' own deletion has no
	// instances left to clean up.
	if _, err := cluster.Kubectl(ctx, "delete", "httproutes.gateway.networking.k8s.io,referencegrants.gateway.networking.k8s.io",
		"--all", "--all-namespaces", "--ignore-not-found", "--wait=true"); err != nil {
		t.Errorf("delete the Gateway API objects: %v", err)
	}
	files, err := gatewaycrd.Files(ctx)
	if err != nil {
		t.Error(err)
		return
	}
	args := []string{"delete", "--ignore-not-found", "--wait=false"}
	for _, f := range files {
		args = append(args, "-f", f)
	}
	if _, err := cluster.Kubectl(ctx, args...); err != nil {
		t.Errorf("delete the Gateway API CRDs: %v", err)
		return
	}
	awaitGatewayCRDsGone(ctx, t)
	t.Logf("Gateway API CRDs removed in %s", time.Since(start).Round(time.Millisecond))
}

// awaitGatewayCRDsGone waits until the cluster has no Gateway API CRD,
// saying every 30s which are left and why (their Terminating condition).
func awaitGatewayCRDsGone(ctx context.Context, t *testing.T) {
	t.Helper()
	const list = `jsonpath={range .items[?(@.spec.group=="gateway.networking.k8s.io")]}{.metadata.name}: {.status.conditions[?(@.type=="Terminating")].message}{"\n"}{end}`
	lastSaid := time.Now()
	for {
		out, err := cluster.Kubectl(ctx, "get", "customresourcedefinitions", "-o", list)
		left := strings.TrimSpace(out)
		if err == nil && left == "" {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("Gateway API CRDs still present (%v):\n%s", err, left)
		}
		if time.Since(lastSaid) >= 30*time.Second {
			t.Logf("waiting for the Gateway API CRDs to go:\n%s", left)
			lastSaid = time.Now()
		}
		time.Sleep(500 * time.Millisecond)
	}
}
