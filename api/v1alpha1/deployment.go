package v1alpha1

import (
	"fmt"
	"time"
)

// DeploymentKind tells a release from a rollback.
type DeploymentKind string

// Deployment kinds.
const (
	KindRelease  DeploymentKind = "Release"
	KindRollback DeploymentKind = "Rollback"
)

// DeploymentStatus is where a deployment run stands.
type DeploymentStatus string

// Deployment statuses. Succeeded, Failed, Rejected and Cancelled are final.
const (
	StatusQueued             DeploymentStatus = "Queued"
	StatusRunning            DeploymentStatus = "Running"
	StatusWaitingForApproval DeploymentStatus = "WaitingForApproval"
	StatusSucceeded          DeploymentStatus = "Succeeded"
	StatusFailed             DeploymentStatus = "Failed"
	StatusRejected           DeploymentStatus = "Rejected"
	StatusCancelled          DeploymentStatus = "Cancelled"
)

// Final reports whether the status ends the deployment.
func (s DeploymentStatus) Final() bool {
	switch s {
	case StatusSucceeded, StatusFailed, StatusRejected, StatusCancelled:
		return true
	}
	return false
}

// StageStatus is where one stage of a deployment stands.
type StageStatus string

// Stage statuses.
const (
	StagePending   StageStatus = "Pending"
	StageRunning   StageStatus = "Running"
	StageWaiting   StageStatus = "Waiting"
	StageSucceeded StageStatus = "Succeeded"
	StageFailed    StageStatus = "Failed"
	StageSkipped   StageStatus = "Skipped"
)

// Deployment is one run of a pipeline, as the API shows it.
type Deployment struct {
	ID       int64          `json:"id" yaml:"id"`
	Pipeline string         `json:"pipeline" yaml:"pipeline"`
	Number   int64          `json:"number" yaml:"number"`
	Kind     DeploymentKind `json:"kind" yaml:"kind"`
	// RollbackTo is the deployment whose manifests a rollback re-applies,
	// and RollbackToNumber its number in the pipeline.
	RollbackTo       int64 `json:"rollbackTo,omitempty" yaml:"rollbackTo,omitempty"`
	RollbackToNumber int64 `json:"rollbackToNumber,omitempty" yaml:"rollbackToNumber,omitempty"`
	// Reason is why whoever started a rollback did so.
	Reason      string            `json:"reason,omitempty" yaml:"reason,omitempty"`
	Parameters  map[string]string `json:"parameters" yaml:"parameters"`
	Status      DeploymentStatus  `json:"status" yaml:"status"`
	Message     string            `json:"message,omitempty" yaml:"message,omitempty"`
	TriggeredBy string            `json:"triggeredBy,omitempty" yaml:"triggeredBy,omitempty"`
	// CurrentStage names the stage being run or waited on: while a
	// canarySteps stage waits for people, its gate (STAGE/step-N).
	CurrentStage string `json:"currentStage,omitempty" yaml:"currentStage,omitempty"`
	// ApprovalsRequired is how many distinct approvals the gate the
	// deployment waits at needs (only while it waits).
	ApprovalsRequired int `json:"approvalsRequired,omitempty" yaml:"approvalsRequired,omitempty"`
	// Analyses are the metric analyses of its canary steps, with each
	// metric's tally; the measurements themselves are read apart.
	Analyses []AnalysisRun `json:"analyses,omitempty" yaml:"analyses,omitempty"`
	Stages   []StageState  `json:"stages" yaml:"stages"`
	// Targets are the production targets of the pipeline's productionWave
	// stages (or a rollback's) and how far this deployment took each.
	Targets      []TargetState `json:"targets,omitempty" yaml:"targets,omitempty"`
	Decisions    []Decision    `json:"decisions,omitempty" yaml:"decisions,omitempty"`
	CanaryWeight int           `json:"canaryWeight" yaml:"canaryWeight"`
	// Live is true for the deployment whose manifests production runs now.
	Live bool `json:"live" yaml:"live"`
	// LiveTargets names the production targets of later waves that run
	// this deployment now.
	LiveTargets        []string   `json:"liveTargets,omitempty" yaml:"liveTargets,omitempty"`
	CancelRequested    bool       `json:"cancelRequested,omitempty" yaml:"cancelRequested,omitempty"`
	CreatedAt          time.Time  `json:"createdAt" yaml:"createdAt"`
	StartedAt          *time.Time `json:"startedAt,omitempty" yaml:"startedAt,omitempty"`
	EndedAt            *time.Time `json:"endedAt,omitempty" yaml:"endedAt,omitempty"`
	ProductionAt       *time.Time `json:"productionAt,omitempty" yaml:"productionAt,omitempty"`
	ApprovalDeadline   *time.Time `json:"approvalDeadline,omitempty" yaml:"approvalDeadline,omitempty"`
	PipelineGeneration int64      `json:"pipelineGeneration" yaml:"pipelineGeneration"`
	// Traffic is how the deployment moves requests to the canary; absent
	// for deployments made before Fledge recorded it (they used NGINX in
	// the canary-namespace layout).
	Traffic *TrafficRouting `json:"traffic,omitempty" yaml:"traffic,omitempty"`
	// BlueGreen is where a deployment of the blue/green strategy stands:
	// the slots, the switch, the scale down.
	BlueGreen *BlueGreenStatus `json:"blueGreen,omitempty" yaml:"blueGreen,omitempty"`
	// Notifications are what the deployment's events notified and each
	// delivery attempt (only when one deployment is read).
	Notifications []NotificationStatus `json:"notifications,omitempty" yaml:"notifications,omitempty"`
}

