package kube

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"fledge.dev/fledge/internal/localcluster"
	"fledge.dev/fledge/internal/testenv"
)

// The integration tests (TestIntegration*) share one real control plane,
// started by the first of them and stopped by TestMain; -short skips them.
var cluster testenv.SharedCluster

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &cluster)) }

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
	c := cluster.Require(t)
	client, err := NewClientFromConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return setup{cluster: c, client: client, ns: testenv.Namespace(t), ctx: ctx}
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
