package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/analysis"
	"fledge.dev/fledge/internal/pipeline"
	"fledge.dev/fledge/internal/redact"
	"fledge.dev/fledge/internal/render"
	"fledge.dev/fledge/internal/store"
)

// typed decodes a resource of kind from JSON.
func typed(kind string, data []byte) (any, v1alpha1.ObjectMeta, error) {
	switch kind {
	case v1alpha1.KindEnvironment:
		var v v1alpha1.Environment
		err := DecodeJSON(data, &v)
		return &v, v.Metadata, err
	case v1alpha1.KindArtifact:
		var v v1alpha1.Artifact
		err := DecodeJSON(data, &v)
		return &v, v.Metadata, err
	case v1alpha1.KindPipeline:
		var v v1alpha1.Pipeline
		err := DecodeJSON(data, &v)
		return &v, v.Metadata, err
	case v1alpha1.KindAnalysisTemplate:
		var v v1alpha1.AnalysisTemplate
		err := DecodeJSON(data, &v)
		return &v, v.Metadata, err
	}
	return nil, v1alpha1.ObjectMeta{}, notFound("unknown resource kind %q", kind)
}

// ApplyResource validates and stores a resource given as JSON. name is the
// name in the URL, which must match metadata.name.
func (s *Service) ApplyResource(ctx context.Context, kind, name string, data []byte) (v1alpha1.ApplyResponse, error) {
	obj, meta, err := typed(kind, data)
	if err != nil {
		return v1alpha1.ApplyResponse{}, err
	}
	if meta.Name != name {
		return v1alpha1.ApplyResponse{}, invalid(fmt.Sprintf("metadata.name %q does not match the name in the URL %q", meta.Name, name),
			v1alpha1.FieldError{Field: "metadata.name", Message: "does not match the URL"})
	}
	switch v := obj.(type) {
	case *v1alpha1.Environment:
		if err = v.Validate(); err == nil {
			if err := s.checkRegistryCredentials(ctx, v); err != nil {
				return v1alpha1.ApplyResponse{}, err
			}
			if err := s.sealEnvironment(ctx, v); err != nil {
				return v1alpha1.ApplyResponse{}, err
			}
		}
	case *v1alpha1.Artifact:
		if err = v.Validate(); err == nil {
			err = s.sealArtifact(ctx, v)
		}
	case *v1alpha1.Pipeline:
		err = s.validatePipeline(ctx, v)
	case *v1alpha1.AnalysisTemplate:
		err = s.validateAnalysisTemplate(ctx, v)
	}
	if err != nil {
		return v1alpha1.ApplyResponse{}, fromValidation(err)
	}
	// Store the canonical form without read-only fields.
	clearMeta(obj)
	canon, err := json.Marshal(obj)
	if err != nil {
		return v1alpha1.ApplyResponse{}, fmt.Errorf("encode %s %s: %w", kind, name, err)
	}
	prev, perr := s.store.GetResource(ctx, kind, name)
	res, created, err := s.store.PutResource(ctx, store.Resource{Kind: kind, Name: name, Spec: canon})
	if err != nil {
		return v1alpha1.ApplyResponse{}, fmt.Errorf("store %s %s: %w", kind, name, err)
	}
	action := v1alpha1.ActionConfigured
	switch {
	case created:
		action = v1alpha1.ActionCreated
	case perr == nil && prev.Generation == res.Generation:
		action = v1alpha1.ActionUnchanged
	}
	s.log.Info("resource applied", "kind", kind, "name", name, "action", action, "generation", res.Generation)
	return v1alpha1.ApplyResponse{Kind: kind, Name: name, Action: action, Generation: res.Generation}, nil
}

// sealArtifact puts the stored values back where an applied artifact
// holds the placeholder the API shows instead of a Secret's data (a get
// then apply), refusing a placeholder with nothing stored to keep, and
// seals every value of its Secrets (see redact.Seal): neither the
// placeholder nor a Secret's value in clear is ever stored.
func (s *Service) sealArtifact(ctx context.Context, a *v1alpha1.Artifact) error {
	var stored string
	if prev, err := s.store.GetResource(ctx, v1alpha1.KindArtifact, a.Metadata.Name); err == nil {
		var old v1alpha1.Artifact
		if err := json.Unmarshal(prev.Spec, &old); err != nil {
			return fmt.Errorf("decode stored artifact %s: %w", a.Metadata.Name, err)
		}
		stored = old.Spec.Manifests
	} else if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("get artifact %s: %w", a.Metadata.Name, err)
	}
	m, err := redact.Restore(a.Spec.Manifests, stored)
	if err == nil {
		m, err = redact.Seal(s.box, m, stored)
	}
	if err != nil {
		return invalid(fmt.Sprintf("invalid Artifact %q: spec.manifests: %v", a.Metadata.Name, err),
			v1alpha1.FieldError{Field: "spec.manifests", Message: err.Error()})
	}
	a.Spec.Manifests = m
	return nil
}

