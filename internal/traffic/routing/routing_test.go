package routing

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/kube"
	"fledge.dev/fledge/internal/pipeline"
	"fledge.dev/fledge/internal/traffic/gatewayapi"
	"fledge.dev/fledge/internal/traffic/nginx"
)

func decode(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := kube.Decode(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// names lists kind/name of objs.
func names(objs []*unstructured.Unstructured) string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetKind()+"/"+o.GetName())
	}
	return strings.Join(out, ",")
}

var defaultHeader = v1alpha1.TesterHeader{Name: "redirect-to-canary", Value: "always"}

func TestManifestForms(t *testing.T) {
	t.Parallel()
	ingress := decode(t, filepath.Join("..", "nginx", "testdata", "webpage.yaml"))
	route := decode(t, filepath.Join("..", "gatewayapi", "testdata", "webpage.yaml"))
	tests := []struct {
		name             string
		rt               v1alpha1.TrafficRouting
		objs             []*unstructured.Unstructured
		canary, prod     string
		canaryAnnotation string // the canary annotation of the canary namespace's Ingress, if any
	}{
		{
			name:   "nginx canary-namespace",
			rt:     v1alpha1.TrafficRouting{Provider: v1alpha1.TrafficProviderNGINX, Ingress: "webpage-ingress", Layout: v1alpha1.IngressLayoutCanaryNamespace, TesterHeader: defaultHeader},
			objs:   ingress,
			canary: "Deployment/webpage-deployment,Service/webpage-service,Ingress/webpage-ingress", prod: "Deployment/webpage-deployment,Service/webpage-service,Ingress/webpage-ingress",
			canaryAnnotation: "true",
		},
		{
			name:   "nginx without a layout (older plans)",
			rt:     v1alpha1.TrafficRouting{Provider: v1alpha1.TrafficProviderNGINX, Ingress: "webpage-ingress"},
			objs:   ingress,
			canary: "Deployment/webpage-deployment,Service/webpage-service,Ingress/webpage-ingress", prod: "Deployment/webpage-deployment,Service/webpage-service,Ingress/webpage-ingress",
			canaryAnnotation: "true",
		},
		{
			name:   "nginx beside-production",
			rt:     v1alpha1.TrafficRouting{Provider: v1alpha1.TrafficProviderNGINX, Ingress: "webpage-ingress", Layout: v1alpha1.IngressLayoutBesideProduction, TesterHeader: defaultHeader},
			objs:   ingress,
			canary: "Deployment/webpage-deployment,Service/webpage-service", prod: "Deployment/webpage-deployment,Service/webpage-service,Ingress/webpage-ingress",
		},
		{
			name:   "gateway api",
			rt:     v1alpha1.TrafficRouting{Provider: v1alpha1.TrafficProviderGatewayAPI, HTTPRoute: "webpage", TesterHeader: defaultHeader},
			objs:   route,
			canary: "Deployment/webpage-deployment,Service/webpage-service", prod: "Deployment/webpage-deployment,Service/webpage-service,HTTPRoute/webpage",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := New(tt.rt, Namespaces{Canary: "c", Production: "p"})
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Check(tt.objs); err != nil {
				t.Fatalf("Check: %v", err)
			}
			canary, err := p.Canary(tt.objs)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(canary); got != tt.canary {
				t.Errorf("canary namespace gets %s, want %s", got, tt.canary)
			}
			for _, o := range canary {
				if o.GetKind() == "Ingress" && o.GetAnnotations()[nginx.AnnotationCanary] != tt.canaryAnnotation {
					t.Errorf("canary ingress annotations %v", o.GetAnnotations())
				}
			}
			prod, err := p.Production(tt.objs)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(prod); got != tt.prod {
				t.Errorf("production gets %s, want %s", got, tt.prod)
			}
			for _, o := range prod {
				for k := range o.GetAnnotations() {
					if strings.HasPrefix(k, nginx.AnnotationPrefix) {
						t.Errorf("production %s/%s has canary annotation %s", o.GetKind(), o.GetName(), k)
					}
				}
			}
		})
	}
}

