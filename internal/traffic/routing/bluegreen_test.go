package routing

import (
	"path/filepath"
	"strings"
	"testing"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/pipeline"
)

// Both blue/green routings build what their front and slots get from the
// same manifests, and read back the slot they point at.
func TestBlueGreenForms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		file      string
		plan      pipeline.BlueGreenPlan
		front     string // kind/name of what the front gets for slot green
		preview   string
		slot      string // kind/name of what slot green gets
		frontName string
	}{
		{
			name: "NGINX Ingress", file: filepath.Join("..", "nginx", "testdata", "webpage.yaml"),
			plan:  pipeline.BlueGreenPlan{Namespace: "web", Ingress: "webpage-ingress", TesterHeader: defaultHeader},
			front: "Service/webpage-service-green,Ingress/webpage-ingress", preview: "Service/webpage-service-green,Ingress/webpage-ingress-preview",
			slot: "Deployment/webpage-deployment,Service/webpage-service", frontName: "ingress web/webpage-ingress",
		},
		{
			name: "Gateway API HTTPRoute", file: filepath.Join("..", "gatewayapi", "testdata", "webpage.yaml"),
			plan:  pipeline.BlueGreenPlan{Namespace: "web", HTTPRoute: "webpage", TesterHeader: defaultHeader},
			front: "HTTPRoute/webpage", preview: "HTTPRoute/webpage",
			slot: "Deployment/webpage-deployment,Service/webpage-service,ReferenceGrant/fledge-web-webpage", frontName: "HTTPRoute web/webpage",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			objs := decode(t, tt.file)
			if err := CheckBlueGreen(objs, &tt.plan); err != nil {
				t.Fatal(err)
			}
			bg, err := NewBlueGreen(&tt.plan)
			if err != nil {
				t.Fatal(err)
			}
			front, err := bg.Front(objs, v1alpha1.SlotGreen)
			if err != nil || names(front) != tt.front {
				t.Errorf("Front = %s, %v; want %s", names(front), err, tt.front)
			}
			preview, err := bg.Preview(objs, v1alpha1.SlotBlue, v1alpha1.SlotGreen)
			if err != nil || names(preview) != tt.preview {
				t.Errorf("Preview = %s, %v; want %s", names(preview), err, tt.preview)
			}
			slot, err := bg.Slot(objs, v1alpha1.SlotGreen)
			if err != nil || names(slot) != tt.slot {
				t.Errorf("Slot = %s, %v; want %s", names(slot), err, tt.slot)
			}
			if bg.FrontName() != tt.frontName {
				t.Errorf("FrontName = %s", bg.FrontName())
			}
			// The front object as applied (in the front namespace) routes
			// to the slot it was built for.
			live := front[len(front)-1].DeepCopy()
			live.SetNamespace("web")
			if got, err := bg.SlotOf(live); err != nil || got != v1alpha1.SlotGreen {
				t.Errorf("SlotOf(Front(green)) = %q, %v", got, err)
			}
			if bg.Accepted(live, 1) == "" && tt.plan.HTTPRoute != "" {
				t.Error("a route without status is taken as accepted")
			}
		})
	}
}

// A blue/green plan whose front object is missing from the manifests is
// refused before anything is deployed, naming what the manifests have.
func TestCheckBlueGreenErrors(t *testing.T) {
	t.Parallel()
	objs := decode(t, filepath.Join("..", "nginx", "testdata", "webpage.yaml"))
	for _, tt := range []struct {
		plan pipeline.BlueGreenPlan
		want string
	}{
		{pipeline.BlueGreenPlan{Namespace: "web", HTTPRoute: "webpage"}, `the manifests have no gateway.networking.k8s.io/v1 HTTPRoute named "webpage"`},
		{pipeline.BlueGreenPlan{Namespace: "web", Ingress: "other"}, "other"},
		{pipeline.BlueGreenPlan{Namespace: "web"}, "names neither an Ingress nor an HTTPRoute"},
	} {
		if err := CheckBlueGreen(objs, &tt.plan); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("CheckBlueGreen(%+v) = %v, want it to say %q", tt.plan, err, tt.want)
		}
	}
}
