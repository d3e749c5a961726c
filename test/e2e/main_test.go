// Package e2e drives Fledge end to end: the real fledge binary (server and
// CLI) against a real local Kubernetes control plane.
package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"fledge.dev/fledge/internal/auth"
	"fledge.dev/fledge/internal/localcluster"
	"fledge.dev/fledge/internal/secretbox"
	"fledge.dev/fledge/internal/testenv"
)

var (
	cluster   *localcluster.Cluster
	fledgeBin string
	repoRoot  string
	// adminTokenFile and secretKeyFile are given to every server: the
	// admin token it bootstraps a fresh store with, and the key that
	// encrypts secrets (replicas of one store must share it).
	adminTokenFile string
	adminToken     string
	secretKeyFile  string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	repoRoot = testenv.RepoRoot()
	opts, err := testenv.ClusterOptions()
	if err != nil {
		return testenv.NotReady("e2e", err)
	}
	tmp, err := os.MkdirTemp("", "fledge-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if err := writeCredentials(tmp); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	// The crash tests stop the server at step boundaries
	// (FLEDGE_FAULT_KILL_AT), which only a faultinject build can do.
	if fledgeBin, err = testenv.Build(tmp, "./cmd/fledge", "fledge", "faultinject"); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cluster, err = testenv.StartCluster(ctx, "e2e", opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	defer cluster.Stop()
	return m.Run()
}

// writeCredentials writes the admin token and secret key files every
// server of the run is started with.
func writeCredentials(dir string) error {
	tok, err := auth.NewToken()
	if err != nil {
		return err
	}
	adminToken = tok
	adminTokenFile = filepath.Join(dir, "admin.token")
	if err := os.WriteFile(adminTokenFile, []byte(tok+"\n"), 0o600); err != nil {
		return fmt.Errorf("write admin token: %w", err)
	}
	key, err := secretbox.GenerateKey()
	if err != nil {
		return err
	}
	secretKeyFile = filepath.Join(dir, "secret.key")
	if err := os.WriteFile(secretKeyFile, []byte(secretbox.EncodeKey(key)+"\n"), 0o600); err != nil {
		return fmt.Errorf("write secret key: %w", err)
	}
	return nil
}
