package kube

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var endpointSlicesGVR = schema.GroupVersionResource{Group: discoveryv1.GroupName, Version: "v1", Resource: "endpointslices"}

// WaitEndpointsSettled waits until the endpoints of every Service among
// objs (with a selector) in ns are exactly its ready pods: each ready pod
// the selector picks is a ready endpoint, and no endpoint is terminating or
// belongs to a pod that is being deleted or gone. After a rollout the old
// pods linger as (terminating) endpoints for a while; a data plane that is
// given more traffic for the Service before they are gone may still send
// some of it to the old version. It returns nil once settled, or the last
// difference it saw when ctx ends.
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
	for {
		diff, err := c.endpointsDiff(ctx, ns, services)
		if err != nil {
			return err
		}
		if diff == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("endpoints in %s not settled: %s: %w", ns, diff, context.Cause(ctx))
		case <-changed:
		case <-t.C:
		}
	}
}

// endpointsDiff describes how the services' endpoints differ from their
// ready pods, "" when they agree.
func (c *Client) endpointsDiff(ctx context.Context, ns string, services []*corev1.Service) (string, error) {
	var pods []corev1.Pod
	if err := listTyped(ctx, c, podsGVR, ns, &pods); err != nil {
		return "", err
	}
	var slices []discoveryv1.EndpointSlice
	if err := listTyped(ctx, c, endpointSlicesGVR, ns, &slices); err != nil {
		return "", err
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
		got := map[string]bool{}
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
		if len(missing) > 0 {
			sort.Strings(missing)
			problems = append(problems, fmt.Sprintf("service %s has no ready endpoint yet for pod(s) %s", svc.Name, strings.Join(missing, ", ")))
		}
	}
	sort.Strings(problems)
	return strings.Join(problems, "; "), nil
}