// artifactManifests returns an artifact's manifests with the values of
// its Secrets opened, to render or check them; the result is never
// stored or shown.
func (s *Service) artifactManifests(name string, a *v1alpha1.Artifact) (string, error) {
	m, err := redact.Open(s.box, a.Spec.Manifests)
	if err != nil {
		return "", fmt.Errorf("artifact %s: %w", name, err)
	}
	return m, nil
}

// sealedPlan returns plan with the values of the Secrets in its
// manifests sealed, for the store.
func (s *Service) sealedPlan(plan *pipeline.Plan) (*pipeline.Plan, error) {
	m, err := redact.Seal(s.box, plan.Manifests, "")
	if err != nil {
		return nil, fmt.Errorf("seal the manifests of %s: %w", plan.Pipeline, err)
	}
	sealed := *plan
	sealed.Manifests = m
	return &sealed, nil
}

func clearMeta(obj any) {
	var m *v1alpha1.ObjectMeta
	switch v := obj.(type) {
	case *v1alpha1.Environment:
		m = &v.Metadata
	case *v1alpha1.Artifact:
		m = &v.Metadata
	case *v1alpha1.Pipeline:
		m = &v.Metadata
	case *v1alpha1.AnalysisTemplate:
		m = &v.Metadata
	}
	m.Generation, m.CreatedAt, m.UpdatedAt = 0, nil, nil
}

// secretNames returns the names of the Fledge secrets, for references.
func (s *Service) secretNames(ctx context.Context) (map[string]bool, error) {
	secrets, err := s.store.ListSecrets(ctx)
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	names := map[string]bool{}
	for _, sec := range secrets {
		if sec.Name != keyCheckName {
			names[sec.Name] = true
		}
	}
	return names, nil
}

// validatePipeline checks the pipeline on its own, its references, and that
// every placeholder of its artifacts is a declared parameter.
func (s *Service) validatePipeline(ctx context.Context, p *v1alpha1.Pipeline) error {
	secrets, err := s.secretNames(ctx)
	if err != nil {
		return err
	}
	refs := &v1alpha1.References{Environments: map[string]bool{}, Artifacts: map[string]bool{}, Secrets: secrets}
	envs, err := s.store.ListResources(ctx, v1alpha1.KindEnvironment)
	if err != nil {
		return fmt.Errorf("list environments: %w", err)
	}
	for _, e := range envs {
		refs.Environments[e.Name] = true
	}
	arts, err := s.store.ListResources(ctx, v1alpha1.KindArtifact)
	if err != nil {
		return fmt.Errorf("list artifacts: %w", err)
	}
	byName := map[string]store.Resource{}
	for _, a := range arts {
		refs.Artifacts[a.Name] = true
		byName[a.Name] = a
	}
	verr := p.Validate(refs)
	var fes []v1alpha1.FieldError
	var ve *v1alpha1.ValidationError
	if errors.As(verr, &ve) {
		fes = ve.Errors
	} else if verr != nil {
		return verr
	}
	if !s.analysis {
		for i, st := range p.Spec.Stages {
			for _, at := range st.Analyses() {
				fes = append(fes, v1alpha1.FieldError{
					Field:   fmt.Sprintf("spec.stages[%d].%s", i, at.Field),
					Message: "analysis is not available on this server: it has no analysis engine",
				})
			}
		}
	}
	declared := map[string]bool{}
	for _, prm := range p.Spec.Parameters {
		declared[prm.Name] = true
	}
	for i, st := range p.Spec.Stages {
		if st.CanaryDeployment == nil {
			continue
		}
		for j, name := range st.CanaryDeployment.Artifacts {
			res, ok := byName[name]
			if !ok {
				continue
			}
			var a v1alpha1.Artifact
			if err := json.Unmarshal(res.Spec, &a); err != nil {
				return fmt.Errorf("decode artifact %s: %w", name, err)
			}
			m, err := s.artifactManifests(name, &a)
			if err != nil {
				return err
			}
			for _, ph := range render.Placeholders(m) {
				if !declared[ph] {
					fes = append(fes, v1alpha1.FieldError{
						Field:   fmt.Sprintf("spec.stages[%d].canaryDeployment.artifacts[%d]", i, j),
						Message: fmt.Sprintf("artifact %q uses ${%s}, which is not a declared parameter (add it to spec.parameters)", name, ph),
					})
				}
			}
		}
	}
	if len(fes) == 0 {
		return nil
	}
	return &v1alpha1.ValidationError{Kind: v1alpha1.KindPipeline, Name: p.Metadata.Name, Errors: fes}
}

