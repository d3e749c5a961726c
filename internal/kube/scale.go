package kube

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// ScaleFieldManager owns the replica counts ScaleDown sets; the next
// apply of the manifests (field manager FieldManager, forced) takes them
// back.
const ScaleFieldManager = "fledge-scale"

// ScaleDown sets the replicas of every apps/v1 Deployment in ns that has
// any to 0, as field manager ScaleFieldManager, and returns the names of
// those it scaled, sorted. The Deployments, their Services and the rest
// stay, so a later apply scales them up again.
func (c *Client) ScaleDown(ctx context.Context, ns string) ([]string, error) {
	list, err := c.listObjects(ctx, deploymentsGVR, ns)
	if err != nil {
		return nil, fmt.Errorf("namespace %s: %w", ns, err)
	}
	var scaled []string
	for _, d := range list.Items {
		replicas, set, _ := unstructured.NestedInt64(d.Object, "spec", "replicas")
		if set && replicas == 0 {
			continue
		}
		obj := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apps/v1",
			"kind":       "Deployment",
			"metadata":   map[string]any{"name": d.GetName()},
			"spec":       map[string]any{"replicas": int64(0)},
		}}
		if _, err := c.ApplyObject(ctx, ns, obj, ApplyOptions{FieldManager: ScaleFieldManager}); err != nil {
			return scaled, fmt.Errorf("scale down deployment %s/%s: %w", ns, d.GetName(), err)
		}
		scaled = append(scaled, d.GetName())
	}
	return scaled, nil
}
