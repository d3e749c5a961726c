// Package httpapi serves Fledge's public HTTP API (JSON under /api/v1, the
// OpenAPI document, health endpoints). It maps requests to the service and
// errors to Status bodies; it holds no logic of its own and imports no
// database or Kubernetes package.
package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"fledge.dev/fledge/api"
	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/auth"
	"fledge.dev/fledge/internal/service"
	"fledge.dev/fledge/internal/version"
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
	// TokenRecheck is how often an idle watch stream checks that its token
	// is still valid; it also checks before sending any event.
	TokenRecheck time.Duration
	// authDisabled trusts every caller (--auth=none): the identity is the
	// X-Fledge-User header and every caller is admin.
	authDisabled bool
	routes       []Route
	// observe, when set, is told of every request but event streams.
	observe func(route string, code int, took time.Duration)
	// refusals rate-limits the audit entries of refused requests.
	refusals *refusals
}

// Option configures a Handler.
type Option func(*Handler)

// WithRefusalWindow sets the window in which refused requests from one
// source are counted into one audit entry (a minute by default).
func WithRefusalWindow(d time.Duration) Option {
	return func(h *Handler) { h.refusals = newRefusals(d) }
}

// WithoutAuth turns authentication off: every caller is an admin named by
// the X-Fledge-User header. It exists for local experiments only.
func WithoutAuth() Option { return func(h *Handler) { h.authDisabled = true } }

// WithRequestObserver has observe told of every request but event streams
// (which last as long as a deployment): the route pattern it matched, the
// status code, and how long it took. The server's metrics use it.
func WithRequestObserver(observe func(route string, code int, took time.Duration)) Option {
	return func(h *Handler) { h.observe = observe }
}

// New returns the API handler. Every route but the health checks and the
// webhooks (which verify a signature instead) requires a bearer token.
func New(svc *service.Service, log *slog.Logger, opts ...Option) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{svc: svc, log: log, mux: http.NewServeMux(), EventPoll: 250 * time.Millisecond, TokenRecheck: time.Second, refusals: newRefusals(refusalWindow)}
	for _, o := range opts {
		o(h)
	}
	h.register()
	return h
}

// Route is one operation of the API: its pattern, who may call it, and
// the audit action it records (empty for reads).
type Route struct {
	Pattern string
	Access  Access
	Action  string
}

// Access says who may call a route.
type Access struct {
	// Public routes need no token (health checks; webhooks check a
	// signature instead).
	Public bool
	// Role is required, on the pipeline Scope returns when it is set.
	Role  auth.Role
	Scope func(h *Handler, r *http.Request) string
	// QueryToken accepts the token in ?access_token= when the request is
	// a watch stream (a browser's EventSource cannot send headers).
	QueryToken bool
	// ReadConfirms says the handler's read confirms a caller
	// authenticated from the token cache (service.TokensCheck) before it
	// answers, so the token is not checked against the store first: one
	// read less. The handler answers only once the check is confirmed;
	// an error without it (such as service.ErrTokensChanged) has the
	// caller authorized again from the store (refused if the token was
	// revoked), and on ErrTokensChanged the handler run again.
	ReadConfirms bool
}

var (
	public     = Access{Public: true}
	viewer     = Access{Role: auth.Viewer}
	admin      = Access{Role: auth.Admin}
	deployerOn = Access{Role: auth.Deployer, Scope: pipelineInPath}
	deployerOf = Access{Role: auth.Deployer, Scope: pipelineOfDeployment}
	approverOf = Access{Role: auth.Approver, Scope: pipelineOfDeployment}
	watcher    = Access{Role: auth.Viewer, QueryToken: true}
	// viewerRead is viewer on a route whose read confirms the caller.
	viewerRead = Access{Role: auth.Viewer, ReadConfirms: true}
)

func pipelineInPath(_ *Handler, r *http.Request) string { return r.PathValue("name") }

func pipelineOfDeployment(h *Handler, r *http.Request) string {
	id, err := h.idOf(r)
	if err != nil {
		return ""
	}
	name, err := h.svc.DeploymentPipeline(r.Context(), id)
	if err != nil {
		return ""
	}
	return name
}

// Routes lists the method and pattern of every API route, for the test
// that checks them against the OpenAPI document.
func (h *Handler) Routes() []string {
	out := make([]string, len(h.routes))
	for i, r := range h.routes {
		out[i] = r.Pattern
	}
	return out
}

// RouteTable lists every route with its access rule and audit action.
func (h *Handler) RouteTable() []Route { return append([]Route(nil), h.routes...) }

