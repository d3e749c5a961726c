// Package httpapi serves Fledge's public HTTP API (JSON under /api/v1, the
// OpenAPI document, health endpoints). It maps requests to the service and
// errors to Status bodies; it holds no logic of its own and imports no
// database or Kubernetes package.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"fledge.dev/fledge/api"
	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/service"
)

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 8 << 20

// Handler serves the API.
type Handler struct {
	svc *service.Service
	log *slog.Logger
	mux *http.ServeMux
	// EventPoll is how often a watch stream looks for new events.
	EventPoll time.Duration
}

// New returns the API handler.
func New(svc *service.Service, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{svc: svc, log: log, mux: http.NewServeMux(), EventPoll: 250 * time.Millisecond}
	h.routes()
	return h
}

// Routes lists the method and pattern of every API route, for the test
// that checks them against the OpenAPI document.
func (h *Handler) Routes() []string { return routeList }

var routeList []string

func (h *Handler) handle(pattern string, fn func(w http.ResponseWriter, r *http.Request) error) {
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		if err := fn(w, r); err != nil {
			h.writeError(w, r, err)
		}
	})
	for _, p := range routeList {
		if p == pattern {
			return
		}
	}
	routeList = append(routeList, pattern)
}

func (h *Handler) routes() {
	p := v1alpha1.PathPrefix
	h.handle("GET /healthz", func(w http.ResponseWriter, r *http.Request) error {
		return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	h.handle("GET /readyz", func(w http.ResponseWriter, r *http.Request) error {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := h.svc.Ping(ctx); err != nil {
			return &service.Error{Code: http.StatusServiceUnavailable, Reason: "NotReady", Message: "store: " + err.Error()}
		}
		return writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	h.handle("GET "+p+"/openapi.yaml", func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/yaml")
		_, err := w.Write(api.OpenAPI)
		return err
	})
	h.handle("GET "+p+"/{plural}", h.listResources)
	h.handle("GET "+p+"/{plural}/{name}", h.getResource)
	h.handle("PUT "+p+"/{plural}/{name}", h.applyResource)
	h.handle("DELETE "+p+"/{plural}/{name}", h.deleteResource)
	h.handle("POST "+p+"/pipelines/{name}/runs", h.run)
	h.handle("POST "+p+"/pipelines/{name}/rollback", h.rollback)
	h.handle("GET "+p+"/deployments", h.listDeployments)
	h.handle("GET "+p+"/deployments/{id}", h.getDeployment)
	h.handle("GET "+p+"/deployments/{id}/events", h.events)
	h.handle("GET "+p+"/deployments/{id}/manifests", h.manifests)
	h.handle("POST "+p+"/deployments/{id}/approve", h.decide(v1alpha1.DecisionApprove))
	h.handle("POST "+p+"/deployments/{id}/reject", h.decide(v1alpha1.DecisionReject))
	h.handle("POST "+p+"/deployments/{id}/cancel", h.cancel)
	h.mux.HandleFunc(p+"/", func(w http.ResponseWriter, r *http.Request) {
		h.writeError(w, r, &service.Error{Code: http.StatusNotFound, Reason: "NotFound", Message: fmt.Sprintf("no API route %s %s", r.Method, r.URL.Path)})
	})
}

// ServeHTTP logs and serves a request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
	h.mux.ServeHTTP(sw, r)
	if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
		return
	}
	h.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", sw.code, "duration_ms", time.Since(start).Milliseconds(), "user", user(r))
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func user(r *http.Request) string {
	return strings.TrimSpace(r.Header.Get(v1alpha1.UserHeader))
}

func writeJSON(w http.ResponseWriter, code int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	st := v1alpha1.Status{Code: http.StatusInternalServerError, Reason: "InternalError", Message: "internal error"}
	var se *service.Error
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &se):
		st = v1alpha1.Status{Code: se.Code, Reason: se.Reason, Message: se.Message, Details: se.Details}
	case errors.As(err, &mbe):
		st = v1alpha1.Status{Code: http.StatusRequestEntityTooLarge, Reason: "TooLarge", Message: fmt.Sprintf("request body over %d bytes", mbe.Limit)}
	case errors.Is(err, context.Canceled):
		return
	default:
		h.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		st.Message = "internal error: " + err.Error()
	}
	_ = writeJSON(w, st.Code, st)
}

func kindOf(r *http.Request) (string, error) {
	plural := r.PathValue("plural")
	for _, k := range v1alpha1.Kinds {
		if v1alpha1.Plural(k) == plural {
			return k, nil
		}
	}
	return "", &service.Error{Code: http.StatusNotFound, Reason: "NotFound", Message: fmt.Sprintf("unknown resource type %q (want environments, artifacts or pipelines)", plural)}
}

func idOf(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, &service.Error{Code: http.StatusBadRequest, Reason: "BadRequest", Message: fmt.Sprintf("deployment id %q is not a positive integer", r.PathValue("id"))}
	}
	return id, nil
}

func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, &service.Error{Code: http.StatusBadRequest, Reason: "BadRequest", Message: "read body: " + err.Error()}
	}
	return b, nil
}

// decodeBody decodes an optional JSON body strictly into v.
func decodeBody(r *http.Request, v any) error {
	b, err := readBody(r)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &service.Error{Code: http.StatusBadRequest, Reason: "BadRequest", Message: "invalid JSON body: " + strings.TrimPrefix(err.Error(), "json: ")}
	}
	return nil
}
