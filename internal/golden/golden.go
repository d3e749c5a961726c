// Package golden compares test output with files kept in testdata (CLI
// output, rendered manifests, routes) and rewrites them with
// `go test -update`. Only tests import it.
package golden

import (
	"flag"
	"os"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata with the current output")

// Check compares got with the file at path, or with -update writes got
// there first.
func Check(t testing.TB, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run go test -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// YAML writes Kubernetes objects as one multi-document YAML text, the
// form of the manifest golden files.
func YAML(t testing.TB, objs ...*unstructured.Unstructured) string {
	t.Helper()
	docs := make([]string, 0, len(objs))
	for _, o := range objs {
		b, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatalf("marshal %s/%s: %v", o.GetKind(), o.GetName(), err)
		}
		docs = append(docs, string(b))
	}
	return strings.Join(docs, "---\n")
}
