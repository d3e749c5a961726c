package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"

	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
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
	// Concurrency is how many objects are sent at a time; default
	// DefaultApplyConcurrency.
	Concurrency int
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
// It first reads and dry-runs every object; if the server refuses any, it
// returns a *RejectedError naming each one and applies nothing. Then it
// applies the objects with force=true, so Fledge takes over fields that
// other managers set. An object the dry-run shows unchanged is not sent.
//
// Objects are applied concurrently (opts.Concurrency at a time), in waves
// by kind so that what others refer to exists first: service accounts,
// config and RBAC, then services and other kinds, then workloads, then what
// routes traffic to them (Ingress, HTTPRoute, autoscalers). Within a wave
// there is no order, as with kubectl there is none between the objects a
// controller sees. Results are in the order of objs. On a failure part-way,
// no later wave starts, and the results of the objects applied so far are
// returned with the error.
func (c *Client) Apply(ctx context.Context, ns string, objs []*unstructured.Unstructured, opts ApplyOptions) ([]Result, error) {
	p, err := c.PrepareApply(ctx, ns, objs, opts)
	if err != nil {
		return nil, err
	}
	return p.Commit(ctx)
}

// Prepared is an apply whose objects were read and dry-run, and found
// acceptable; Commit sends them. It lets a caller check manifests while it
// does something else that must come before they are applied.
type Prepared interface {
	// Commit applies the objects as Apply does after its checks, and
	// returns what it did to each. The checks are those made when the
	// apply was prepared: Commit is meant to follow soon.
	Commit(ctx context.Context) ([]Result, error)
}

// PrepareApply is the first half of Apply: it reads and dry-runs every
// object, and writes nothing. Its errors are Apply's for the same checks.
func (c *Client) PrepareApply(ctx context.Context, ns string, objs []*unstructured.Unstructured, opts ApplyOptions) (Prepared, error) {
	if opts.FieldManager == "" {
		opts.FieldManager = FieldManager
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultApplyConcurrency
	}
	targets, err := c.targets(ctx, ns, objs)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, &NotAppliedError{Err: err}
	}

	// Read and dry-run every object; nothing is written yet.
	live, err := readLive(ctx, targets, opts.Concurrency)
	if err != nil {
		return nil, err
	}
	dryRun := make([]*unstructured.Unstructured, len(targets))
	checkErrs := make([]error, len(targets))
	all := make([]int, len(targets))
	for i := range all {
		all[i] = i
	}
	if err := forEach(ctx, all, opts.Concurrency, func(ctx context.Context, i int) error {
		t := targets[i]
		out, err := applyObject(ctx, t, opts.FieldManager, true)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("dry-run apply %s/%s: %w", t.kind(), t.name(), err)
			}
			checkErrs[i] = err
			return nil
		}
		dryRun[i] = out
		return nil
	}); err != nil {
		return nil, err
	}
	var rejected []*ObjectError
	for i, err := range checkErrs {
		if err != nil {
			rejected = append(rejected, &ObjectError{Kind: targets[i].kind(), Name: targets[i].name(), Err: err})
		}
	}
	if len(rejected) > 0 {
		return nil, &NotAppliedError{Err: &RejectedError{Namespace: ns, Total: len(targets), Objects: rejected}}
	}
	return &prepared{ns: ns, opts: opts, targets: targets, live: live, dryRun: dryRun}, nil
}

// prepared is PrepareApply's Prepared.
type prepared struct {
	ns           string
	opts         ApplyOptions
	targets      []target
	live, dryRun []*unstructured.Unstructured
}

