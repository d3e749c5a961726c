package nginx

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"fledge.dev/fledge/internal/golden"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"fledge.dev/fledge/internal/kube"
)

// webpage decodes the walkthrough's manifests.
func webpage(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "webpage.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := kube.Decode(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func annotations(t *testing.T, objs []*unstructured.Unstructured, name string) map[string]string {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == "Ingress" && o.GetName() == name {
			return o.GetAnnotations()
		}
	}
	t.Fatalf("no ingress %s", name)
	return nil
}

func TestMarkCanary(t *testing.T) {
	t.Parallel()
	in := webpage(t)
	before := golden.YAML(t, in...)
	out, err := MarkCanary(in, "webpage-ingress")
	if err != nil {
		t.Fatal(err)
	}
	if golden.YAML(t, in...) != before {
		t.Error("MarkCanary changed its input")
	}
	want := map[string]string{
		"kubernetes.io/ingress.class":                  "nginx",
		"nginx.ingress.kubernetes.io/rewrite-target":   "/$2",
		"nginx.ingress.kubernetes.io/canary":           "true",
		"nginx.ingress.kubernetes.io/canary-by-header": "redirect-to-canary",
		"nginx.ingress.kubernetes.io/canary-weight":    "0",
	}
	got := annotations(t, out, "webpage-ingress")
	if len(got) != len(want) {
		t.Errorf("annotations = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, got[k], v)
		}
	}
	golden.Check(t, filepath.Join("testdata", "webpage.canary.golden.yaml"), golden.YAML(t, out...))
}

func TestStripCanary(t *testing.T) {
	t.Parallel()
	canary, err := MarkCanary(webpage(t), "webpage-ingress")
	if err != nil {
		t.Fatal(err)
	}
	canary[2].SetAnnotations(map[string]string{
		"kubernetes.io/ingress.class":                  "nginx",
		"nginx.ingress.kubernetes.io/rewrite-target":   "/$2",
		"nginx.ingress.kubernetes.io/canary":           "true",
		"nginx.ingress.kubernetes.io/canary-by-header": "redirect-to-canary",
		"nginx.ingress.kubernetes.io/canary-weight":    "25",
		"nginx.ingress.kubernetes.io/canary-by-cookie": "c",
	})
	out, err := StripCanary(canary, "webpage-ingress")
	if err != nil {
		t.Fatal(err)
	}
	if len(annotations(t, canary, "webpage-ingress")) != 6 {
		t.Error("StripCanary changed its input")
	}
	got := golden.YAML(t, out...)
	golden.Check(t, filepath.Join("testdata", "webpage.production.golden.yaml"), got)
	// Production is the manifests as written.
	if want := golden.YAML(t, webpage(t)...); got != want {
		t.Errorf("StripCanary(MarkCanary(m)) differs from m:\n%s\nwant\n%s", got, want)
	}

	// An ingress left with no annotation loses the empty map too.
	only := canary[2].DeepCopy()
	only.SetAnnotations(map[string]string{AnnotationCanary: "true"})
	out, err = StripCanary([]*unstructured.Unstructured{only}, "webpage-ingress")
	if err != nil {
		t.Fatal(err)
	}
	if _, found, _ := unstructured.NestedFieldNoCopy(out[0].Object, "metadata", "annotations"); found {
		t.Error("empty annotations left behind")
	}
}

func TestMarkCanaryErrors(t *testing.T) {
	t.Parallel()
	objs := webpage(t)
	tests := []struct {
		name    string
		objs    []*unstructured.Unstructured
		ingress string
		want    []string
	}{
		{"wrong name", objs, "web-ingress", []string{`no networking.k8s.io/v1 Ingress named "web-ingress"`, "Deployment/webpage-deployment, Service/webpage-service, Ingress/webpage-ingress"}},
		{"no ingress", objs[:2], "webpage-ingress", []string{`"webpage-ingress"`, "they have Deployment/webpage-deployment, Service/webpage-service"}},
		{"no objects", nil, "webpage-ingress", []string{"they have nothing"}},
		{"empty name", objs, "", []string{"no ingress name"}},
	}
	old := objs[2].DeepCopy()
	old.SetAPIVersion("extensions/v1beta1")
	tests = append(tests, struct {
		name    string
		objs    []*unstructured.Unstructured
		ingress string
		want    []string
	}{"old API version", []*unstructured.Unstructured{old}, "webpage-ingress", []string{"extensions/v1beta1, want networking.k8s.io/v1"}})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for fn, f := range map[string]func([]*unstructured.Unstructured, string) ([]*unstructured.Unstructured, error){
				"MarkCanary": MarkCanary, "StripCanary": StripCanary,
			} {
				_, err := f(tt.objs, tt.ingress)
				if err == nil {
					t.Fatalf("%s succeeded, want an error", fn)
				}
				for _, w := range tt.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s error %q does not contain %q", fn, err, w)
					}
				}
			}
		})
	}
}
