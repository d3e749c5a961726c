package nginx

import (
	"maps"
	"path/filepath"
	"strings"
	"testing"

	"fledge.dev/fledge/internal/golden"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"fledge.dev/fledge/internal/traffic"
)

func TestBesideProduction(t *testing.T) {
	t.Parallel()
	beta := &traffic.HeaderRoute{Name: "X-Canary", Value: "beta"}
	tests := []struct {
		name    string
		header  *traffic.HeaderRoute
		weight  int
		golden  string
		wantAnn map[string]string
	}{
		{
			name: "weight 0, default header", header: &DefaultHeader, weight: 0, golden: "webpage.beside.w0.golden.yaml",
			wantAnn: map[string]string{
				"kubernetes.io/ingress.class":                  "nginx",
				"nginx.ingress.kubernetes.io/rewrite-target":   "/$2",
				"nginx.ingress.kubernetes.io/canary":           "true",
				"nginx.ingress.kubernetes.io/canary-by-header": "redirect-to-canary",
				"nginx.ingress.kubernetes.io/canary-weight":    "0",
				"fledge.dev/canary-of":                         "ns-canary-stage/webpage-ingress",
			},
		},
		{
			name: "weight 25, header with a value", header: beta, weight: 25, golden: "webpage.beside.w25-beta.golden.yaml",
			wantAnn: map[string]string{
				"kubernetes.io/ingress.class":                        "nginx",
				"nginx.ingress.kubernetes.io/rewrite-target":         "/$2",
				"nginx.ingress.kubernetes.io/canary":                 "true",
				"nginx.ingress.kubernetes.io/canary-by-header":       "X-Canary",
				"nginx.ingress.kubernetes.io/canary-by-header-value": "beta",
				"nginx.ingress.kubernetes.io/canary-weight":          "25",
				"fledge.dev/canary-of":                               "ns-canary-stage/webpage-ingress",
			},
		},
		{
			name: "no header", header: nil, weight: 100, golden: "webpage.beside.w100-noheader.golden.yaml",
			wantAnn: map[string]string{
				"kubernetes.io/ingress.class":                "nginx",
				"nginx.ingress.kubernetes.io/rewrite-target": "/$2",
				"nginx.ingress.kubernetes.io/canary":         "true",
				"nginx.ingress.kubernetes.io/canary-weight":  "100",
				"fledge.dev/canary-of":                       "ns-canary-stage/webpage-ingress",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := webpage(t)
			before := golden.YAML(t, in...)
			out, err := BesideProduction(in, "webpage-ingress", "ns-canary-stage", tt.header, tt.weight)
			if err != nil {
				t.Fatal(err)
			}
			if golden.YAML(t, in...) != before {
				t.Error("BesideProduction changed its input")
			}
			if len(out) != 2 {
				t.Fatalf("got %d objects, want the ExternalName Service and the canary Ingress", len(out))
			}
			svc, ing := out[0], out[1]
			if ext, _, _ := unstructured.NestedString(svc.Object, "spec", "externalName"); svc.GetName() != "webpage-service-canary" || ext != "webpage-service.ns-canary-stage.svc.cluster.local" {
				t.Errorf("service %s -> %q", svc.GetName(), ext)
			}
			if ing.GetName() != "webpage-ingress-canary" {
				t.Errorf("canary ingress named %s", ing.GetName())
			}
			if got := ing.GetAnnotations(); !maps.Equal(got, tt.wantAnn) {
				t.Errorf("annotations\n got  %v\n want %v", got, tt.wantAnn)
			}
			// Same host, path and path type as production's: a controller
			// can match them.
			if miss := unmatched(in[2].Object, ing.Object); len(miss) > 0 {
				t.Errorf("canary paths not in the main ingress: %v", miss)
			}
			golden.Check(t, filepath.Join("testdata", tt.golden), golden.YAML(t, out...))
		})
	}
}

