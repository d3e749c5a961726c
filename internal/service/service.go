package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/clusters"
	"fledge.dev/fledge/internal/kube"
	"fledge.dev/fledge/internal/pipeline"
	"fledge.dev/fledge/internal/render"
	"fledge.dev/fledge/internal/secretbox"
	"fledge.dev/fledge/internal/store"
	"fledge.dev/fledge/internal/traffic/routing"
)

// Notifier is told when a deployment needs the executor's attention.
type Notifier interface {
	Notify(id int64)
}

// Service implements the API's operations.
type Service struct {
	store    store.Store
	clusters clusters.Source
	notify   Notifier
	log      *slog.Logger
	clock    func() time.Time
	box      *secretbox.Box
	decoded  decodeCache
	encoded  encodedCache
	tokens   tokenCache
	analysis bool
}

// Config configures a Service.
type Config struct {
	Store    store.Store
	Clusters clusters.Source
	Notifier Notifier
	Logger   *slog.Logger
	Clock    func() time.Time
	// Secrets seals inline kubeconfigs and webhook secrets before they are
	// stored. Without it, both are refused.
	Secrets *secretbox.Box
	// Analysis says the server runs analysis steps (its executor has an
	// analysis engine); without it a pipeline with an analysis step is
	// refused when applied.
	Analysis bool
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &Service{store: cfg.Store, clusters: cfg.Clusters, notify: cfg.Notifier, log: cfg.Logger, clock: cfg.Clock, box: cfg.Secrets, analysis: cfg.Analysis}
}

func (s *Service) now() time.Time { return s.clock().UTC() }

func (s *Service) wake(id int64) {
	if s.notify != nil {
		s.notify.Notify(id)
	}
}

// Ping checks the store.
func (s *Service) Ping(ctx context.Context) error { return s.store.Ping(ctx) }

func (s *Service) loadPipeline(ctx context.Context, name string) (*v1alpha1.Pipeline, int64, error) {
	res, err := s.store.GetResource(ctx, v1alpha1.KindPipeline, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, notFound("pipeline %q not found", name)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get pipeline %s: %w", name, err)
	}
	var p v1alpha1.Pipeline
	if err := json.Unmarshal(res.Spec, &p); err != nil {
		return nil, 0, fmt.Errorf("decode pipeline %s: %w", name, err)
	}
	return &p, res.Generation, nil
}