// NotificationStatus is one notification of a deployment and its delivery.
type NotificationStatus struct {
	Event NotificationEvent `json:"event" yaml:"event"`
	// EventSeq is the event that raised it.
	EventSeq  int64     `json:"eventSeq" yaml:"eventSeq"`
	CreatedAt time.Time `json:"createdAt" yaml:"createdAt"`
	// Done is true once every receiver was told or given up on.
	Done     bool                  `json:"done" yaml:"done"`
	Attempts []NotificationAttempt `json:"attempts,omitempty" yaml:"attempts,omitempty"`
}

// NotificationAttempt is one delivery to one receiver.
type NotificationAttempt struct {
	Receiver string    `json:"receiver" yaml:"receiver"`
	Sink     string    `json:"sink" yaml:"sink"`
	Attempt  int       `json:"attempt" yaml:"attempt"`
	At       time.Time `json:"at" yaml:"at"`
	// Result is sent, failed (tried again later) or gave_up.
	Result string `json:"result" yaml:"result"`
	Detail string `json:"detail,omitempty" yaml:"detail,omitempty"`
}

// Traffic providers.
const (
	// TrafficProviderNGINX uses ingress-nginx's canary annotations.
	TrafficProviderNGINX = "nginx"
	// TrafficProviderGatewayAPI uses the backend weights and header matches
	// of a Gateway API HTTPRoute.
	TrafficProviderGatewayAPI = "gatewayapi"
)

// TrafficRouting describes how a deployment splits requests, frozen when
// it is created.
type TrafficRouting struct {
	// Provider is TrafficProviderNGINX or TrafficProviderGatewayAPI.
	Provider string `json:"provider" yaml:"provider"`
	// Ingress is the NGINX provider's Ingress of the manifests.
	Ingress string `json:"ingress,omitempty" yaml:"ingress,omitempty"`
	// HTTPRoute is the Gateway API provider's HTTPRoute of the manifests.
	HTTPRoute string `json:"httpRoute,omitempty" yaml:"httpRoute,omitempty"`
	// Layout is the NGINX provider's ingress layout (IngressLayout*), and
	// LayoutReason says where it comes from.
	Layout       string `json:"layout,omitempty" yaml:"layout,omitempty"`
	LayoutReason string `json:"layoutReason,omitempty" yaml:"layoutReason,omitempty"`
	// TesterHeader sends a request to the canary whatever the weight.
	TesterHeader TesterHeader `json:"testerHeader" yaml:"testerHeader"`
	// TesterCookie, when set, is the cookie that sends a request to the
	// canary when its value is "always".
	TesterCookie string `json:"testerCookie,omitempty" yaml:"testerCookie,omitempty"`
}

// StageState is one stage of a deployment.
type StageState struct {
	Name    string      `json:"name" yaml:"name"`
	Type    StageType   `json:"type" yaml:"type"`
	Status  StageStatus `json:"status" yaml:"status"`
	Message string      `json:"message,omitempty" yaml:"message,omitempty"`
	// ApprovalsRequired is, for an approval stage, how many distinct
	// people must approve.
	ApprovalsRequired int        `json:"approvalsRequired,omitempty" yaml:"approvalsRequired,omitempty"`
	StartedAt         *time.Time `json:"startedAt,omitempty" yaml:"startedAt,omitempty"`
	EndedAt           *time.Time `json:"endedAt,omitempty" yaml:"endedAt,omitempty"`
}

// DecisionKind is an approver's answer.
type DecisionKind string

// Decisions at an approval stage.
const (
	DecisionApprove DecisionKind = "Approve"
	DecisionReject  DecisionKind = "Reject"
	// DecisionPromote skips what is left before the production release
	// (fledge promote); it is recorded at the gate PromoteGate.
	DecisionPromote DecisionKind = "Promote"
)

// PromoteGate is the stage name a promotion is recorded at.
const PromoteGate = "promote"

// Decision records who approved or rejected, when and why.
type Decision struct {
	Stage    string       `json:"stage" yaml:"stage"`
	User     string       `json:"user" yaml:"user"`
	Decision DecisionKind `json:"decision" yaml:"decision"`
	Reason   string       `json:"reason,omitempty" yaml:"reason,omitempty"`
	At       time.Time    `json:"at" yaml:"at"`
}

