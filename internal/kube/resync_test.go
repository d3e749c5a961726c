package kube

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestResyncDue: a Service is resynced once it has listed a gone pod for
// resyncAfter, and once per wait; one that caught up before that is not.
func TestResyncDue(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	var r resync
	defer r.stop()
	for i, step := range []struct {
		at     time.Time
		behind []string
		want   []string
		armed  bool
	}{
		{ms(0), []string{"web"}, nil, true},
		{ms(50), []string{"web"}, nil, true},
		{ms(100), []string{"web"}, []string{"web"}, false},
		{ms(300), []string{"web", "api"}, nil, true},
		{ms(350), nil, nil, false},
		{ms(450), []string{"api"}, nil, true},
		{ms(550), []string{"web", "api"}, []string{"api"}, false},
		{ms(5000), []string{"web", "api"}, nil, false},
	} {
		got := r.due(step.at, step.behind)
		if !slices.Equal(got, step.want) {
			t.Fatalf("step %d (%s, behind %v): resync %v, want %v", i, step.at.Sub(t0), step.behind, got, step.want)
		}
		if armed := r.wake() != nil; armed != step.armed {
			t.Fatalf("step %d: wake armed %v, want %v", i, armed, step.armed)
		}
	}
}

// TestIntegrationEndpointsResync: a Service whose EndpointSlice lists a
// pod that is gone (as ready or as terminating) is behind its pods;
// WaitEndpointsSettled writes its ResyncAnnotation (to make the
// EndpointSlice controller sync it) once, and keeps waiting. A pod being deleted and listed as terminating is waited for
// without it: its grace period is its own. The slices here are not the
// controller's, so nothing settles.
func TestIntegrationEndpointsResync(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	s.createNamespace(t)
	pods := s.cluster.Clientset().CoreV1().Pods(s.ns)
	// A pod that is being deleted and stays so: bound to a node that does
	// not exist (nothing runs or deletes it) and held by a finalizer.
	const finalizer = "test.fledge.dev/hold"
	held := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "held", Labels: map[string]string{"app": "held"}, Finalizers: []string{finalizer}},
		Spec:       corev1.PodSpec{NodeName: "nowhere", Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:1"}}},
	}
	if _, err := pods.Create(s.ctx, held, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		patch := []byte(`{"metadata":{"finalizers":null}}`)
		if _, err := pods.Patch(context.WithoutCancel(s.ctx), "held", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Errorf("release pod held: %v", err)
		}
	})
	if err := pods.Delete(s.ctx, "held", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, pod          string
		ready, terminating bool
		resyncs            bool
	}{
		{"gone-ready", "gone", true, false, true},
		{"gone-terminating", "gone", false, true, true},
		{"held", "held", false, true, false},
	} {
		objs := decode(t, `apiVersion: v1
kind: Service
metadata: {name: `+tc.name+`}
spec:
  selector: {app: `+tc.pod+`}
  ports: [{port: 80}]
`)
		if _, err := s.client.Apply(s.ctx, s.ns, objs, ApplyOptions{}); err != nil {
			t.Fatal(err)
		}
		serving := true
		slice := &discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{Name: tc.name + "-test", Labels: map[string]string{
				discoveryv1.LabelServiceName: tc.name, discoveryv1.LabelManagedBy: "test.fledge.dev",
			}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints: []discoveryv1.Endpoint{{
				Addresses:  []string{"10.0.0.9"},
				Conditions: discoveryv1.EndpointConditions{Ready: &tc.ready, Serving: &serving, Terminating: &tc.terminating},
				TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: s.ns, Name: tc.pod},
			}},
		}
		if _, err := s.cluster.Clientset().DiscoveryV1().EndpointSlices(s.ns).Create(s.ctx, slice, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(s.ctx, 1300*time.Millisecond)
		err := s.client.WaitEndpointsSettled(ctx, s.ns, objs)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "endpoint of pod "+tc.pod+", which is going away") {
			t.Fatalf("%s: WaitEndpointsSettled: %v, want it to wait for pod %s's endpoint", tc.name, err, tc.pod)
		}
		svc, err := s.cluster.Clientset().CoreV1().Services(s.ns).Get(s.ctx, tc.name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		at, written := svc.Annotations[ResyncAnnotation]
		if written != tc.resyncs {
			t.Fatalf("%s: %s written %v (%q), want %v", tc.name, ResyncAnnotation, written, at, tc.resyncs)
		}
		if !written {
			continue
		}
		// Once, resyncAfter into the wait: a second write would carry a
		// later time.
		when, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			t.Fatalf("%s: %s is %q, not a time: %v", tc.name, ResyncAnnotation, at, err)
		}
		if d := when.Sub(start); d < resyncAfter || d > 700*time.Millisecond {
			t.Errorf("%s: resynced %s into the wait, want once, %s in", tc.name, d, resyncAfter)
		}
		// Written by its own field manager, so that applying the
		// manifests again keeps it.
		owners := 0
		for _, f := range svc.ManagedFields {
			if f.Manager == resyncFieldManager {
				owners++
			}
		}
		if owners != 1 {
			t.Errorf("%s: managed fields of %s: %d entries, want 1", tc.name, resyncFieldManager, owners)
		}
		if _, err := s.client.Apply(s.ctx, s.ns, objs, ApplyOptions{}); err != nil {
			t.Fatal(err)
		}
		again, err := s.cluster.Clientset().CoreV1().Services(s.ns).Get(s.ctx, tc.name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if again.Annotations[ResyncAnnotation] != at {
			t.Errorf("%s: applying the manifests again changed %s from %q to %q", tc.name, ResyncAnnotation, at, again.Annotations[ResyncAnnotation])
		}
	}
}