// CreateRun renders the pipeline with params and stores a new deployment.
// Nothing touches a cluster here; every problem is reported at once.
func (s *Service) CreateRun(ctx context.Context, pipelineName string, params map[string]string, user string) (v1alpha1.Deployment, error) {
	p, gen, err := s.loadPipeline(ctx, pipelineName)
	if err != nil {
		return v1alpha1.Deployment{}, err
	}
	values, declared, fes := resolveParams(p, params)
	canary := p.CanaryStage()
	bg := p.BlueGreenStage()
	if bg != nil {
		canary = bg.AsCanaryDeployment()
	}
	if canary == nil {
		return v1alpha1.Deployment{}, invalid(fmt.Sprintf("pipeline %q has no canaryDeployment stage", pipelineName))
	}
	var docs []string
	for i, name := range canary.Artifacts {
		res, err := s.store.GetResource(ctx, v1alpha1.KindArtifact, name)
		if errors.Is(err, store.ErrNotFound) {
			fes = append(fes, v1alpha1.FieldError{Field: fmt.Sprintf("artifacts[%d]", i), Message: fmt.Sprintf("artifact %q does not exist", name)})
			continue
		}
		if err != nil {
			return v1alpha1.Deployment{}, fmt.Errorf("get artifact %s: %w", name, err)
		}
		var a v1alpha1.Artifact
		if err := json.Unmarshal(res.Spec, &a); err != nil {
			return v1alpha1.Deployment{}, fmt.Errorf("decode artifact %s: %w", name, err)
		}
		text, err := s.artifactManifests(name, &a)
		if err != nil {
			return v1alpha1.Deployment{}, err
		}
		out, err := render.Render(name, text, declared, values)
		if err != nil {
			for _, e := range unjoin(err) {
				fes = append(fes, v1alpha1.FieldError{Field: "artifact " + name, Message: e.Error()})
			}
			continue
		}
		docs = append(docs, out)
	}
	var env v1alpha1.Environment
	envRes, err := s.store.GetResource(ctx, v1alpha1.KindEnvironment, canary.Environment)
	switch {
	case errors.Is(err, store.ErrNotFound):
		fes = append(fes, v1alpha1.FieldError{Field: "environment", Message: fmt.Sprintf("environment %q does not exist", canary.Environment)})
	case err != nil:
		return v1alpha1.Deployment{}, fmt.Errorf("get environment %s: %w", canary.Environment, err)
	default:
		if err := json.Unmarshal(envRes.Spec, &env); err != nil {
			return v1alpha1.Deployment{}, fmt.Errorf("decode environment %s: %w", canary.Environment, err)
		}
	}
	if len(fes) > 0 {
		return v1alpha1.Deployment{}, invalid(fmt.Sprintf("cannot run pipeline %q: %s", pipelineName, joinFields(fes)), fes...)
	}
	manifests := strings.Join(docs, "---\n")
	objs, err := kube.Decode(manifests)
	if err != nil {
		return v1alpha1.Deployment{}, invalid(fmt.Sprintf("rendered manifests of pipeline %q are invalid: %v", pipelineName, err))
	}
	// An object naming another namespace is refused, never moved.
	namespaces := []string{canary.Namespace}
	if pr := p.ProductionStage(); pr != nil {
		namespaces = append(namespaces, pr.Namespace)
	}
	if bg != nil {
		namespaces = bg.Namespaces()
	}
	if err := kube.CheckNamespaces(objs, namespaces...); err != nil {
		var fes []v1alpha1.FieldError
		for _, e := range unjoin(err) {
			fes = append(fes, v1alpha1.FieldError{Field: "manifests", Message: e.Error()})
		}
		return v1alpha1.Deployment{}, invalid(fmt.Sprintf("rendered manifests of pipeline %q: %v", pipelineName, strings.ReplaceAll(err.Error(), "\n", "; ")), fes...)
	}
	rt := canary.Routing(canary.Environment, env.Spec)
	provider, err := routing.New(rt, routing.Namespaces{Canary: canary.Namespace})
	if err == nil {
		err = provider.Check(objs)
	}
	if err == nil && bg != nil {
		err = routing.CheckBlueGreen(objs, blueGreenOf(bg))
	}
	if err != nil {
		field := "canaryDeployment.ingressName"
		if canary.HTTPRouteName != "" {
			field = "canaryDeployment.httpRouteName"
		}
		if bg != nil {
			field = strings.Replace(field, "canaryDeployment.", "blueGreen.", 1)
		}
		return v1alpha1.Deployment{}, invalid(fmt.Sprintf("pipeline %q: %v", pipelineName, err),
			v1alpha1.FieldError{Field: field, Message: err.Error()})
	}
	// The canary's form of the manifests must be buildable too (a
	// malformed rollout strategy), before the run exists.
	if err := routing.SurgeCanary(slices.Clone(objs)); err != nil {
		return v1alpha1.Deployment{}, invalid(fmt.Sprintf("rendered manifests of pipeline %q are invalid: %v", pipelineName, err))
	}
	plan := &pipeline.Plan{
		Pipeline: pipelineName, PipelineGeneration: gen, Kind: v1alpha1.KindRelease,
		Environment: canary.Environment, Manifests: manifests, IngressName: canary.IngressName,
		CanaryNamespace: canary.Namespace, Stages: p.Spec.Stages, Traffic: &rt,
		CanaryRolloutTimeout:     canary.RolloutTimeout.Or(v1alpha1.DefaultRolloutTimeout),
		CanaryScale:              canary.Scale,
		ProductionRolloutTimeout: v1alpha1.DefaultRolloutTimeout,
	}
	if pr := p.ProductionStage(); pr != nil {
		plan.ProductionNamespace = pr.Namespace
		plan.ProductionRolloutTimeout = pr.RolloutTimeout.Or(v1alpha1.DefaultRolloutTimeout)
		hold := pr.PromotionHold.Or(v1alpha1.DefaultPromotionHold)
		plan.PromotionHold = &hold
	}
	if bg != nil {
		blueGreenPlan(plan, bg)
	}
	if plan.AnalysisTemplates, fes, err = s.freezeTemplates(ctx, p, values); err != nil {
		return v1alpha1.Deployment{}, err
	}
	if len(fes) > 0 {
		return v1alpha1.Deployment{}, invalid(fmt.Sprintf("cannot run pipeline %q: %s", pipelineName, joinFields(fes)), fes...)
	}
	return s.create(ctx, plan, values, user, fmt.Sprintf("triggered by %s with %s", user, v1alpha1.DescribeParameters(values)))
}

