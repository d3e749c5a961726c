package cli

import "net/http"

// consoleHandler serves the web console; until it is built, / answers with
// a pointer to the API.
func consoleHandler(api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("Fledge API: /api/v1 (OpenAPI document at /api/v1/openapi.yaml)\n"))
	})
}