func TestCheckErrors(t *testing.T) {
	t.Parallel()
	ingress := decode(t, filepath.Join("..", "nginx", "testdata", "webpage.yaml"))
	route := decode(t, filepath.Join("..", "gatewayapi", "testdata", "webpage.yaml"))
	tests := []struct {
		name string
		rt   v1alpha1.TrafficRouting
		objs []*unstructured.Unstructured
		want string
	}{
		{"gateway route missing", v1alpha1.TrafficRouting{Provider: v1alpha1.TrafficProviderGatewayAPI, HTTPRoute: "web"}, route, `no gateway.networking.k8s.io/v1 HTTPRoute named "web"`},
		{"gateway api on ingress manifests", v1alpha1.TrafficRouting{Provider: v1alpha1.TrafficProviderGatewayAPI, HTTPRoute: "webpage"}, ingress, "HTTPRoute named"},
		{"nginx ingress missing", v1alpha1.TrafficRouting{Provider: v1alpha1.TrafficProviderNGINX, Ingress: "web"}, ingress, `no networking.k8s.io/v1 Ingress named "web"`},
		{"beside production without the service", v1alpha1.TrafficRouting{Provider: v1alpha1.TrafficProviderNGINX, Ingress: "webpage-ingress", Layout: v1alpha1.IngressLayoutBesideProduction}, []*unstructured.Unstructured{ingress[0], ingress[2]}, "not in the manifests"},
		{"unknown provider", v1alpha1.TrafficRouting{Provider: "istio"}, ingress, `unknown traffic provider "istio"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := New(tt.rt, Namespaces{Canary: "c", Production: "p"})
			if err == nil {
				err = p.Check(tt.objs)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Check = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestNewRouter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rt       v1alpha1.TrafficRouting
		wantType string
		wantName string
	}{
		{v1alpha1.TrafficRouting{Provider: v1alpha1.TrafficProviderNGINX, Ingress: "web", Layout: v1alpha1.IngressLayoutCanaryNamespace}, "*nginx.Router", "ingress c/web"},
		{v1alpha1.TrafficRouting{Provider: v1alpha1.TrafficProviderNGINX, Ingress: "web", Layout: v1alpha1.IngressLayoutBesideProduction}, "*nginx.BesideRouter", "ingress p/web-canary"},
		{v1alpha1.TrafficRouting{Provider: v1alpha1.TrafficProviderGatewayAPI, HTTPRoute: "web"}, "*gatewayapi.Router", "HTTPRoute p/web"},
	}
	for _, tt := range tests {
		p, err := New(tt.rt, Namespaces{Canary: "c", Production: "p"})
		if err != nil {
			t.Fatal(err)
		}
		r := p.NewRouter(nil, Target{})
		var got string
		switch r.(type) {
		case *nginx.Router:
			got = "*nginx.Router"
		case *nginx.BesideRouter:
			got = "*nginx.BesideRouter"
		case *gatewayapi.Router:
			got = "*gatewayapi.Router"
		}
		if got != tt.wantType {
			t.Errorf("%+v: router %s, want %s", tt.rt, got, tt.wantType)
		}
		if n := p.RouteName(); n != tt.wantName {
			t.Errorf("%+v: RouteName %q, want %q", tt.rt, n, tt.wantName)
		}
	}
	if _, err := New(v1alpha1.TrafficRouting{Provider: "istio"}, Namespaces{}); err == nil {
		t.Error("New of an unknown provider succeeded")
	}
}

func TestRouterWrites(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rt   v1alpha1.TrafficRouting
		want string
	}{
		{v1alpha1.TrafficRouting{Provider: v1alpha1.TrafficProviderNGINX, Ingress: "web", Layout: v1alpha1.IngressLayoutCanaryNamespace}, "c: Ingress/web"},
		{v1alpha1.TrafficRouting{Provider: v1alpha1.TrafficProviderNGINX, Ingress: "web", Layout: v1alpha1.IngressLayoutBesideProduction}, "p: Ingress/web-canary,Service/web-canary"},
		{v1alpha1.TrafficRouting{Provider: v1alpha1.TrafficProviderGatewayAPI, HTTPRoute: "web"}, "p: HTTPRoute/web; c: ReferenceGrant/" + gatewayapi.GrantName("web", "p") + " (and delete)"},
	}
	for _, tt := range tests {
		p, err := New(tt.rt, Namespaces{Canary: "c", Production: "p"})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range p.RouterWrites() {
			w := a.Namespace + ": " + names(a.Objects)
			if a.Delete {
				w += " (and delete)"
			}
			if a.EnsureNamespace || a.CreateNamespace {
				w += " (and the namespace)"
			}
			got = append(got, w)
		}
		if g := strings.Join(got, "; "); g != tt.want {
			t.Errorf("%+v: RouterWrites %q, want %q", tt.rt, g, tt.want)
		}
	}
}

func TestSurgeCanary(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		manifest string
		want     string // maxSurge after, "" for unset
	}{
		{name: "no strategy", manifest: "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 3}\n", want: CanarySurge},
		{name: "rolling update without maxSurge", manifest: "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  strategy:\n    type: RollingUpdate\n    rollingUpdate: {maxUnavailable: 0}\n", want: CanarySurge},
		{name: "explicit maxSurge kept", manifest: "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  strategy:\n    rollingUpdate: {maxSurge: 1}\n", want: "1"},
		{name: "Recreate kept", manifest: "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  strategy: {type: Recreate}\n", want: ""},
		{name: "StatefulSet untouched", manifest: "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec: {replicas: 3}\n", want: ""},
		{name: "other kinds untouched", manifest: "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {}\n", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in, err := kube.Decode(tt.manifest)
			if err != nil {
				t.Fatal(err)
			}
			orig := in[0]
			before := orig.DeepCopy()
			objs := []*unstructured.Unstructured{orig}
			if err := SurgeCanary(objs); err != nil {
				t.Fatal(err)
			}
			got := fmt.Sprint(nestedOrEmpty(objs[0], "spec", "strategy", "rollingUpdate", "maxSurge"))
			if got != tt.want {
				t.Errorf("maxSurge = %q, want %q", got, tt.want)
			}
			if !reflect.DeepEqual(orig.Object, before.Object) {
				t.Errorf("the caller's object was changed: %v", orig.Object)
			}
		})
	}
}

func nestedOrEmpty(o *unstructured.Unstructured, path ...string) any {
	v, ok, _ := unstructured.NestedFieldNoCopy(o.Object, path...)
	if !ok {
		return ""
	}
	return v
}

func TestPlanObjects(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "nginx", "testdata", "webpage.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	plan := &pipeline.Plan{Manifests: string(b), IngressName: "webpage-ingress", CanaryNamespace: "c", ProductionNamespace: "p"}
	p, err := For(plan, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.RouteName(), "ingress c/webpage-ingress"; got != want {
		t.Errorf("a plan without recorded routing routes %s, want %s", got, want)
	}
	canary, err := p.CanaryObjects()
	if err != nil {
		t.Fatal(err)
	}
	prod, err := p.ProductionObjects()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		objs []*unstructured.Unstructured
		want string
	}{{canary, "true"}, {prod, ""}} {
		for _, o := range tc.objs {
			if o.GetKind() == "Ingress" && o.GetAnnotations()[nginx.AnnotationCanary] != tc.want {
				t.Errorf("ingress annotations %v, want canary %q", o.GetAnnotations(), tc.want)
			}
		}
	}
	plan.Manifests = "kind: [unclosed"
	if _, err := p.ProductionObjects(); err == nil || !strings.Contains(err.Error(), "decode stored manifests") {
		t.Errorf("ProductionObjects of broken manifests: %v", err)
	}
	if _, err := For(&pipeline.Plan{Traffic: &v1alpha1.TrafficRouting{Provider: "istio"}}, nil); err == nil {
		t.Error("For a plan of an unknown provider succeeded")
	}
}

// The opener sees the stored manifests each time they are decoded, and
// its error is the decode's: nothing is built from manifests it refuses.
func TestPlanOpener(t *testing.T) {
	t.Parallel()
	const stored = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: SEALED\n"
	plan := &pipeline.Plan{Manifests: stored, IngressName: "web", CanaryNamespace: "c", ProductionNamespace: "p", Traffic: &v1alpha1.TrafficRouting{Provider: v1alpha1.TrafficProviderGatewayAPI, HTTPRoute: "web"}}
	calls := 0
	fail := false
	p, err := For(plan, func(m string) (string, error) {
		calls++
		if m != stored {
			t.Errorf("the opener got %q, want the stored manifests", m)
		}
		if fail {
			return "", errors.New("the Secret db: stringData.password: cannot decrypt")
		}
		return strings.Replace(m, "SEALED", "hunter2", 1), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	objs, err := p.Manifests()
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _ := unstructured.NestedString(objs[0].Object, "stringData", "password"); got != "hunter2" {
		t.Fatalf("decoded value %q, want the opened one", got)
	}
	fail = true
	if _, err := p.CanaryObjects(); err == nil || !strings.Contains(err.Error(), "cannot decrypt") {
		t.Fatalf("CanaryObjects with a value that does not open: %v", err)
	}
	if calls != 2 {
		t.Fatalf("the opener was called %d times, want once per decode", calls)
	}
}

// Services names the Services an analysis measures: the backends of the
// Ingress or of the HTTPRoute's split rules.
func TestServices(t *testing.T) {
	t.Parallel()
	ingress := decode(t, filepath.Join("..", "nginx", "testdata", "webpage.yaml"))
	route := decode(t, filepath.Join("..", "gatewayapi", "testdata", "webpage.yaml"))
	tests := []struct {
		name    string
		rt      v1alpha1.TrafficRouting
		objs    []*unstructured.Unstructured
		want    []string
		wantErr string
	}{
		{"nginx canary-namespace", v1alpha1.TrafficRouting{Provider: v1alpha1.TrafficProviderNGINX, Ingress: "webpage-ingress"}, ingress, []string{"webpage-service"}, ""},
		{"nginx beside production", v1alpha1.TrafficRouting{Provider: v1alpha1.TrafficProviderNGINX, Ingress: "webpage-ingress", Layout: v1alpha1.IngressLayoutBesideProduction}, ingress, []string{"webpage-service"}, ""},
		{"gateway api", v1alpha1.TrafficRouting{Provider: v1alpha1.TrafficProviderGatewayAPI, HTTPRoute: "webpage"}, route, []string{"webpage-service"}, ""},
		{"no such ingress", v1alpha1.TrafficRouting{Provider: v1alpha1.TrafficProviderNGINX, Ingress: "web"}, ingress, nil, `Ingress named "web"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := New(tt.rt, Namespaces{Canary: "c", Production: "p"})
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Services(tt.objs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Services = %v, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Services = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// ScaleCanary sizes the canary's Deployments and leaves the rest and the
// input alone.
func TestScaleCanary(t *testing.T) {
	t.Parallel()
	objs := decode(t, filepath.Join("..", "nginx", "testdata", "webpage.yaml"))
	replicas := func(objs []*unstructured.Unstructured) map[string]int64 {
		out := map[string]int64{}
		for _, o := range objs {
			if n, ok, _ := unstructured.NestedInt64(o.Object, "spec", "replicas"); ok {
				out[o.GetKind()+"/"+o.GetName()] = n
			}
		}
		return out
	}
	before := replicas(objs)
	if before["Deployment/webpage-deployment"] != 3 {
		t.Fatalf("testdata: %v, want a Deployment of 3", before)
	}
	for _, tt := range []struct {
		scale *v1alpha1.CanaryScale
		want  int64
	}{
		{nil, 3},
		{&v1alpha1.CanaryScale{Replicas: 1}, 1},
		{&v1alpha1.CanaryScale{Percent: 50}, 2},
	} {
		out := append([]*unstructured.Unstructured(nil), objs...)
		if err := ScaleCanary(out, tt.scale); err != nil {
			t.Fatal(err)
		}
		if got := replicas(out)["Deployment/webpage-deployment"]; got != tt.want {
			t.Errorf("scale %+v: %d replicas, want %d", tt.scale, got, tt.want)
		}
		if got := replicas(objs); !reflect.DeepEqual(got, before) {
			t.Errorf("scale %+v changed the input: %v", tt.scale, got)
		}
	}
}
