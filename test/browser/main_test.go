// Package browser drives the web console in a real headless Chromium
// against a real `fledge serve` subprocess and a real local Kubernetes
// control plane, as a person would use it.
package browser

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"fledge.dev/fledge/internal/localcluster"
	"fledge.dev/fledge/internal/testenv"
)

var (
	cluster   *localcluster.Cluster
	fledgeBin string
	repoRoot  string
	chromium  string
	// shotDir receives the screenshots of the main pages.
	shotDir string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

// findChromium returns the browser to drive: $FLEDGE_CHROMIUM, else the
// first of the usual names on PATH.
func findChromium() (string, error) {
	if p := os.Getenv("FLEDGE_CHROMIUM"); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			return "", fmt.Errorf("FLEDGE_CHROMIUM=%s: %w", p, err)
		}
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no chromium found (apt-get install -y chromium, or set FLEDGE_CHROMIUM)")
}

func run(m *testing.M) int {
	repoRoot = testenv.RepoRoot()
	var err error
	if chromium, err = findChromium(); err != nil {
		return testenv.NotReady("browser", err)
	}
	opts, err := testenv.ClusterOptions()
	if err != nil {
		return testenv.NotReady("browser", err)
	}
	shotDir = os.Getenv("FLEDGE_SCREENSHOTS")
	if shotDir == "" {
		shotDir = filepath.Join(os.TempDir(), "fledge-screenshots", time.Now().Format("20060102-150405"))
	}
	if err := os.MkdirAll(shotDir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "fledge-browser-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if fledgeBin, err = testenv.Build(tmp, "./cmd/fledge", "fledge"); err != nil {
		fmt.Fprintf(os.Stderr, "browser: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cluster, err = testenv.StartCluster(ctx, "browser", opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "browser: %v\n", err)
		return 1
	}
	defer cluster.Stop()
	fmt.Fprintf(os.Stderr, "browser: chromium %s; screenshots in %s\n", chromium, shotDir)
	code := m.Run()
	fmt.Fprintf(os.Stderr, "browser: screenshots in %s\n", shotDir)
	return code
}
