package v1alpha1

import (
	"fmt"
	"time"
)

// APIVersion is the apiVersion every resource of this package carries.
const APIVersion = "fledge.dev/v1alpha1"

// Kinds of declarative resources.
const (
	KindEnvironment = "Environment"
	KindArtifact    = "Artifact"
	KindPipeline    = "Pipeline"
)

// Kinds lists the resource kinds in the order they must be applied so that
// references resolve.
var Kinds = []string{KindEnvironment, KindArtifact, KindAnalysisTemplate, KindPipeline}

// TypeMeta names the schema of a resource document.
type TypeMeta struct {
	APIVersion string `json:"apiVersion" yaml:"apiVersion"`
	Kind       string `json:"kind" yaml:"kind"`
}

// ObjectMeta is the identity of a resource. The server fills the read-only
// fields.
type ObjectMeta struct {
	Name        string            `json:"name" yaml:"name"`
	Labels      map[string]string `json:"labels,omitempty" yaml:"labels,omitempty"`
	Description string            `json:"description,omitempty" yaml:"description,omitempty"`
	// Generation counts changes of the spec (read-only).
	Generation int64 `json:"generation,omitempty" yaml:"generation,omitempty"`
	// CreatedAt and UpdatedAt are set by the server (read-only).
	CreatedAt *time.Time `json:"createdAt,omitempty" yaml:"createdAt,omitempty"`
	UpdatedAt *time.Time `json:"updatedAt,omitempty" yaml:"updatedAt,omitempty"`
}

// Environment is a Kubernetes cluster Fledge deploys to.
type Environment struct {
	TypeMeta `json:",inline" yaml:",inline"`
	Metadata ObjectMeta      `json:"metadata" yaml:"metadata"`
	Spec     EnvironmentSpec `json:"spec" yaml:"spec"`
}

// EnvironmentSpec says how to reach the cluster.
type EnvironmentSpec struct {
	// Kubeconfig reaches the cluster by a kubeconfig file or inline text.
	Kubeconfig *KubeconfigSource `json:"kubeconfig,omitempty" yaml:"kubeconfig,omitempty"`
	// Context selects a context of the kubeconfig; empty means its current one.
	Context string `json:"context,omitempty" yaml:"context,omitempty"`
	// InCluster uses the service account of the pod Fledge runs in.
	InCluster bool `json:"inCluster,omitempty" yaml:"inCluster,omitempty"`
	// CreateNamespaces lets stages create missing namespaces (default true).
	CreateNamespaces *bool `json:"createNamespaces,omitempty" yaml:"createNamespaces,omitempty"`
	// IngressLayout says where the NGINX provider puts a pipeline's canary
	// Ingress in this cluster: IngressLayoutCanaryNamespace (default) or
	// IngressLayoutBesideProduction. It depends on the ingress controller
	// the cluster runs, hence a setting of the environment.
	IngressLayout string `json:"ingressLayout,omitempty" yaml:"ingressLayout,omitempty"`
	// RegistryCredentials name Fledge secrets of type registry (fledge
	// secret create NAME --type registry). Every apply into a namespace of
	// this cluster (canary, production, rollback) first applies a
	// kubernetes.io/dockerconfigjson Secret "fledge-registry-NAME" there
	// from the credential as it is at that moment, and names it in the
	// manifests' pod templates.
	RegistryCredentials []RegistryCredential `json:"registryCredentials,omitempty" yaml:"registryCredentials,omitempty"`
}

// RegistryCredential names a registry secret an environment provisions.
type RegistryCredential struct {
	// SecretRef names the Fledge secret of type registry.
	SecretRef string `json:"secretRef" yaml:"secretRef"`
	// InjectImagePullSecrets adds the Secret to the imagePullSecrets of
	// every pod template that does not name it yet (default true). With
	// false the Secret is still applied, for manifests that name it
	// themselves.
	InjectImagePullSecrets *bool `json:"injectImagePullSecrets,omitempty" yaml:"injectImagePullSecrets,omitempty"`
}

// Injects reports whether pod templates get the credential's Secret.
func (r RegistryCredential) Injects() bool {
	return r.InjectImagePullSecrets == nil || *r.InjectImagePullSecrets
}

