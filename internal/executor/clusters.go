package executor

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/kube"
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
	client, err := kube.NewClient(ctx, env.Spec)
	if err != nil {
		return nil, env.Spec, fmt.Errorf("connect: %w", err)
	}
	s.mu.Lock()
	if s.cache == nil {
		s.cache = map[string]cachedCluster{}
	}
	s.cache[name] = cachedCluster{generation: res.Generation, client: client, spec: env.Spec}
	s.mu.Unlock()
	return client, env.Spec, nil
}
