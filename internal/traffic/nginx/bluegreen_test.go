package nginx

import (
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"fledge.dev/fledge/internal/golden"
)

// The Ingress users reach routes to one slot through its ExternalName
// Services, without canary annotations; SlotOf reads the slot back, and
// the preview is a canary Ingress of weight 0 for the tester header.
func TestSlotRouting(t *testing.T) {
	t.Parallel()
	slots := []string{"blue", "green"}
	for _, slot := range slots {
		t.Run(slot, func(t *testing.T) {
			t.Parallel()
			out, err := SlotRouting(webpage(t), "webpage-ingress", slot, "ns-bg-"+slot)
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != 2 {
				t.Fatalf("got %d objects, want the ExternalName Service and the Ingress", len(out))
			}
			svc, ing := out[0], out[1]
			if ext, _, _ := unstructured.NestedString(svc.Object, "spec", "externalName"); svc.GetName() != "webpage-service-"+slot || ext != "webpage-service.ns-bg-"+slot+".svc.cluster.local" {
				t.Errorf("service %s -> %q", svc.GetName(), ext)
			}
			for k := range ing.GetAnnotations() {
				if strings.HasPrefix(k, AnnotationPrefix) {
					t.Errorf("the Ingress users reach has canary annotation %s", k)
				}
			}
			if got, err := SlotOf(ing, slots); got != slot || err != nil {
				t.Errorf("SlotOf = %q, %v; want %s", got, err, slot)
			}
			golden.Check(t, filepath.Join("testdata", "webpage.slot-"+slot+".golden.yaml"), golden.YAML(t, out...))
		})
	}
	t.Run("preview", func(t *testing.T) {
		t.Parallel()
		out, err := PreviewRouting(webpage(t), "webpage-ingress", "green", "ns-bg-green", DefaultHeader)
		if err != nil {
			t.Fatal(err)
		}
		ing := out[len(out)-1]
		if a := ing.GetAnnotations(); ing.GetName() != "webpage-ingress-preview" || a[AnnotationCanary] != "true" || a[AnnotationCanaryWeight] != "0" || a[AnnotationCanaryByHeader] != CanaryHeader {
			t.Errorf("preview %s with %v", ing.GetName(), a)
		}
	})
	t.Run("not a slot", func(t *testing.T) {
		t.Parallel()
		objs := webpage(t)
		objs[2].SetNamespace("ns-bg")
		if _, err := SlotOf(objs[2], slots); err == nil || !strings.Contains(err.Error(), "routes to webpage-service, not to the Services of one slot (blue or green)") {
			t.Errorf("SlotOf(manifests' Ingress) = %v", err)
		}
	})
}