func TestBesideProductionErrors(t *testing.T) {
	t.Parallel()
	objs := webpage(t)
	clash := objs[2].DeepCopy()
	clash.SetName("webpage-ingress-canary")
	resource := objs[2].DeepCopy()
	_ = unstructured.SetNestedField(resource.Object, map[string]any{"resource": map[string]any{"kind": "Bucket", "name": "b"}}, "spec", "defaultBackend")
	long := webpage(t)
	long[1].SetName(strings.Repeat("s", 60))
	rules, _, _ := unstructured.NestedSlice(long[2].Object, "spec", "rules")
	p, _, _ := unstructured.NestedSlice(rules[0].(map[string]any), "http", "paths")
	_ = unstructured.SetNestedField(p[0].(map[string]any), strings.Repeat("s", 60), "backend", "service", "name")
	_ = unstructured.SetNestedSlice(rules[0].(map[string]any), p, "http", "paths")
	_ = unstructured.SetNestedSlice(long[2].Object, rules, "spec", "rules")

	tests := []struct {
		name   string
		objs   []*unstructured.Unstructured
		weight int
		want   string
	}{
		{"service not in the manifests", []*unstructured.Unstructured{objs[0], objs[2]}, 0, "routes to Service webpage-service, which is not in the manifests"},
		{"name of the canary ingress taken", append(webpage(t), clash), 0, "already have an Ingress named webpage-ingress-canary"},
		{"resource backend", []*unstructured.Unstructured{objs[1], resource}, 0, "routes to a resource, not a Service"},
		{"service name too long", long, 0, "longer than 63 characters"},
		{"weight above 100", objs, 101, "weight must be between 0 and 100"},
		{"no ingress", objs[:2], 0, `no networking.k8s.io/v1 Ingress named "webpage-ingress"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := BesideProduction(tt.objs, "webpage-ingress", "ns-canary-stage", &DefaultHeader, tt.weight)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestWithoutIngress(t *testing.T) {
	t.Parallel()
	out, err := WithoutIngress(webpage(t), "webpage-ingress")
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[0].GetKind() != "Deployment" || out[1].GetKind() != "Service" {
		t.Errorf("got %s, want the Deployment and the Service", golden.YAML(t, out...))
	}
	if _, err := WithoutIngress(webpage(t), "web"); err == nil {
		t.Error("WithoutIngress of a missing ingress succeeded")
	}
}

func TestMarkCanaryHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		h    traffic.HeaderRoute
		want map[string]string
	}{
		{"always needs no value", traffic.HeaderRoute{Name: "X-Canary", Value: "always"}, map[string]string{
			AnnotationCanaryByHeader: "X-Canary",
		}},
		{"another value", traffic.HeaderRoute{Name: "X-Canary", Value: "beta"}, map[string]string{
			AnnotationCanaryByHeader: "X-Canary", AnnotationCanaryByHeaderValue: "beta",
		}},
		{"tester cookie", traffic.HeaderRoute{Name: "X-Canary", Value: "always", Cookie: "fledge-canary"}, map[string]string{
			AnnotationCanaryByHeader: "X-Canary", AnnotationCanaryByCookie: "fledge-canary",
		}},
	}
	for _, tt := range tests {
		out, err := MarkCanaryHeader(webpage(t), "webpage-ingress", tt.h)
		if err != nil {
			t.Fatal(err)
		}
		ann := annotations(t, out, "webpage-ingress")
		for _, k := range []string{AnnotationCanaryByHeader, AnnotationCanaryByHeaderValue, AnnotationCanaryByCookie} {
			if ann[k] != tt.want[k] {
				t.Errorf("%s: %s = %q, want %q", tt.name, k, ann[k], tt.want[k])
			}
		}
		if h := headerOf(ann); h == nil || *h != tt.h {
			t.Errorf("%s: headerOf = %v, want %v", tt.name, h, tt.h)
		}
	}
}

func TestUnmatched(t *testing.T) {
	t.Parallel()
	main := webpage(t)[2]
	other := main.DeepCopy()
	rules, _, _ := unstructured.NestedSlice(other.Object, "spec", "rules")
	rules[0].(map[string]any)["host"] = "shop.example.com"
	_ = unstructured.SetNestedSlice(other.Object, rules, "spec", "rules")
	if got := unmatched(main.Object, main.Object); len(got) != 0 {
		t.Errorf("an ingress should match itself, got %v", got)
	}
	if got := unmatched(main.Object, other.Object); len(got) != 1 || got[0] != "shop.example.com/webpage(/|$)(.*) (ImplementationSpecific)" {
		t.Errorf("unmatched = %v", got)
	}
}