func (p *prepared) Commit(ctx context.Context) ([]Result, error) {
	ns, targets, live, dryRun := p.ns, p.targets, p.live, p.dryRun
	results := make([]*Result, len(targets))
	collect := func() []Result {
		out := make([]Result, 0, len(results))
		for _, r := range results {
			if r != nil {
				out = append(out, *r)
			}
		}
		return out
	}
	if p.opts.DryRun {
		for i, t := range targets {
			results[i] = &Result{Kind: t.kind(), Namespace: ns, Name: t.name(), Action: dryRunAction(live[i], dryRun[i])}
		}
		return collect(), nil
	}
	for _, wave := range applyWaves(targets) {
		// An object the dry-run left as it is needs no request: applying
		// it would be a no-op too (same fields, same values, the same
		// fields owned by this manager). A release usually changes one
		// Deployment of several objects, and a wave with nothing to send
		// costs no round trip.
		var send []int
		for _, i := range wave {
			if noop(live[i], dryRun[i], p.opts.FieldManager) {
				results[i] = &Result{Kind: targets[i].kind(), Namespace: ns, Name: targets[i].name(), Action: ActionUnchanged}
				continue
			}
			send = append(send, i)
		}
		err := forEach(ctx, send, p.opts.Concurrency, func(ctx context.Context, i int) error {
			t := targets[i]
			wctx, warns := collectWarnings(ctx)
			after, err := applyObject(wctx, t, p.opts.FieldManager, false)
			if err != nil {
				return fmt.Errorf("apply %s/%s: %w", t.kind(), t.name(), err)
			}
			results[i] = &Result{
				Kind: t.kind(), Namespace: ns, Name: t.name(),
				Action: applyAction(live[i], after, t.obj, p.opts.FieldManager), Warnings: warns.list(),
			}
			return nil
		})
		if err != nil {
			return collect(), err
		}
	}
	return collect(), nil
}

