package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

var endpointSlicesGVR = schema.GroupVersionResource{Group: discoveryv1.GroupName, Version: "v1", Resource: "endpointslices"}

// WaitEndpointsSettled waits until the endpoints of every Service among
// objs (with a selector) in ns are exactly its ready pods: each ready pod
// the selector picks is a ready endpoint, and no endpoint is terminating or
// belongs to a pod that is being deleted or gone. After a rollout the old
// pods linger as (terminating) endpoints for a while; a data plane that is
// given more traffic for the Service before they are gone may still send
// some of it to the old version. A Service whose endpoints lag its pods
// is resynced (see ResyncAnnotation). It returns nil once settled, or the
// last difference it saw when ctx ends.
func (c *Client) WaitEndpointsSettled(ctx context.Context, ns string, objs []*unstructured.Unstructured) error {
	var services []*corev1.Service
	for _, o := range objs {
		if o.GetAPIVersion() != "v1" || o.GetKind() != "Service" {
			continue
		}
		var svc corev1.Service
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &svc); err != nil {
			return fmt.Errorf("service %s: %w", o.GetName(), err)
		}
		if len(svc.Spec.Selector) > 0 && svc.Spec.Type != corev1.ServiceTypeExternalName {
			services = append(services, &svc)
		}
	}
	if len(services) == 0 {
		return nil
	}
	// The namespace's pods and EndpointSlices are watched, so the moment
	// they agree is seen when the controllers write it; the ticker is a
	// fallback for a watch that is broken and cannot be opened again.
	changed := make(chan struct{}, 1)
	wctx, stopWatches := context.WithCancel(ctx)
	defer stopWatches()
	for _, gvr := range []schema.GroupVersionResource{podsGVR, endpointSlicesGVR} {
		go watchChanges(wctx, c.dyn.Resource(gvr).Namespace(ns), "", changed)
	}
	t := time.NewTicker(rolloutFallbackPoll)
	defer t.Stop()
	var nudge resync
	defer nudge.stop()
	for {
		diff, behind, err := c.endpointsDiff(ctx, ns, services)
		if err != nil {
			return err
		}
		if diff == "" {
			return nil
		}
		due := nudge.due(time.Now(), behind)
		if len(due) > 0 {
			c.resyncServices(ctx, ns, due)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("endpoints in %s not settled: %s: %w", ns, diff, context.Cause(ctx))
		case <-changed:
		case <-t.C:
		case <-nudge.wake():
		}
	}
}

// Endpoints behind their pods: the EndpointSlice controller retries a
// Service whose EndpointSlices it synced while its cache of them lagged
// its own last write after a back-off that starts at 1 s, and nothing
// brings the retry forward but another change of the Service or of its
// pods. A full-surge rollout's burst of pod changes makes that likely: the
// last pods deleted are then still listed for about a second after they
// are gone. When a Service has listed a pod that is gone for resyncAfter,
// WaitEndpointsSettled writes the time into the Service's
// ResyncAnnotation, once per wait: the update makes the controller sync
// the Service at once, from a cache that has caught up by then. A
// controller that is merely busy lists gone pods too, but one write per
// Service and wait adds little to its queue (where the Service is already).
// A pod being deleted and listed as terminating is waited for as it is:
// its grace period is its own.
const (
	// ResyncAnnotation is the annotation of a Service that
	// WaitEndpointsSettled writes to make the EndpointSlice controller
	// sync it again.
	ResyncAnnotation = "fledge.dev/endpoints-resync"
	// resyncAfter is how long a Service lists a gone pod before it is
	// resynced: a controller that keeps up writes the change within a
	// few milliseconds.
	resyncAfter = 100 * time.Millisecond
	// resyncFieldManager owns ResyncAnnotation.
	resyncFieldManager = "fledge-endpoints-resync"
)

// resync decides when the Services that list gone pods are resynced: each
// once per wait, resyncAfter after it was first seen so.
type resync struct {
	since map[string]time.Time // when each Service was first seen behind
	done  map[string]bool      // resynced
	timer *time.Timer
}