// MaxRegistryCredentials bounds an environment's registryCredentials.
const MaxRegistryCredentials = 16

// Layouts of the NGINX provider's canary Ingress.
const (
	// IngressLayoutCanaryNamespace deploys the manifests' Ingress into the
	// canary namespace, marked as canary: the walkthrough's layout. Only
	// ingress-nginx itself matches a canary Ingress with the main one across
	// namespaces (by host and path).
	IngressLayoutCanaryNamespace = "canary-namespace"
	// IngressLayoutBesideProduction puts the canary Ingress "<name>-canary"
	// in the production namespace, next to the main one, in front of an
	// ExternalName Service "<service>-canary" that reaches the canary
	// namespace's Service. Controllers that match canaries within a
	// namespace (Traefik's kubernetesIngressNGINX provider, the successor of
	// the retired ingress-nginx) need it; ingress-nginx accepts it too.
	IngressLayoutBesideProduction = "beside-production"
)

// Layout returns the NGINX ingress layout, IngressLayoutCanaryNamespace
// when none is set.
func (s EnvironmentSpec) Layout() string {
	if s.IngressLayout == "" {
		return IngressLayoutCanaryNamespace
	}
	return s.IngressLayout
}

// NamespacesCreatable reports whether stages may create missing namespaces.
func (s EnvironmentSpec) NamespacesCreatable() bool {
	return s.CreateNamespaces == nil || *s.CreateNamespaces
}

// KubeconfigSource is a kubeconfig given by path (read by the server) or
// inline.
type KubeconfigSource struct {
	Path   string `json:"path,omitempty" yaml:"path,omitempty"`
	Inline string `json:"inline,omitempty" yaml:"inline,omitempty"`
}

// Redacted is what the API shows instead of a secret value (an inline
// kubeconfig, the data of a Kubernetes Secret in an artifact). Sent back
// in an apply, it stands for the value already stored, which is kept; it
// is never stored itself.
const Redacted = "(redacted)"

// Artifact is a set of Kubernetes manifests with ${NAME} placeholders.
type Artifact struct {
	TypeMeta `json:",inline" yaml:",inline"`
	Metadata ObjectMeta   `json:"metadata" yaml:"metadata"`
	Spec     ArtifactSpec `json:"spec" yaml:"spec"`
}

// ArtifactSpec holds the manifest text. File is resolved by the client,
// relative to the resource file, into Manifests before it reaches the API.
type ArtifactSpec struct {
	Manifests string `json:"manifests,omitempty" yaml:"manifests,omitempty"`
	File      string `json:"file,omitempty" yaml:"file,omitempty"`
}

// Pipeline is a canary deployment pipeline: parameters and ordered stages.
type Pipeline struct {
	TypeMeta `json:",inline" yaml:",inline"`
	Metadata ObjectMeta   `json:"metadata" yaml:"metadata"`
	Spec     PipelineSpec `json:"spec" yaml:"spec"`
}

// PipelineSpec declares the pipeline's parameters, stages and the webhooks
// that may start it.
type PipelineSpec struct {
	Parameters []Parameter `json:"parameters,omitempty" yaml:"parameters,omitempty"`
	Stages     []Stage     `json:"stages" yaml:"stages"`
	// Triggers are the signed webhooks that start a run (see
	// docs/ci-triggers.md); a run can always be started through the API.
	Triggers []Trigger `json:"triggers,omitempty" yaml:"triggers,omitempty"`
	// Rollback says who may roll production back; by default a person
	// with the approver role.
	Rollback *RollbackPolicy `json:"rollback,omitempty" yaml:"rollback,omitempty"`
	// Notifications tell people and systems about the pipeline's
	// deployments (see docs/operations.md).
	Notifications []Notification `json:"notifications,omitempty" yaml:"notifications,omitempty"`
}

// RollbackPolicy says who may roll a pipeline's production back. A
// rollback changes production at once, with no approval stage, so by
// default it takes the approver role (on the pipeline or globally) beside
// deployer's.
type RollbackPolicy struct {
	// RequiredRole is the role a rollback needs: approver (the default:
	// a human gate) or deployer (anyone who may start runs, CI included).
	RequiredRole string `json:"requiredRole,omitempty" yaml:"requiredRole,omitempty"`
}

