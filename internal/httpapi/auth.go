package httpapi

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/auth"
	"fledge.dev/fledge/internal/service"
)

type (
	principalKey struct{}
	// tokenKey holds the bearer token of an authenticated request, which
	// a long-lived watch stream checks again while it runs.
	tokenKey struct{}
	auditKey struct{}
	// nameSink receives the caller's name for the request log.
	nameSink struct{}
)

// principal returns the caller of an authorized request.
func principal(r *http.Request) auth.Principal {
	p, _ := r.Context().Value(principalKey{}).(auth.Principal)
	return p
}

// caller returns the caller's name, the identity recorded with what it
// does.
func caller(r *http.Request) string {
	if n := principal(r).Name; n != "" {
		return n
	}
	return "anonymous"
}

// bearer returns the token of a request: the Authorization header, or on
// a route that allows it, the access_token query parameter of a watch.
func bearer(r *http.Request, acc Access) (string, error) {
	q := r.URL.Query()
	if q.Has(v1alpha1.AccessTokenQuery) {
		if !acc.QueryToken || q.Get("watch") != "true" {
			return "", service.Errorf(service.Unauthorized,
				"the access_token query parameter is accepted only on the events watch stream; send Authorization: Bearer TOKEN",
			)
		}
		return q.Get(v1alpha1.AccessTokenQuery), nil
	}
	h := r.Header.Get(v1alpha1.AuthorizationHeader)
	if h == "" {
		return "", nil
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", service.Errorf(service.Unauthorized, "malformed Authorization header: want Bearer TOKEN")
	}
	return strings.TrimSpace(tok), nil
}

// authorize authenticates the caller and checks the route's role,
// recording refusals in the audit log.
func (h *Handler) authorize(r *http.Request, acc Access) (auth.Principal, error) {
	if acc.Public {
		return auth.Principal{}, nil
	}
	if h.authDisabled {
		name := auth.Canonical(r.Header.Get(v1alpha1.UserHeader))
		if auth.CheckName(name) != nil {
			name = "anonymous"
		}
		p := auth.Principal{Name: name, Grants: []auth.Grant{{Role: auth.Admin}}}
		h.tellName(r, p.Name)
		return p, nil
	}
	tok, err := bearer(r, acc)
	if err == nil && tok == "" {
		err = service.Errorf(service.Unauthorized,
			"authentication required: send Authorization: Bearer TOKEN (an admin creates tokens with: fledge token create NAME --role ROLE)",
		)
	}
	var p auth.Principal
	if err == nil {
		p, err = h.svc.Authenticate(r.Context(), tok)
		if errors.Is(err, service.ErrUnauthenticated) {
			h.refused(r, p.Name, "auth.unauthenticated", err.Error(), routeLabel(r), err.Error())
			return p, service.Errorf(service.Unauthorized, "invalid or expired token")
		}
	}
	if err != nil {
		if service.KindOf(err) == service.Unauthorized {
			h.refused(r, "", "auth.unauthenticated", err.Error(), routeLabel(r), err.Error())
		}
		return p, err
	}
	h.tellName(r, p.Name)
	if sink, ok := r.Context().Value(tokenKey{}).(*string); ok {
		*sink = tok
	}
	if p.Can(acc.Role, "") {
		return p, nil
	}
	var scope string
	if acc.Scope != nil {
		scope = acc.Scope(h, r)
		if scope != "" && p.Can(acc.Role, scope) {
			return p, nil
		}
	}
	msg := fmt.Sprintf("token %q lacks role %s, needed for %s", p.Name, auth.Need(acc.Role, scope), routeLabel(r))
	if len(p.Grants) > 0 {
		msg += fmt.Sprintf(" (it has: %s)", auth.FormatGrants(p.Grants))
	}
	h.refused(r, p.Name, "auth.forbidden", "lacks role "+auth.Need(acc.Role, scope), routeLabel(r), msg)
	return p, &service.Error{Kind: service.Forbidden, Message: msg}
}

// authorizeCached authorizes the caller of a route whose read confirms it
// (Access.ReadConfirms) from the token cache alone, with the check the
// read must confirm. ok is false when it cannot (another route, no token
// or one not cached, a role lacking): authorize decides, and refuses.
func (h *Handler) authorizeCached(r *http.Request, acc Access) (p auth.Principal, check *service.TokensCheck, ok bool) {
	if !acc.ReadConfirms || acc.Public || h.authDisabled {
		return auth.Principal{}, nil, false
	}
	tok, err := bearer(r, acc)
	if err != nil {
		return auth.Principal{}, nil, false
	}
	p, check, ok = h.svc.AuthenticateCached(tok)
	if !ok || !p.Can(acc.Role, "") {
		return auth.Principal{}, nil, false
	}
	h.tellName(r, p.Name)
	if sink, ok := r.Context().Value(tokenKey{}).(*string); ok {
		*sink = tok
	}
	return p, check, true
}

func (h *Handler) tellName(r *http.Request, name string) {
	if sink, ok := r.Context().Value(nameSink{}).(*string); ok {
		*sink = name
	}
}