// validateAnalysisTemplate checks a template on its own, that the secrets
// its providers name exist, and compiles its CEL conditions, so a template
// that cannot run is refused when it is applied rather than when it first
// measures.
func (s *Service) validateAnalysisTemplate(ctx context.Context, t *v1alpha1.AnalysisTemplate) error {
	secrets, err := s.secretNames(ctx)
	if err != nil {
		return err
	}
	refs := &v1alpha1.References{Secrets: secrets}
	var fes []v1alpha1.FieldError
	var ve *v1alpha1.ValidationError
	if err := t.Validate(refs); errors.As(err, &ve) {
		fes = ve.Errors
	} else if err != nil {
		return err
	}
	fes = append(fes, analysis.CheckTemplate(t)...)
	if len(fes) == 0 {
		return nil
	}
	return &v1alpha1.ValidationError{Kind: v1alpha1.KindAnalysisTemplate, Name: t.Metadata.Name, Errors: fes}
}

// GetResource returns a stored resource as JSON, with read-only metadata
// filled in and secrets removed.
func (s *Service) GetResource(ctx context.Context, kind, name string) (json.RawMessage, error) {
	res, err := s.store.GetResource(ctx, kind, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("%s %q not found", strings.ToLower(kind), name)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s %s: %w", kind, name, err)
	}
	return present(res)
}

// ListResources returns all resources of a kind, ordered by name.
func (s *Service) ListResources(ctx context.Context, kind string) ([]json.RawMessage, error) {
	rows, err := s.store.ListResources(ctx, kind)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", kind, err)
	}
	out := make([]json.RawMessage, 0, len(rows))
	for _, r := range rows {
		j, err := present(r)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, nil
}

func present(r store.Resource) (json.RawMessage, error) {
	obj, _, err := typed(r.Kind, r.Spec)
	if err != nil {
		return nil, fmt.Errorf("decode stored %s %s: %w", r.Kind, r.Name, err)
	}
	created, updated := r.CreatedAt, r.UpdatedAt
	var m *v1alpha1.ObjectMeta
	switch v := obj.(type) {
	case *v1alpha1.Environment:
		m = &v.Metadata
		if k := v.Spec.Kubeconfig; k != nil && k.Inline != "" {
			k.Inline = v1alpha1.Redacted
		}
	case *v1alpha1.Artifact:
		m = &v.Metadata
		v.Spec.Manifests, _ = redact.Secrets(v.Spec.Manifests)
	case *v1alpha1.Pipeline:
		m = &v.Metadata
	case *v1alpha1.AnalysisTemplate:
		m = &v.Metadata
	}
	m.Generation, m.CreatedAt, m.UpdatedAt = r.Generation, &created, &updated
	return json.Marshal(obj)
}

// DeleteResource deletes a resource that nothing depends on.
func (s *Service) DeleteResource(ctx context.Context, kind, name string) error {
	if _, err := s.store.GetResource(ctx, kind, name); errors.Is(err, store.ErrNotFound) {
		return notFound("%s %q not found", strings.ToLower(kind), name)
	} else if err != nil {
		return fmt.Errorf("get %s %s: %w", kind, name, err)
	}
	switch kind {
	case v1alpha1.KindEnvironment, v1alpha1.KindArtifact, v1alpha1.KindAnalysisTemplate:
		users, err := s.pipelinesUsing(ctx, kind, name)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return conflict("%s %q is used by pipeline(s) %s; change or delete them first", strings.ToLower(kind), name, strings.Join(users, ", "))
		}
	case v1alpha1.KindPipeline:
		n, err := s.store.CountDeployments(ctx, store.DeploymentFilter{Pipeline: name, Statuses: unfinished})
		if err != nil {
			return fmt.Errorf("count deployments: %w", err)
		}
		if n > 0 {
			return conflict("pipeline %q has %d unfinished deployment(s); cancel them first", name, n)
		}
	}
	if err := s.store.DeleteResource(ctx, kind, name); err != nil {
		return fmt.Errorf("delete %s %s: %w", kind, name, err)
	}
	return nil
}

