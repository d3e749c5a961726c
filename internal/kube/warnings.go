package kube

import (
	"context"
	"slices"
	"sync"
)

// warningsKey is the context key of a *warnings collector.
type warningsKey struct{}

// warnings collects the API server's warnings (deprecated fields and kinds)
// for the requests made with a context that carries it.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

// collectWarnings returns a context whose requests record their warnings
// in the returned collector.
func collectWarnings(ctx context.Context) (context.Context, *warnings) {
	w := &warnings{}
	return context.WithValue(ctx, warningsKey{}, w), w
}

func (w *warnings) add(msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !slices.Contains(w.msgs, msg) {
		w.msgs = append(w.msgs, msg)
	}
}

// list returns the warnings collected so far.
func (w *warnings) list() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.msgs)
}

// warningRouter hands each warning to the collector of the request's
// context and drops it otherwise: a library should not write to stderr.
type warningRouter struct{}

// HandleWarningHeaderWithContext implements rest.WarningHandlerWithContext.
func (warningRouter) HandleWarningHeaderWithContext(ctx context.Context, code int, _ string, text string) {
	// 299 is the only warning code the API server sends.
	if code != 299 || text == "" {
		return
	}
	if w, ok := ctx.Value(warningsKey{}).(*warnings); ok {
		w.add(text)
	}
}
