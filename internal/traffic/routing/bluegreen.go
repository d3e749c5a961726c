package routing

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/pipeline"
	"fledge.dev/fledge/internal/traffic"
	"fledge.dev/fledge/internal/traffic/gatewayapi"
	"fledge.dev/fledge/internal/traffic/nginx"
)

// BlueGreen is how a blue/green pipeline's namespace (the front) routes
// users to one of its two slot namespaces: with the manifests' Ingress
// and ExternalName Services (NGINX), or with the manifests' HTTPRoute and
// a ReferenceGrant per slot (Gateway API). Every method builds objects
// from a release's manifests; none touches a cluster.
type BlueGreen interface {
	// Front returns what the front namespace gets for every request to
	// go to slot.
	Front(manifests []*unstructured.Unstructured, slot string) ([]*unstructured.Unstructured, error)
	// Preview returns what the front namespace gets while live serves
	// and the tester header reaches slot to.
	Preview(manifests []*unstructured.Unstructured, live, to string) ([]*unstructured.Unstructured, error)
	// PreviewRef names the object that holds the preview apart from the
	// front, to delete when it ends; nil when the preview is part of the
	// front object, which ends by pointing it at the live slot again.
	PreviewRef() *unstructured.Unstructured
	// FrontRef names the object users reach.
	FrontRef() *unstructured.Unstructured
	// FrontName names it in messages: "ingress NS/NAME" or
	// "HTTPRoute NS/NAME".
	FrontName() string
	// SlotOf returns the slot the live front object routes to, or an
	// error saying what it routes to when that is not one slot.
	SlotOf(live *unstructured.Unstructured) (string, error)
	// Slot returns the manifests as slot's namespace gets them: all but
	// the front object, plus what lets the front reach them, rolled out
	// at full surge since a slot takes no request until the switch.
	Slot(manifests []*unstructured.Unstructured, slot string) ([]*unstructured.Unstructured, error)
	// Accepted returns "" once the controller of the data plane accepted
	// generation gen of the live front object, else what is missing;
	// always "" when the kind has no such status (an Ingress).
	Accepted(live *unstructured.Unstructured, gen int64) string
}

// NewBlueGreen returns the blue/green routing of plan p.
func NewBlueGreen(p *pipeline.BlueGreenPlan) (BlueGreen, error) {
	switch {
	case p == nil:
		return nil, fmt.Errorf("the deployment is not blue/green")
	case p.HTTPRoute != "":
		return blueGreenRoute{ns: p.Namespace, route: p.HTTPRoute, header: p.TesterHeader}, nil
	case p.Ingress != "":
		return blueGreenIngress{ns: p.Namespace, ingress: p.Ingress, header: p.TesterHeader}, nil
	}
	return nil, fmt.Errorf("blue/green plan of namespace %s names neither an Ingress nor an HTTPRoute", p.Namespace)
}

// CheckBlueGreen reports what makes the manifests unusable for blue/green
// plan p, before anything is deployed: the Ingress or HTTPRoute is
// missing, routes to a Service the manifests do not have, or a name
// Fledge derives would be too long.
func CheckBlueGreen(objs []*unstructured.Unstructured, p *pipeline.BlueGreenPlan) error {
	bg, err := NewBlueGreen(p)
	if err != nil {
		return err
	}
	for _, slot := range v1alpha1.Slots {
		if _, err := bg.Front(objs, slot); err != nil {
			return err
		}
		if _, err := bg.Slot(objs, slot); err != nil {
			return err
		}
	}
	_, err = bg.Preview(objs, v1alpha1.SlotBlue, v1alpha1.SlotGreen)
	return err
}

// SlotObjects returns a blue/green plan's manifests as slot's namespace
// gets them (BlueGreen.Slot).
func (p *Plan) SlotObjects(slot string) ([]*unstructured.Unstructured, error) {
	bg, err := NewBlueGreen(p.plan.BlueGreen)
	if err != nil {
		return nil, fmt.Errorf("deployment of %s: %w", p.plan.Pipeline, err)
	}
	objs, err := p.Manifests()
	if err != nil {
		return nil, err
	}
	return bg.Slot(objs, slot)
}

// blueGreenIngress routes with the manifests' Ingress (nginx.SlotRouting).
type blueGreenIngress struct {
	ns, ingress string
	header      v1alpha1.TesterHeader
}

func (b blueGreenIngress) slotNS(slot string) string { return v1alpha1.SlotNamespace(b.ns, slot) }

