package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fledge.dev/fledge/internal/gatewaycrd"
	"fledge.dev/fledge/internal/localcluster"
)

// TestDevClusterUpGatewayAPI starts a real local control plane with
// `fledge dev cluster up --gateway-api` and checks that the Gateway API
// CRDs the gatewayapi provider needs are Established, also after a second
// `up` on the running cluster.
func TestDevClusterUpGatewayAPI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cluster")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dev := func(args ...string) (string, string, error) {
		var out, errOut bytes.Buffer
		err := Run(ctx, append([]string{"dev", "cluster", "--dir", dir}, args...),
			Streams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
		return out.String(), errOut.String(), err
	}
	t.Cleanup(func() {
		if _, stderr, err := dev("down"); err != nil {
			t.Errorf("dev cluster down: %v\n%s", err, stderr)
		}
	})

	for i, wantErr := range []string{"starting local cluster", "already running"} {
		stdout, stderr, err := dev("up", "--gateway-api")
		if err != nil {
			t.Fatalf("up #%d: %v\n%s", i+1, err, stderr)
		}
		for _, want := range []string{wantErr, "Gateway API " + gatewaycrd.Version + " CRDs established"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("up #%d stderr lacks %q:\n%s", i+1, want, stderr)
			}
		}
		if !strings.HasPrefix(stdout, "export KUBECONFIG=") {
			t.Errorf("up #%d stdout = %q, want the KUBECONFIG export line", i+1, stdout)
		}
	}

	c, err := localcluster.Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, crd := range []string{"gatewayclasses", "gateways", "httproutes", "referencegrants"} {
		out, err := c.Kubectl(ctx, "get", "crd", crd+".gateway.networking.k8s.io",
			"-o", `jsonpath={.status.conditions[?(@.type=="Established")].status} {.metadata.annotations.gateway\.networking\.k8s\.io/bundle-version}`)
		if err != nil {
			t.Fatalf("CRD %s: %v", crd, err)
		}
		if want := "True " + gatewaycrd.Version; out != want {
			t.Errorf("CRD %s: Established and bundle version = %q, want %q", crd, out, want)
		}
	}
}
