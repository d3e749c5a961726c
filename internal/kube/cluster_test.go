package kube

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

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"fledge.dev/fledge/internal/localcluster"
)

// The integration tests (TestIntegration*) share one real control plane,
// started by the first of them and stopped by TestMain. Unit tests run
// without one; -short skips the integration tests.
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

// setup is what an integration test needs: a client of the shared cluster,
// a fresh namespace name (not created) and a context bounded in time.
type setup struct {
	cluster *localcluster.Cluster
	client  *Client
	ns      string
	ctx     context.Context
}

func newSetup(t *testing.T) setup {
	t.Helper()
	c := requireCluster(t)
	client, err := NewClientFromConfig(c.RESTConfig())
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
	return setup{cluster: c, client: client, ns: fmt.Sprintf("%s-%d", strings.Trim(name, "-"), nsCounter.Add(1)), ctx: ctx}
}

// createNamespace creates s.ns through EnsureNamespace.
func (s setup) createNamespace(t *testing.T) {
	t.Helper()
	if _, err := s.client.EnsureNamespace(s.ctx, s.ns, true); err != nil {
		t.Fatal(err)
	}
}

// webpageObjects decodes the walkthrough's manifests with the given image
// tag.
func webpageObjects(t *testing.T, tag string) []*unstructured.Unstructured {
	t.Helper()
	text := strings.ReplaceAll(readTestdata(t, "webpage.yaml"), "registry.example/webpage:2.0", "registry.example/webpage:"+tag)
	objs, err := Decode(text)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// decode decodes manifests written in a test.
func decode(t *testing.T, manifests string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := Decode(manifests)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// actions renders results as "Kind/name action" lines.
func actions(results []Result) string {
	var out []string
	for _, r := range results {
		out = append(out, r.String())
	}
	return strings.Join(out, ", ")
}
