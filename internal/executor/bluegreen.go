package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/kube"
	"fledge.dev/fledge/internal/pipeline"
	"fledge.dev/fledge/internal/traffic"
	"fledge.dev/fledge/internal/traffic/routing"
)

// The blue/green strategy's steps (pipeline.StepChooseSlot and after).
// Users reach the front object (the manifests' Ingress or HTTPRoute) in
// the plan's blue/green namespace; it routes to one of two slot
// namespaces (see routing.BlueGreen). A deployment goes into the slot the
// front does not route to, and the switch points the front at it.

// front is the namespace users reach: the Ingress and its ExternalName
// Services, or the HTTPRoute.
func (r *run) front() place {
	return place{env: r.plan.Environment, ns: r.plan.BlueGreen.Namespace, role: "blue/green"}
}

// slot is slot s's namespace.
func (r *run) slot(s string) place {
	return place{env: r.plan.Environment, ns: v1alpha1.SlotNamespace(r.plan.BlueGreen.Namespace, s), role: s + " slot"}
}

// bg returns a copy of the run's blue/green status to change in a result.
func (r *run) bg() *v1alpha1.BlueGreenStatus {
	st := *r.state.BlueGreen
	return &st
}

// slotObjects are the manifests slot gets (routing.BlueGreen.Slot).
func (r *run) slotObjects(slot string) ([]*unstructured.Unstructured, error) {
	if r.routingErr != nil {
		return nil, r.routingErr
	}
	return r.routing.SlotObjects(slot)
}

// bgRouting is the plan's blue/green routing.
func (r *run) bgRouting() (routing.BlueGreen, error) {
	return routing.NewBlueGreen(r.plan.BlueGreen)
}

// readFront reads the front object users reach: nil when there is none
// yet (a first release).
func (r *run) readFront(ctx context.Context, bg routing.BlueGreen) (*unstructured.Unstructured, error) {
	c, _, err := r.cluster(ctx, r.plan.Environment)
	if err != nil {
		return nil, err
	}
	live, err := c.Get(ctx, r.plan.BlueGreen.Namespace, bg.FrontRef())
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	var unknown *kube.UnknownKindError
	if errors.As(err, &unknown) {
		return nil, fmt.Errorf("read %s: the cluster does not serve that kind (are the Gateway API CRDs installed?): %w", bg.FrontName(), err)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", bg.FrontName(), err)
	}
	return live, nil
}

// liveSlot reads which slot the front routes to: "" when there is no
// front yet (a first release), an error when it routes elsewhere.
func (r *run) liveSlot(ctx context.Context) (string, error) {
	bg, err := r.bgRouting()
	if err != nil {
		return "", err
	}
	live, err := r.readFront(ctx, bg)
	if err != nil || live == nil {
		return "", err
	}
	return bg.SlotOf(live)
}

