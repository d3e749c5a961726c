package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// ErrOwnedByOthers is matched by a *ConflictError: a server-side apply
// without force would change fields another field manager owns.
var ErrOwnedByOthers = errors.New("fields managed by another field manager")

// ConflictError is the API server's refusal of an apply without force: the
// fields it would change and who manages them.
type ConflictError struct {
	Kind, Namespace, Name string
	// Managers are the other field managers, sorted.
	Managers []string
	// Fields are the conflicting fields, as the server names them.
	Fields []string
	// Message is the server's own message.
	Message string
}

// Error names the object, the managers and the fields.
func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s %s/%s: %s managed by %s (%s)", e.Kind, e.Namespace, e.Name,
		joinList(e.Fields), joinList(e.Managers), e.Message)
}

// Is makes errors.Is(err, ErrOwnedByOthers) true.
func (e *ConflictError) Is(target error) bool { return target == ErrOwnedByOthers }

// ApplyOwned applies obj into ns with server-side apply as manager, without
// force: when another manager owns a field that obj would change, nothing
// is changed and the error is a *ConflictError. Transient errors are
// retried; an ownership conflict is not (unlike a stale-write conflict, it
// does not go away by itself).
func (c *Client) ApplyOwned(ctx context.Context, ns string, obj *unstructured.Unstructured, manager string) (*unstructured.Unstructured, error) {
	targets, err := c.targets(ctx, ns, []*unstructured.Unstructured{obj})
	if err != nil {
		return nil, err
	}
	t := targets[0]
	var out *unstructured.Unstructured
	err = retry(ctx, func(ctx context.Context) error {
		var err error
		out, err = t.ri.Apply(ctx, t.name(), t.obj, metav1.ApplyOptions{FieldManager: manager})
		if apierrors.IsConflict(err) {
			if ce := conflictError(t, err); ce != nil {
				return ce
			}
		}
		return err
	})
	if err != nil {
		var ce *ConflictError
		if errors.As(err, &ce) {
			return nil, ce
		}
		return nil, fmt.Errorf("apply %s/%s: %w", t.kind(), t.name(), err)
	}
	return out, nil
}

// conflictError turns an apply conflict into a *ConflictError, or nil when
// the status names no field manager (an ordinary stale-write conflict).
func conflictError(t target, err error) *ConflictError {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return nil
	}
	st := status.Status()
	ce := &ConflictError{Kind: t.kind(), Namespace: t.obj.GetNamespace(), Name: t.name(), Message: st.Message}
	if st.Details != nil {
		for _, cause := range st.Details.Causes {
			if cause.Type != metav1.CauseTypeFieldManagerConflict {
				continue
			}
			ce.Fields = append(ce.Fields, cause.Field)
			// The message reads `conflict with "manager" using group/version`.
			if _, rest, ok := strings.Cut(cause.Message, `conflict with "`); ok {
				if m, _, ok := strings.Cut(rest, `"`); ok && !slices.Contains(ce.Managers, m) {
					ce.Managers = append(ce.Managers, m)
				}
			}
		}
	}
	if len(ce.Fields) == 0 {
		return nil
	}
	slices.Sort(ce.Managers)
	return ce
}

// MergePatch applies a JSON merge patch (RFC 7386) to obj (apiVersion,
// kind, name) in ns and returns the stored object. A null value removes a
// key whoever manages it, so use it only for fields Fledge owns.
func (c *Client) MergePatch(ctx context.Context, ns string, obj *unstructured.Unstructured, patch []byte) (*unstructured.Unstructured, error) {
	kind, name := obj.GetKind(), obj.GetName()
	ri, _, err := c.resource(ctx, ns, obj.GroupVersionKind())
	if err != nil {
		return nil, fmt.Errorf("patch %s/%s: %w", kind, name, err)
	}
	var out *unstructured.Unstructured
	err = retry(ctx, func(ctx context.Context) error {
		var err error
		out, err = ri.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: FieldManager})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("patch %s/%s in namespace %s: %w", kind, name, ns, err)
	}
	return out, nil
}

// Delete removes obj (apiVersion, kind, name) from ns and reports whether
// it existed; a missing object or namespace is not an error. It does not
// wait for finalizers.
func (c *Client) Delete(ctx context.Context, ns string, obj *unstructured.Unstructured) (bool, error) {
	kind, name := obj.GetKind(), obj.GetName()
	ri, _, err := c.resource(ctx, ns, obj.GroupVersionKind())
	if err != nil {
		return false, fmt.Errorf("delete %s/%s: %w", kind, name, err)
	}
	existed := true
	err = retry(ctx, func(ctx context.Context) error {
		err := ri.Delete(ctx, name, metav1.DeleteOptions{})
		if apierrors.IsNotFound(err) {
			existed = false
			return nil
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("delete %s/%s in namespace %s: %w", kind, name, ns, err)
	}
	return existed, nil
}
