package clusters

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/kube"
	"fledge.dev/fledge/internal/registry"
	"fledge.dev/fledge/internal/secretbox"
	"fledge.dev/fledge/internal/store"
)

// registryTarget is the Target of an environment with registry
// credentials: every Apply first applies their kubernetes.io/dockerconfigjson
// Secrets into the namespace, read from the store at that moment (so a
// rotated credential reaches every namespace with the next apply, and a
// rollback uses the credential as it is now), and names them in the pod
// templates it applies. Diff shows the manifests as Apply would send them.
// Whatever the namespace or step, the same path is taken, so every wave of
// a deployment gets the Secret.
type registryTarget struct {
	Target
	creds   []v1alpha1.RegistryCredential
	secrets credentialStore
}

// credentialStore opens registry secrets.
type credentialStore struct {
	store store.Store
	box   *secretbox.Box
}

// open reads and opens the registry secret name. Its errors never hold
// the credential.
func (s credentialStore) open(ctx context.Context, name string) (registry.Credential, error) {
	sec, err := s.store.GetSecret(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return registry.Credential{}, fmt.Errorf("registry secret %q does not exist (fledge secret create %s --type registry ...)", name, name)
	}
	if err != nil {
		return registry.Credential{}, fmt.Errorf("read registry secret %q: %w", name, err)
	}
	if s.box == nil {
		return registry.Credential{}, fmt.Errorf("registry secret %q: the server has no secret key to open it", name)
	}
	plain, err := s.box.Open(string(sec.Sealed), registry.SealContext(name))
	if err != nil {
		return registry.Credential{}, fmt.Errorf("secret %q is not a registry secret (or the server's key does not open it)", name)
	}
	c, err := registry.Parse(plain)
	if err != nil {
		return registry.Credential{}, fmt.Errorf("secret %q: %w", name, err)
	}
	return c, nil
}

// Apply applies the registry Secrets, then objs with the Secrets named in
// their pod templates.
func (t registryTarget) Apply(ctx context.Context, ns string, objs []*unstructured.Unstructured, opts kube.ApplyOptions) ([]kube.Result, error) {
	p, err := t.PrepareApply(ctx, ns, objs, opts)
	if err != nil {
		return nil, err
	}
	return p.Commit(ctx)
}

// PrepareApply opens the registry Secrets and checks objs, with the
// Secrets named in their pod templates; its Commit applies the Secrets,
// then objs.
func (t registryTarget) PrepareApply(ctx context.Context, ns string, objs []*unstructured.Unstructured, opts kube.ApplyOptions) (kube.Prepared, error) {
	secrets := make([]*unstructured.Unstructured, 0, len(t.creds))
	for _, rc := range t.creds {
		c, err := t.secrets.open(ctx, rc.SecretRef)
		if err != nil {
			return nil, err
		}
		s, err := registry.Secret(rc.SecretRef, c)
		if err != nil {
			return nil, fmt.Errorf("registry secret %q: %w", rc.SecretRef, err)
		}
		secrets = append(secrets, s)
	}
	objs, err := t.inject(objs)
	if err != nil {
		return nil, err
	}
	p, err := t.Target.PrepareApply(ctx, ns, objs, opts)
	if err != nil {
		return nil, err
	}
	return commitFunc(func(ctx context.Context) ([]kube.Result, error) {
		// The Secrets go first, so that no pod of the manifests starts
		// before it can pull its image.
		done, err := t.Target.Apply(ctx, ns, secrets, opts)
		if err != nil {
			return nil, fmt.Errorf("registry credentials: %w", err)
		}
		rest, err := p.Commit(ctx)
		return append(done, rest...), err
	}), nil
}

// commitFunc is a kube.Prepared made of its Commit.
type commitFunc func(ctx context.Context) ([]kube.Result, error)

func (f commitFunc) Commit(ctx context.Context) ([]kube.Result, error) { return f(ctx) }

// CheckAccess adds the registry Secrets to every namespace a step applies
// to (Apply writes them there first).
func (t registryTarget) CheckAccess(ctx context.Context, access ...kube.Access) error {
	secret := &unstructured.Unstructured{}
	secret.SetAPIVersion("v1")
	secret.SetKind("Secret")
	out := make([]kube.Access, len(access))
	for i, a := range access {
		if a.EnsureNamespace {
			a.Objects = append(slices.Clone(a.Objects), secret)
		}
		out[i] = a
	}
	return t.Target.CheckAccess(ctx, out...)
}

// Diff compares the manifests as Apply sends them; the Secrets, which hold
// credentials, are never part of a diff.
func (t registryTarget) Diff(ctx context.Context, ns string, objs []*unstructured.Unstructured) (kube.DiffResult, error) {
	objs, err := t.inject(objs)
	if err != nil {
		return kube.DiffResult{}, err
	}
	return t.Target.Diff(ctx, ns, objs)
}

// inject names the Secrets of the credentials that inject in objs' pod
// templates.
func (t registryTarget) inject(objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	var names []string
	for _, rc := range t.creds {
		if rc.Injects() {
			names = append(names, registry.SecretName(rc.SecretRef))
		}
	}
	out, _, err := registry.InjectPullSecrets(objs, names...)
	if err != nil {
		return nil, fmt.Errorf("add registry credentials to imagePullSecrets: %w", err)
	}
	return out, nil
}

// withRegistry wraps t when spec names registry credentials.
func withRegistry(t Target, spec v1alpha1.EnvironmentSpec, st store.Store, box *secretbox.Box) Target {
	if len(spec.RegistryCredentials) == 0 {
		return t
	}
	return registryTarget{Target: t, creds: spec.RegistryCredentials, secrets: credentialStore{store: st, box: box}}
}
