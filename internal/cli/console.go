package cli

import (
	"net/http"

	"fledge.dev/fledge/internal/web"
)

// consoleHandler serves the web console at /. The console is a client of
// the public API like any other (the browser calls /api/v1), so it is not
// given the API handler.
func consoleHandler(_ http.Handler) http.Handler {
	c, err := web.New()
	if err != nil {
		// The assets are embedded at build time; a broken build is the only
		// way here, and the API must keep working regardless.
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "web console unavailable: "+err.Error(), http.StatusInternalServerError)
		})
	}
	return c
}
