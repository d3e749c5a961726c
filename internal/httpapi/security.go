package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/service"
	"fledge.dev/fledge/internal/webhook"
)

func (h *Handler) whoami(w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	roles := make([]string, len(p.Grants))
	for i, g := range p.Grants {
		roles[i] = g.String()
	}
	return writeJSON(w, http.StatusOK, v1alpha1.WhoAmI{Name: p.Name, Roles: roles, AuthDisabled: h.authDisabled})
}

func (h *Handler) listTokens(w http.ResponseWriter, r *http.Request) error {
	list, err := h.svc.ListTokens(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list)
}

func (h *Handler) createToken(w http.ResponseWriter, r *http.Request) error {
	var req v1alpha1.TokenRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	note(r, "token/"+req.Name, "roles "+strings.Join(req.Roles, ","))
	t, err := h.svc.CreateToken(r.Context(), req, caller(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, t)
}

func (h *Handler) revokeToken(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if err := h.svc.RevokeToken(r.Context(), name); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]string{"kind": "Token", "name": name, "action": "revoked"})
}

func (h *Handler) listSecrets(w http.ResponseWriter, r *http.Request) error {
	list, err := h.svc.ListSecrets(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list)
}

func (h *Handler) setSecret(w http.ResponseWriter, r *http.Request) error {
	var req v1alpha1.SecretRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	name := r.PathValue("name")
	// If-None-Match: * creates only, as in HTTP's conditional requests.
	createOnly := r.Header.Get("If-None-Match") == "*"
	created, err := h.svc.SetSecret(r.Context(), name, req, createOnly)
	if err != nil {
		return err
	}
	action, code := "configured", http.StatusOK
	if created {
		action, code = "created", http.StatusCreated
	}
	note(r, "", action)
	return writeJSON(w, code, map[string]string{"kind": "Secret", "name": name, "action": action})
}

func (h *Handler) deleteSecret(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if err := h.svc.DeleteSecret(r.Context(), name); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]string{"kind": "Secret", "name": name, "action": "deleted"})
}

// listAudit serves the audit log, newest first. since is an RFC 3339 time
// or a duration back from now (1h, 30m).
func (h *Handler) listAudit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	aq := service.AuditQuery{Actor: q.Get("actor"), Action: q.Get("action")}
	if s := q.Get("since"); s != "" {
		if d, err := time.ParseDuration(s); err == nil && d > 0 {
			aq.Since = time.Now().Add(-d)
		} else if t, err := time.Parse(time.RFC3339, s); err == nil {
			aq.Since = t
		} else {
			return service.Errorf(service.BadRequest, "query since: %q is neither an RFC 3339 time nor a duration like 1h", s)
		}
	}
	limit, err := queryInt(q, "limit", 1)
	if err != nil {
		return err
	}
	aq.Limit = int(limit)
	if aq.Before, err = queryInt(q, "before", 1); err != nil {
		return err
	}
	if aq.After, err = queryInt(q, "after", 1); err != nil {
		return err
	}
	if s := q.Get("until"); s != "" {
		if aq.Until, err = time.Parse(time.RFC3339, s); err != nil {
			return service.Errorf(service.BadRequest, "query until: %q is not an RFC 3339 time", s)
		}
	}
	switch o := q.Get("order"); o {
	case "", "newest":
	case "oldest":
		aq.Oldest = true
	default:
		return service.Errorf(service.BadRequest, "query order: want newest or oldest, got %q", o)
	}
	list, err := h.svc.ListAudit(r.Context(), aq)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list)
}

// pruneAudit removes old audit entries the caller has archived; the prune
// itself is audited (audit.prune) and recorded in the store.
func (h *Handler) pruneAudit(w http.ResponseWriter, r *http.Request) error {
	var req v1alpha1.AuditPruneRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	n, err := h.svc.PruneAudit(r.Context(), req.Before, req.ThroughID, caller(r))
	if err != nil {
		return err
	}
	note(r, "audit", fmt.Sprintf("deleted %d entries older than %s, through id %d", n, req.Before.UTC().Format(time.RFC3339), req.ThroughID))
	return writeJSON(w, http.StatusOK, v1alpha1.AuditPruneResult{Deleted: n})
}

// webhook receives a signed delivery. The body is read whole (within
// MaxBodyBytes) because the signature covers the exact bytes.
func (h *Handler) webhook(kind string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		rec := record(r)
		rec.actor = "webhook:" + kind
		body, err := readBody(r)
		if err != nil {
			return err
		}
		d := service.Delivery{Kind: kind, Pipeline: r.PathValue("pipeline"), Body: body}
		if kind == service.WebhookGitHub {
			d.Signature = r.Header.Get(webhook.GitHubSignatureHeader)
			d.Event = r.Header.Get(webhook.GitHubEventHeader)
			d.ID = r.Header.Get(webhook.GitHubDeliveryHeader)
			rec.detail = "event " + d.Event + " delivery " + d.ID
		} else {
			d.Signature = r.Header.Get(webhook.SignatureHeader)
			d.Timestamp = r.Header.Get(webhook.TimestampHeader)
		}
		res, err := h.svc.Trigger(r.Context(), d)
		if err != nil {
			return err
		}
		if !res.Triggered {
			rec.skip = true
			return writeJSON(w, http.StatusOK, res)
		}
		rec.actor = res.Deployment.TriggeredBy
		note(r, "", res.Message)
		return writeJSON(w, http.StatusCreated, res)
	}
}
