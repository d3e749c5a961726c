package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	authzv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Need is one permission Fledge needs on a cluster: a verb on a resource,
// in a namespace ("" for a cluster-scoped resource).
type Need struct {
	Verb     string
	Group    string
	Resource string
	// Namespace is "" for a cluster-scoped resource.
	Namespace string
}

// String reads like the API server's words: "patch
// ingresses.networking.k8s.io in namespace web-canary", "create namespaces
// (cluster-scoped)".
func (n Need) String() string {
	res := n.Resource
	if n.Group != "" {
		res += "." + n.Group
	}
	if n.Namespace == "" {
		return n.Verb + " " + res + " (cluster-scoped)"
	}
	return n.Verb + " " + res + " in namespace " + n.Namespace
}

// applyVerbs are what server-side apply of an object takes: reading it,
// creating it when missing and patching it.
var applyVerbs = []string{"get", "create", "patch"}

// Access is what a step is about to do in one namespace of a cluster.
type Access struct {
	Namespace string
	// Objects are server-side applied in Namespace (their own namespace
	// is ignored, as Apply ignores it).
	Objects []*unstructured.Unstructured
	// Delete means the objects are deleted too (a router's cleanup).
	Delete bool
	// EnsureNamespace means the step reads the namespace first
	// (EnsureNamespace) and, with CreateNamespace, creates it when
	// missing.
	EnsureNamespace bool
	CreateNamespace bool
}

// ErrForbidden is matched by a *MissingPermissionsError.
var ErrForbidden = errors.New("missing permissions")

// MissingPermissionsError lists every permission a step needs and the
// cluster's identity lacks; nothing was done.
type MissingPermissionsError struct {
	Missing []Need
}

// Error names each missing permission: "cannot patch
// ingresses.networking.k8s.io in namespace web-canary".
func (e *MissingPermissionsError) Error() string {
	parts := make([]string, len(e.Missing))
	for i, n := range e.Missing {
		parts[i] = "cannot " + n.String()
	}
	return fmt.Sprintf("%s: %s; grant them to the environment's identity (nothing was applied)", ErrForbidden, strings.Join(parts, "; "))
}

// Is makes errors.Is(err, ErrForbidden) true.
func (e *MissingPermissionsError) Is(target error) bool { return target == ErrForbidden }

// accessCacheTTL is how long an allowed answer is trusted: RBAC changes
// reach a running deployment within it. Denials are never cached, so a
// permission granted after a failure counts at the next attempt.
const accessCacheTTL = 30 * time.Second

// accessCache holds the allowed answers of SelfSubjectAccessReviews.
type accessCache struct {
	mu      sync.Mutex
	allowed map[Need]time.Time
}

func (a *accessCache) has(n Need, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	at, ok := a.allowed[n]
	return ok && now.Sub(at) < accessCacheTTL
}

func (a *accessCache) add(n Need, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.allowed == nil {
		a.allowed = map[Need]time.Time{}
	}
	a.allowed[n] = now
}

// CheckAccess makes sure the client's identity may do everything of
// access, asking the API server (SelfSubjectAccessReview) once per
// distinct permission. Every missing one is reported in a single
// *MissingPermissionsError. Objects of kinds the cluster does not know
// and cluster-scoped objects are left to Apply, which refuses them with
// its own message.
func (c *Client) CheckAccess(ctx context.Context, access ...Access) error {
	needs, err := c.needs(ctx, access)
	if err != nil {
		return err
	}
	return c.checkNeeds(ctx, needs)
}

