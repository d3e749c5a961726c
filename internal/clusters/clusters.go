// Package clusters connects to the Kubernetes clusters of environments.
// A Source hands out an environment's Target: the operations deployments
// perform there. The executor and the service depend on these two
// interfaces only, so the executor runs against a fake Target in its unit
// tests and a cluster per step (waves across clusters) needs no new
// plumbing.
package clusters

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/kube"
	"fledge.dev/fledge/internal/secretbox"
	"fledge.dev/fledge/internal/store"
	"fledge.dev/fledge/internal/traffic"
	"fledge.dev/fledge/internal/traffic/routing"
)

// Source connects to an environment by name.
type Source interface {
	// Cluster returns the environment's cluster and its settings, with an
	// inline kubeconfig redacted.
	Cluster(ctx context.Context, environment string) (Target, v1alpha1.EnvironmentSpec, error)
}

// Target is an environment's cluster as a deployment uses it. Every
// method is safe to repeat: a step interrupted after acting is simply
// performed again.
type Target interface {
	// EnsureNamespace creates ns when it is missing and create allows it;
	// it returns whether it created it.
	EnsureNamespace(ctx context.Context, ns string, create bool) (created bool, err error)
	// DeleteNamespace deletes ns (used only for a namespace a step created
	// for manifests that were then refused).
	DeleteNamespace(ctx context.Context, ns string) error
	// Apply server-side applies objs to ns.
	Apply(ctx context.Context, ns string, objs []*unstructured.Unstructured, opts kube.ApplyOptions) ([]kube.Result, error)
	// PrepareApply makes Apply's checks (reads and dry-runs) and writes
	// nothing; the result's Commit applies.
	PrepareApply(ctx context.Context, ns string, objs []*unstructured.Unstructured, opts kube.ApplyOptions) (kube.Prepared, error)
	// WaitRollout waits until the workloads among objs are available in
	// ns, telling progress what it waits for.
	WaitRollout(ctx context.Context, ns string, objs []*unstructured.Unstructured, progress func(msg string)) error
	// WaitEndpointsSettled waits until the Services among objs have only
	// the current pods as endpoints.
	WaitEndpointsSettled(ctx context.Context, ns string, objs []*unstructured.Unstructured) error
	// Get reads one object.
	Get(ctx context.Context, ns string, obj *unstructured.Unstructured) (*unstructured.Unstructured, error)
	// Diff shows what applying objs to ns would change.
	Diff(ctx context.Context, ns string, objs []*unstructured.Unstructured) (kube.DiffResult, error)
	// CheckAccess makes sure the environment's identity may do all of
	// access (SelfSubjectAccessReview), before a step acts: every missing
	// permission is named in one *kube.MissingPermissionsError.
	CheckAccess(ctx context.Context, access ...kube.Access) error
	// Delete removes obj (apiVersion, kind, name) from ns and reports
	// whether it existed; a missing object is not an error.
	Delete(ctx context.Context, ns string, obj *unstructured.Unstructured) (bool, error)
	// ScaleDown sets every Deployment of ns to 0 replicas and returns the
	// names of those it scaled (a blue/green pipeline's previous slot).
	ScaleDown(ctx context.Context, ns string) ([]string, error)
	// Router builds provider p's traffic router on the cluster.
	Router(p routing.Provider, to routing.Target) traffic.Router
}

// kubeTarget is a Target on a real cluster.
type kubeTarget struct{ *kube.Client }

func (t kubeTarget) Router(p routing.Provider, to routing.Target) traffic.Router {
	return p.NewRouter(t.Client, to)
}

// StoreSource reads environments from the store and caches one client per
// environment generation.
type StoreSource struct {
	Store store.Store
	// Secrets opens inline kubeconfigs, which the store keeps sealed.
	Secrets *secretbox.Box
	// ServiceAccountDir holds the token and CA certificate of inCluster
	// environments; empty is kube.DefaultServiceAccountDir.
	ServiceAccountDir string

	mu    sync.Mutex
	cache map[string]cachedCluster
}

var _ Source = (*StoreSource)(nil)

type cachedCluster struct {
	generation int64
	target     Target
	spec       v1alpha1.EnvironmentSpec
}

// Cluster returns the named environment's cluster.
func (s *StoreSource) Cluster(ctx context.Context, name string) (Target, v1alpha1.EnvironmentSpec, error) {
	res, err := s.Store.GetResource(ctx, v1alpha1.KindEnvironment, name)
	if err != nil {
		return nil, v1alpha1.EnvironmentSpec{}, fmt.Errorf("load environment: %w", err)
	}
	s.mu.Lock()
	c, ok := s.cache[name]
	s.mu.Unlock()
	if ok && c.generation == res.Generation {
		return c.target, c.spec, nil
	}
	var env v1alpha1.Environment
	if err := json.Unmarshal(res.Spec, &env); err != nil {
		return nil, v1alpha1.EnvironmentSpec{}, fmt.Errorf("decode environment: %w", err)
	}
	if err := OpenEnvironment(s.Secrets, &env); err != nil {
		return nil, v1alpha1.EnvironmentSpec{}, err
	}
	client, err := kube.NewClient(ctx, env.Spec, kube.ServiceAccountDir(s.ServiceAccountDir))
	spec := env.Spec
	if k := spec.Kubeconfig; k != nil && k.Inline != "" {
		// Callers need the settings, never the credentials.
		spec.Kubeconfig = &v1alpha1.KubeconfigSource{Inline: v1alpha1.Redacted}
	}
	if err != nil {
		return nil, spec, fmt.Errorf("connect: %w", err)
	}
	t := withRegistry(kubeTarget{client}, spec, s.Store, s.Secrets)
	s.mu.Lock()
	if s.cache == nil {
		s.cache = map[string]cachedCluster{}
	}
	s.cache[name] = cachedCluster{generation: res.Generation, target: t, spec: spec}
	s.mu.Unlock()
	return t, spec, nil
}

// KubeconfigContext binds a sealed inline kubeconfig to its environment, so
// that a sealed value copied to another environment does not open.
func KubeconfigContext(env string) string { return "environment/" + env + "/kubeconfig" }

// OpenEnvironment replaces a sealed inline kubeconfig of env with its text.
func OpenEnvironment(box *secretbox.Box, env *v1alpha1.Environment) error {
	k := env.Spec.Kubeconfig
	if k == nil || !secretbox.IsSealed(k.Inline) {
		return nil
	}
	if box == nil {
		return fmt.Errorf("environment %q: its inline kubeconfig is encrypted and the server has no secret key", env.Metadata.Name)
	}
	plain, err := box.Open(k.Inline, KubeconfigContext(env.Metadata.Name))
	if err != nil {
		return fmt.Errorf("environment %q: inline kubeconfig: %w", env.Metadata.Name, err)
	}
	k.Inline = string(plain)
	return nil
}
