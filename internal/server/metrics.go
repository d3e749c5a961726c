package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
)

// metricsHandler serves /metrics on the API's listener to any token (every
// role may read); with --auth=none to everyone.
func (s *server) metricsHandler() http.Handler {
	h := s.metrics.Handler()
	if s.cfg.Auth == "none" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if ok {
			if _, err := s.service.Authenticate(r.Context(), strings.TrimSpace(token)); err == nil {
				h.ServeHTTP(w, r)
				return
			}
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="fledge"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"code":401,"reason":"Unauthorized","message":"/metrics needs a token (any role) in Authorization: Bearer, or serve it on --metrics-listen"}` + "\n"))
	})
}

// metricsComponent serves /metrics alone on its own listener, without a
// token: for a scraper on a network that only it reaches. An address that
// cannot be listened on stops the start (build listens); a listener that
// fails later is logged and does not stop the server.
func metricsComponent(ln net.Listener, h http.Handler, log *slog.Logger) component {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	return component{
		name: "metrics",
		start: func(context.Context, func(error)) error {
			log.Info("serving metrics", "address", ln.Addr().String())
			go func() {
				defer close(done)
				if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					log.Error("metrics server failed", "error", err)
				}
			}()
			return nil
		},
		stop: func(ctx context.Context) {
			_ = srv.Shutdown(ctx)
			<-done
		},
	}
}