// resolveParams merges defaults, and reports unknown and missing values.
func resolveParams(p *v1alpha1.Pipeline, given map[string]string) (map[string]string, map[string]bool, []v1alpha1.FieldError) {
	values := map[string]string{}
	declared := map[string]bool{}
	var fes []v1alpha1.FieldError
	for _, prm := range p.Spec.Parameters {
		declared[prm.Name] = true
		if v, ok := given[prm.Name]; ok {
			values[prm.Name] = v
		} else if prm.Default != nil {
			values[prm.Name] = *prm.Default
		}
	}
	names := make([]string, 0, len(given))
	for k := range given {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !declared[k] {
			fes = append(fes, v1alpha1.FieldError{Field: "parameters." + k, Message: fmt.Sprintf("pipeline %q declares no parameter %q", p.Metadata.Name, k)})
			continue
		}
		if msg := v1alpha1.CheckText(given[k]); msg != "" {
			fes = append(fes, v1alpha1.FieldError{Field: "parameters." + k, Message: "value " + msg})
		}
	}
	return values, declared, fes
}

func (s *Service) create(ctx context.Context, plan *pipeline.Plan, params map[string]string, user, why string) (v1alpha1.Deployment, error) {
	// The plan is stored with its Secrets' values sealed, as artifacts
	// are; a rollback's plan, copied from a deployment stored before
	// values were sealed, is sealed here too.
	plan, err := s.sealedPlan(plan)
	if err != nil {
		return v1alpha1.Deployment{}, err
	}
	pj, err := json.Marshal(plan)
	if err != nil {
		return v1alpha1.Deployment{}, fmt.Errorf("encode plan: %w", err)
	}
	sj, err := json.Marshal(pipeline.NewState(plan))
	if err != nil {
		return v1alpha1.Deployment{}, fmt.Errorf("encode state: %w", err)
	}
	now := s.now()
	events := []store.Event{{Time: now, Type: "DeploymentCreated", Message: fmt.Sprintf("%s deployment of %s created, %s", plan.Kind, plan.Pipeline, why)}}
	ahead, err := s.store.CountDeployments(ctx, store.DeploymentFilter{Pipeline: plan.Pipeline, Statuses: unfinished})
	if err != nil {
		return v1alpha1.Deployment{}, fmt.Errorf("count deployments: %w", err)
	}
	if ahead > 0 {
		events = append(events, store.Event{Time: now, Type: "Queued", Message: fmt.Sprintf("queued behind %d unfinished deployment(s) of %s", ahead, plan.Pipeline)})
	}
	d, err := s.store.CreateDeployment(ctx, store.Deployment{
		Pipeline: plan.Pipeline, Kind: string(plan.Kind), RollbackTo: plan.RollbackTo,
		Parameters: params, TriggeredBy: user, Plan: pj, State: sj,
		Status: string(v1alpha1.StatusQueued),
	}, events...)
	if err != nil {
		return v1alpha1.Deployment{}, fmt.Errorf("create deployment: %w", err)
	}
	s.log.Info("deployment created", "deployment_id", d.ID, "pipeline", plan.Pipeline, "kind", plan.Kind, "user", user)
	s.wake(0)
	return s.view(ctx, d, nil)
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func joinFields(fes []v1alpha1.FieldError) string {
	parts := make([]string, len(fes))
	for i, f := range fes {
		parts[i] = f.Error()
	}
	return strings.Join(parts, "; ")
}