// due takes the Services seen behind at now and returns those to resync
// now; it arms wake for the next one due.
func (r *resync) due(now time.Time, behind []string) []string {
	if r.since == nil {
		r.since, r.done = map[string]time.Time{}, map[string]bool{}
	}
	seen := map[string]bool{}
	var out []string
	var next time.Time
	for _, name := range behind {
		seen[name] = true
		if r.done[name] {
			continue
		}
		since, ok := r.since[name]
		if !ok {
			since, r.since[name] = now, now
		}
		at := since.Add(resyncAfter)
		if !now.Before(at) {
			out = append(out, name)
			r.done[name] = true
			continue
		}
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	for name := range r.since {
		if !seen[name] {
			delete(r.since, name)
		}
	}
	r.stop()
	r.timer = nil
	if !next.IsZero() {
		r.timer = time.NewTimer(next.Sub(now))
	}
	return out
}

func (r *resync) stop() {
	if r.timer != nil {
		r.timer.Stop()
	}
}

// wake fires when the next resync is due; never without one.
func (r *resync) wake() <-chan time.Time {
	if r.timer == nil {
		return nil
	}
	return r.timer.C
}

// resyncServices writes the time into the ResyncAnnotation of the named
// Services of ns. It is a nudge: a Service it cannot write is logged
// nowhere and waited for as before.
func (c *Client) resyncServices(ctx context.Context, ns string, names []string) {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{
		ResyncAnnotation: time.Now().UTC().Format(time.RFC3339Nano),
	}}})
	if err != nil {
		return
	}
	for _, name := range names {
		_, _ = c.dyn.Resource(servicesGVR).Namespace(ns).Patch(ctx, name, types.MergePatchType, patch,
			metav1.PatchOptions{FieldManager: resyncFieldManager})
	}
}

// endpointsDiff describes how the services' endpoints differ from their
// ready pods, "" when they agree, and names the services that list a pod
// that is gone.
func (c *Client) endpointsDiff(ctx context.Context, ns string, services []*corev1.Service) (diff string, behind []string, err error) {
	var pods []corev1.Pod
	if err := listTyped(ctx, c, podsGVR, ns, &pods); err != nil {
		return "", nil, err
	}
	var slices []discoveryv1.EndpointSlice
	if err := listTyped(ctx, c, endpointSlicesGVR, ns, &slices); err != nil {
		return "", nil, err
	}
	byName := map[string]*corev1.Pod{}
	for i := range pods {
		byName[pods[i].Name] = &pods[i]
	}
	var problems []string
	for _, svc := range services {
		sel := labels.SelectorFromSet(svc.Spec.Selector)
		want := map[string]bool{}
		for _, p := range pods {
			if sel.Matches(labels.Set(p.Labels)) && p.DeletionTimestamp == nil && podReady(&p) {
				want[p.Name] = true
			}
		}
		got, gone := map[string]bool{}, false
		for _, s := range slices {
			if s.Labels[discoveryv1.LabelServiceName] != svc.Name {
				continue
			}
			for _, ep := range s.Endpoints {
				if ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" {
					continue
				}
				name := ep.TargetRef.Name
				p := byName[name]
				switch {
				case ep.Conditions.Terminating != nil && *ep.Conditions.Terminating,
					p == nil, p.DeletionTimestamp != nil:
					problems = append(problems, fmt.Sprintf("service %s still has an endpoint of pod %s, which is going away", svc.Name, name))
					gone = gone || p == nil
				case ep.Conditions.Ready == nil || *ep.Conditions.Ready:
					got[name] = true
				}
			}
		}
		var missing []string
		for name := range want {
			if !got[name] {
				missing = append(missing, name)
			}
		}
		if gone {
			behind = append(behind, svc.Name)
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			problems = append(problems, fmt.Sprintf("service %s has no ready endpoint yet for pod(s) %s", svc.Name, strings.Join(missing, ", ")))
		}
	}
	sort.Strings(problems)
	return strings.Join(problems, "; "), behind, nil
}
