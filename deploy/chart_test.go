// Package deploy holds the Helm chart and the plain manifests it renders;
// its tests lint and render the chart with the Helm library and keep
// install.yaml and the golden renderings in step with the templates.
package deploy

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/pmezard/go-difflib/difflib"
	yaml "go.yaml.in/yaml/v3"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8syaml "sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite install.yaml and the golden files in testdata")

const (
	chartDir = "helm/fledge"
	// imageValues name an image, which the chart requires: the project
	// publishes none.
	imageValues = "image: {repository: registry.example.com/fledge}\n"
	// installImage is the image install.yaml names: not a valid image
	// reference (upper case), so that a cluster given the file unchanged
	// reports InvalidImageName instead of pulling from a registry that
	// has nothing; docs/install.md replaces it with the image pushed.
	installImage = "REGISTRY/fledge"
	// The release install.yaml is rendered as.
	releaseName      = "fledge"
	releaseNamespace = "fledge"
)

// valueSets are the configurations the chart is linted and rendered
// with; each has a golden rendering in testdata.
var valueSets = []struct {
	name   string
	values string
}{
	{name: "default", values: imageValues},
	{
		// The identity the RBAC test on a real API server runs with
		// (test/e2e/install_test.go): two namespaces, nothing else.
		name: "namespaced",
		values: imageValues + `
rbac:
  namespaces: [rbac-canary, rbac-prod]
adminToken: {existingSecret: fledge-admin}
`,
	},
	{
		name: "postgres-ha",
		values: `
image: {repository: registry.example.com/fledge, digest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
replicas: 3
store:
  type: postgres
  postgres: {dsnSecret: fledge-db}
secretKey: {existingSecret: fledge-key}
adminToken: {existingSecret: fledge-admin}
ingress:
  enabled: true
  className: nginx
  host: fledge.example.com
  tls: {secretName: fledge-tls}
serviceMonitor: {enabled: true, labels: {release: prometheus}}
rbac:
  createNamespaces: true
  gatewayAPI: true
  applyKinds:
    - apiGroups: [""]
      resources: [services, configmaps, secrets]
    - apiGroups: [apps]
      resources: [deployments, statefulsets]
`,
	},
}

func TestChartLintAndGolden(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			vals := parseValues(t, vs.values)
			lintChart(t, vals)
			out, err := render(vals)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			checkObjects(t, out)
			golden(t, filepath.Join("testdata", vs.name+".yaml"), out)
		})
	}
}

// TestInstallYAMLInSync: deploy/install.yaml is the chart rendered with
// its default values, in the namespace fledge.
func TestInstallYAMLInSync(t *testing.T) {
	out, err := render(map[string]any{"image": map[string]any{"repository": installImage}})
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	header := `# Fledge, installed without Helm. Name the image you pushed (make image
# PUSH=...), since the project publishes none:
#   sed 's|` + installImage + `:|registry.example.com/fledge:|' deploy/install.yaml | kubectl apply -f -
# Rendered from deploy/helm/fledge with its default values (and image
# ` + installImage + `) by go test ./deploy -update; do not edit (change the
# chart instead).
---
apiVersion: v1
kind: Namespace
metadata:
  name: ` + releaseNamespace + `
`
	golden(t, "install.yaml", header+out)
}

