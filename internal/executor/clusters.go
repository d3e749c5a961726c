package executor

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/kube"
	"fledge.dev/fledge/internal/secretbox"
	"fledge.dev/fledge/internal/store"
)

// ClusterSource connects to an environment by name.
type ClusterSource interface {
	Cluster(ctx context.Context, environment string) (*kube.Client, v1alpha1.EnvironmentSpec, error)
}

// StoreClusters reads environments from the store and caches one client
// per environment generation.
type StoreClusters struct {
	Store store.Store
	// Secrets opens inline kubeconfigs, which the store keeps sealed.
	Secrets *secretbox.Box

	mu    sync.Mutex
	cache map[string]cachedCluster
}

type cachedCluster struct {
	generation int64
	client     *kube.Client
	spec       v1alpha1.EnvironmentSpec
}

// Cluster returns a client of the named environment.
func (s *StoreClusters) Cluster(ctx context.Context, name string) (*kube.Client, v1alpha1.EnvironmentSpec, error) {
	res, err := s.Store.GetResource(ctx, v1alpha1.KindEnvironment, name)
	if err != nil {
		return nil, v1alpha1.EnvironmentSpec{}, fmt.Errorf("load environment: %w", err)
	}
	s.mu.Lock()
	c, ok := s.cache[name]
	s.mu.Unlock()
	if ok && c.generation == res.Generation {
		return c.client, c.spec, nil
	}
	var env v1alpha1.Environment
	if err := json.Unmarshal(res.Spec, &env); err != nil {
		return nil, v1alpha1.EnvironmentSpec{}, fmt.Errorf("decode environment: %w", err)
	}
	if err := OpenEnvironment(s.Secrets, &env); err != nil {
		return nil, v1alpha1.EnvironmentSpec{}, err
	}
	client, err := kube.NewClient(ctx, env.Spec)
	spec := env.Spec
	if k := spec.Kubeconfig; k != nil && k.Inline != "" {
		// Callers need the settings, never the credentials.
		spec.Kubeconfig = &v1alpha1.KubeconfigSource{Inline: "(redacted)"}
	}
	if err != nil {
		return nil, spec, fmt.Errorf("connect: %w", err)
	}
	s.mu.Lock()
	if s.cache == nil {
		s.cache = map[string]cachedCluster{}
	}
	s.cache[name] = cachedCluster{generation: res.Generation, client: client, spec: spec}
	s.mu.Unlock()
	return client, spec, nil
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
