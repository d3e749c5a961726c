// Package testenv is the shared harness of the tests that need real parts:
// a local control plane shared by a package's tests, the fledge binary
// built for a suite, and `fledge serve` as a subprocess that can be
// stopped, killed and started again. Only tests import it.
package testenv

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fledge.dev/fledge/internal/localcluster"
)

// RepoRoot returns the module's root folder.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// NotReady ends a suite whose prerequisite (control-plane binaries, a
// browser, a data plane) is missing: with CI=true the run fails (1),
// elsewhere it is skipped (0). It returns the exit code for TestMain.
func NotReady(suite string, err error) int {
	if os.Getenv("CI") == "true" {
		fmt.Fprintf(os.Stderr, "%s: %v (CI=true: failing, not skipping)\n", suite, err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "%s: skipped: %v\n", suite, err)
	return 0
}

// ClusterOptions returns the options of a test control plane (warnings
// logged to stderr), or the reason none can start here.
func ClusterOptions() (localcluster.Options, error) {
	opts := localcluster.Options{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}.WithDefaults()
	return opts, opts.Validate()
}

// Build builds the package pkg (such as ./cmd/fledge) of the module into
// dir/name with the build tags and returns the binary's path.
func Build(dir, pkg, name string, tags ...string) (string, error) {
	bin := filepath.Join(dir, name)
	args := []string{"build"}
	if len(tags) > 0 {
		args = append(args, "-tags", joinTags(tags))
	}
	cmd := exec.Command("go", append(args, "-o", bin, pkg)...)
	cmd.Dir = RepoRoot()
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	return bin, nil
}

func joinTags(tags []string) string {
	out := tags[0]
	for _, t := range tags[1:] {
		out += "," + t
	}
	return out
}

// errShort is why -short runs start no control plane.
var errShort = errors.New("-short: local control plane not started")

// SharedCluster is one control plane for a package's integration tests:
// the first test that asks starts it, and Main stops it after the last.
// Under -short it is never started and the tests that need it skip.
type SharedCluster struct {
	once    sync.Once
	cluster *localcluster.Cluster
	err     error
}

// Main runs a package's tests with a shared cluster and stops it
// afterwards; call it from TestMain: os.Exit(testenv.Main(m, &cluster)).
func Main(m *testing.M, s *SharedCluster) int {
	flag.Parse()
	code := m.Run()
	if s.cluster != nil {
		if err := s.cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop local cluster:", err)
			code = 1
		}
	}
	return code
}

func (s *SharedCluster) start() {
	if testing.Short() {
		s.err = errShort
		return
	}
	opts, err := ClusterOptions()
	if err != nil {
		s.err = err
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s.cluster, s.err = localcluster.Start(ctx, opts)
}

// Require returns the shared cluster, starting it on first use. Without
// control-plane binaries the test is skipped, except in CI (CI=true)
// where it fails; under -short it is skipped.
func (s *SharedCluster) Require(t testing.TB) *localcluster.Cluster {
	t.Helper()
	s.once.Do(s.start)
	if s.cluster != nil {
		return s.cluster
	}
	switch {
	case errors.Is(s.err, errShort):
		t.Skip(s.err)
	case errors.Is(s.err, localcluster.ErrBinariesMissing) && os.Getenv("CI") != "true":
		t.Skipf("no local control plane (%v); build it with hack/build-controlplane.sh", s.err)
	}
	t.Fatalf("local control plane: %v", s.err)
	return nil
}

var nsCounter atomic.Int64

// Namespace returns a fresh namespace name for an integration test, made
// from its name (without the TestIntegration prefix) and a counter.
func Namespace(t testing.TB) string {
	name := strings.ToLower(strings.TrimPrefix(t.Name(), "TestIntegration"))
	name = strings.NewReplacer("/", "-", "_", "-").Replace(name)
	if len(name) > 40 {
		name = name[:40]
	}
	return fmt.Sprintf("%s-%d", strings.Trim(name, "-"), nsCounter.Add(1))
}

// StartCluster starts a suite's control plane within ctx and says on
// stderr how long it took and where its logs are.
func StartCluster(ctx context.Context, suite string, opts localcluster.Options) (*localcluster.Cluster, error) {
	c, err := localcluster.Start(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("start control plane: %w", err)
	}
	fmt.Fprintf(os.Stderr, "%s: control plane up in %s, logs in %s\n", suite, c.StartupDuration().Round(time.Millisecond), c.LogDir())
	return c, nil
}
