package traffic

import (
	"context"
	"errors"
	"fmt"
)

// Router sets and reads how a provider splits requests between production
// and the canary. Implementations are idempotent: asking for the current
// state again changes nothing, so a step repeated after a crash is safe.
type Router interface {
	// SetWeight sends percent (0 to 100) of the requests to the canary and
	// returns once the provider's configuration says so (read back).
	// SetWeight(0) succeeds when the canary route does not exist, so that a
	// deployment that failed before its canary was created can still be
	// closed. A weight above 0 with no production route to split fails
	// with an error matching ErrNoProduction.
	SetWeight(ctx context.Context, percent int) error
	// Weight returns the percentage of requests currently sent to the
	// canary.
	Weight(ctx context.Context) (int, error)
	// SetHeaderRoute sends every request carrying the header to the
	// canary, whatever the weight; nil removes that route. Like a weight
	// above 0, a header with no production route to split fails with an
	// error matching ErrNoProduction (a first release).
	SetHeaderRoute(ctx context.Context, h *HeaderRoute) error
	// Reset sends every request to production again: weight 0, and
	// whatever the provider added for the canary only (such as a Gateway
	// API ReferenceGrant) removed once no route uses it. The tester header
	// route stays where the provider's canary keeps it (NGINX).
	Reset(ctx context.Context) error
}

// HeaderRoute is a request header that sends a request to the canary,
// and optionally a cookie that does too when its value is CookieAlways.
type HeaderRoute struct {
	Name  string
	Value string
	// Cookie, when set, names the tester cookie.
	Cookie string
}

// CookieAlways is the tester cookie's value that sends a request to the
// canary (ingress-nginx's keyword, kept for every provider).
const CookieAlways = "always"

func (h HeaderRoute) String() string {
	if h.Cookie != "" {
		return h.Name + ": " + h.Value + " (or cookie " + h.Cookie + "=" + CookieAlways + ")"
	}
	return h.Name + ": " + h.Value
}

// Event is something a router did or found that the deployment's history
// should show, such as a ReferenceGrant created or a route's status.
type Event struct {
	// Type is a CamelCase word like "ReferenceGrantCreated".
	Type    string
	Message string
}

// Recorder receives a router's events; nil discards them.
type Recorder func(Event)

// Record sends an event to rec, if any.
func (rec Recorder) Record(typ, format string, args ...any) {
	if rec != nil {
		rec(Event{Type: typ, Message: fmt.Sprintf(format, args...)})
	}
}

// Errors a Router returns, matched with errors.Is.
var (
	// ErrRouteNotFound means the canary route (for NGINX, the canary
	// Ingress) does not exist.
	ErrRouteNotFound = errors.New("canary route not found")
	// ErrInvalidWeight means a weight outside 0 to 100.
	ErrInvalidWeight = errors.New("weight must be between 0 and 100")
	// ErrNoProduction means there is no production route to split against
	// yet (the first release of a pipeline, before its approval) or the
	// canary cannot match it: the canary gets no weight. The caller keeps
	// the weight at 0 and says so.
	ErrNoProduction = errors.New("no production route to split traffic with")
	// ErrNotOwned means the route's fields that Fledge must change belong
	// to another field manager; Fledge refuses to take them over.
	ErrNotOwned = errors.New("route is managed by someone else")
	// ErrRouteNotReady means the controller did not accept the route (or
	// did not resolve its backends) in time after a change.
	ErrRouteNotReady = errors.New("route not accepted by its controller")
)
