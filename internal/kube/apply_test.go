package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestApplyWaves(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		kinds []string
		want  [][]int
	}{
		{name: "walkthrough", kinds: []string{"Deployment", "Service", "Ingress"}, want: [][]int{{1}, {0}, {2}}},
		{
			name:  "config before workloads, routes last, manifest order within a wave",
			kinds: []string{"Ingress", "Deployment", "ConfigMap", "Service", "ServiceAccount", "StatefulSet", "Widget"},
			want:  [][]int{{2, 4}, {3, 6}, {1, 5}, {0}},
		},
		{name: "one kind", kinds: []string{"ConfigMap", "ConfigMap"}, want: [][]int{{0, 1}}},
		{name: "none", kinds: nil, want: [][]int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			targets := make([]target, len(tt.kinds))
			for i, k := range tt.kinds {
				o := &unstructured.Unstructured{}
				o.SetKind(k)
				targets[i] = target{obj: o}
			}
			got := applyWaves(targets)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("applyWaves(%v) = %v, want %v", tt.kinds, got, tt.want)
			}
		})
	}
}

func TestForEach(t *testing.T) {
	t.Parallel()
	idx := make([]int, 100)
	for i := range idx {
		idx[i] = i
	}

	t.Run("every index once, at most workers at a time", func(t *testing.T) {
		t.Parallel()
		var (
			mu            sync.Mutex
			seen          []int
			running, peak atomic.Int32
		)
		err := forEach(context.Background(), idx, 7, func(_ context.Context, i int) error {
			n := running.Add(1)
			defer running.Add(-1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			mu.Lock()
			seen = append(seen, i)
			mu.Unlock()
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(seen)
		if !slices.Equal(seen, idx) {
			t.Errorf("called for %v, want each of 0..99 once", seen)
		}
		if peak.Load() > 7 {
			t.Errorf("%d calls ran at once, want at most 7", peak.Load())
		}
	})

	t.Run("the first error stops what has not started", func(t *testing.T) {
		t.Parallel()
		boom := errors.New("boom")
		var calls atomic.Int32
		err := forEach(context.Background(), idx, 2, func(ctx context.Context, i int) error {
			calls.Add(1)
			if i == 3 {
				return boom
			}
			return nil
		})
		if !errors.Is(err, boom) {
			t.Fatalf("forEach = %v, want %v", err, boom)
		}
		if n := calls.Load(); n >= int32(len(idx)) {
			t.Errorf("%d calls after an error at index 3, want the rest skipped", n)
		}
	})

	t.Run("a cancelled context", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := forEach(ctx, idx, 4, func(ctx context.Context, _ int) error { return ctx.Err() })
		if !errors.Is(err, context.Canceled) {
			t.Errorf("forEach = %v, want context.Canceled", err)
		}
	})
}

func TestApplyAction(t *testing.T) {
	t.Parallel()
	obj := func(rv, image string, annotations map[string]string, fields string) *unstructured.Unstructured {
		o := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]any{"name": "web"},
			"spec": map[string]any{"replicas": int64(3), "template": map[string]any{"spec": map[string]any{
				"containers": []any{map[string]any{"name": "web", "image": image}},
			}}},
		}}
		o.SetAnnotations(annotations)
		if rv != "" {
			o.SetResourceVersion(rv)
		}
		if fields != "" {
			o.SetManagedFields([]metav1.ManagedFieldsEntry{
				{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, FieldsV1: metav1.NewFieldsV1(`{"f:status":{}}`)},
				{Manager: FieldManager, Operation: metav1.ManagedFieldsOperationApply, FieldsV1: metav1.NewFieldsV1(fields)},
			})
		}
		return o
	}
	const owned = `{"f:spec":{"f:replicas":{},"f:template":{}}}`
	applied := obj("", "web:2.0", nil, "")
	revision := map[string]string{"deployment.kubernetes.io/revision": "1"}
	tests := []struct {
		name          string
		before, after *unstructured.Unstructured
		want          string
	}{
		{name: "new object", before: nil, after: obj("5", "web:2.0", nil, owned), want: ActionCreated},
		{name: "same resourceVersion", before: obj("5", "web:2.0", nil, owned), after: obj("5", "web:2.0", nil, owned), want: ActionUnchanged},
		{
			name:   "a controller wrote in between, our fields as they were",
			before: obj("5", "web:2.0", nil, owned), after: obj("7", "web:2.0", revision, owned), want: ActionUnchanged,
		},
		{name: "a new image", before: obj("5", "web:1.0", nil, owned), after: obj("6", "web:2.0", nil, owned), want: ActionConfigured},
		{
			name:   "a field dropped from the manifests",
			before: obj("5", "web:2.0", nil, `{"f:spec":{"f:paused":{},"f:replicas":{},"f:template":{}}}`), after: obj("6", "web:2.0", nil, owned),
			want: ActionConfigured,
		},
		{name: "taken over from another manager", before: obj("5", "web:2.0", nil, ""), after: obj("6", "web:2.0", nil, owned), want: ActionConfigured},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := applyAction(tt.before, tt.after, applied, FieldManager); got != tt.want {
				t.Errorf("applyAction = %s, want %s", got, tt.want)
			}
		})
	}
}