// awaitFront reads the front object back after a change: check (nil for
// none) must accept what was read, and the data plane's controller must
// have accepted its generation (an HTTPRoute's Accepted and ResolvedRefs;
// an Ingress has no such status, so its first read settles it). It
// reads again every frontStatusPoll, at most frontStatusTimeout; a check
// that fails ends it at once.
func (r *run) awaitFront(ctx context.Context, bg routing.BlueGreen, check func(live *unstructured.Unstructured) error) error {
	ctx, cancel := context.WithTimeout(ctx, frontStatusTimeout)
	defer cancel()
	last := ""
	for {
		live, err := r.readFront(ctx, bg)
		switch {
		case err != nil:
			last = err.Error()
		case live == nil:
			last = bg.FrontName() + " does not exist"
		default:
			if check != nil {
				if err := check(live); err != nil {
					return fmt.Errorf("read back: %w", err)
				}
			}
			if last = bg.Accepted(live, live.GetGeneration()); last == "" {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if context.Cause(ctx) != context.DeadlineExceeded {
				return context.Cause(ctx)
			}
			return fmt.Errorf("%w: %s: %s after %s", traffic.ErrRouteNotReady, bg.FrontName(), last, frontStatusTimeout)
		case <-time.After(frontStatusPoll):
		}
	}
}

// How long and how often awaitFront reads the front's status.
const (
	frontStatusTimeout = time.Minute
	frontStatusPoll    = 100 * time.Millisecond
)

func chooseSlot(ctx context.Context, r *run, a pipeline.Action) (result, error) {
	from, err := r.liveSlot(ctx)
	if err != nil {
		return result{}, fmt.Errorf("%w; nothing was applied", err)
	}
	st := r.bg()
	st.From, st.To = from, v1alpha1.OtherSlot(from)
	to := r.slot(st.To)
	if from == "" {
		r.event(a.StageName, "SlotChosen", "no slot serves yet (there is no %s): deployment %s#%d goes into slot %s (namespace %s)",
			r.frontName(), r.d.Pipeline, r.d.Number, st.To, to.ns)
		return result{blueGreen: st}, nil
	}
	if live, err := r.e.cfg.Store.LiveDeployment(ctx, r.d.Pipeline); err == nil && live.ID != r.d.ID {
		st.FromDeployment, st.FromNumber = live.ID, live.Number
	}
	r.event(a.StageName, "SlotChosen", "slot %s (namespace %s) serves%s; deployment %s#%d goes into slot %s (namespace %s) beside it",
		from, r.slot(from).ns, deploymentText(r.d.Pipeline, st.FromNumber), r.d.Pipeline, r.d.Number, st.To, to.ns)
	return result{blueGreen: st}, nil
}

// deploymentText names a deployment in a message, or nothing when it is
// not known.
func deploymentText(pipelineName string, number int64) string {
	if number == 0 {
		return ""
	}
	return fmt.Sprintf(" deployment %s#%d", pipelineName, number)
}

// frontName names the front object in messages.
func (r *run) frontName() string {
	if bg, err := r.bgRouting(); err == nil {
		return bg.FrontName()
	}
	return "front of namespace " + r.plan.BlueGreen.Namespace
}

func applyNew(ctx context.Context, r *run, a pipeline.Action) (result, error) {
	objs, err := r.slotObjects(r.state.BlueGreen.To)
	if err != nil {
		return result{}, err
	}
	return result{}, r.apply(ctx, a.StageName, r.slot(r.state.BlueGreen.To), objs)
}

// waitNew waits for the new slot's rollout and endpoints, then opens the
// preview Ingress to testers: the tester header reaches the new slot while
// every other request stays on the live one. A first release has no live
// Ingress to add a preview to; testers then reach the slot's Services in
// the cluster.
func waitNew(ctx context.Context, r *run, a pipeline.Action) (result, error) {
	st := r.state.BlueGreen
	objs, err := r.slotObjects(st.To)
	if err != nil {
		return result{}, err
	}
	at := r.slot(st.To)
	if err := r.waitRollout(ctx, a.StageName, at, objs, r.plan.ProductionRolloutTimeout); err != nil {
		return result{}, err
	}
	unsettled, err := r.settleEndpoints(ctx, at, objs)
	if err != nil {
		return result{}, err
	}
	if unsettled != nil {
		r.event(a.StageName, "EndpointsNotSettled", "slot %s's endpoints are not only its ready pods yet: %v", st.To, unsettled)
	}
	services := r.serviceNames(objs, at.ns)
	if st.From == "" {
		r.event(a.StageName, "PreviewReady", "slot %s is ready; nothing serves yet, so there is no %s to add the tester header to: testers reach it in the cluster at %s",
			st.To, kindOf(r.frontName()), services)
		return result{}, nil
	}
	manifests, err := r.routing.Manifests()
	if err != nil {
		return result{}, err
	}
	bg, err := r.bgRouting()
	if err != nil {
		return result{}, err
	}
	preview, err := bg.Preview(manifests, st.From, st.To)
	if err != nil {
		return result{}, err
	}
	if err := r.apply(ctx, a.StageName, r.front(), preview); err != nil {
		return result{}, fmt.Errorf("preview: %w", err)
	}
	if bg.PreviewRef() == nil {
		// The preview is a rule of the front itself: wait until its
		// controller accepted it. A preview Ingress has no status.
		if err := r.awaitFront(ctx, bg, nil); err != nil {
			return result{}, fmt.Errorf("preview: %w", err)
		}
	}
	h := r.plan.BlueGreen.TesterHeader
	through := bg.FrontName()
	if ref := bg.PreviewRef(); ref != nil {
		through = strings.ToLower(ref.GetKind()) + " " + st.Namespace + "/" + ref.GetName()
	}
	r.event(a.StageName, "PreviewReady", "slot %s is ready: requests with header %s: %s reach it through %s, and in the cluster at %s; every other request still goes to slot %s",
		st.To, h.Name, h.Value, through, services, st.From)
	return result{}, nil
}

// kindOf is the kind part of a front's name ("ingress", "HTTPRoute").
func kindOf(frontName string) string {
	kind, _, _ := strings.Cut(frontName, " ")
	return kind
}

// serviceNames lists the Services among objs by their cluster DNS names in
// namespace ns.
func (r *run) serviceNames(objs []*unstructured.Unstructured, ns string) string {
	var names []string
	for _, o := range objs {
		if o.GetAPIVersion() == "v1" && o.GetKind() == "Service" {
			names = append(names, o.GetName()+"."+ns+".svc.cluster.local")
		}
	}
	if len(names) == 0 {
		return "(no Service)"
	}
	return strings.Join(names, ", ")
}

// pointFront applies the front object (with an Ingress, its ExternalName
// Services) so that every request goes to slot, built from manifests,
// reads back that it routes to it, and waits until the data plane's
// controller accepted it.
func (r *run) pointFront(ctx context.Context, stage string, manifests []*unstructured.Unstructured, slot string) error {
	bg, err := r.bgRouting()
	if err != nil {
		return err
	}
	objs, err := bg.Front(manifests, slot)
	if err != nil {
		return err
	}
	if err := r.apply(ctx, stage, r.front(), objs); err != nil {
		return err
	}
	return r.awaitFront(ctx, bg, func(live *unstructured.Unstructured) error {
		got, err := bg.SlotOf(live)
		if err != nil {
			return err
		}
		if got != slot {
			return fmt.Errorf("%s routes to slot %q, not %s", bg.FrontName(), got, slot)
		}
		return nil
	})
}

// switchTraffic sends every request to the new slot at once and removes
// the preview, which would now show the live version.
func switchTraffic(ctx context.Context, r *run, a pipeline.Action) (result, error) {
	manifests, err := r.routing.Manifests()
	if err != nil {
		return result{}, err
	}
	st := r.bg()
	if err := r.pointFront(ctx, a.StageName, manifests, st.To); err != nil {
		return result{}, fmt.Errorf("switch to slot %s: %w", st.To, err)
	}
	now := r.now()
	st.Switched, st.SwitchedAt = true, &now
	msg := fmt.Sprintf("every request to %s now goes to slot %s (namespace %s, deployment %s#%d), read back; the preview is removed",
		r.frontName(), st.To, r.slot(st.To).ns, r.d.Pipeline, r.d.Number)
	if st.From != "" {
		// Never sooner than the data plane follows the switch.
		at := now.Add(max(r.plan.BlueGreen.ScaleDownDelay, r.plan.BlueGreen.Hold))
		st.ScaleDownAt = &at
		msg += fmt.Sprintf("; slot %s%s stays scaled until %s for an instant switch back (fledge abort, or fledge rollback to it)",
			st.From, deploymentText(r.d.Pipeline, st.FromNumber), at.Format(time.RFC3339))
	}
	r.event(a.StageName, "TrafficSwitched", "%s", msg)
	r.removePreview(ctx, a.StageName)
	return result{blueGreen: st, productionAt: &now}, nil
}

// removePreview deletes the preview object, if the routing has one apart
// from the front (the preview Ingress); failing to is reported, not
// fatal: it routes only the tester header, and the next release rewrites
// it. Its success is said by the caller's event, the same whether the
// object was there or not, as it is when the step is repeated after a
// crash. A preview held in the front itself (an HTTPRoute's header rules)
// ends when the front is pointed at a slot.
func (r *run) removePreview(ctx context.Context, stage string) {
	bg, err := r.bgRouting()
	if err != nil {
		return
	}
	ref := bg.PreviewRef()
	if ref == nil {
		return
	}
	c, _, err := r.cluster(ctx, r.plan.Environment)
	if err == nil {
		_, err = c.Delete(ctx, r.plan.BlueGreen.Namespace, ref)
	}
	if err != nil {
		r.event(stage, "PreviewNotRemoved", "preview %s %s/%s not deleted: %v", strings.ToLower(ref.GetKind()), r.plan.BlueGreen.Namespace, ref.GetName(), err)
	}
}

// keepPrevious waits out the scale down delay with the previous slot
// scaled: an abort or a rollback to it now switches back at once.
func keepPrevious(_ context.Context, r *run, a pipeline.Action) (result, error) {
	st := r.state.BlueGreen
	if st.From == "" || st.ScaleDownAt == nil {
		return result{}, nil
	}
	if r.state.NextBatchAt == nil {
		r.event(a.StageName, "KeepingPreviousSlot", "slot %s%s stays scaled until %s (scale down delay %s)",
			st.From, deploymentText(r.d.Pipeline, st.FromNumber), st.ScaleDownAt.Format(time.RFC3339), r.plan.BlueGreen.ScaleDownDelay)
		at := *st.ScaleDownAt
		return result{wait: true, until: at, nextBatchAt: &at}, nil
	}
	if r.now().Before(*r.state.NextBatchAt) {
		return result{wait: true, until: *r.state.NextBatchAt}, nil
	}
	return result{}, nil
}

// scaleDownPrevious ends a blue/green deployment that succeeded: the
// previous slot's Deployments go to 0 replicas (its other objects stay,
// the next release reuses the slot).
func scaleDownPrevious(ctx context.Context, r *run, _ pipeline.Action) (result, error) {
	st := r.bg()
	if st.From == "" {
		r.event("", "ScaleDownSkipped", "no previous slot to scale down: this is the first release in %s", st.Namespace)
		return result{}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.e.cfg.FinishTimeout)
	defer cancel()
	c, _, err := r.cluster(ctx, r.plan.Environment)
	if err != nil {
		return result{}, err
	}
	at := r.slot(st.From)
	names, err := c.ScaleDown(ctx, at.ns)
	if err != nil {
		return result{}, err
	}
	st.ScaledDown = true
	what := "its Deployments were already at 0"
	if len(names) > 0 {
		what = "deployment " + strings.Join(names, ", ") + " scaled to 0"
	}
	r.event("", "PreviousSlotScaledDown", "slot %s (namespace %s%s): %s; a rollback to it deploys it again",
		st.From, at.ns, deploymentText(r.d.Pipeline, st.FromNumber), what)
	return result{blueGreen: st}, nil
}

// switchBack points the Ingress at the previous slot again when this run
// switched it (an abort, a rollback or a failure within the scale down
// delay), with the previous release's own Ingress. It changes nothing
// when the switch had not happened.
func switchBack(ctx context.Context, r *run, _ pipeline.Action) (result, error) {
	st := r.bg()
	if st.To == "" {
		return result{}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.e.cfg.FinishTimeout)
	defer cancel()
	cur, err := r.liveSlot(ctx)
	if err != nil {
		return result{}, err
	}
	switch {
	case cur == st.From && st.Switched && st.From != "":
		// Switched back already by a server that died before recording
		// it: say so as it would have.
	case cur != st.To:
		r.event("", "TrafficUnchanged", "no request was switched to slot %s: every request still goes to %s", st.To, r.slotText(cur))
		return result{}, nil
	case st.From == "":
		r.event("", "SwitchBackImpossible", "slot %s keeps serving: this was the first release in %s, there is no previous slot to switch back to", st.To, st.Namespace)
		return result{}, nil
	default:
		manifests, err := r.previousManifests(ctx, st.FromDeployment)
		if err != nil {
			return result{}, err
		}
		if err := r.pointFront(ctx, "", manifests, st.From); err != nil {
			return result{}, fmt.Errorf("switch back to slot %s: %w", st.From, err)
		}
	}
	st.SwitchedBack = true
	r.event("", "TrafficSwitchedBack", "every request to %s goes to slot %s%s again, read back; nothing was redeployed",
		r.frontName(), st.From, deploymentText(r.d.Pipeline, st.FromNumber))
	// The new slot is removed next: let the data plane follow first.
	if err := sleep(ctx, r.plan.BlueGreen.Hold); err != nil {
		return result{}, err
	}
	return result{blueGreen: st, productionCleared: true}, nil
}

// endPreview ends the tester header's preview of the new slot while slot
// cur serves: the preview object is deleted or, when the preview is part
// of the front (an HTTPRoute's header rules), the front is pointed at cur
// again with the serving release's manifests, before the new slot's
// objects (and the grant that lets the route reach them) go.
func (r *run) endPreview(ctx context.Context, cur string) error {
	bg, err := r.bgRouting()
	if err != nil {
		return err
	}
	if bg.PreviewRef() != nil || cur == "" || r.state.BlueGreen.Switched {
		// A preview object apart from the front, or none left: the switch
		// pointed the front at a slot without the preview's rule.
		r.removePreview(ctx, "")
		return nil
	}
	manifests, err := r.previousManifests(ctx, r.state.BlueGreen.FromDeployment)
	if err != nil {
		return err
	}
	if err := r.pointFront(ctx, "", manifests, cur); err != nil {
		return fmt.Errorf("end the preview: %w", err)
	}
	return nil
}

// slotText names what the front object routes to in a message.
func (r *run) slotText(slot string) string {
	if slot == "" {
		return "nowhere (there is no " + kindOf(r.frontName()) + " yet)"
	}
	return "slot " + slot
}

// previousManifests returns the manifests of deployment id, the release
// the previous slot runs; this run's own when it is not known.
func (r *run) previousManifests(ctx context.Context, id int64) ([]*unstructured.Unstructured, error) {
	if id == 0 {
		return r.routing.Manifests()
	}
	d, err := r.e.cfg.Store.GetDeployment(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("read deployment %d: %w", id, err)
	}
	var p pipeline.Plan
	if err := json.Unmarshal(d.Plan, &p); err != nil {
		return nil, fmt.Errorf("decode plan of deployment %d: %w", id, err)
	}
	rp, err := routing.For(&p, r.e.opener(id))
	if err != nil {
		return nil, fmt.Errorf("manifests of deployment %d: %w", id, err)
	}
	return rp.Manifests()
}

// removeNew removes what this run put beside the live slot when it did
// not succeed: the preview Ingress and the new slot's objects but its
// Services, unless the new slot serves (a first release switched before it
// failed).
func removeNew(ctx context.Context, r *run, _ pipeline.Action) (result, error) {
	st := r.state.BlueGreen
	if st.To == "" {
		return result{}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.e.cfg.FinishTimeout)
	defer cancel()
	cur, err := r.liveSlot(ctx)
	if err != nil {
		return result{}, err
	}
	if cur == st.To {
		r.event("", "NewSlotKept", "slot %s serves every request, so its objects are kept", st.To)
		return result{}, nil
	}
	if err := r.endPreview(ctx, cur); err != nil {
		return result{}, err
	}
	objs, err := r.slotObjects(st.To)
	if err != nil {
		return result{}, err
	}
	c, _, err := r.cluster(ctx, r.plan.Environment)
	if err != nil {
		return result{}, err
	}
	at := r.slot(st.To)
	var deleted []string
	for _, o := range slices.Backward(objs) {
		if o.GetAPIVersion() == "v1" && o.GetKind() == "Service" {
			// Kept: a Service recreated gets another address, and a data
			// plane may still hold the old one from a name lookup of the
			// ExternalName Service that reaches it (Traefik caches
			// /etc/hosts for seconds, cluster DNS for its TTL).
			continue
		}
		existed, err := c.Delete(ctx, at.ns, o)
		if err != nil {
			return result{}, fmt.Errorf("remove slot %s: %w", st.To, err)
		}
		if existed {
			deleted = append(deleted, strings.ToLower(o.GetKind())+"/"+o.GetName())
		}
	}
	slices.Reverse(deleted)
	if len(deleted) == 0 {
		r.event("", "NewSlotRemoved", "slot %s (namespace %s) holds none of this deployment's workloads; %s kept every request", st.To, at.ns, r.slotText(cur))
		return result{}, nil
	}
	r.event("", "NewSlotRemoved", "deleted %s from slot %s (namespace %s), keeping its Services' addresses for the next release; %s kept every request", strings.Join(deleted, ", "), st.To, at.ns, r.slotText(cur))
	return result{}, nil
}