// The roles RollbackPolicy.RequiredRole may name.
const (
	RollbackByApprover = "approver"
	RollbackByDeployer = "deployer"
)

// RollbackRole is the role a rollback of the pipeline needs.
func (s PipelineSpec) RollbackRole() string {
	if s.Rollback == nil || s.Rollback.RequiredRole == "" {
		return RollbackByApprover
	}
	return s.Rollback.RequiredRole
}

// Parameter is a value a run supplies to the artifacts' placeholders.
type Parameter struct {
	Name        string  `json:"name" yaml:"name"`
	Default     *string `json:"default,omitempty" yaml:"default,omitempty"`
	Description string  `json:"description,omitempty" yaml:"description,omitempty"`
}

// StageType names what a stage does.
type StageType string

// The canary strategy's stage types.
const (
	StageCanaryDeployment  StageType = "canaryDeployment"
	StageShiftTraffic      StageType = "shiftTraffic"
	StageApproval          StageType = "approval"
	StageProductionRelease StageType = "productionRelease"
	// StageRollback is the single stage of a rollback deployment; it is
	// never declared in a pipeline.
	StageRollback StageType = "rollback"
)

// Stage is one step of a pipeline; exactly one of its typed fields is set.
type Stage struct {
	Name              string                  `json:"name" yaml:"name"`
	CanaryDeployment  *CanaryDeploymentStage  `json:"canaryDeployment,omitempty" yaml:"canaryDeployment,omitempty"`
	ShiftTraffic      *ShiftTrafficStage      `json:"shiftTraffic,omitempty" yaml:"shiftTraffic,omitempty"`
	CanarySteps       *CanaryStepsStage       `json:"canarySteps,omitempty" yaml:"canarySteps,omitempty"`
	Approval          *ApprovalStage          `json:"approval,omitempty" yaml:"approval,omitempty"`
	ProductionRelease *ProductionReleaseStage `json:"productionRelease,omitempty" yaml:"productionRelease,omitempty"`
	ProductionWave    *ProductionWaveStage    `json:"productionWave,omitempty" yaml:"productionWave,omitempty"`
	BlueGreen         *BlueGreenStage         `json:"blueGreen,omitempty" yaml:"blueGreen,omitempty"`
}

// Type returns the stage's type, or "" when none or several are set.
func (s Stage) Type() StageType {
	var t StageType
	n := 0
	if s.CanaryDeployment != nil {
		t, n = StageCanaryDeployment, n+1
	}
	if s.ShiftTraffic != nil {
		t, n = StageShiftTraffic, n+1
	}
	if s.CanarySteps != nil {
		t, n = StageCanarySteps, n+1
	}
	if s.Approval != nil {
		t, n = StageApproval, n+1
	}
	if s.ProductionRelease != nil {
		t, n = StageProductionRelease, n+1
	}
	if s.BlueGreen != nil {
		t, n = StageBlueGreen, n+1
	}
	if s.ProductionWave != nil {
		t, n = StageProductionWave, n+1
	}
	if n != 1 {
		return ""
	}
	return t
}

