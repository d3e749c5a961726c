package kube

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"fledge.dev/fledge/internal/golden"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDecodeWebpage(t *testing.T) {
	t.Parallel()
	objs, err := Decode(readTestdata(t, "webpage.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range objs {
		names = append(names, o.GetKind()+"/"+o.GetName())
	}
	if got, want := strings.Join(names, ","), "Deployment/webpage-deployment,Service/webpage-service,Ingress/webpage-ingress"; got != want {
		t.Errorf("objects = %s, want %s", got, want)
	}
	// Integers must stay int64 so that unstructured helpers and deep
	// copies work.
	replicas, found, err := unstructured.NestedInt64(objs[0].Object, "spec", "replicas")
	if err != nil || !found || replicas != 3 {
		t.Errorf("spec.replicas = %d, %v, %v; want 3", replicas, found, err)
	}
	golden.Check(t, filepath.Join("testdata", "webpage.decoded.golden.yaml"), golden.YAML(t, objs...))
}

func TestDecodeSkipsEmptyDocumentsAndExpandsLists(t *testing.T) {
	t.Parallel()
	in := `---
# only a comment
---

---
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: a}
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: b}
--- # a separator with a comment
{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "c"}}
...
`
	objs, err := Decode(in)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range objs {
		names = append(names, o.GetKind()+"/"+o.GetName())
	}
	if got, want := strings.Join(names, ","), "ConfigMap/a,ConfigMap/b,Secret/c"; got != want {
		t.Errorf("objects = %s, want %s", got, want)
	}
	if objs, err := Decode("\n\n# nothing\n"); err != nil || len(objs) != 0 {
		t.Errorf("Decode(comment) = %v, %v; want no objects", objs, err)
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	const valid = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n"
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{
			"missing apiVersion", valid + "---\nkind: ConfigMap\nmetadata:\n  name: x\n",
			[]string{"document 2 (line 6)", "ConfigMap/x: apiVersion is missing"},
		},
		{
			"missing kind and name", "apiVersion: v1\nmetadata: {}\n",
			[]string{"document 1 (line 1)", "kind is missing and metadata.name is missing"},
		},
		{
			"missing metadata", "apiVersion: v1\nkind: ConfigMap\n",
			[]string{"document 1", "ConfigMap: metadata.name is missing"},
		},
		{
			"generateName", "apiVersion: v1\nkind: Pod\nmetadata:\n  generateName: web-\n",
			[]string{"generateName cannot be used"},
		},
		{
			"kind not a string", "apiVersion: v1\nkind: 3\nmetadata: {name: x}\n",
			[]string{"kind must be a string, not a number"},
		},
		{
			"metadata not a mapping", "apiVersion: v1\nkind: ConfigMap\nmetadata: x\n",
			[]string{"metadata must be a mapping, not a string"},
		},
		{
			"sequence", valid + "---\n- a\n- b\n",
			[]string{"document 2 (line 6)", "not an object but a sequence"},
		},
		{
			"scalar", "hello\n",
			[]string{"document 1", `not an object but a string ("hello")`},
		},
		{
			"invalid YAML with absolute line", valid + "---\n# c\napiVersion: v1\nkind: [\n",
			[]string{"document 2 (line 6)", "invalid YAML", "line 8:"},
		},
		{
			"duplicate key", "apiVersion: v1\nkind: ConfigMap\nkind: Secret\nmetadata: {name: x}\n",
			[]string{"document 1", "invalid YAML", "already set"},
		},
		{
			"list item without name", "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {}\n",
			[]string{"document 1", "list item 1", "ConfigMap: metadata.name is missing"},
		},
		{
			"list item not an object", "apiVersion: v1\nkind: List\nitems: [3]\n",
			[]string{"list item 1: not an object but a number"},
		},
		{
			"list items not a sequence", "apiVersion: v1\nkind: List\nitems: {a: b}\n",
			[]string{"items of a List must be a sequence"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Decode(tt.in)
			if err == nil {
				t.Fatal("Decode succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestNormalizeDropsServerFields(t *testing.T) {
	t.Parallel()
	objs, err := Decode(`apiVersion: v1
kind: ConfigMap
metadata:
  name: x
  namespace: ns
  uid: 1234
  resourceVersion: "7"
  generation: 2
  creationTimestamp: "2024-01-01T00:00:00Z"
  managedFields: [{manager: fledge}]
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: "{}"
data:
  k: v
status:
  phase: whatever
`)
	if err != nil {
		t.Fatal(err)
	}
	b, err := yaml.Marshal(normalize(objs[0]).Object)
	if err != nil {
		t.Fatal(err)
	}
	want := "apiVersion: v1\ndata:\n  k: v\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: ns\n"
	if string(b) != want {
		t.Errorf("normalize =\n%s\nwant\n%s", b, want)
	}
}

func TestDiffObject(t *testing.T) {
	t.Parallel()
	objs, err := Decode(readTestdata(t, "webpage.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	live := objs[0]
	planned := live.DeepCopy()
	if err := unstructured.SetNestedField(planned.Object, int64(5), "spec", "replicas"); err != nil {
		t.Fatal(err)
	}
	changed, err := diffObject("ns-canary-stage", "Deployment", "webpage-deployment", live, planned)
	if err != nil {
		t.Fatal(err)
	}
	if changed.Action != DiffChanged {
		t.Errorf("action = %s, want %s", changed.Action, DiffChanged)
	}
	added, err := diffObject("ns-canary-stage", "Service", "webpage-service", nil, objs[1])
	if err != nil {
		t.Fatal(err)
	}
	if added.Action != DiffAdded {
		t.Errorf("action = %s, want %s", added.Action, DiffAdded)
	}
	same, err := diffObject("ns-canary-stage", "Ingress", "webpage-ingress", objs[2], objs[2])
	if err != nil {
		t.Fatal(err)
	}
	if same.Action != DiffUnchanged || same.Diff != "" {
		t.Errorf("unchanged object: action %s, diff %q", same.Action, same.Diff)
	}
	golden.Check(t, filepath.Join("testdata", "webpage.diff.golden"), changed.Diff+added.Diff)
}
