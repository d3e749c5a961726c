package nginx

import (
	"context"
	"os"
	"testing"
	"time"

	"fledge.dev/fledge/internal/kube"
	"fledge.dev/fledge/internal/localcluster"
	"fledge.dev/fledge/internal/testenv"
)

// The integration tests (TestIntegration*) share one real control plane,
// started by the first of them and stopped by TestMain; -short skips them.
var cluster testenv.SharedCluster

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &cluster)) }

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
	c := cluster.Require(t)
	client, err := kube.NewClientFromConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	s := setup{cluster: c, client: client, ns: testenv.Namespace(t), ctx: ctx}
	if createNamespace {
		if _, err := client.EnsureNamespace(ctx, s.ns, true); err != nil {
			t.Fatal(err)
		}
	}
	return s
}