// needs lists the distinct permissions of access, in a stable order.
func (c *Client) needs(ctx context.Context, access []Access) ([]Need, error) {
	var out []Need
	for _, a := range access {
		if a.EnsureNamespace {
			ns, err := c.namespaceNeeds(ctx, a.Namespace, a.CreateNamespace)
			if err != nil {
				return nil, err
			}
			out = append(out, ns...)
		}
		for _, obj := range a.Objects {
			var m *meta.RESTMapping
			err := retry(ctx, func(context.Context) error {
				var err error
				m, err = c.mapping(obj.GroupVersionKind())
				return err
			})
			var unknown *UnknownKindError
			if errors.As(err, &unknown) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("permissions for %s/%s: %w", obj.GetKind(), obj.GetName(), err)
			}
			if m.Scope.Name() != meta.RESTScopeNameNamespace {
				continue
			}
			out = append(out, objectNeeds(m.Resource.Group, m.Resource.Resource, a.Namespace)...)
			if a.Delete {
				out = append(out, Need{Verb: "delete", Group: m.Resource.Group, Resource: m.Resource.Resource, Namespace: a.Namespace})
			}
		}
	}
	return dedupNeeds(out), nil
}

// objectNeeds are the permissions of server-side applying a resource in
// ns.
func objectNeeds(group, resource, ns string) []Need {
	out := make([]Need, len(applyVerbs))
	for i, v := range applyVerbs {
		out[i] = Need{Verb: v, Group: group, Resource: resource, Namespace: ns}
	}
	return out
}

// namespaceNeeds are the permissions of EnsureNamespace: reading ns and,
// when it is missing and may be created, creating it. Whether it is
// missing is read when the identity may read it; when it may not, that
// alone is reported.
func (c *Client) namespaceNeeds(ctx context.Context, ns string, create bool) ([]Need, error) {
	out := []Need{{Verb: "get", Resource: "namespaces", Namespace: ns}}
	if !create {
		return out, nil
	}
	_, err := getObject(ctx, c.dyn.Resource(namespacesGVR), ns)
	switch {
	case apierrors.IsNotFound(err):
		out = append(out, Need{Verb: "create", Resource: "namespaces"})
	case apierrors.IsForbidden(err):
	case err != nil:
		return nil, fmt.Errorf("read namespace %s: %w", ns, err)
	}
	return out, nil
}

// dedupNeeds drops repeated needs and sorts them by namespace, resource
// and verb.
func dedupNeeds(needs []Need) []Need {
	key := func(n Need) string {
		return strings.Join([]string{n.Namespace, n.Group, n.Resource, verbRank(n.Verb), n.Verb}, "\x00")
	}
	slices.SortFunc(needs, func(a, b Need) int { return strings.Compare(key(a), key(b)) })
	return slices.Compact(needs)
}

// verbRank orders get, create, patch, then the others, as a reader
// expects them.
func verbRank(v string) string {
	if i := slices.Index(applyVerbs, v); i >= 0 {
		return fmt.Sprint(i)
	}
	return "9"
}

// checkNeeds asks the API server about each need not allowed a moment
// ago.
func (c *Client) checkNeeds(ctx context.Context, needs []Need) error {
	var missing []Need
	for _, n := range needs {
		if c.access.has(n, time.Now()) {
			continue
		}
		review := &authzv1.SelfSubjectAccessReview{Spec: authzv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authzv1.ResourceAttributes{Verb: n.Verb, Group: n.Group, Resource: n.Resource, Namespace: n.Namespace},
		}}
		if n.Resource == "namespaces" && n.Namespace != "" {
			// Reading a namespace is a request about that namespace,
			// by name.
			review.Spec.ResourceAttributes.Name = n.Namespace
		}
		var out *authzv1.SelfSubjectAccessReview
		err := retry(ctx, func(ctx context.Context) error {
			var err error
			out, err = c.authz.SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
			return err
		})
		if err != nil {
			return fmt.Errorf("ask whether Fledge may %s: %w", n, err)
		}
		if !out.Status.Allowed {
			missing = append(missing, n)
			continue
		}
		c.access.add(n, time.Now())
	}
	if len(missing) > 0 {
		return &MissingPermissionsError{Missing: missing}
	}
	return nil
}
