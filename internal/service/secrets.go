package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/clusters"
	"fledge.dev/fledge/internal/registry"
	"fledge.dev/fledge/internal/secretbox"
	"fledge.dev/fledge/internal/store"
)

// keyCheckName is a secret the server seals when it first runs, so that a
// later start with another key is refused instead of failing every
// deployment. Its name is not a valid secret name, so no user secret can
// take it, and it is never listed.
const keyCheckName = "_key-check"

// Bounds of a webhook secret's value.
const (
	MinSecretBytes = 16
	MaxSecretBytes = 4096
)

var errNoKey = errors.New("the server has no secret key (--secret-key-file or FLEDGE_SECRET_KEY) to encrypt secrets with")

// CheckSecretKey verifies that the server's key opens what this store's
// secrets were sealed with, sealing a check value on a fresh store.
func (s *Service) CheckSecretKey(ctx context.Context) error {
	if s.box == nil {
		return errNoKey
	}
	sec, err := s.store.GetSecret(ctx, keyCheckName)
	if errors.Is(err, store.ErrNotFound) {
		sealed, err := s.box.Seal([]byte("fledge"), "key-check")
		if err != nil {
			return err
		}
		if _, err := s.store.PutSecret(ctx, store.Secret{Name: keyCheckName, Sealed: []byte(sealed)}); err != nil {
			return fmt.Errorf("store the key check: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the key check: %w", err)
	}
	if _, err := s.box.Open(string(sec.Sealed), "key-check"); err != nil {
		return errors.New("the secret key does not open this store's secrets: start the server with the key it was first started with (--secret-key-file or FLEDGE_SECRET_KEY)")
	}
	return nil
}

// HasSealedSecrets reports whether the store holds anything sealed with
// a key: the key check that CheckSecretKey leaves on first start.
func (s *Service) HasSealedSecrets(ctx context.Context) (bool, error) {
	_, err := s.store.GetSecret(ctx, keyCheckName)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read the key check: %w", err)
	}
	return true, nil
}

func secretContext(name string) string { return "secret/" + name }

// SetSecret creates or replaces a secret: a webhook secret's value or a
// registry secret's login, sealed before it reaches the store. With
// createOnly an existing secret is a conflict. A secret keeps its type: a
// webhook secret is not replaced by a registry login or the other way
// round.
func (s *Service) SetSecret(ctx context.Context, name string, req v1alpha1.SecretRequest, createOnly bool) (created bool, err error) {
	var fes []v1alpha1.FieldError
	if err := checkResourceName(name); err != nil {
		fes = append(fes, v1alpha1.FieldError{Field: "name", Message: err.Error()})
	}
	var plain []byte
	typ := req.Type
	switch typ {
	case "", v1alpha1.SecretTypeWebhook:
		typ = v1alpha1.SecretTypeWebhook
		if req.Registry != nil {
			fes = append(fes, v1alpha1.FieldError{Field: "registry", Message: "is only for secrets of type registry"})
		}
		fes = append(fes, checkWebhookValue(req.Value)...)
		plain = []byte(req.Value)
	case v1alpha1.SecretTypeRegistry:
		if req.Value != "" {
			fes = append(fes, v1alpha1.FieldError{Field: "value", Message: "is only for secrets of type webhook; a registry secret takes registry.server, registry.username and registry.password"})
		}
		if req.Registry == nil {
			fes = append(fes, v1alpha1.FieldError{Field: "registry", Message: "is required for a secret of type registry"})
			break
		}
		c := registry.Credential{Server: req.Registry.Server, Username: req.Registry.Username, Password: req.Registry.Password}
		for _, fe := range c.Validate() {
			fes = append(fes, v1alpha1.FieldError{Field: "registry." + fe.Field, Message: fe.Message})
		}
		if plain, err = c.Marshal(); err != nil {
			return false, err
		}
	default:
		fes = append(fes, v1alpha1.FieldError{Field: "type", Message: fmt.Sprintf("must be %q or %q, got %q", v1alpha1.SecretTypeWebhook, v1alpha1.SecretTypeRegistry, req.Type)})
	}
	if len(fes) > 0 {
		return false, invalid("invalid secret: "+joinFields(fes), fes...)
	}
	if s.box == nil {
		return false, errNoKey
	}
	prev, err := s.store.GetSecret(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return false, fmt.Errorf("read secret %s: %w", name, err)
	case createOnly:
		return false, conflict("secret %q already exists; replace it with fledge secret set", name)
	default:
		if was := s.secretType(prev); was != typ {
			return false, conflict("secret %q is of type %s, not %s; delete it first to change its type", name, was, typ)
		}
	}
	ctxName := secretContext(name)
	if typ == v1alpha1.SecretTypeRegistry {
		ctxName = registry.SealContext(name)
	}
	sealed, err := s.box.Seal(plain, ctxName)
	if err != nil {
		return false, err
	}
	created, err = s.store.PutSecret(ctx, store.Secret{Name: name, Sealed: []byte(sealed)})
	if err != nil {
		return false, fmt.Errorf("store secret %s: %w", name, err)
	}
	s.log.Info("secret set", "secret", name, "type", typ, "created", created)
	return created, nil
}

