package nginx

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fledge.dev/fledge/internal/kube"
	"fledge.dev/fledge/internal/localcluster"
)

// The integration tests (TestIntegration*) share one real control plane,
// started by the first of them and stopped by TestMain; -short skips them.
var (
	clusterOnce sync.Once
	testCluster *localcluster.Cluster
	clusterErr  error
	nsCounter   atomic.Int64
)

var errShort = errors.New("-short: local control plane not started")

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if testCluster != nil {
		if err := testCluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop local cluster:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// startCluster starts the package's cluster once.
func startCluster() {
	if testing.Short() {
		clusterErr = errShort
		return
	}
	opts := localcluster.Options{
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}.WithDefaults()
	if err := opts.Validate(); err != nil {
		clusterErr = err
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	testCluster, clusterErr = localcluster.Start(ctx, opts)
}

// requireCluster returns the shared cluster. Without control-plane binaries
// the test is skipped, except in CI (CI=true) where it fails.
func requireCluster(t *testing.T) *localcluster.Cluster {
	t.Helper()
	clusterOnce.Do(startCluster)
	if testCluster != nil {
		return testCluster
	}
	switch {
	case errors.Is(clusterErr, errShort):
		t.Skip(clusterErr)
	case errors.Is(clusterErr, localcluster.ErrBinariesMissing) && os.Getenv("CI") != "true":
		t.Skipf("no local control plane (%v); build it with hack/build-controlplane.sh", clusterErr)
	}
	t.Fatalf("local control plane: %v", clusterErr)
	return nil
}

// setup is a client of the shared cluster, a fresh namespace (created) and
// a context bounded in time.
type setup struct {
	cluster *localcluster.Cluster
	client  *kube.Client
	ns      string
	ctx     context.Context
}

func newSetup(t *testing.T, createNamespace bool) setup {
	t.Helper()
	c := requireCluster(t)
	client, err := kube.NewClientFromConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	name := strings.ToLower(strings.TrimPrefix(t.Name(), "TestIntegration"))
	name = strings.NewReplacer("/", "-", "_", "-").Replace(name)
	if len(name) > 40 {
		name = name[:40]
	}
	s := setup{cluster: c, client: client, ns: fmt.Sprintf("%s-%d", strings.Trim(name, "-"), nsCounter.Add(1)), ctx: ctx}
	if createNamespace {
		if _, err := client.EnsureNamespace(ctx, s.ns, true); err != nil {
			t.Fatal(err)
		}
	}
	return s
}