func (h *Handler) handle(pattern string, acc Access, action string, fn func(w http.ResponseWriter, r *http.Request) error) {
	h.routes = append(h.routes, Route{Pattern: pattern, Access: acc, Action: action})
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if h.observe != nil && r.URL.Query().Get("watch") != "true" {
			defer h.observed(pattern, w, time.Now())
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		var tok string
		r = r.WithContext(context.WithValue(r.Context(), tokenKey{}, &tok))
		p, check, ok := h.authorizeCached(r, acc)
		var err error
		if !ok {
			if p, err = h.authorize(r, acc); err != nil {
				h.writeError(w, r, err)
				return
			}
		}
		rec := &auditRecord{action: action, target: defaultTarget(r)}
		err = h.serve(w, r, p, check, rec, fn)
		if check != nil && !check.Confirmed() && err != nil {
			err = h.reauthorize(w, r, acc, rec, fn, err)
		}
		if err != nil {
			h.writeError(w, r, err)
		}
		if action != "" && !rec.skip {
			// Answer first: a change may wake the executor at once, and
			// the caller should not wait on the audit write (nor lose
			// the answer if the process dies meanwhile).
			_ = http.NewResponseController(w).Flush()
			h.recordAudit(r, p.Name, rec, err)
		}
	})
}

// serve runs fn for caller p, with the TokensCheck a read must confirm
// when p was authenticated from the token cache.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, p auth.Principal, check *service.TokensCheck, rec *auditRecord, fn func(w http.ResponseWriter, r *http.Request) error) error {
	ctx := context.WithValue(r.Context(), principalKey{}, p)
	ctx = context.WithValue(ctx, auditKey{}, rec)
	if check != nil {
		ctx = service.WithTokensCheck(ctx, check)
	}
	return fn(w, r.WithContext(ctx))
}

// reauthorize takes over when fn failed with err, answering nothing, for a
// caller authenticated from the token cache and not confirmed by a read:
// it authorizes the caller from the store, which refuses (and audits) a
// token revoked meanwhile, and if the tokens changed runs fn again. It
// returns the error to answer, if any.
func (h *Handler) reauthorize(w http.ResponseWriter, r *http.Request, acc Access, rec *auditRecord, fn func(w http.ResponseWriter, r *http.Request) error, err error) error {
	p, refused := h.authorize(r, acc)
	if refused != nil {
		return refused
	}
	if errors.Is(err, service.ErrTokensChanged) {
		return h.serve(w, r, p, nil, rec, fn)
	}
	return err
}

// observed tells the observer of a request served on w since start.
func (h *Handler) observed(pattern string, w http.ResponseWriter, start time.Time) {
	code := http.StatusOK
	if sw, ok := w.(*statusWriter); ok {
		code = sw.code
	}
	h.observe(pattern, code, time.Since(start))
}

