package kube

import (
	"context"
	"fmt"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// lastAppliedAnnotation is written by client-side `kubectl apply`; it only
// repeats the object and would make every diff noisy.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// Diff actions.
const (
	DiffAdded     = "added"
	DiffChanged   = "changed"
	DiffUnchanged = "unchanged"
)

// DiffResult compares manifests with what is live in a namespace.
type DiffResult struct {
	// Text is the unified diff of every object that would change, in the
	// order of the manifests; empty when nothing would change.
	Text string
	// Changed counts the objects that would be added or changed.
	Changed int
	// Objects has one entry per object, changed or not.
	Objects []ObjectDiff
}

// ObjectDiff is the comparison of one object.
type ObjectDiff struct {
	Kind      string
	Namespace string
	Name      string
	// Action is DiffAdded, DiffChanged or DiffUnchanged.
	Action string
	// Diff is the unified diff, empty when unchanged.
	Diff string
}

// Diff shows what applying objs into ns would change, like `kubectl diff`:
// each object is dry-run applied with Fledge's field manager and its result
// compared with the live object (a missing object is all added), leaving out
// the fields the server maintains (managedFields, resourceVersion, uid,
// generation, creationTimestamp, status) and kubectl's last-applied
// annotation. Objects the server refuses are reported together in a
// *RejectedError. When ns does not exist yet, every object is added as
// written.
func (c *Client) Diff(ctx context.Context, ns string, objs []*unstructured.Unstructured) (DiffResult, error) {
	targets, err := c.targets(ctx, ns, objs)
	if err != nil {
		return DiffResult{}, err
	}
	nsExists, err := c.namespaceExists(ctx, ns)
	if err != nil {
		return DiffResult{}, fmt.Errorf("diff: %w", err)
	}
	var (
		res      DiffResult
		rejected []*ObjectError
		texts    []string
	)
	for _, t := range targets {
		var live, planned *unstructured.Unstructured
		if nsExists {
			// The live object and the dry run must see the same version: a
			// controller writing in between (a Deployment's revision
			// annotation) would show as a change nobody plans. Read again
			// until they agree.
			for try := 0; ; try++ {
				live, err = getIfExists(ctx, t.ri, t.name())
				if err != nil {
					return DiffResult{}, fmt.Errorf("diff %s/%s: read live object: %w", t.kind(), t.name(), err)
				}
				planned, err = applyObject(ctx, t, FieldManager, true)
				if err != nil || live == nil || try == 4 || live.GetResourceVersion() == planned.GetResourceVersion() {
					break
				}
			}
			if err != nil {
				if ctx.Err() != nil {
					return DiffResult{}, fmt.Errorf("diff %s/%s: %w", t.kind(), t.name(), err)
				}
				rejected = append(rejected, &ObjectError{Kind: t.kind(), Name: t.name(), Err: err})
				continue
			}
		} else {
			planned = t.obj
		}
		od, err := diffObject(ns, t.kind(), t.name(), live, planned)
		if err != nil {
			return DiffResult{}, err
		}
		if od.Action != DiffUnchanged {
			res.Changed++
			texts = append(texts, od.Diff)
		}
		res.Objects = append(res.Objects, od)
	}
	if len(rejected) > 0 {
		return DiffResult{}, &RejectedError{Namespace: ns, Total: len(targets), Objects: rejected}
	}
	res.Text = strings.Join(texts, "")
	return res, nil
}

// namespaceExists reports whether ns exists.
func (c *Client) namespaceExists(ctx context.Context, ns string) (bool, error) {
	_, err := getObject(ctx, c.dyn.Resource(namespacesGVR), ns)
	switch {
	case err == nil:
		return true, nil
	case apierrors.IsNotFound(err):
		return false, nil
	}
	return false, fmt.Errorf("read namespace %s: %w", ns, err)
}

// diffObject compares one live object (nil when absent) with its planned
// state.
func diffObject(ns, kind, name string, live, planned *unstructured.Unstructured) (ObjectDiff, error) {
	od := ObjectDiff{Kind: kind, Namespace: ns, Name: name}
	planned = normalize(planned)
	if live != nil {
		live = normalize(live)
	}
	if kind == "Secret" {
		hideSecretData(live, planned)
	}
	var from string
	if live != nil {
		b, err := yaml.Marshal(live.Object)
		if err != nil {
			return od, fmt.Errorf("diff %s/%s: render live object: %w", kind, name, err)
		}
		from = string(b)
	}
	b, err := yaml.Marshal(planned.Object)
	if err != nil {
		return od, fmt.Errorf("diff %s/%s: render planned object: %w", kind, name, err)
	}
	to := string(b)
	switch {
	case live == nil:
		od.Action = DiffAdded
	case from == to:
		od.Action = DiffUnchanged
		return od, nil
	default:
		od.Action = DiffChanged
	}
	path := ns + "/" + kind + "/" + name
	text, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A:        splitLines(from),
		B:        splitLines(to),
		FromFile: "live/" + path,
		ToFile:   "target/" + path,
		Context:  3,
	})
	if err != nil {
		return od, fmt.Errorf("diff %s/%s: %w", kind, name, err)
	}
	od.Diff = text
	return od, nil
}

// splitLines splits text into lines that keep their "\n"; empty text has no
// lines at all (difflib.SplitLines would give one empty line).
func splitLines(text string) []string {
	if text == "" {
		return nil
	}
	return difflib.SplitLines(strings.TrimSuffix(text, "\n"))
}

// normalize returns a copy of obj without the fields the server maintains,
// so that two states of an object compare by what a user declared.
// hideSecretData replaces the values of a Secret's data and stringData in
// the (normalized copies of the) live and planned objects, so that a diff
// says which keys are added, removed or changed without showing a value.
func hideSecretData(live, planned *unstructured.Unstructured) {
	for _, field := range []string{"data", "stringData"} {
		var was map[string]any
		if live != nil {
			was, _ = live.Object[field].(map[string]any)
		}
		now, _ := planned.Object[field].(map[string]any)
		for k, v := range now {
			old, ok := was[k]
			switch {
			case ok && fmt.Sprint(old) != fmt.Sprint(v):
				now[k] = "(redacted, changed)"
			default:
				now[k] = "(redacted)"
			}
		}
		for k := range was {
			was[k] = "(redacted)"
		}
	}
}

func normalize(obj *unstructured.Unstructured) *unstructured.Unstructured {
	out := obj.DeepCopy()
	delete(out.Object, "status")
	md, ok := out.Object["metadata"].(map[string]any)
	if !ok {
		return out
	}
	for _, f := range []string{"managedFields", "resourceVersion", "uid", "generation", "creationTimestamp", "selfLink"} {
		delete(md, f)
	}
	if ann, ok := md["annotations"].(map[string]any); ok {
		delete(ann, lastAppliedAnnotation)
		if len(ann) == 0 {
			delete(md, "annotations")
		}
	}
	return out
}

// equalYAML compares two objects by their YAML rendering, which is how the
// user sees them.
func equalYAML(a, b *unstructured.Unstructured) bool {
	ya, errA := yaml.Marshal(a.Object)
	yb, errB := yaml.Marshal(b.Object)
	return errA == nil && errB == nil && string(ya) == string(yb)
}
