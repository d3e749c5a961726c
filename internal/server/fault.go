//go:build !faultinject

package server

import (
	"log/slog"
	"net/http"
)

// faultInjection is off in the fledge that users run: only a binary built
// with -tags faultinject (the crash tests' build) reads
// FLEDGE_FAULT_KILL_AT; see fault_inject.go.
func faultInjection(*slog.Logger) (hook func(string), wrap func(http.Handler) http.Handler) {
	return nil, nil
}
