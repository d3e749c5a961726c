package kube

import (
	"context"
	"errors"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
)

// Actions reported by Apply.
const (
	ActionCreated    = "created"
	ActionConfigured = "configured"
	ActionUnchanged  = "unchanged"
)

// ApplyOptions tunes Apply.
type ApplyOptions struct {
	// FieldManager owns the applied fields; default FieldManager ("fledge").
	FieldManager string
	// DryRun validates every object with the server and reports what would
	// change, without changing anything.
	DryRun bool
}

// Result is what Apply did to one object.
type Result struct {
	Kind      string
	Namespace string
	Name      string
	// Action is ActionCreated, ActionConfigured or ActionUnchanged; with
	// DryRun, what would happen.
	Action string
	// Warnings are the API server's warnings about the object, such as a
	// deprecated field.
	Warnings []string `json:",omitempty"`
}

// String reads like kubectl's output: "deployment.apps/web configured".
func (r Result) String() string {
	return fmt.Sprintf("%s/%s %s", r.Kind, r.Name, r.Action)
}

// target is one object ready to be applied: a copy with its namespace set
// and the client of its resource.
type target struct {
	obj *unstructured.Unstructured
	ri  dynamic.ResourceInterface
}

func (t target) kind() string { return t.obj.GetKind() }
func (t target) name() string { return t.obj.GetName() }

// Apply deploys objs into namespace ns with server-side apply. It sets the
// namespace of each (copied) object to ns and refuses cluster-scoped ones.
// It first dry-runs every object; if the server refuses any, it returns a
// *RejectedError naming each one and applies nothing. Then it applies the
// objects in order with force=true, so Fledge takes over fields that other
// managers set. On a failure part-way, the results so far are returned
// with the error.
func (c *Client) Apply(ctx context.Context, ns string, objs []*unstructured.Unstructured, opts ApplyOptions) ([]Result, error) {
	if opts.FieldManager == "" {
		opts.FieldManager = FieldManager
	}
	targets, err := c.targets(ctx, ns, objs)
	if err != nil {
		return nil, err
	}
	var rejected []*ObjectError
	dryRun := make([]*unstructured.Unstructured, len(targets))
	for i, t := range targets {
		out, err := applyObject(ctx, t, opts.FieldManager, true)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("dry-run apply %s/%s: %w", t.kind(), t.name(), err)
			}
			rejected = append(rejected, &ObjectError{Kind: t.kind(), Name: t.name(), Err: err})
			continue
		}
		dryRun[i] = out
	}
	if len(rejected) > 0 {
		return nil, &RejectedError{Namespace: ns, Total: len(targets), Objects: rejected}
	}

	results := make([]Result, 0, len(targets))
	for i, t := range targets {
		wctx, warns := collectWarnings(ctx)
		before, err := getIfExists(wctx, t.ri, t.name())
		if err != nil {
			return results, fmt.Errorf("apply %s/%s: read live object: %w", t.kind(), t.name(), err)
		}
		res := Result{Kind: t.kind(), Namespace: ns, Name: t.name()}
		if opts.DryRun {
			res.Action = dryRunAction(before, dryRun[i])
		} else {
			after, err := applyObject(wctx, t, opts.FieldManager, false)
			if err != nil {
				return results, fmt.Errorf("apply %s/%s: %w", t.kind(), t.name(), err)
			}
			res.Action = applyAction(before, after)
		}
		res.Warnings = warns.list()
		results = append(results, res)
	}
	return results, nil
}

// ApplyObject applies one object (which may hold only some fields, like a
// single annotation) into ns with force=true and returns the object the
// server stored. It does not dry-run first; DryRun in opts asks the server
// to validate only.
func (c *Client) ApplyObject(ctx context.Context, ns string, obj *unstructured.Unstructured, opts ApplyOptions) (*unstructured.Unstructured, error) {
	if opts.FieldManager == "" {
		opts.FieldManager = FieldManager
	}
	targets, err := c.targets(ctx, ns, []*unstructured.Unstructured{obj})
	if err != nil {
		return nil, err
	}
	out, err := applyObject(ctx, targets[0], opts.FieldManager, opts.DryRun)
	if err != nil {
		return nil, fmt.Errorf("apply %s/%s: %w", obj.GetKind(), obj.GetName(), err)
	}
	return out, nil
}

// applyObject sends one server-side apply, retrying transient errors.
func applyObject(ctx context.Context, t target, manager string, dryRun bool) (*unstructured.Unstructured, error) {
	opts := metav1.ApplyOptions{FieldManager: manager, Force: true}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	var out *unstructured.Unstructured
	err := retry(ctx, func(ctx context.Context) error {
		var err error
		out, err = t.ri.Apply(ctx, t.name(), t.obj, opts)
		return err
	})
	return out, err
}

// targets copies objs, resolves their resources and sets their namespace.
// It checks all of them and reports every problem at once: unknown kinds,
// cluster-scoped objects and the same object given twice.
func (c *Client) targets(ctx context.Context, ns string, objs []*unstructured.Unstructured) ([]target, error) {
	if ns == "" {
		return nil, errors.New("no namespace given")
	}
	var (
		out  = make([]target, 0, len(objs))
		errs []error
		seen = map[string]bool{}
	)
	for _, o := range objs {
		obj := o.DeepCopy()
		kind, name := obj.GetKind(), obj.GetName()
		gvk := obj.GroupVersionKind()
		key := gvk.GroupKind().String() + "/" + name
		if seen[key] {
			errs = append(errs, &ObjectError{Kind: kind, Name: name, Err: errors.New("appears more than once in the manifests")})
			continue
		}
		seen[key] = true
		ri, namespaced, err := c.resource(ctx, ns, gvk)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("resolve %s/%s: %w", kind, name, err)
			}
			errs = append(errs, &ObjectError{Kind: kind, Name: name, Err: err})
			continue
		}
		if !namespaced {
			errs = append(errs, &ObjectError{Kind: kind, Name: name, Err: fmt.Errorf("%w: Fledge deploys the same manifests into a canary and a production namespace, so it only deploys namespaced objects; create %s %s separately", ErrClusterScoped, kind, name)})
			continue
		}
		obj.SetNamespace(ns)
		out = append(out, target{obj: obj, ri: ri})
	}
	if len(errs) == 1 {
		return nil, errs[0]
	}
	if len(errs) > 1 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// applyAction says what an apply did, from the object before and after.
// A new resourceVersion alone is not enough: a controller may have written
// the status between the two reads, so the content is compared too.
func applyAction(before, after *unstructured.Unstructured) string {
	switch {
	case before == nil:
		return ActionCreated
	case before.GetResourceVersion() == after.GetResourceVersion():
		return ActionUnchanged
	case equalYAML(normalize(before), normalize(after)):
		return ActionUnchanged
	}
	return ActionConfigured
}

// dryRunAction says what applying would do, from the live object and the
// server's dry-run result.
func dryRunAction(live, planned *unstructured.Unstructured) string {
	if live == nil {
		return ActionCreated
	}
	if equalYAML(normalize(live), normalize(planned)) {
		return ActionUnchanged
	}
	return ActionConfigured
}