// Event is one entry of a deployment's ordered log.
type Event struct {
	DeploymentID int64     `json:"deploymentId" yaml:"deploymentId"`
	Seq          int64     `json:"seq" yaml:"seq"`
	Time         time.Time `json:"time" yaml:"time"`
	Stage        string    `json:"stage,omitempty" yaml:"stage,omitempty"`
	Type         string    `json:"type" yaml:"type"`
	Message      string    `json:"message" yaml:"message"`
}

// RunRequest starts a deployment of a pipeline.
type RunRequest struct {
	Parameters map[string]string `json:"parameters,omitempty"`
}

// RollbackRequest starts a rollback to an earlier deployment.
type RollbackRequest struct {
	To     int64 `json:"to"`
	DryRun bool  `json:"dryRun,omitempty"`
	// Reason is recorded with the rollback deployment and in the audit
	// log, like an approver's reason (at most MaxReasonLength bytes).
	Reason string `json:"reason,omitempty"`
	// Targets names the production targets to roll back (ENVIRONMENT/
	// NAMESPACE, the production beside the canary included); none: every
	// target the earlier deployment released.
	Targets []string `json:"targets,omitempty"`
}

// MaxReasonLength bounds the reason of a decision or a rollback.
const MaxReasonLength = 2000

// RollbackPreview is what a rollback would change in production.
type RollbackPreview struct {
	Target  Deployment `json:"target"`
	Live    *int64     `json:"live,omitempty"`
	Diff    string     `json:"diff"`
	Changed int        `json:"changed"`
	// SkipsProduction is set when the rollback leaves the production
	// beside the canary alone (only later waves' targets were named).
	SkipsProduction bool `json:"skipsProduction,omitempty"`
	// Targets are the later waves' production targets the rollback
	// re-applies too, each with its diff against what it runs now.
	Targets []TargetDiff `json:"targets,omitempty"`
}

// TargetDiff is what a rollback would change in one production target.
type TargetDiff struct {
	Name string `json:"name"`
	// Live is the deployment the target runs now, when known.
	Live    *int64 `json:"live,omitempty"`
	Diff    string `json:"diff"`
	Changed int    `json:"changed"`
}

// ProductionDiff is what releasing a deployment would change in
// production: the diff of its manifests, as production would get them,
// against the objects live in the production namespace.
type ProductionDiff struct {
	// Namespace is the production namespace the deployment releases to.
	Namespace string `json:"namespace"`
	// Live is the deployment production runs now, if any.
	Live    *int64 `json:"live,omitempty"`
	Diff    string `json:"diff"`
	Changed int    `json:"changed"`
}

// PipelineOverview says, for one pipeline, what production runs and what
// is under way.
type PipelineOverview struct {
	Pipeline string `json:"pipeline"`
	// Live is the deployment production runs now; absent before the first
	// release.
	Live *Deployment `json:"live,omitempty"`
	// Active are the unfinished deployments, newest first (at most
	// OverviewActiveLimit).
	Active []Deployment `json:"active"`
	// ActiveTotal counts every unfinished deployment.
	ActiveTotal int `json:"activeTotal"`
}

// OverviewActiveLimit bounds the unfinished deployments an overview lists
// per pipeline.
const OverviewActiveLimit = 5

// Overview is the pipelines' overview, ordered by pipeline name.
type Overview struct {
	Items []PipelineOverview `json:"items"`
}

// DecisionRequest approves or rejects a deployment waiting for approval.
type DecisionRequest struct {
	Reason string `json:"reason,omitempty"`
}

// Status is the API's error body, naming what is wrong and where.
type Status struct {
	Code    int          `json:"code"`
	Reason  string       `json:"reason"`
	Message string       `json:"message"`
	Details []FieldError `json:"details,omitempty"`
}

// Routing returns how the canary stage splits requests when deployed to
// environment envName: the provider the stage names, the environment's
// ingress layout and why, and the tester header.
func (c *CanaryDeploymentStage) Routing(envName string, env EnvironmentSpec) TrafficRouting {
	t := TrafficRouting{TesterHeader: c.Header(), TesterCookie: c.TesterCookie}
	if c.HTTPRouteName != "" {
		t.Provider = TrafficProviderGatewayAPI
		t.HTTPRoute = c.HTTPRouteName
		return t
	}
	t.Provider = TrafficProviderNGINX
	t.Ingress = c.IngressName
	t.Layout = env.Layout()
	if env.IngressLayout == "" {
		t.LayoutReason = fmt.Sprintf("default: environment %s sets no ingressLayout", envName)
	} else {
		t.LayoutReason = fmt.Sprintf("environment %s sets ingressLayout", envName)
	}
	return t
}