// CanaryDeploymentStage deploys the artifacts into the canary namespace.
type CanaryDeploymentStage struct {
	Environment string   `json:"environment" yaml:"environment"`
	Artifacts   []string `json:"artifacts" yaml:"artifacts"`
	Namespace   string   `json:"namespace" yaml:"namespace"`
	// IngressName is the NGINX Ingress of the manifests that becomes the
	// canary (NGINX provider). Set exactly one of IngressName and
	// HTTPRouteName.
	IngressName string `json:"ingressName,omitempty" yaml:"ingressName,omitempty"`
	// HTTPRouteName is the Gateway API HTTPRoute of the manifests that
	// splits the traffic (Gateway API provider): it lives in the production
	// namespace and gets a weighted backend in the canary namespace.
	HTTPRouteName string `json:"httpRouteName,omitempty" yaml:"httpRouteName,omitempty"`
	// TesterHeader is the request header that sends a request to the canary
	// whatever the weight (default "redirect-to-canary: always").
	TesterHeader *TesterHeader `json:"testerHeader,omitempty" yaml:"testerHeader,omitempty"`
	// TesterCookie, when set, names a cookie that sends a request to the
	// canary whatever the weight when its value is "always", for testers
	// in a browser, which cannot easily add a header. NGINX: the
	// canary-by-cookie annotation (where "never" keeps a request away from
	// the canary); Gateway API: a rule matching the Cookie header.
	TesterCookie string `json:"testerCookie,omitempty" yaml:"testerCookie,omitempty"`
	// RolloutTimeout bounds the wait for workloads to become available
	// (default 5m).
	RolloutTimeout *Duration `json:"rolloutTimeout,omitempty" yaml:"rolloutTimeout,omitempty"`
	// Scale sizes the canary's Deployments; unset, the canary is a full
	// copy of the manifests' replica counts.
	Scale *CanaryScale `json:"scale,omitempty" yaml:"scale,omitempty"`
}

// CanaryScale sizes the canary's Deployments: set exactly one field.
type CanaryScale struct {
	// Replicas gives every Deployment of the canary this many replicas.
	Replicas int `json:"replicas,omitempty" yaml:"replicas,omitempty"`
	// Percent gives every Deployment this share of the replicas its
	// manifest asks for, rounded up, at least one.
	Percent int `json:"percent,omitempty" yaml:"percent,omitempty"`
}

// Of returns the canary's replica count for a Deployment whose manifest
// asks for replicas.
func (s *CanaryScale) Of(replicas int) int {
	switch {
	case s == nil:
		return replicas
	case s.Replicas > 0:
		return s.Replicas
	}
	return max(1, (replicas*s.Percent+99)/100)
}

// TesterHeader is a request header that testers send to reach the canary.
type TesterHeader struct {
	Name string `json:"name" yaml:"name"`
	// Value is what the header must equal (default "always"). For NGINX,
	// "always" is ingress-nginx's keyword and any other value becomes the
	// canary-by-header-value annotation.
	Value string `json:"value,omitempty" yaml:"value,omitempty"`
}

// Defaults of the tester header.
const (
	DefaultTesterHeaderName  = "redirect-to-canary"
	DefaultTesterHeaderValue = "always"
)

// Header returns the stage's tester header with defaults filled in.
func (c *CanaryDeploymentStage) Header() TesterHeader {
	h := TesterHeader{Name: DefaultTesterHeaderName, Value: DefaultTesterHeaderValue}
	if c.TesterHeader != nil {
		if c.TesterHeader.Name != "" {
			h.Name = c.TesterHeader.Name
		}
		if c.TesterHeader.Value != "" {
			h.Value = c.TesterHeader.Value
		}
	}
	return h
}

// ShiftTrafficStage ramps the canary weight up to RampLimitPercent in
// BatchCount equal batches, BatchDelay apart.
type ShiftTrafficStage struct {
	RampLimitPercent int       `json:"rampLimitPercent" yaml:"rampLimitPercent"`
	BatchCount       int       `json:"batchCount,omitempty" yaml:"batchCount,omitempty"`
	BatchDelay       *Duration `json:"batchDelay,omitempty" yaml:"batchDelay,omitempty"`
}

// ApprovalStage waits for people to approve or reject.
type ApprovalStage struct {
	// ApprovalsRequired is how many distinct people must approve (default 1).
	ApprovalsRequired int       `json:"approvalsRequired,omitempty" yaml:"approvalsRequired,omitempty"`
	Timeout           *Duration `json:"timeout,omitempty" yaml:"timeout,omitempty"`
	// RequireDistinctFromTrigger refuses an approval by the identity that
	// started the run (four eyes): nobody approves their own release.
	RequireDistinctFromTrigger bool `json:"requireDistinctFromTrigger,omitempty" yaml:"requireDistinctFromTrigger,omitempty"`
}

