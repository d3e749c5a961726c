//go:build faultinject

package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// faultInjection returns the executor hook of the crash tests (a binary
// built with -tags faultinject): FLEDGE_FAULT_KILL_AT names a step
// boundary ("after:ApplyCanary") at which the process kills itself with
// SIGKILL, the N-th time it is reached
// (FLEDGE_FAULT_KILL_AT=after:ApplyCanary#2). Unset, it does nothing.
//
// At the boundary the executor stops; the API requests already being
// served (the run or approval whose answer woke the executor) are let
// finish for up to a second, so that a test's client gets their answers:
// the crash is at a step boundary, not in the middle of an HTTP answer.
// wrap counts those requests.
func faultInjection(log *slog.Logger) (hook func(string), wrap func(http.Handler) http.Handler) {
	spec := os.Getenv("FLEDGE_FAULT_KILL_AT")
	if spec == "" {
		return nil, nil
	}
	point, nth := spec, 1
	if i := strings.LastIndex(spec, "#"); i > 0 {
		if _, err := fmt.Sscanf(spec[i+1:], "%d", &nth); err == nil {
			point = spec[:i]
		}
	}
	requests := &inflight{}
	seen := 0
	log.Warn("fault injection armed", "kill_at", point, "nth", nth)
	return func(p string) {
		if p != point {
			return
		}
		seen++
		if seen == nth {
			requests.waitIdle(time.Second)
			log.Warn("fault injection: SIGKILL", "point", p)
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}, requests.wrap
}

// inflight counts the API requests being served (watch streams aside).
type inflight struct{ n atomic.Int64 }

func (f *inflight) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("watch") != "true" {
			f.n.Add(1)
			defer f.n.Add(-1)
		}
		next.ServeHTTP(w, r)
	})
}

// waitIdle waits until no request is being served, at most maxWait, and
// a moment more for the last answer to leave the socket.
func (f *inflight) waitIdle(maxWait time.Duration) {
	for deadline := time.Now().Add(maxWait); f.n.Load() > 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
}
