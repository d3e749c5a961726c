package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"
)

// pprofComponent serves Go's profiles on their own listener (never the
// API's); it is for profiling and must not be exposed. A pprof listener
// that fails is logged and does not stop the server.
func pprofComponent(addr string, log *slog.Logger) component {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	return component{
		name: "pprof",
		start: func(context.Context, func(error)) error {
			log.Warn("serving pprof profiles", "address", addr)
			go func() {
				defer close(done)
				if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
					log.Error("pprof server failed", "error", err)
				}
			}()
			return nil
		},
		stop: func(context.Context) {
			_ = srv.Close()
			<-done
		},
	}
}