var unfinished = []string{
	string(v1alpha1.StatusQueued), string(v1alpha1.StatusRunning), string(v1alpha1.StatusWaitingForApproval),
}

func (s *Service) pipelinesUsing(ctx context.Context, kind, name string) ([]string, error) {
	rows, err := s.store.ListResources(ctx, v1alpha1.KindPipeline)
	if err != nil {
		return nil, fmt.Errorf("list pipelines: %w", err)
	}
	var users []string
	for _, r := range rows {
		var p v1alpha1.Pipeline
		if err := json.Unmarshal(r.Spec, &p); err != nil {
			return nil, fmt.Errorf("decode pipeline %s: %w", r.Name, err)
		}
		for _, st := range p.Spec.Stages {
			if kind == v1alpha1.KindAnalysisTemplate && usesTemplate(st, name) {
				users = append(users, p.Metadata.Name)
			}
			c := st.CanaryDeployment
			if c == nil {
				continue
			}
			if kind == v1alpha1.KindEnvironment && c.Environment == name {
				users = append(users, p.Metadata.Name)
			}
			for _, a := range c.Artifacts {
				if kind == v1alpha1.KindArtifact && a == name {
					users = append(users, p.Metadata.Name)
				}
			}
		}
	}
	sort.Strings(users)
	return users, nil
}

// freezeTemplates reads the AnalysisTemplates the pipeline's analysis
// steps name, for the run's plan. A missing template, or an argument a
// template needs that neither the step nor the deployment gives, is a
// field error naming the step and the template.
func (s *Service) freezeTemplates(ctx context.Context, p *v1alpha1.Pipeline, params map[string]string) (map[string]v1alpha1.AnalysisTemplateSpec, []v1alpha1.FieldError, error) {
	specs := map[string]v1alpha1.AnalysisTemplateSpec{}
	var fes []v1alpha1.FieldError
	for i, st := range p.Spec.Stages {
		for _, at := range st.Analyses() {
			a := at.Step
			given := map[string]string{}
			for k, v := range analysis.DeploymentArgs(params) {
				given[k] = v
			}
			for _, arg := range a.Args {
				given[arg.Name] = arg.Value
			}
			for k, ref := range a.Templates {
				field := fmt.Sprintf("stages[%d].%s.templates[%d]", i, at.Field, k)
				spec, ok := specs[ref.Name]
				if !ok {
					res, err := s.store.GetResource(ctx, v1alpha1.KindAnalysisTemplate, ref.Name)
					if errors.Is(err, store.ErrNotFound) {
						fes = append(fes, v1alpha1.FieldError{Field: field, Message: fmt.Sprintf("analysis template %q does not exist", ref.Name)})
						continue
					}
					if err != nil {
						return nil, nil, fmt.Errorf("get analysis template %s: %w", ref.Name, err)
					}
					var t v1alpha1.AnalysisTemplate
					if err := json.Unmarshal(res.Spec, &t); err != nil {
						return nil, nil, fmt.Errorf("decode analysis template %s: %w", ref.Name, err)
					}
					spec = t.Spec
					specs[ref.Name] = spec
				}
				if missing := analysis.MissingArgs(spec, given); len(missing) > 0 {
					fes = append(fes, v1alpha1.FieldError{Field: field, Message: fmt.Sprintf("analysis template %q needs argument(s) %s, which neither the step nor the deployment gives", ref.Name, strings.Join(missing, ", "))})
				}
			}
		}
	}
	if len(specs) == 0 {
		return nil, fes, nil
	}
	return specs, fes, nil
}

// usesTemplate reports whether a stage's analysis steps name a template.
func usesTemplate(st v1alpha1.Stage, name string) bool {
	for _, at := range st.Analyses() {
		for _, ref := range at.Step.Templates {
			if ref.Name == name {
				return true
			}
		}
	}
	return false
}
