package v1alpha1

import "time"

// AuthorizationHeader carries "Bearer <token>" on every API request.
const AuthorizationHeader = "Authorization"

// AccessTokenQuery is the query parameter that may carry the token on the
// one route a browser cannot add headers to: the events watch stream
// (EventSource). Every other route refuses it.
const AccessTokenQuery = "access_token"

// Token is an API token as the API shows it: never its secret.
type Token struct {
	Name string `json:"name" yaml:"name"`
	// Roles are grants: viewer, deployer, approver, admin, or
	// deployer:PIPELINE and approver:PIPELINE.
	Roles     []string   `json:"roles" yaml:"roles"`
	CreatedAt time.Time  `json:"createdAt" yaml:"createdAt"`
	CreatedBy string     `json:"createdBy,omitempty" yaml:"createdBy,omitempty"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty" yaml:"expiresAt,omitempty"`
}

// TokenRequest creates a token.
type TokenRequest struct {
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
	// ExpiresIn, when set, makes the token stop working after it.
	ExpiresIn *Duration `json:"expiresIn,omitempty"`
}

// CreatedToken is the answer to a token creation: the only time the
// secret is shown.
type CreatedToken struct {
	Token
	Secret string `json:"token"`
}

// TokenList lists tokens by name.
type TokenList struct {
	Items []Token `json:"items"`
}

// WhoAmI is the caller's identity and roles.
type WhoAmI struct {
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
	// AuthDisabled is true on a server started with --auth=none, which
	// trusts any caller.
	AuthDisabled bool `json:"authDisabled,omitempty"`
}

// AuditEntry is one line of the append-only audit log.
type AuditEntry struct {
	ID         int64     `json:"id" yaml:"id"`
	At         time.Time `json:"at" yaml:"at"`
	Actor      string    `json:"actor" yaml:"actor"`
	Action     string    `json:"action" yaml:"action"`
	Target     string    `json:"target,omitempty" yaml:"target,omitempty"`
	RemoteAddr string    `json:"remoteAddr,omitempty" yaml:"remoteAddr,omitempty"`
	// Outcome is ok, failed (the request was refused, nothing changed) or
	// denied (401 or 403).
	Outcome string `json:"outcome" yaml:"outcome"`
	Detail  string `json:"detail,omitempty" yaml:"detail,omitempty"`
}

// AuditList is a page of the audit log, newest first.
type AuditList struct {
	Items []AuditEntry `json:"items"`
	// NextBefore, when non-zero, is the `before` value of the next page.
	NextBefore int64 `json:"nextBefore,omitempty"`
	// NextAfter, when non-zero, is the `after` value of the next page of
	// a list oldest first (order=oldest).
	NextAfter int64 `json:"nextAfter,omitempty"`
}

// AuditPruneRequest removes the audit entries older than Before with an
// ID up to ThroughID: the newest entry the caller archived, so that
// nothing is removed unseen.
type AuditPruneRequest struct {
	Before    time.Time `json:"before"`
	ThroughID int64     `json:"throughId"`
}

// AuditPruneResult says how many entries a prune removed.
type AuditPruneResult struct {
	Deleted int64 `json:"deleted"`
}

// Types of Fledge secrets.
const (
	// SecretTypeWebhook signs webhook deliveries (the default).
	SecretTypeWebhook = "webhook"
	// SecretTypeRegistry is a container registry login that environments
	// provision as a kubernetes.io/dockerconfigjson Secret.
	SecretTypeRegistry = "registry"
)

// SecretRequest sets a secret: a webhook secret's value, or a registry
// secret's login.
type SecretRequest struct {
	// Type is SecretTypeWebhook (default) or SecretTypeRegistry.
	Type  string `json:"type,omitempty"`
	Value string `json:"value,omitempty"`
	// Registry is the login of a registry secret.
	Registry *RegistryLogin `json:"registry,omitempty"`
}

// RegistryLogin is what a registry secret holds.
type RegistryLogin struct {
	Server   string `json:"server"`
	Username string `json:"username"`
	// Password is a password or access token; it is never returned.
	Password string `json:"password"`
}

// Secret describes a secret; its value is never returned.
type Secret struct {
	Name string `json:"name" yaml:"name"`
	// Type is webhook or registry.
	Type string `json:"type" yaml:"type"`
	// Server is a registry secret's registry.
	Server string `json:"server,omitempty" yaml:"server,omitempty"`
	// Username is a registry secret's user name.
	Username  string    `json:"username,omitempty" yaml:"username,omitempty"`
	CreatedAt time.Time `json:"createdAt" yaml:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt" yaml:"updatedAt"`
	// UsedBy lists the pipelines whose triggers name the secret
	// ("pipeline/NAME") and the environments that provision it
	// ("environment/NAME").
	UsedBy []string `json:"usedBy,omitempty" yaml:"usedBy,omitempty"`
}

// SecretList lists webhook secrets by name.
type SecretList struct {
	Items []Secret `json:"items"`
}

// WebhookResult is the answer to a webhook delivery.
type WebhookResult struct {
	// Triggered is true when the delivery started a run.
	Triggered bool `json:"triggered"`
	// Message says why nothing was started (an ignored event, a match
	// that differs) or what was.
	Message    string      `json:"message"`
	Deployment *Deployment `json:"deployment,omitempty"`
}
