// Package traffic measures how Fledge splits real requests: the real
// `fledge serve` and CLI drive releases against a local control plane,
// while Traefik (hack/build-traefik.sh), in a network namespace with an
// agent that answers for every kwok pod (package test/dataplane), routes
// requests that a load client counts per version, and the real Prometheus
// scrapes Traefik's metrics, which Fledge's canary analysis reads to
// decide by itself (analysis_test.go). It covers the Gateway API
// provider and the NGINX provider's beside-production layout; the
// canary-namespace layout is checked on the API objects by test/e2e.
//
// Without the control plane, the Traefik binary, Prometheus or the right
// to create a network namespace the tests are skipped, except with CI=true, where they
// fail.
package traffic

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/localcluster"
	"fledge.dev/fledge/internal/testenv"
	"fledge.dev/fledge/test/dataplane"
)

var (
	cluster   *localcluster.Cluster
	plane     *dataplane.Plane
	prom      *testenv.Prometheus
	fledgeBin string
	repoRoot  string
)

// suites are the fixtures of the tests: each gets its own canary and
// production namespaces (and the production namespace's blue/green slots)
// and path, all served by one data plane.
var suites = []string{"gw-walk", "ngx-walk", "gw-ramp", "ngx-ramp", "gw-steady", "ngx-steady", "gw-owned", "gw-metrics", "ngx-metrics", "ngx-ana", "gw-ana", "ngx-nometrics", "ngx-crash", "bg-dp", "bg-gw"}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	repoRoot = testenv.RepoRoot()
	opts, err := testenv.ClusterOptions()
	if err != nil {
		return testenv.NotReady("traffic", err)
	}
	if err := dataplane.Check(); err != nil {
		return testenv.NotReady("traffic", err)
	}
	promBin, err := testenv.PrometheusBinary()
	if err != nil {
		return testenv.NotReady("traffic", err)
	}
	tmp, err := os.MkdirTemp("", "fledge-traffic-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if fledgeBin, err = testenv.Build(tmp, "./cmd/fledge", "fledge"); err != nil {
		fmt.Fprintf(os.Stderr, "traffic: %v\n", err)
		return 1
	}
	agentBin, err := testenv.Build(tmp, "./test/dataplane/agent", "agent")
	if err != nil {
		fmt.Fprintf(os.Stderr, "traffic: %v\n", err)
		return 1
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cluster, err = testenv.StartCluster(ctx, "traffic", opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "traffic: %v\n", err)
		return 1
	}
	defer cluster.Stop()

	if err := dataplane.InstallGatewayAPI(ctx, cluster.KubectlPath(), cluster.Kubeconfig()); err != nil {
		fmt.Fprintf(os.Stderr, "traffic: install Gateway API %s: %v\n", dataplane.GatewayAPIVersion, err)
		return 1
	}
	var namespaces []string
	for _, s := range suites {
		namespaces = append(namespaces, s+"-canary", s+"-prod", s+"-prod-"+v1alpha1.SlotBlue, s+"-prod-"+v1alpha1.SlotGreen)
	}
	logDir := filepath.Join(tmp, "dataplane")
	if err := os.MkdirAll(logDir, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	plane, err = dataplane.Start(ctx, dataplane.Options{
		Kubeconfig: cluster.Kubeconfig(), Namespaces: namespaces, AgentBin: agentBin, Dir: logDir,
		Logf: func(format string, args ...any) { fmt.Fprintf(os.Stderr, "traffic: "+format+"\n", args...) },
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "traffic: start data plane: %v\n", err)
		return 1
	}
	defer plane.Stop()
	if err := dataplane.WaitGateway(ctx, cluster.KubectlPath(), cluster.Kubeconfig()); err != nil {
		fmt.Fprintf(os.Stderr, "traffic: %v\n%s", err, plane.Logs(40))
		return 1
	}
	promDir := filepath.Join(tmp, "prometheus")
	if err := os.MkdirAll(promDir, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	prom, err = testenv.StartPrometheus(ctx, testenv.PrometheusOptions{
		Bin: promBin, Dir: promDir, Job: "traefik", ScrapeInterval: time.Second, Targets: []string{plane.MetricsAddr()},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "traffic: %v\n", err)
		return 1
	}
	defer prom.Stop()
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "traffic: data plane logs:\n%s\nprometheus log:\n%s\n", plane.Logs(60), prom.Tail(20))
	}
	return code
}