func (b blueGreenIngress) Front(objs []*unstructured.Unstructured, slot string) ([]*unstructured.Unstructured, error) {
	return nginx.SlotRouting(objs, b.ingress, slot, b.slotNS(slot))
}

func (b blueGreenIngress) Preview(objs []*unstructured.Unstructured, _, to string) ([]*unstructured.Unstructured, error) {
	return nginx.PreviewRouting(objs, b.ingress, to, b.slotNS(to), traffic.HeaderRoute{Name: b.header.Name, Value: b.header.Value})
}

func (b blueGreenIngress) PreviewRef() *unstructured.Unstructured {
	return nginx.IngressRef(nginx.PreviewName(b.ingress))
}

func (b blueGreenIngress) FrontRef() *unstructured.Unstructured { return nginx.IngressRef(b.ingress) }

func (b blueGreenIngress) FrontName() string { return "ingress " + b.ns + "/" + b.ingress }

func (b blueGreenIngress) SlotOf(live *unstructured.Unstructured) (string, error) {
	return nginx.SlotOf(live, v1alpha1.Slots)
}

func (b blueGreenIngress) Slot(objs []*unstructured.Unstructured, _ string) ([]*unstructured.Unstructured, error) {
	out, err := nginx.WithoutIngress(objs, b.ingress)
	if err != nil {
		return nil, err
	}
	return out, SurgeCanary(out)
}

func (blueGreenIngress) Accepted(*unstructured.Unstructured, int64) string { return "" }

// blueGreenRoute routes with the manifests' HTTPRoute
// (gatewayapi.SlotRoute).
type blueGreenRoute struct {
	ns, route string
	header    v1alpha1.TesterHeader
}

func (b blueGreenRoute) slotNS(slot string) string { return v1alpha1.SlotNamespace(b.ns, slot) }

// own returns the manifests' route, in the front namespace.
func (b blueGreenRoute) own(objs []*unstructured.Unstructured) (*unstructured.Unstructured, error) {
	r, err := gatewayapi.FindRoute(objs, b.route)
	if err != nil {
		return nil, err
	}
	r = r.DeepCopy()
	r.SetNamespace(b.ns)
	return r, nil
}

func (b blueGreenRoute) Front(objs []*unstructured.Unstructured, slot string) ([]*unstructured.Unstructured, error) {
	r, err := b.own(objs)
	if err != nil {
		return nil, err
	}
	out, err := gatewayapi.SlotRoute(r, b.slotNS(slot))
	if err != nil {
		return nil, err
	}
	out.SetNamespace("")
	return []*unstructured.Unstructured{out}, nil
}

func (b blueGreenRoute) Preview(objs []*unstructured.Unstructured, live, to string) ([]*unstructured.Unstructured, error) {
	r, err := b.own(objs)
	if err != nil {
		return nil, err
	}
	out, err := gatewayapi.PreviewRoute(r, b.slotNS(live), b.slotNS(to), traffic.HeaderRoute{Name: b.header.Name, Value: b.header.Value})
	if err != nil {
		return nil, err
	}
	out.SetNamespace("")
	return []*unstructured.Unstructured{out}, nil
}

func (blueGreenRoute) PreviewRef() *unstructured.Unstructured { return nil }

func (b blueGreenRoute) FrontRef() *unstructured.Unstructured { return gatewayapi.RouteRef(b.route) }

func (b blueGreenRoute) FrontName() string { return "HTTPRoute " + b.ns + "/" + b.route }

func (b blueGreenRoute) SlotOf(live *unstructured.Unstructured) (string, error) {
	slots := map[string]string{}
	for _, s := range v1alpha1.Slots {
		slots[s] = b.slotNS(s)
	}
	return gatewayapi.SlotOfRoute(live, slots)
}

func (b blueGreenRoute) Slot(objs []*unstructured.Unstructured, slot string) ([]*unstructured.Unstructured, error) {
	r, err := b.own(objs)
	if err != nil {
		return nil, err
	}
	out, err := gatewayapi.CanaryManifests(objs, b.route)
	if err != nil {
		return nil, err
	}
	if err := SurgeCanary(out); err != nil {
		return nil, err
	}
	grant := gatewayapi.SlotGrant(r, b.ns, b.slotNS(slot))
	grant.SetNamespace("")
	return append(out, grant), nil
}

func (blueGreenRoute) Accepted(live *unstructured.Unstructured, gen int64) string {
	return gatewayapi.RouteStatus(live, gen)
}