// TestChartRefusesBadValues: settings that cannot work fail the install
// with a message naming the value.
func TestChartRefusesBadValues(t *testing.T) {
	tests := []struct {
		name, values, want string
	}{
		{"no image", "", "image.repository: the project publishes no image; push one with make image PUSH=REGISTRY/REPO:TAG"},
		{"SQLite with replicas", "replicas: 2", "replicas: 2 replicas need store.type=postgres"},
		{"unknown store", "store: {type: mysql}", `store.type: want sqlite or postgres, got "mysql"`},
		{"PostgreSQL without a DSN", "store: {type: postgres}\nsecretKey: {existingSecret: k}", "store.postgres.dsnSecret: name the Secret"},
		{"PostgreSQL without a key", "store: {type: postgres, postgres: {dsnSecret: db}}", "secretKey.existingSecret: a PostgreSQL store is shared by replicas"},
		{"Ingress without a host", "ingress: {enabled: true}", "ingress.host: set the console's host name"},
		{"no ServiceAccount name", "serviceAccount: {create: false}", "serviceAccount.name is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			values := tt.values
			if values != "" {
				values = imageValues + values
			}
			_, err := render(parseValues(t, values))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("render: %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func parseValues(t *testing.T, s string) map[string]any {
	t.Helper()
	vals := map[string]any{}
	if err := yaml.Unmarshal([]byte(s), &vals); err != nil {
		t.Fatalf("values: %v", err)
	}
	return vals
}

// lintChart runs helm lint's rules; any warning or error fails.
func lintChart(t *testing.T, vals map[string]any) {
	t.Helper()
	res := lint.RunAll(chartDir, vals, releaseNamespace)
	for _, m := range res.Messages {
		if m.Severity >= support.WarningSev {
			t.Errorf("helm lint: %s", m.Error())
		}
	}
}

// render is helm template: the chart's manifests in file order, each
// under a "# Source:" comment, NOTES.txt and empty files left out.
func render(vals map[string]any) (string, error) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		return "", fmt.Errorf("load chart: %w", err)
	}
	rv, err := util.ToRenderValues(ch, vals, common.ReleaseOptions{Name: releaseName, Namespace: releaseNamespace, Revision: 1, IsInstall: true}, nil)
	if err != nil {
		return "", fmt.Errorf("values: %w", err)
	}
	files, err := engine.Render(ch, rv)
	if err != nil {
		return "", err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		if path.Ext(name) == ".yaml" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		body := strings.TrimSpace(files[name])
		if body == "" {
			continue
		}
		body = strings.TrimPrefix(body, "---\n")
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", name, body)
	}
	return b.String(), nil
}

// checkObjects decodes every rendered object and checks what the chart
// promises whatever the values: a hardened pod and probes.
func checkObjects(t *testing.T, out string) {
	t.Helper()
	kinds := map[string]int{}
	for _, part := range strings.Split(out, "\n---\n") {
		doc := map[string]any{}
		if err := k8syaml.Unmarshal([]byte(part), &doc); err != nil {
			t.Fatalf("rendered YAML: %v\n%s", err, part)
		}
		if len(doc) == 0 {
			continue
		}
		u := unstructured.Unstructured{Object: doc}
		kinds[u.GetKind()]++
		if u.GetKind() != "Deployment" {
			continue
		}
		c, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		if len(c) != 1 {
			t.Fatalf("Deployment has %d containers", len(c))
		}
		ctr := c[0].(map[string]any)
		for _, f := range []struct {
			path []string
			want any
		}{
			{[]string{"securityContext", "readOnlyRootFilesystem"}, true},
			{[]string{"securityContext", "allowPrivilegeEscalation"}, false},
			{[]string{"livenessProbe", "httpGet", "path"}, "/healthz"},
			{[]string{"readinessProbe", "httpGet", "path"}, "/readyz"},
		} {
			if got, _, _ := unstructured.NestedFieldNoCopy(ctr, f.path...); got != f.want {
				t.Errorf("container %s = %v, want %v", strings.Join(f.path, "."), got, f.want)
			}
		}
		if got, _, _ := unstructured.NestedFieldNoCopy(u.Object, "spec", "template", "spec", "securityContext", "runAsNonRoot"); got != true {
			t.Errorf("pod runAsNonRoot = %v, want true", got)
		}
	}
	for _, k := range []string{"Deployment", "Service", "ServiceAccount"} {
		if kinds[k] != 1 {
			t.Errorf("%d %s objects rendered, want 1", kinds[k], k)
		}
	}
}

// golden compares got with the file at path, or rewrites it with -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./deploy -update to create it)", err)
	}
	if !bytes.Equal(want, []byte(got)) {
		diff, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{A: difflib.SplitLines(string(want)), B: difflib.SplitLines(got), FromFile: path, ToFile: "rendered", Context: 2})
		t.Errorf("%s is not what the chart renders (run go test ./deploy -update after changing the chart):\n%s", path, diff)
	}
}
