package v1alpha1

import "time"

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
	// RollbackTo is the deployment whose manifests a rollback re-applies.
	RollbackTo  int64             `json:"rollbackTo,omitempty" yaml:"rollbackTo,omitempty"`
	Parameters  map[string]string `json:"parameters" yaml:"parameters"`
	Status      DeploymentStatus  `json:"status" yaml:"status"`
	Message     string            `json:"message,omitempty" yaml:"message,omitempty"`
	TriggeredBy string            `json:"triggeredBy,omitempty" yaml:"triggeredBy,omitempty"`
	// CurrentStage names the stage being run or waited on.
	CurrentStage string       `json:"currentStage,omitempty" yaml:"currentStage,omitempty"`
	Stages       []StageState `json:"stages" yaml:"stages"`
	Decisions    []Decision   `json:"decisions,omitempty" yaml:"decisions,omitempty"`
	CanaryWeight int          `json:"canaryWeight" yaml:"canaryWeight"`
	// Live is true for the deployment whose manifests production runs now.
	Live               bool       `json:"live" yaml:"live"`
	CancelRequested    bool       `json:"cancelRequested,omitempty" yaml:"cancelRequested,omitempty"`
	CreatedAt          time.Time  `json:"createdAt" yaml:"createdAt"`
	StartedAt          *time.Time `json:"startedAt,omitempty" yaml:"startedAt,omitempty"`
	EndedAt            *time.Time `json:"endedAt,omitempty" yaml:"endedAt,omitempty"`
	ProductionAt       *time.Time `json:"productionAt,omitempty" yaml:"productionAt,omitempty"`
	ApprovalDeadline   *time.Time `json:"approvalDeadline,omitempty" yaml:"approvalDeadline,omitempty"`
	PipelineGeneration int64      `json:"pipelineGeneration" yaml:"pipelineGeneration"`
}

// StageState is one stage of a deployment.
type StageState struct {
	Name      string      `json:"name" yaml:"name"`
	Type      StageType   `json:"type" yaml:"type"`
	Status    StageStatus `json:"status" yaml:"status"`
	Message   string      `json:"message,omitempty" yaml:"message,omitempty"`
	StartedAt *time.Time  `json:"startedAt,omitempty" yaml:"startedAt,omitempty"`
	EndedAt   *time.Time  `json:"endedAt,omitempty" yaml:"endedAt,omitempty"`
}

// DecisionKind is an approver's answer.
type DecisionKind string

// Decisions at an approval stage.
const (
	DecisionApprove DecisionKind = "Approve"
	DecisionReject  DecisionKind = "Reject"
)

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
}

// RollbackPreview is what a rollback would change in production.
type RollbackPreview struct {
	Target  Deployment `json:"target"`
	Live    *int64     `json:"live,omitempty"`
	Diff    string     `json:"diff"`
	Changed int        `json:"changed"`
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
