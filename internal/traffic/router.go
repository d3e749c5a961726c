package traffic

import (
	"context"
	"errors"
)

// Router sets and reads the percentage of requests a provider sends to the
// canary. Implementations are idempotent: setting the current weight again
// changes nothing.
type Router interface {
	// SetWeight sends percent (0 to 100) of the requests to the canary and
	// returns once the provider's configuration says so. SetWeight(0) when
	// the canary route does not exist succeeds, so that a deployment that
	// failed before its canary was created can still be closed.
	SetWeight(ctx context.Context, percent int) error
	// Weight returns the percentage of requests currently sent to the
	// canary.
	Weight(ctx context.Context) (int, error)
}

// Errors a Router returns, matched with errors.Is.
var (
	// ErrRouteNotFound means the canary route (for NGINX, the canary
	// Ingress) does not exist.
	ErrRouteNotFound = errors.New("canary route not found")
	// ErrInvalidWeight means a weight outside 0 to 100.
	ErrInvalidWeight = errors.New("weight must be between 0 and 100")
)
