package kube

import (
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Sentinel errors, matched with errors.Is. None of them is worth retrying:
// the manifests, the environment or the cluster must change first.
var (
	// ErrRejected is matched by a *RejectedError: the API server refused one
	// or more objects and nothing was applied.
	ErrRejected = errors.New("rejected by the API server")
	// ErrNamespaceMissing means a namespace does not exist and may not be
	// created.
	ErrNamespaceMissing = errors.New("namespace does not exist")
	// ErrClusterScoped means the manifests hold a cluster-scoped object,
	// which Fledge does not deploy.
	ErrClusterScoped = errors.New("cluster-scoped object")
	// ErrRolloutFailed means a workload can no longer finish its rollout
	// without a change, for example a Deployment past its progress deadline.
	ErrRolloutFailed = errors.New("rollout failed")
)

// ObjectError is a failure about one object of the manifests.
type ObjectError struct {
	Kind string
	Name string
	Err  error
}

// Error names the object and gives the server's message.
func (e *ObjectError) Error() string { return fmt.Sprintf("%s/%s: %v", e.Kind, e.Name, e.Err) }

// Unwrap returns the underlying error.
func (e *ObjectError) Unwrap() error { return e.Err }

// RejectedError reports every object the API server refused in a dry run;
// nothing was applied.
type RejectedError struct {
	Namespace string
	// Total is the number of objects that were dry-run.
	Total   int
	Objects []*ObjectError
}

// Error lists each refused object with the server's message.
func (e *RejectedError) Error() string {
	msgs := make([]string, len(e.Objects))
	for i, o := range e.Objects {
		msgs[i] = o.Error()
	}
	return fmt.Sprintf("the API server rejected %d of %d objects for namespace %s, nothing was applied: %s",
		len(e.Objects), e.Total, e.Namespace, strings.Join(msgs, "; "))
}

// Is makes errors.Is(err, ErrRejected) true.
func (e *RejectedError) Is(target error) bool { return target == ErrRejected }

// Unwrap returns the errors of each object, so that errors.As can find, for
// example, the server's status of the first one.
func (e *RejectedError) Unwrap() []error {
	errs := make([]error, len(e.Objects))
	for i, o := range e.Objects {
		errs[i] = o
	}
	return errs
}

// UnknownKindError means the server has no resource for a kind, even after
// its discovery information was refreshed.
type UnknownKindError struct {
	GVK schema.GroupVersionKind
	Err error
}

// Error names the kind and hints at the usual cause.
func (e *UnknownKindError) Error() string {
	return fmt.Sprintf("the server has no resource for kind %s in %s (is its CRD installed?)", e.GVK.Kind, e.GVK.GroupVersion())
}

// Unwrap returns the RESTMapper's error.
func (e *UnknownKindError) Unwrap() error { return e.Err }

// joinList writes "a", "a and b", "a, b and c".
func joinList(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

// NotAppliedError is an error of Apply before it wrote anything: an object
// of an unknown kind or cluster-scoped, one given twice, or the API
// server's refusal in the dry run.
type NotAppliedError struct{ Err error }

func (e *NotAppliedError) Error() string { return e.Err.Error() }

// Unwrap returns the error.
func (e *NotAppliedError) Unwrap() error { return e.Err }

// NothingApplied reports whether err comes from Apply before it wrote
// anything.
func NothingApplied(err error) bool {
	var na *NotAppliedError
	return errors.As(err, &na)
}