// ProductionReleaseStage deploys the same manifests into production.
type ProductionReleaseStage struct {
	Namespace      string    `json:"namespace" yaml:"namespace"`
	RolloutTimeout *Duration `json:"rolloutTimeout,omitempty" yaml:"rolloutTimeout,omitempty"`
	// PromotionHold is how long a promoted canary keeps every request
	// after production's Services have only the new pods as endpoints,
	// before the requests go back to production. A data plane that reads
	// routes and endpoints from one watch of the API server (Traefik,
	// ingress-nginx, Gateway API controllers) applies the weight with the
	// endpoints it already knows, so it needs none; one that learns of
	// endpoints by another, slower path (a cloud load balancer registering
	// pod IPs, routing through kube-proxy) would send some of production's
	// share to the old pods while they terminate, and needs that path's
	// delay. Default DefaultPromotionHold (none).
	PromotionHold *Duration `json:"promotionHold,omitempty" yaml:"promotionHold,omitempty"`
	// RollbackOnFailure says what a failure in a later productionWave
	// stage restores: "wave" (the default) the failed wave's targets,
	// earlier waves keeping the new version; "all" every target the
	// deployment released, this production included.
	RollbackOnFailure string `json:"rollbackOnFailure,omitempty" yaml:"rollbackOnFailure,omitempty"`
}

// Defaults of optional stage settings.
const (
	DefaultRolloutTimeout    = 5 * time.Minute
	DefaultApprovalTimeout   = 24 * time.Hour
	DefaultApprovalsRequired = 1
	DefaultBatchCount        = 1
	DefaultPromotionHold     = time.Duration(0)
	// MaxPromotionHold bounds productionRelease.promotionHold.
	MaxPromotionHold = 5 * time.Minute
	// DataPlaneFollow is how long pods that no longer get requests are
	// kept before they are removed (a blue/green slot switched away from):
	// a data plane applies a change of the cluster a while after the API
	// server has it, and until then still sends requests to those pods.
	// Traefik applies changes at most once per
	// providers.providersThrottleDuration, 2s unless set.
	DataPlaneFollow = 2 * time.Second
)

// Duration is a time.Duration written as a Go duration string ("90s", "24h").
type Duration struct {
	time.Duration
}

// MarshalText writes the duration as a string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q: want a number with a unit, like 30s, 5m or 24h", string(b))
	}
	d.Duration = v
	return nil
}

// Or returns the duration, or def when d is nil.
func (d *Duration) Or(def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return d.Duration
}

// Trigger is a webhook that starts a run of the pipeline; exactly one of
// its fields is set.
type Trigger struct {
	// GitHub accepts GitHub webhook deliveries signed with
	// X-Hub-Signature-256 at /api/v1/webhooks/github/{pipeline}.
	GitHub *GitHubTrigger `json:"github,omitempty" yaml:"github,omitempty"`
	// Webhook accepts any sender that signs the body and a timestamp with
	// X-Fledge-Signature at /api/v1/webhooks/generic/{pipeline}.
	Webhook *WebhookTrigger `json:"webhook,omitempty" yaml:"webhook,omitempty"`
}

// WebhookTrigger maps a signed JSON delivery to the run's parameters.
type WebhookTrigger struct {
	// SecretRef names the webhook secret (fledge secret set NAME) that
	// signs deliveries.
	SecretRef string `json:"secretRef" yaml:"secretRef"`
	// Parameters maps a parameter name to a value in which each
	// {{ .dotted.path }} is replaced by the scalar at that path of the JSON
	// payload. Nothing else is evaluated: there are no functions and no
	// conditionals.
	Parameters map[string]string `json:"parameters,omitempty" yaml:"parameters,omitempty"`
	// Match keeps only deliveries whose scalar at each dotted path equals
	// the given string (for example action: completed).
	Match map[string]string `json:"match,omitempty" yaml:"match,omitempty"`
}

// GitHubTrigger is a WebhookTrigger for GitHub events.
type GitHubTrigger struct {
	WebhookTrigger `json:",inline" yaml:",inline"`
	// Events lists the X-GitHub-Event types that start a run: push,
	// workflow_run or registry_package. Other events are acknowledged and
	// ignored.
	Events []string `json:"events" yaml:"events"`
}

// GitHubEvents are the GitHub events a trigger may name.
var GitHubEvents = []string{"push", "workflow_run", "registry_package"}
