// Package store defines how Fledge persists resources, deployments, their
// events and approval decisions, and the security records: API tokens
// (hashes only), the append-only audit log, sealed webhook secrets and the
// webhook deliveries already seen. Drivers (sqlite, postgres) implement Store;
// storetest holds the one conformance suite every driver must pass.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

// Errors every driver returns, checked with errors.Is.
var (
	// ErrNotFound: the resource or deployment does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the row changed since it was read (optimistic
	// concurrency), or a unique constraint was hit.
	ErrConflict = errors.New("conflict")
	// ErrLeaseLost: the caller no longer holds the deployment's lease, so
	// it must stop writing (fencing).
	ErrLeaseLost = errors.New("lease lost")
	// ErrDuplicateDecision: this user already decided at this stage.
	ErrDuplicateDecision = errors.New("duplicate decision")
	// ErrStageDecided: the deployment no longer waits for a decision at
	// this stage (it was rejected, has its approvals, or moved on).
	ErrStageDecided = errors.New("stage already decided")
)

// Resource is a declarative resource (Environment, Artifact, Pipeline)
// stored as the JSON of the whole object.
type Resource struct {
	Kind string
	Name string
	// Spec is the JSON document of the resource as applied.
	Spec       []byte
	Generation int64
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Deployment is the stored row of one pipeline run.
type Deployment struct {
	ID       int64
	Pipeline string
	// Number counts deployments per pipeline, from 1.
	Number     int64
	Kind       string
	RollbackTo int64
	Parameters map[string]string
	// TriggeredBy is the identity that started the run.
	TriggeredBy string
	// Plan is the immutable JSON snapshot rendered at creation.
	Plan []byte
	// State is the executor's JSON progress record; only the lease holder
	// writes it.
	State []byte
	// Status is the API status (v1alpha1.DeploymentStatus), kept as a
	// column for queries.
	Status string
	// Version increases on every update (optimistic concurrency).
	Version         int64
	CancelRequested bool
	// WakeAt is when a waiting deployment next needs the executor.
	WakeAt       *time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
	StartedAt    *time.Time
	EndedAt      *time.Time
	ProductionAt *time.Time
	LeaseOwner   string
	LeaseExpires *time.Time
}

// StatusWaitingForApproval is the Status of a deployment waiting for a
// decision (v1alpha1.StatusWaitingForApproval).
const StatusWaitingForApproval = "WaitingForApproval"

// Final reports whether status is one of the final statuses.
func Final(status string) bool {
	switch status {
	case "Succeeded", "Failed", "Rejected", "Cancelled":
		return true
	}
	return false
}

// Event is one entry of a deployment's event log; Seq is assigned by the
// store, from 1 per deployment, without gaps while the deployment runs.
// When it ends, its rollout progress is compacted (ProgressEventType), so
// a finished deployment's Seqs skip the progress lines that were dropped.
type Event struct {
	DeploymentID int64
	Seq          int64
	Time         time.Time
	Stage        string
	Type         string
	Message      string
	// Notify, when set, is the notification this event raises
	// (v1alpha1.NotificationEvent): the store writes it to the outbox in the
	// same transaction as the event, so it is never lost. Not read back.
	Notify string
	// Measurement, when set, is an analysis measurement the event reports:
	// the store keeps it (ListMeasurements) in the same transaction as the
	// event. Not read back with the event.
	Measurement *v1alpha1.Measurement
}

// ProgressEventType is the type of the rollout progress events a
// deployment writes while it waits for workloads to roll out, one per
// change of a workload's status. They are for people watching a release;
// once it has ended, only the last of each workload in each stage says
// anything (rolled out, or how far it got). So when UpdateDeployment
// writes a final status it deletes the others: of the events of this type
// with the same Stage and the same message up to its second ": " (the
// executor writes "namespace: kind/name: status"), only the newest is kept.
const ProgressEventType = "RolloutProgress"

// Notification is an outbox row: an event whose receivers must be told.
// The sender claims due rows under a lease (one replica sends each),
// delivers, and records every attempt.
type Notification struct {
	ID           int64
	DeploymentID int64
	// EventSeq is the Seq of the event that raised it.
	EventSeq int64
	// Event is the v1alpha1.NotificationEvent.
	Event     string
	CreatedAt time.Time
	// Done is set once every receiver was told or given up on.
	Done bool
	// Attempts counts the delivery rounds so far.
	Attempts int
	// NextAttemptAt is when the row is due (again).
	NextAttemptAt time.Time
}

// NotificationAttempt is one delivery of a notification to one receiver.
type NotificationAttempt struct {
	NotificationID int64
	// Receiver names the pipeline's notification entry; Sink is its type
	// (slack, webhook, email).
	Receiver string
	Sink     string
	Attempt  int
	At       time.Time
	// Result is "sent", "failed" (tried again later) or "gave_up".
	Result string
	Detail string
}

// Decision is an approval or rejection of a deployment at a stage.
type Decision struct {
	DeploymentID int64
	Stage        string
	User         string
	// Decision is "Approve" or "Reject".
	Decision string
	Reason   string
	At       time.Time
}

// DeploymentView is what the view of one deployment reads: its row, the
// live deployment of its pipeline, its decisions and its notifications,
// all of one snapshot.
type DeploymentView struct {
	// Deployment is the row; Plan and State are nil when its Version is
	// the one the caller said it has them for.
	Deployment Deployment
	// LiveID is LiveDeploymentID of the deployment's pipeline, 0 when
	// none is live.
	LiveID int64
	// Decisions are ListDecisions of the deployment (empty, not nil, when
	// none).
	Decisions []Decision
	// Notifications and Attempts are ListNotifications of the deployment.
	Notifications []Notification
	Attempts      []NotificationAttempt
	// TokensRevision is TokensRevision in the same snapshot: a caller
	// authenticated by a token read at this revision is still authorized
	// as it was when the view was read.
	TokensRevision int64
}

// Token is an API token. Only the SHA-256 of its secret is stored; Name is
// the identity of the requests it authenticates.
type Token struct {
	Name string
	Hash []byte
	// Roles are grants as text: "admin", "approver:web".
	Roles     []string
	CreatedAt time.Time
	CreatedBy string
	// ExpiresAt, when set, is when the token stops working.
	ExpiresAt *time.Time
	// Revision is the tokens revision (TokensRevision) the token was read
	// at, in the same statement; set by TokenByHash only.
	Revision int64
}

// AuditEntry is one line of the append-only audit log: who did what, when,
// from where, and how it ended.
type AuditEntry struct {
	ID         int64
	At         time.Time
	Actor      string
	Action     string
	Target     string
	RemoteAddr string
	// Outcome is "ok", "denied" (401/403) or "failed".
	Outcome string
	Detail  string
}

// AuditFilter selects audit entries, newest first.
type AuditFilter struct {
	Actor  string
	Action string
	// Since keeps entries at or after it (zero: no bound).
	Since time.Time
	// BeforeID pages: only IDs lower than it (0: no bound).
	BeforeID int64
	// Until keeps entries strictly before it (zero: no bound).
	Until time.Time
	// AfterID pages oldest first: only IDs higher than it.
	AfterID int64
	// Oldest lists oldest first instead of newest first (for an export).
	Oldest bool
	// Limit caps the result (0: 100).
	Limit int
}

// AuditPrune is a recorded removal of old audit entries: those strictly
// older than Before with an ID up to ThroughID (the newest one archived).
type AuditPrune struct {
	At        time.Time
	Actor     string
	Before    time.Time
	ThroughID int64
}

// Secret is a named secret sealed by the server's key (secretbox); the
// store never sees its plain text.
type Secret struct {
	Name      string
	Sealed    []byte
	CreatedAt time.Time
	UpdatedAt time.Time
}

// DeploymentFilter selects deployments for ListDeployments, newest first.
type DeploymentFilter struct {
	Pipeline string
	// Number, when non-zero, keeps only the deployment with that number
	// within Pipeline (PIPELINE#NUMBER).
	Number int64
	// Statuses, when non-empty, keeps only these statuses.
	Statuses []string
	// IDs, when non-empty, keeps only these deployments.
	IDs []int64
	// BeforeID pages: only IDs lower than it (0: no bound).
	BeforeID int64
	// Limit caps the result (0: 100).
	Limit int
	// OmitPlanState leaves Plan and State out of the rows (nil): for a
	// reader that has them decoded for the row's Version already.
	OmitPlanState bool
}

// UnfinishedOfPipeline reports whether f selects only unfinished
// deployments of one pipeline: drivers read those through their index of
// unfinished deployments, not by (pipeline, id), which would walk the
// pipeline's finished history too.
func (f DeploymentFilter) UnfinishedOfPipeline() bool {
	if f.Pipeline == "" || len(f.Statuses) == 0 {
		return false
	}
	for _, st := range f.Statuses {
		if Final(st) {
			return false
		}
	}
	return true
}

// Store is the persistence every Fledge server shares. All methods are
// safe for concurrent use.
type Store interface {
	// PutResource creates or updates a resource. Generation starts at 1 and
	// increases only when Spec changes. It returns the stored row and
	// whether it was created.
	PutResource(ctx context.Context, r Resource) (Resource, bool, error)
	GetResource(ctx context.Context, kind, name string) (Resource, error)
	// ListResources returns the resources of a kind ordered by name.
	ListResources(ctx context.Context, kind string) ([]Resource, error)
	DeleteResource(ctx context.Context, kind, name string) error

	// CreateDeployment stores a new deployment with the given fields,
	// assigning ID, Number, Version (1), CreatedAt and UpdatedAt. The
	// initial events are appended in the same transaction.
	CreateDeployment(ctx context.Context, d Deployment, events ...Event) (Deployment, error)
	GetDeployment(ctx context.Context, id int64) (Deployment, error)
	ListDeployments(ctx context.Context, f DeploymentFilter) ([]Deployment, error)
	// CountDeployments counts what ListDeployments would return without a
	// limit or page bound. Without Number and IDs it reads counters the
	// store keeps per pipeline and status, not the deployments.
	CountDeployments(ctx context.Context, f DeploymentFilter) (int, error)
	// UpdateDeployment writes State, Status, WakeAt, StartedAt, EndedAt and
	// ProductionAt of d, and appends events (Seq assigned), in one
	// transaction, if d.Version is still current and owner holds an
	// unexpired lease. It returns the row with its new Version, or
	// ErrConflict / ErrLeaseLost. A final Status also compacts the
	// deployment's rollout progress (ProgressEventType), in the same
	// transaction.
	UpdateDeployment(ctx context.Context, d Deployment, owner string, events ...Event) (Deployment, error)
	// RequestCancel flags a deployment for cancellation; ErrConflict if it
	// has already ended.
	RequestCancel(ctx context.Context, id int64) error
	// LiveDeployment returns the pipeline's deployment with the latest
	// ProductionAt, or ErrNotFound.
	LiveDeployment(ctx context.Context, pipeline string) (Deployment, error)
	// LiveDeploymentID is LiveDeployment's ID alone, without reading the
	// row: what a view needs to mark the live deployment.
	LiveDeploymentID(ctx context.Context, pipeline string) (int64, error)

	// ClaimDeployment takes the lease of one runnable deployment for owner
	// until now+ttl: not final, unleased or with an expired lease, WakeAt
	// null or passed, and either the oldest unfinished one of its pipeline
	// (runs of a pipeline go one at a time, in order) or a never-started one
	// (StartedAt null) whose cancellation was requested, so a queued run can
	// be cancelled while another runs. Started runs go first (one taken
	// over from a replica that died, or a parked one now due), then the
	// oldest. ok is false when none is runnable.
	ClaimDeployment(ctx context.Context, owner string, ttl time.Duration) (d Deployment, ok bool, err error)
	// RenewLease extends owner's lease; ErrLeaseLost if it is no longer
	// owner's.
	RenewLease(ctx context.Context, id int64, owner string, ttl time.Duration) error
	// ReleaseLease gives the lease up (no error if not held).
	ReleaseLease(ctx context.Context, id int64, owner string) error

	// AppendEvents appends events outside of a state update (for example
	// the API recording a decision); Seq is assigned.
	AppendEvents(ctx context.Context, events ...Event) error
	// ListEvents returns a deployment's events with Seq > afterSeq, in order.
	ListEvents(ctx context.Context, id int64, afterSeq int64) ([]Event, error)

	// AddDecision records a decision and its event atomically;
	// ErrDuplicateDecision if the user already decided at that stage. With
	// need > 0 (the approvals the stage requires) the decision is taken
	// only while the stage is open, checked in the same transaction as the
	// insert: the deployment's Status is WaitingForApproval, the stage has
	// no rejection and fewer than need distinct approvers. Otherwise it
	// returns ErrStageDecided and records nothing, so concurrent approvals
	// and rejections have exactly one outcome. need 0 records without the
	// check (seeding a history).
	AddDecision(ctx context.Context, d Decision, need int, e Event) error
	ListDecisions(ctx context.Context, id int64) ([]Decision, error)
	// GetDeploymentView reads deployment id with what its view shows
	// besides its plan and state (DeploymentView), and the tokens
	// revision, in one statement, one snapshot, instead of a read of each. Plan and State are left out
	// (nil) when the row's Version is knownVersion: the caller has them
	// decoded for that version (0 never matches). ErrNotFound when there
	// is no such deployment.
	GetDeploymentView(ctx context.Context, id, knownVersion int64) (DeploymentView, error)
	// ListMeasurements returns the analysis measurements of deployment id
	// in the order they were recorded.
	ListMeasurements(ctx context.Context, id int64) ([]v1alpha1.Measurement, error)
	// ListDecisionsOf returns the decisions of each of ids (in the order
	// they were made) in one query, for listings; deployments without
	// decisions have no key.
	ListDecisionsOf(ctx context.Context, ids []int64) (map[int64][]Decision, error)

	// CreateToken stores a new token; ErrConflict if the name is taken.
	CreateToken(ctx context.Context, t Token) error
	// TokenByHash returns the token whose Hash is hash, with the tokens
	// revision it was read at, or ErrNotFound.
	TokenByHash(ctx context.Context, hash []byte) (Token, error)
	// TokensRevision returns a number that grows, in the same
	// transaction, with every change to the tokens (create, delete, a
	// change of roles or expiry) by any process sharing the store: a token
	// read at revision r is still as read while TokensRevision returns r.
	// It is a read of one row by primary key, far cheaper than
	// TokenByHash.
	TokensRevision(ctx context.Context) (int64, error)
	// ListTokens returns every token ordered by name.
	ListTokens(ctx context.Context) ([]Token, error)
	// DeleteToken deletes (revokes) a token; ErrNotFound if there is none.
	DeleteToken(ctx context.Context, name string) error

	// AppendAudit appends an entry to the audit log and returns it with
	// its ID. The log has no update or delete.
	AppendAudit(ctx context.Context, e AuditEntry) (AuditEntry, error)
	// ListAudit returns entries newest first (oldest first with
	// f.Oldest).
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
	// PruneAudit records p and deletes the entries it covers, in one
	// transaction, and returns how many it deleted. The database refuses
	// any other delete from the audit log.
	PruneAudit(ctx context.Context, p AuditPrune) (int64, error)

	// PutSecret creates or replaces a secret and says whether it was
	// created.
	PutSecret(ctx context.Context, s Secret) (bool, error)
	// GetSecret returns one secret or ErrNotFound.
	GetSecret(ctx context.Context, name string) (Secret, error)
	// ListSecrets returns every secret ordered by name.
	ListSecrets(ctx context.Context) ([]Secret, error)
	// DeleteSecret deletes a secret; ErrNotFound if there is none.
	DeleteSecret(ctx context.Context, name string) error

	// RecordDelivery remembers a webhook delivery key (a GitHub delivery
	// id, a generic delivery's signature); ErrConflict if it was seen
	// before, which makes a replay fail.
	RecordDelivery(ctx context.Context, key string, at time.Time) error

	// ClaimNotifications leases up to limit due notifications (not done,
	// NextAttemptAt passed, unleased or with an expired lease) to owner
	// until now+ttl, oldest first; replicas never get the same row.
	ClaimNotifications(ctx context.Context, owner string, ttl time.Duration, limit int) ([]Notification, error)
	// FinishNotification records a delivery round of owner's claimed
	// notification: its attempts, then either done or due again at next;
	// the lease is released. ErrLeaseLost if owner no longer holds it.
	FinishNotification(ctx context.Context, id int64, owner string, attempts []NotificationAttempt, done bool, next time.Time) error
	// ListNotifications returns a deployment's notifications, oldest
	// first, and their attempts in the order they were made.
	ListNotifications(ctx context.Context, deploymentID int64) ([]Notification, []NotificationAttempt, error)
	// PendingNotifications counts the notifications not done.
	PendingNotifications(ctx context.Context) (int, error)

	// Ping checks that the store answers.
	Ping(ctx context.Context) error
	Close() error
}

// CheckStageOpen is the rule AddDecision applies (with need > 0) to the
// deployment's status and the stage's tally of rejections and distinct
// approvers: nil while the stage still waits for a decision, else
// ErrStageDecided saying why.
func CheckStageOpen(status, stage string, rejects, approvers, need int) error {
	switch {
	case status != StatusWaitingForApproval:
		return fmt.Errorf("deployment is %s, not waiting for approval: %w", status, ErrStageDecided)
	case rejects > 0:
		return fmt.Errorf("stage %s was rejected: %w", stage, ErrStageDecided)
	case approvers >= need:
		return fmt.Errorf("stage %s has its %d of %d approvals: %w", stage, approvers, need, ErrStageDecided)
	}
	return nil
}
