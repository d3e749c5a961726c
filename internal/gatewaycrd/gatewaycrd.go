// Package gatewaycrd finds the Gateway API CRDs of the one pinned release
// Fledge is tested with and installs them in a cluster. The YAML comes from
// the Go module sigs.k8s.io/gateway-api (config/crd/standard), downloaded
// through the module proxy into the module cache when missing, so the
// version is pinned here and nowhere else.
package gatewaycrd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Version is the pinned Gateway API release.
const Version = "v1.6.1"

// Module is the Go module that carries the CRD YAML.
const Module = "sigs.k8s.io/gateway-api"

// Files returns the standard-channel CRD files of Version, sorted. It needs
// the go command (the module is fetched into the module cache when missing).
func Files(ctx context.Context) ([]string, error) {
	tmp, err := os.MkdirTemp("", "fledge-gwapi-")
	if err != nil {
		return nil, fmt.Errorf("gateway API CRDs: %w", err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", Module+"@"+Version)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOFLAGS=-mod=mod")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, runErr := cmd.Output()
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" || runErr != nil {
		return nil, fmt.Errorf("go mod download %s@%s: %v %s %s", Module, Version, runErr, mod.Error, strings.TrimSpace(stderr.String()))
	}
	files, err := filepath.Glob(filepath.Join(mod.Dir, "config", "crd", "standard", "gateway.networking.k8s.io_*.yaml"))
	if err != nil {
		return nil, fmt.Errorf("gateway API CRDs: %w", err)
	}
	var crds []string
	for _, f := range files {
		// The safe-upgrades admission policy is not a CRD.
		if !strings.Contains(filepath.Base(f), "vap_") {
			crds = append(crds, f)
		}
	}
	sort.Strings(crds)
	if len(crds) == 0 {
		return nil, fmt.Errorf("no CRDs in %s/config/crd/standard", mod.Dir)
	}
	return crds, nil
}

// Kubectl runs kubectl against the target cluster with args and returns
// its standard output.
type Kubectl func(ctx context.Context, args ...string) (string, error)

// Install applies the CRDs of Version server-side and waits until every
// one is Established.
func Install(ctx context.Context, kubectl Kubectl) error {
	crds, err := Files(ctx)
	if err != nil {
		return err
	}
	apply := []string{"apply", "--server-side", "--force-conflicts"}
	wait := []string{"wait", "--for=condition=Established", "--timeout=60s"}
	for _, f := range crds {
		apply = append(apply, "-f", f)
		wait = append(wait, "-f", f)
	}
	if _, err := kubectl(ctx, apply...); err != nil {
		return fmt.Errorf("install Gateway API %s CRDs: %w", Version, err)
	}
	if _, err := kubectl(ctx, wait...); err != nil {
		return fmt.Errorf("install Gateway API %s CRDs: %w", Version, err)
	}
	return nil
}