func (h *Handler) register() {
	p := v1alpha1.PathPrefix
	h.handle("GET /healthz", public, "", func(w http.ResponseWriter, r *http.Request) error {
		return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	h.handle("GET /readyz", public, "", func(w http.ResponseWriter, r *http.Request) error {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := h.svc.Ping(ctx); err != nil {
			return service.Errorf(service.NotReady, "store: %v", err)
		}
		return writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	h.handle("GET "+p+"/openapi.yaml", viewer, "", func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/yaml")
		_, err := w.Write(api.OpenAPI)
		return err
	})
	h.handle("GET "+p+"/whoami", viewer, "", h.whoami)
	h.handle("GET "+p+"/version", viewer, "", func(w http.ResponseWriter, r *http.Request) error {
		return writeJSON(w, http.StatusOK, version.Get())
	})
	h.handle("GET "+p+"/{plural}", viewer, "", h.listResources)
	h.handle("GET "+p+"/{plural}/{name}", viewer, "", h.getResource)
	h.handle("PUT "+p+"/{plural}/{name}", admin, "resource.apply", h.applyResource)
	h.handle("DELETE "+p+"/{plural}/{name}", admin, "resource.delete", h.deleteResource)
	h.handle("POST "+p+"/pipelines/{name}/runs", deployerOn, "run.create", h.run)
	h.handle("POST "+p+"/pipelines/{name}/rollback", deployerOn, "rollback.create", h.rollback)
	h.handle("GET "+p+"/deployments", viewer, "", h.listDeployments)
	h.handle("GET "+p+"/deployments/{id}", viewerRead, "", h.getDeployment)
	h.handle("GET "+p+"/deployments/{id}/events", watcher, "", h.events)
	h.handle("GET "+p+"/deployments/{id}/manifests", viewer, "", h.manifests)
	h.handle("GET "+p+"/deployments/{id}/measurements", viewer, "", h.measurements)
	h.handle("GET "+p+"/deployments/{id}/diff", viewer, "", h.productionDiff)
	h.handle("GET "+p+"/overview", viewer, "", h.overview)
	h.handle("POST "+p+"/deployments/{id}/approve", approverOf, "deployment.approve", h.decide(v1alpha1.DecisionApprove))
	h.handle("POST "+p+"/deployments/{id}/reject", approverOf, "deployment.reject", h.decide(v1alpha1.DecisionReject))
	h.handle("POST "+p+"/deployments/{id}/cancel", deployerOf, "deployment.cancel", h.withReason(h.svc.Cancel))
	h.handle("POST "+p+"/deployments/{id}/resume", approverOf, "deployment.resume", h.withReason(h.svc.Resume))
	h.handle("POST "+p+"/deployments/{id}/promote", approverOf, "deployment.promote", h.withReason(h.svc.Promote))
	h.handle("POST "+p+"/deployments/{id}/retry", deployerOf, "deployment.retry", h.retry)
	h.handle("GET "+p+"/tokens", admin, "", h.listTokens)
	h.handle("POST "+p+"/tokens", admin, "token.create", h.createToken)
	h.handle("DELETE "+p+"/tokens/{name}", admin, "token.revoke", h.revokeToken)
	h.handle("GET "+p+"/secrets", admin, "", h.listSecrets)
	h.handle("PUT "+p+"/secrets/{name}", admin, "secret.set", h.setSecret)
	h.handle("DELETE "+p+"/secrets/{name}", admin, "secret.delete", h.deleteSecret)
	h.handle("GET "+p+"/audit", admin, "", h.listAudit)
	h.handle("POST "+p+"/audit/prune", admin, "audit.prune", h.pruneAudit)
	h.handle("POST "+p+"/webhooks/github/{pipeline}", public, "webhook.trigger", h.webhook(service.WebhookGitHub))
	h.handle("POST "+p+"/webhooks/generic/{pipeline}", public, "webhook.trigger", h.webhook(service.WebhookGeneric))
	h.mux.HandleFunc(p+"/", func(w http.ResponseWriter, r *http.Request) {
		if _, err := h.authorize(r, viewer); err != nil {
			h.writeError(w, r, err)
			return
		}
		h.writeError(w, r, service.Errorf(service.NotFound, "no API route %s %s", r.Method, r.URL.Path))
	})
}

// ServeHTTP logs and serves a request. The log names the path, never the
// query: a watch stream's query may carry a token.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	setSecurityHeaders(w, r)
	w.Header().Set("Cache-Control", "no-store")
	sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
	var who string
	r = r.WithContext(context.WithValue(r.Context(), nameSink{}, &who))
	h.mux.ServeHTTP(sw, r)
	if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
		return
	}
	h.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", sw.code, "duration_ms", time.Since(start).Milliseconds(), "user", who)
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

// writeJSON writes v with its length, so that a flushed answer is whole
// for the client even while the handler goes on (the audit write).
func writeJSON(w http.ResponseWriter, code int, v any) error {
	buf := jsonBuffers.Get().(*bytes.Buffer)
	defer putJSONBuffer(buf)
	if err := json.NewEncoder(buf).Encode(v); err != nil {
		return err
	}
	return writeBody(w, code, "application/json", buf.Bytes())
}

// writeBody answers code with body of type contentType.
func writeBody(w http.ResponseWriter, code int, contentType string, body []byte) error {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, err := w.Write(body)
	return err
}

// maxPooledJSON is the largest buffer writeJSON keeps for the next
// answer: a page of a list; a larger one is left to the collector.
const maxPooledJSON = 1 << 20

// jsonBuffers are writeJSON's buffers, reused: most answers are a few
// KiB, which a new buffer reaches by growing several times.
var jsonBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func putJSONBuffer(b *bytes.Buffer) {
	if b.Cap() > maxPooledJSON {
		return
	}
	b.Reset()
	jsonBuffers.Put(b)
}

func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	st := v1alpha1.Status{Code: http.StatusInternalServerError, Reason: "InternalError", Message: "internal error"}
	var se *service.Error
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &se):
		st = v1alpha1.Status{Code: statusOf(se), Reason: string(se.Kind), Message: se.Message, Details: se.Details}
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
	return "", service.Errorf(service.NotFound, "unknown resource type %q (want environments, artifacts, analysistemplates or pipelines)", plural)
}

// idOf resolves the deployment the path names: its id (42) or
// PIPELINE#NUMBER (webpage%236).
func (h *Handler) idOf(r *http.Request) (int64, error) {
	ref, err := v1alpha1.ParseDeploymentRef(r.PathValue("id"))
	if err != nil {
		return 0, &service.Error{Kind: service.BadRequest, Message: err.Error()}
	}
	return h.svc.ResolveDeployment(r.Context(), ref)
}

// readBody reads a request body: a body that is there must be declared
// JSON (Content-Type application/json, or a +json type); its content is
// checked by the decoder.
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, service.Errorf(service.BadRequest, "read body: %v", err)
	}
	if len(b) > 0 {
		if err := checkJSONContentType(r.Header.Get("Content-Type")); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// checkJSONContentType refuses a body not declared as JSON, with 415.
func checkJSONContentType(ct string) error {
	if ct == "" {
		return service.Errorf(service.UnsupportedMediaType, "a request body needs Content-Type: application/json")
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return service.Errorf(service.UnsupportedMediaType, "Content-Type %q: %v; want application/json", ct, err)
	}
	if mt != "application/json" && !(strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return service.Errorf(service.UnsupportedMediaType, "Content-Type %s is not supported: the body must be JSON (Content-Type: application/json)", mt)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return service.Errorf(service.UnsupportedMediaType, "Content-Type charset %s is not supported: JSON bodies are UTF-8", cs)
	}
	return nil
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
	return service.DecodeJSON(b, v)
}