// routeLabel names what was asked for: the method and path, without the
// query (which may carry a token).
func routeLabel(r *http.Request) string {
	return r.Method + " " + r.URL.Path
}

// auditRecord is what a handler says about the change it made.
type auditRecord struct {
	action string
	target string
	detail string
	// actor overrides the caller (a webhook names its sender).
	actor string
	// skip leaves the request out of the audit log: it changed nothing
	// (a dry run, an ignored webhook event).
	skip bool
}

func record(r *http.Request) *auditRecord {
	if rec, ok := r.Context().Value(auditKey{}).(*auditRecord); ok {
		return rec
	}
	return &auditRecord{}
}

// note sets the target and detail of the request's audit entry.
func note(r *http.Request, target, detail string) {
	rec := record(r)
	if target != "" {
		rec.target = target
	}
	rec.detail = detail
}

func defaultTarget(r *http.Request) string {
	switch {
	case r.PathValue("plural") != "" && r.PathValue("name") != "":
		if k, err := kindOf(r); err == nil {
			return strings.ToLower(k) + "/" + r.PathValue("name")
		}
	case r.PathValue("id") != "":
		return "deployment/" + r.PathValue("id")
	case r.PathValue("pipeline") != "":
		return "pipeline/" + r.PathValue("pipeline")
	case strings.Contains(r.URL.Path, "/tokens/"):
		return "token/" + r.PathValue("name")
	case strings.Contains(r.URL.Path, "/secrets/"):
		return "secret/" + r.PathValue("name")
	case r.PathValue("name") != "":
		return "pipeline/" + r.PathValue("name")
	}
	return ""
}

func (h *Handler) recordAudit(r *http.Request, actor string, rec *auditRecord, err error) {
	if rec.actor != "" {
		actor = rec.actor
	}
	outcome, detail := service.OutcomeOK, rec.detail
	if err != nil {
		outcome = service.OutcomeFailed
		code := statusOf(err)
		detail = strconv.Itoa(code) + ": " + err.Error()
		if code == http.StatusUnauthorized || code == http.StatusForbidden {
			// A refusal (a webhook with a bad signature, a rule that
			// forbids this caller) is rate-limited like the others.
			h.refused(r, actor, rec.action, truncateText(detail, refusalTargetMax), rec.target, detail)
			return
		}
	}
	h.audit(r, actor, rec.action, rec.target, outcome, detail)
}

func (h *Handler) audit(r *http.Request, actor, action, target, outcome, detail string) {
	if h.svc == nil {
		return
	}
	h.svc.Audit(r.Context(), v1alpha1.AuditEntry{
		Actor: actor, Action: action, Target: target, RemoteAddr: remoteHost(r), Outcome: outcome, Detail: detail,
	})
}

// remoteHost is the peer's address without its port. Forwarding headers
// are not trusted: anyone can send them.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// setSecurityHeaders sets the headers every response carries. A handler
// may set a stricter Content-Security-Policy of its own (the console
// does).
func setSecurityHeaders(w http.ResponseWriter, r *http.Request) {
	// The keys are canonical and the values are never changed in place
	// (Set and Add replace or grow a copy), so every response shares
	// them: Header.Set would canonicalize and allocate on each request.
	hd := w.Header()
	hd["X-Content-Type-Options"] = headerNosniff
	hd["X-Frame-Options"] = headerDeny
	hd["Referrer-Policy"] = headerNoReferrer
	if len(hd["Content-Security-Policy"]) == 0 {
		hd["Content-Security-Policy"] = headerFrameAncestors
	}
	if r.TLS != nil {
		hd["Strict-Transport-Security"] = headerHSTS
	}
}

var (
	headerNosniff        = []string{"nosniff"}
	headerDeny           = []string{"DENY"}
	headerNoReferrer     = []string{"no-referrer"}
	headerFrameAncestors = []string{"frame-ancestors 'none'"}
	headerHSTS           = []string{"max-age=31536000"}
)

// SecurityHeaders wraps a handler (the whole server: API and console) so
// that every response carries the security headers.
func SecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setSecurityHeaders(w, r)
		next.ServeHTTP(w, r)
	})
}

// stillAuthorized checks a long-lived request's token again (the shared
// store's tokens revision, and the token itself only once it moved): a
// token revoked or expired since the request began, on this replica or
// another, ends it. It is nil when
// authentication is off.
func (h *Handler) stillAuthorized(r *http.Request) error {
	if h.authDisabled {
		return nil
	}
	tok, _ := r.Context().Value(tokenKey{}).(*string)
	if tok == nil || *tok == "" {
		return service.Errorf(service.Unauthorized, "the stream has no token to check")
	}
	if _, err := h.svc.Authenticate(r.Context(), *tok); err != nil {
		if errors.Is(err, service.ErrUnauthenticated) {
			return service.Errorf(service.Unauthorized, "the token of this stream was revoked or has expired")
		}
		return err
	}
	return nil
}