// readLive returns the live object of each target (nil where there is
// none). Where the manifests hold several objects of one kind it lists that
// kind in the namespace, in pages, instead of reading each object: one
// request instead of hundreds for a large manifest.
func readLive(ctx context.Context, targets []target, workers int) ([]*unstructured.Unstructured, error) {
	live := make([]*unstructured.Unstructured, len(targets))
	byKind := map[schema.GroupVersionKind][]int{}
	var kinds []schema.GroupVersionKind
	for i, t := range targets {
		gvk := t.obj.GroupVersionKind()
		if _, ok := byKind[gvk]; !ok {
			kinds = append(kinds, gvk)
		}
		byKind[gvk] = append(byKind[gvk], i)
	}
	var singles []int
	var lists []schema.GroupVersionKind
	for _, gvk := range kinds {
		if idx := byKind[gvk]; len(idx) >= listThreshold {
			lists = append(lists, gvk)
		} else {
			singles = append(singles, idx...)
		}
	}
	listIdx := make([]int, len(lists))
	for i := range listIdx {
		listIdx[i] = i
	}
	err := forEach(ctx, listIdx, workers, func(ctx context.Context, k int) error {
		idx := byKind[lists[k]]
		ri := targets[idx[0]].ri
		names := map[string]*unstructured.Unstructured{}
		opts := metav1.ListOptions{Limit: listPageSize}
		for {
			var page *unstructured.UnstructuredList
			if err := retry(ctx, func(ctx context.Context) error {
				var err error
				page, err = ri.List(ctx, opts)
				return err
			}); err != nil {
				return fmt.Errorf("read live %s objects: %w", lists[k].Kind, err)
			}
			for j := range page.Items {
				names[page.Items[j].GetName()] = &page.Items[j]
			}
			if opts.Continue = page.GetContinue(); opts.Continue == "" {
				break
			}
		}
		for _, i := range idx {
			live[i] = names[targets[i].name()]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = forEach(ctx, singles, workers, func(ctx context.Context, i int) error {
		t := targets[i]
		before, err := getIfExists(ctx, t.ri, t.name())
		if err != nil {
			return fmt.Errorf("read live %s/%s: %w", t.kind(), t.name(), err)
		}
		live[i] = before
		return nil
	})
	return live, err
}

// Reading live objects: kinds with at least listThreshold objects in the
// manifests are listed, listPageSize objects a page.
const (
	listThreshold = 8
	listPageSize  = 500
)

// DefaultApplyConcurrency is how many objects Apply sends at a time.
const DefaultApplyConcurrency = 16

// applyWave orders kinds for Apply: lower waves are applied first.
func applyWave(kind string) int {
	switch kind {
	case "ServiceAccount", "Secret", "ConfigMap", "PersistentVolumeClaim", "LimitRange", "ResourceQuota",
		"Role", "RoleBinding", "NetworkPolicy", "PodDisruptionBudget":
		return 0
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job", "CronJob", "Pod":
		return 2
	case "Ingress", "HTTPRoute", "GRPCRoute", "HorizontalPodAutoscaler":
		return 3
	}
	return 1 // Services and kinds Fledge knows nothing particular of
}

// applyWaves groups the indexes of targets by applyWave, each wave in the
// order of the manifests.
func applyWaves(targets []target) [][]int {
	var waves [4][]int
	for i, t := range targets {
		w := applyWave(t.kind())
		waves[w] = append(waves[w], i)
	}
	out := make([][]int, 0, len(waves))
	for _, w := range waves {
		if len(w) > 0 {
			out = append(out, w)
		}
	}
	return out
}

// forEach calls fn for every index in idx, at most workers at a time. The
// first error cancels the calls not yet started and is returned once the
// running ones end; so is the cause of ctx when it ends first.
func forEach(ctx context.Context, idx []int, workers int, fn func(ctx context.Context, i int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for _, i := range idx {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return fn(gctx, i) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return context.Cause(ctx)
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

// applyAction says what applying applied did to an object, from the object
// read before and the one the server returned. Controllers write objects
// too (a Deployment's status and revision annotation), maybe between the
// two, so a new resourceVersion is not enough: the apply changed the object
// only if the fields it sets had other values before, or the set of fields
// the manager owns changed (a field dropped from the manifests is removed).
func applyAction(before, after, applied *unstructured.Unstructured, manager string) string {
	switch {
	case before == nil:
		return ActionCreated
	case before.GetResourceVersion() == after.GetResourceVersion():
		return ActionUnchanged
	case !bytes.Equal(appliedFields(before, manager), appliedFields(after, manager)):
		return ActionConfigured
	case reflect.DeepEqual(project(before.Object, applied.Object), project(after.Object, applied.Object)):
		return ActionUnchanged
	}
	return ActionConfigured
}

// appliedFields is the field set manager owns in obj by server-side apply.
func appliedFields(obj *unstructured.Unstructured, manager string) []byte {
	for _, mf := range obj.GetManagedFields() {
		if mf.Manager == manager && mf.Operation == metav1.ManagedFieldsOperationApply && mf.FieldsV1 != nil {
			return mf.FieldsV1.GetRawBytes()
		}
	}
	return nil
}

// project keeps of obj the keys that shape has, recursively through maps;
// below a key whose value in shape is not a map, obj's whole value is kept.
func project(obj, shape map[string]any) map[string]any {
	out := make(map[string]any, len(shape))
	for k, sv := range shape {
		ov, ok := obj[k]
		if !ok {
			continue
		}
		sm, sIsMap := sv.(map[string]any)
		om, oIsMap := ov.(map[string]any)
		if sIsMap && oIsMap {
			out[k] = project(om, sm)
			continue
		}
		out[k] = ov
	}
	return out
}

// noop reports whether applying, whose dry-run gave planned, would leave
// the live object as it is: the same object (but for status and metadata
// the server keeps) and the same fields owned by manager.
func noop(live, planned *unstructured.Unstructured, manager string) bool {
	return live != nil && planned != nil &&
		bytes.Equal(appliedFields(live, manager), appliedFields(planned, manager)) &&
		equalYAML(normalize(live), normalize(planned))
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
