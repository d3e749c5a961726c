package gatewayapi

import (
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"fledge.dev/fledge/internal/golden"
	"fledge.dev/fledge/internal/traffic"
)

var bgSlots = map[string]string{"blue": "web-bg-blue", "green": "web-bg-green"}

// The forms of a blue/green route: every Service of its own namespace in
// one slot, then the preview of the other slot for the tester header; the
// slot each form routes to reads back, and the cross-namespace backend
// (the CDN) stays as written.
func TestSlotRoutes(t *testing.T) {
	t.Parallel()
	in := route(t, "webpage.yaml", "web-bg")
	before := golden.YAML(t, in)
	blue, err := SlotRoute(in, "web-bg-blue")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "webpage.slot-blue.golden.yaml"), golden.YAML(t, blue))
	preview, err := PreviewRoute(in, "web-bg-blue", "web-bg-green", traffic.HeaderRoute{Name: "x-preview", Value: "yes"})
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "webpage.preview-green.golden.yaml"), golden.YAML(t, preview))
	if golden.YAML(t, in) != before {
		t.Error("the functions changed their input")
	}
	for _, tt := range []struct {
		name string
		form *unstructured.Unstructured
		want string
	}{
		{"slot blue", blue, "blue"},
		{"preview of green while blue serves", preview, "blue"},
	} {
		got, err := SlotOfRoute(tt.form, bgSlots)
		if err != nil || got != tt.want {
			t.Errorf("%s: SlotOfRoute = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
	// Switching is pointing the manifests' route at the other slot: the
	// preview's header rules are not in it.
	green, err := SlotRoute(in, "web-bg-green")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := SlotOfRoute(green, bgSlots); err != nil || got != "green" {
		t.Errorf("after the switch SlotOfRoute = %q, %v", got, err)
	}
	if n := len(rules(green)); n != len(rules(in)) {
		t.Errorf("the switched route has %d rules, the manifests' %d", n, len(rules(in)))
	}
}

// A route that does not route to one slot is named in the error.
func TestSlotOfRouteErrors(t *testing.T) {
	t.Parallel()
	asWritten := route(t, "webpage.yaml", "web-bg")
	blue, err := SlotRoute(asWritten, "web-bg-blue")
	if err != nil {
		t.Fatal(err)
	}
	half := blue.DeepCopy()
	rs, _, _ := unstructured.NestedSlice(half.Object, "spec", "rules")
	first := rs[0].(map[string]any)
	other := copyMap(first["backendRefs"].([]any)[0].(map[string]any))
	other["namespace"] = "web-bg-green"
	first["backendRefs"] = append(first["backendRefs"].([]any), other)
	if err := unstructured.SetNestedSlice(half.Object, rs, "spec", "rules"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		in   *unstructured.Unstructured
		want string
	}{
		{"the manifests' route as written", asWritten, "routes to Services in web-bg, not to the Services of one slot (web-bg-blue or web-bg-green)"},
		{"half switched", half, "routes to Services in web-bg-blue, web-bg-green"},
	} {
		_, err := SlotOfRoute(tt.in, bgSlots)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want it to say %q", tt.name, err, tt.want)
		}
	}
	if _, err := PreviewRoute(asWritten, "web-bg-blue", "web-bg-blue", traffic.HeaderRoute{Name: "x", Value: "y"}); err == nil {
		t.Error("a preview of the serving slot was built")
	}
}

// The grant of a slot lets the route's namespace reach the Services the
// route names, and only those.
func TestSlotGrant(t *testing.T) {
	t.Parallel()
	g := SlotGrant(route(t, "webpage.yaml", "web-bg"), "web-bg", "web-bg-green")
	golden.Check(t, filepath.Join("testdata", "slot-grant.golden.yaml"), golden.YAML(t, g))
}
