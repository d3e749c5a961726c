package v1alpha1

// Paths of the HTTP API, all under PathPrefix.
const (
	PathPrefix = "/api/v1"
	// UserHeader carries the caller's identity to a server started with
	// --auth=none; a server with authentication ignores it (the identity
	// is the token's name).
	UserHeader = "X-Fledge-User"
)

// Plural returns the URL collection name of a resource kind, or "".
func Plural(kind string) string {
	switch kind {
	case KindEnvironment:
		return "environments"
	case KindArtifact:
		return "artifacts"
	case KindPipeline:
		return "pipelines"
	case KindAnalysisTemplate:
		return "analysistemplates"
	}
	return ""
}

// KindOfPlural is the inverse of Plural; it also accepts the singular and
// the kind itself, case-insensitively, as kubectl does.
func KindOfPlural(s string) string {
	for _, k := range Kinds {
		if eqFold(s, k) || eqFold(s, Plural(k)) || eqFold(s, Plural(k)[:len(Plural(k))-1]) {
			return k
		}
	}
	switch {
	case eqFold(s, "env"), eqFold(s, "envs"):
		return KindEnvironment
	case eqFold(s, "pl"), eqFold(s, "pipe"):
		return KindPipeline
	}
	return ""
}

func eqFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// ApplyAction says what an apply did to a resource.
type ApplyAction string

// Apply actions, as kubectl prints them.
const (
	ActionCreated    ApplyAction = "created"
	ActionConfigured ApplyAction = "configured"
	ActionUnchanged  ApplyAction = "unchanged"
)

// ApplyResponse is the answer to PUT /api/v1/{plural}/{name}. Object is the
// stored resource (an Environment never carries inline kubeconfig text back).
type ApplyResponse struct {
	Kind       string      `json:"kind"`
	Name       string      `json:"name"`
	Action     ApplyAction `json:"action"`
	Generation int64       `json:"generation"`
}

// ResourceList is the answer to GET /api/v1/{plural}: full objects as JSON.
type ResourceList[T any] struct {
	Items []T `json:"items"`
}

// DeploymentList is a page of deployments, newest first.
type DeploymentList struct {
	Items []Deployment `json:"items"`
	Total int          `json:"total"`
	// NextBefore, when non-zero, is the `before` value of the next page.
	NextBefore int64 `json:"nextBefore,omitempty"`
}

// EventList is a deployment's events after a sequence number.
type EventList struct {
	Items []Event `json:"items"`
}
