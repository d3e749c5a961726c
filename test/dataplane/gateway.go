package dataplane

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"fledge.dev/fledge/internal/gatewaycrd"
)

// GatewayAPICRDs returns the standard-channel CRD files of Gateway API
// GatewayAPIVersion (see package gatewaycrd).
func GatewayAPICRDs() ([]string, error) {
	return gatewaycrd.Files(context.Background())
}

// InstallGatewayAPI installs the Gateway API standard CRDs, waits until
// they are served, then creates Traefik's GatewayClass and a Gateway in
// Namespace listening on the web entry point, accepting routes of every
// namespace.
func InstallGatewayAPI(ctx context.Context, kubectl, kubeconfig string) error {
	crds, err := GatewayAPICRDs()
	if err != nil {
		return err
	}
	args := []string{"apply", "--server-side", "--force-conflicts"}
	for _, f := range crds {
		args = append(args, "-f", f)
	}
	if _, err := run(ctx, kubectl, kubeconfig, nil, args...); err != nil {
		return err
	}
	wait := []string{"wait", "--for=condition=Established", "--timeout=60s"}
	for _, f := range crds {
		wait = append(wait, "-f", f)
	}
	if _, err := run(ctx, kubectl, kubeconfig, nil, wait...); err != nil {
		return err
	}
	objs := fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %[1]s
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: %[2]s
spec:
  controllerName: %[3]s
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: %[4]s
  namespace: %[1]s
spec:
  gatewayClassName: %[2]s
  listeners:
    - name: web
      protocol: HTTP
      port: %[5]d
      allowedRoutes:
        namespaces:
          from: All
`, Namespace, GatewayClassName, TraefikController, GatewayName, webPort)
	// The CRDs may take a moment to be usable after Established.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := run(ctx, kubectl, kubeconfig, strings.NewReader(objs), "apply", "--server-side", "-f", "-")
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// WaitGateway waits until Traefik reports the Gateway Programmed.
func WaitGateway(ctx context.Context, kubectl, kubeconfig string) error {
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		out, err := run(ctx, kubectl, kubeconfig, nil, "get", "gateway", "-n", Namespace, GatewayName,
			"-o", `jsonpath={.status.conditions[?(@.type=="Programmed")].status}`)
		if err == nil && strings.TrimSpace(out) == "True" {
			return nil
		}
		last = out
		if err != nil {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("gateway %s/%s not Programmed after 60s (last: %s)", Namespace, GatewayName, last)
}

func run(ctx context.Context, kubectl, kubeconfig string, stdin *strings.Reader, args ...string) (string, error) {
	// A discovery cache of this cluster's own, beside its kubeconfig: the
	// default one is keyed by host and port, which loopback clusters reuse.
	cacheDir := filepath.Join(filepath.Dir(kubeconfig), "kubectl-cache")
	cmd := exec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig", kubeconfig, "--cache-dir", cacheDir}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = stdin
	}
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}