func checkWebhookValue(value string) []v1alpha1.FieldError {
	switch {
	case len(value) < MinSecretBytes:
		return []v1alpha1.FieldError{{Field: "value", Message: fmt.Sprintf("must be at least %d bytes (use --generate for a random one)", MinSecretBytes)}}
	case len(value) > MaxSecretBytes:
		return []v1alpha1.FieldError{{Field: "value", Message: fmt.Sprintf("must be at most %d bytes", MaxSecretBytes)}}
	case !utf8.ValidString(value):
		return []v1alpha1.FieldError{{Field: "value", Message: "must be valid UTF-8 text"}}
	}
	return nil
}

// secretType tells a stored secret's type by the context it was sealed
// under: a registry login opens only under registry.SealContext.
func (s *Service) secretType(sec store.Secret) string {
	if s.box != nil {
		if _, err := s.box.Open(string(sec.Sealed), registry.SealContext(sec.Name)); err == nil {
			return v1alpha1.SecretTypeRegistry
		}
	}
	return v1alpha1.SecretTypeWebhook
}

// SecretValue opens a secret for the server's own use (a notification's
// webhook URL, signing key or SMTP password); it is never shown.
func (s *Service) SecretValue(ctx context.Context, name string) ([]byte, error) {
	return s.secretValue(ctx, name)
}

// secretValue opens a webhook secret.
func (s *Service) secretValue(ctx context.Context, name string) ([]byte, error) {
	if s.box == nil {
		return nil, errNoKey
	}
	sec, err := s.store.GetSecret(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("webhook secret %q: %w", name, err)
	}
	v, err := s.box.Open(string(sec.Sealed), secretContext(name))
	if err != nil {
		if s.secretType(sec) == v1alpha1.SecretTypeRegistry {
			return nil, fmt.Errorf("secret %q is a registry secret, not a webhook secret", name)
		}
		return nil, fmt.Errorf("webhook secret %q: %w", name, err)
	}
	return v, nil
}

// ListSecrets lists the webhook secrets (names and times only) and the
// pipelines using each.
func (s *Service) ListSecrets(ctx context.Context) (v1alpha1.SecretList, error) {
	rows, err := s.store.ListSecrets(ctx)
	if err != nil {
		return v1alpha1.SecretList{}, fmt.Errorf("list secrets: %w", err)
	}
	users, err := s.secretUsers(ctx)
	if err != nil {
		return v1alpha1.SecretList{}, err
	}
	out := v1alpha1.SecretList{Items: []v1alpha1.Secret{}}
	for _, r := range rows {
		if r.Name == keyCheckName {
			continue
		}
		item := v1alpha1.Secret{Name: r.Name, Type: v1alpha1.SecretTypeWebhook, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, UsedBy: users[r.Name]}
		if s.box != nil {
			if plain, err := s.box.Open(string(r.Sealed), registry.SealContext(r.Name)); err == nil {
				item.Type = v1alpha1.SecretTypeRegistry
				if c, err := registry.Parse(plain); err == nil {
					item.Server, item.Username = c.Server, c.Username
				}
			}
		}
		out.Items = append(out.Items, item)
	}
	return out, nil
}

// DeleteSecret deletes a webhook secret no pipeline uses.
func (s *Service) DeleteSecret(ctx context.Context, name string) error {
	if name == keyCheckName {
		return notFound("secret %q not found", name)
	}
	users, err := s.secretUsers(ctx)
	if err != nil {
		return err
	}
	if u := users[name]; len(u) > 0 {
		return conflict("secret %q is used by %s; change or delete them first", name, strings.Join(u, ", "))
	}
	err = s.store.DeleteSecret(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("secret %q not found", name)
	}
	if err != nil {
		return fmt.Errorf("delete secret %s: %w", name, err)
	}
	return nil
}

// secretUsers maps each secret name to the pipelines whose triggers use it
// and the environments that provision it, as "pipeline/NAME" and
// "environment/NAME".
func (s *Service) secretUsers(ctx context.Context) (map[string][]string, error) {
	out := map[string][]string{}
	envs, err := s.store.ListResources(ctx, v1alpha1.KindEnvironment)
	if err != nil {
		return nil, fmt.Errorf("list environments: %w", err)
	}
	for _, r := range envs {
		var e v1alpha1.Environment
		if err := json.Unmarshal(r.Spec, &e); err != nil {
			return nil, fmt.Errorf("decode environment %s: %w", r.Name, err)
		}
		for _, rc := range e.Spec.RegistryCredentials {
			out[rc.SecretRef] = append(out[rc.SecretRef], "environment/"+e.Metadata.Name)
		}
	}
	rows, err := s.store.ListResources(ctx, v1alpha1.KindPipeline)
	if err != nil {
		return nil, fmt.Errorf("list pipelines: %w", err)
	}
	for _, r := range rows {
		var p v1alpha1.Pipeline
		if err := json.Unmarshal(r.Spec, &p); err != nil {
			return nil, fmt.Errorf("decode pipeline %s: %w", r.Name, err)
		}
		seen := map[string]bool{}
		for _, tr := range p.Spec.Triggers {
			if w := triggerOf(tr); w != nil && !seen[w.SecretRef] {
				seen[w.SecretRef] = true
				out[w.SecretRef] = append(out[w.SecretRef], "pipeline/"+p.Metadata.Name)
			}
		}
		for _, n := range p.Spec.Notifications {
			for _, name := range n.Secrets() {
				if !seen[name] {
					seen[name] = true
					out[name] = append(out[name], "pipeline/"+p.Metadata.Name)
				}
			}
		}
	}
	for _, v := range out {
		sort.Strings(v)
	}
	return out, nil
}

func triggerOf(tr v1alpha1.Trigger) *v1alpha1.WebhookTrigger {
	switch {
	case tr.GitHub != nil:
		return &tr.GitHub.WebhookTrigger
	case tr.Webhook != nil:
		return tr.Webhook
	}
	return nil
}

func checkResourceName(name string) error {
	e := &v1alpha1.Environment{TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindEnvironment}, Metadata: v1alpha1.ObjectMeta{Name: name}, Spec: v1alpha1.EnvironmentSpec{InCluster: true}}
	var ve *v1alpha1.ValidationError
	if err := e.Validate(); errors.As(err, &ve) {
		return errors.New(ve.Errors[0].Message)
	}
	return nil
}

// sealEnvironment replaces an inline kubeconfig with its sealed form,
// reusing the stored ciphertext when the text is unchanged so that an
// identical apply stays "unchanged". The placeholder the API shows instead
// of the kubeconfig (v1alpha1.Redacted), sent back by a get then apply,
// keeps the stored kubeconfig; with none stored it is refused.
func (s *Service) sealEnvironment(ctx context.Context, e *v1alpha1.Environment) error {
	k := e.Spec.Kubeconfig
	if k == nil || k.Inline == "" {
		return nil
	}
	if secretbox.IsSealed(k.Inline) {
		return invalid("spec.kubeconfig.inline: must be kubeconfig text, not a sealed value",
			v1alpha1.FieldError{Field: "spec.kubeconfig.inline", Message: "must be kubeconfig text"})
	}
	if s.box == nil {
		return errNoKey
	}
	ctxName := clusters.KubeconfigContext(e.Metadata.Name)
	var stored string
	if prev, err := s.store.GetResource(ctx, v1alpha1.KindEnvironment, e.Metadata.Name); err == nil {
		var old v1alpha1.Environment
		if json.Unmarshal(prev.Spec, &old) == nil && old.Spec.Kubeconfig != nil && secretbox.IsSealed(old.Spec.Kubeconfig.Inline) {
			stored = old.Spec.Kubeconfig.Inline
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("get environment %s: %w", e.Metadata.Name, err)
	}
	if strings.TrimSpace(k.Inline) == v1alpha1.Redacted {
		if stored == "" {
			msg := fmt.Sprintf("is the placeholder %s that Fledge shows instead of a kubeconfig, and environment %q has no inline kubeconfig to keep: give the kubeconfig text", v1alpha1.Redacted, e.Metadata.Name)
			return invalid("spec.kubeconfig.inline "+msg, v1alpha1.FieldError{Field: "spec.kubeconfig.inline", Message: msg})
		}
		k.Inline = stored
		return nil
	}
	if stored != "" {
		if plain, err := s.box.Open(stored, ctxName); err == nil && string(plain) == k.Inline {
			k.Inline = stored
			return nil
		}
	}
	sealed, err := s.box.Seal([]byte(k.Inline), ctxName)
	if err != nil {
		return err
	}
	k.Inline = sealed
	return nil
}

// checkRegistryCredentials refuses an environment naming a secret that
// does not exist or is not of type registry.
func (s *Service) checkRegistryCredentials(ctx context.Context, e *v1alpha1.Environment) error {
	var fes []v1alpha1.FieldError
	for i, rc := range e.Spec.RegistryCredentials {
		f := fmt.Sprintf("spec.registryCredentials[%d].secretRef", i)
		sec, err := s.store.GetSecret(ctx, rc.SecretRef)
		switch {
		case errors.Is(err, store.ErrNotFound) || rc.SecretRef == keyCheckName:
			fes = append(fes, v1alpha1.FieldError{Field: f, Message: fmt.Sprintf("secret %q does not exist (fledge secret create %s --type registry ...)", rc.SecretRef, rc.SecretRef)})
		case err != nil:
			return fmt.Errorf("read secret %s: %w", rc.SecretRef, err)
		case s.secretType(sec) != v1alpha1.SecretTypeRegistry:
			fes = append(fes, v1alpha1.FieldError{Field: f, Message: fmt.Sprintf("secret %q is not of type registry", rc.SecretRef)})
		}
	}
	if len(fes) > 0 {
		return invalid(fmt.Sprintf("Environment %q is invalid: %s", e.Metadata.Name, joinFields(fes)), fes...)
	}
	return nil
}
