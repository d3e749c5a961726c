package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/auth"
	"fledge.dev/fledge/internal/service"
)

func (h *Handler) listResources(w http.ResponseWriter, r *http.Request) error {
	kind, err := kindOf(r)
	if err != nil {
		return err
	}
	items, err := h.svc.ListResources(r.Context(), kind)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v1alpha1.ResourceList[json.RawMessage]{Items: items})
}

func (h *Handler) getResource(w http.ResponseWriter, r *http.Request) error {
	kind, err := kindOf(r)
	if err != nil {
		return err
	}
	obj, err := h.svc.GetResource(r.Context(), kind, r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, obj)
}

func (h *Handler) applyResource(w http.ResponseWriter, r *http.Request) error {
	kind, err := kindOf(r)
	if err != nil {
		return err
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	res, err := h.svc.ApplyResource(r.Context(), kind, r.PathValue("name"), body)
	if err != nil {
		return err
	}
	note(r, "", fmt.Sprintf("%s, generation %d", res.Action, res.Generation))
	code := http.StatusOK
	if res.Action == v1alpha1.ActionCreated {
		code = http.StatusCreated
	}
	return writeJSON(w, code, res)
}

func (h *Handler) deleteResource(w http.ResponseWriter, r *http.Request) error {
	kind, err := kindOf(r)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	if err := h.svc.DeleteResource(r.Context(), kind, name); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]string{"kind": kind, "name": name, "action": "deleted"})
}

func (h *Handler) run(w http.ResponseWriter, r *http.Request) error {
	var req v1alpha1.RunRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	d, err := h.svc.CreateRun(r.Context(), r.PathValue("name"), req.Parameters, caller(r))
	if err != nil {
		return err
	}
	note(r, "", fmt.Sprintf("deployment %d (%s) with %s", d.ID, d.Ref(), v1alpha1.DescribeParameters(d.Parameters)))
	return writeJSON(w, http.StatusCreated, d)
}

func (h *Handler) rollback(w http.ResponseWriter, r *http.Request) error {
	var req v1alpha1.RollbackRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.To < 1 {
		return &service.Error{
			Kind: service.Invalid, Message: "field to: the id of the deployment to roll back to is required",
			Details: []v1alpha1.FieldError{{Field: "to", Message: "is required"}},
		}
	}
	name := r.PathValue("name")
	if req.DryRun {
		record(r).skip = true
		p, err := h.svc.PreviewRollback(r.Context(), name, req.To, req.Targets)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, p)
	}
	// The route lets deployers in (a preview only reads); the rollback
	// itself takes the role the pipeline's policy requires.
	need, err := h.svc.RollbackRole(r.Context(), name)
	if err != nil {
		return err
	}
	if p := principal(r); !p.Can(need, name) {
		msg := fmt.Sprintf("pipeline %q lets only role %s roll production back (spec.rollback.requiredRole); token %q has: %s",
			name, auth.Need(need, name), p.Name, auth.FormatGrants(p.Grants))
		return service.Errorf(service.Forbidden, "%s", msg)
	}
	d, err := h.svc.Rollback(r.Context(), name, req.To, req.Targets, caller(r), req.Reason)
	if err != nil {
		return err
	}
	detail := fmt.Sprintf("deployment %d rolls production back to deployment %d (policy: role %s)", d.ID, req.To, need)
	if req.Reason != "" {
		detail += ": " + req.Reason
	}
	note(r, "", detail)
	return writeJSON(w, http.StatusCreated, d)
}

// productionDiff answers what releasing a deployment would change in
// production; it only reads.
func (h *Handler) productionDiff(w http.ResponseWriter, r *http.Request) error {
	id, err := h.idOf(r)
	if err != nil {
		return err
	}
	diff, err := h.svc.ProductionDiff(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, diff)
}

// overview answers what production runs and what is under way, for every
// pipeline or those the query names (pipeline, or pipelines separated by
// commas).
func (h *Handler) overview(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var names []string
	if p := q.Get("pipeline"); p != "" {
		names = append(names, p)
	}
	if ps := q.Get("pipelines"); ps != "" {
		names = append(names, strings.Split(ps, ",")...)
	}
	o, err := h.svc.Overview(r.Context(), names...)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, o)
}

func (h *Handler) listDeployments(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	o := service.ListOptions{Pipeline: q.Get("pipeline")}
	if s := q.Get("status"); s != "" {
		o.Statuses = strings.Split(s, ",")
	}
	limit, err := queryInt(q, "limit", 1)
	if err != nil {
		return err
	}
	o.Limit = int(limit)
	if o.Before, err = queryInt(q, "before", 1); err != nil {
		return err
	}
	list, err := h.svc.ListDeployments(r.Context(), o)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list)
}

func (h *Handler) getDeployment(w http.ResponseWriter, r *http.Request) error {
	id, err := h.idOf(r)
	if err != nil {
		return err
	}
	body, err := h.svc.GetDeploymentJSON(r.Context(), id)
	if err != nil {
		return err
	}
	return writeBody(w, http.StatusOK, "application/json", body)
}

func (h *Handler) manifests(w http.ResponseWriter, r *http.Request) error {
	id, err := h.idOf(r)
	if err != nil {
		return err
	}
	m, err := h.svc.Manifests(r.Context(), id)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/yaml")
	_, err = w.Write([]byte(m))
	return err
}

func (h *Handler) measurements(w http.ResponseWriter, r *http.Request) error {
	id, err := h.idOf(r)
	if err != nil {
		return err
	}
	list, err := h.svc.Measurements(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list)
}

func (h *Handler) decide(kind v1alpha1.DecisionKind) func(http.ResponseWriter, *http.Request) error {
	return h.withReason(func(ctx context.Context, id int64, user, reason string) (v1alpha1.Deployment, error) {
		return h.svc.Decide(ctx, id, user, kind, reason)
	})
}

// withReason handles a person's act on one deployment whose body may give
// a reason (approve, reject, resume, cancel): the reason goes to the audit
// log with the deployment acted on.
func (h *Handler) withReason(act func(ctx context.Context, id int64, user, reason string) (v1alpha1.Deployment, error)) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := h.idOf(r)
		if err != nil {
			return err
		}
		var req v1alpha1.DecisionRequest
		if err := decodeBody(r, &req); err != nil {
			return err
		}
		note(r, "", req.Reason)
		d, err := act(r.Context(), id, caller(r), req.Reason)
		if err != nil {
			return err
		}
		note(r, "pipeline/"+d.Pipeline+"/deployment/"+strconv.FormatInt(id, 10), req.Reason)
		return writeJSON(w, http.StatusOK, d)
	}
}

func (h *Handler) retry(w http.ResponseWriter, r *http.Request) error {
	id, err := h.idOf(r)
	if err != nil {
		return err
	}
	d, err := h.svc.Retry(r.Context(), id, caller(r))
	if err != nil {
		return err
	}
	note(r, "pipeline/"+d.Pipeline+"/deployment/"+strconv.FormatInt(d.ID, 10), fmt.Sprintf("retry of deployment %d", id))
	w.Header().Set("Location", fmt.Sprintf("%s/deployments/%d", v1alpha1.PathPrefix, d.ID))
	return writeJSON(w, http.StatusCreated, d)
}

// events lists events, or with watch=true streams them as server-sent
// events until the deployment ends (a final "end" event) or the client
// leaves. Each event's id is its seq, so a client reconnects with after=.
func (h *Handler) events(w http.ResponseWriter, r *http.Request) error {
	id, err := h.idOf(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	after, err := queryInt(q, "after", 0)
	if err != nil {
		return err
	}
	if s := r.Header.Get("Last-Event-ID"); s != "" {
		if v, err := strconv.ParseInt(s, 10, 64); err == nil && v > after {
			after = v
		}
	}
	evs, err := h.svc.Events(r.Context(), id, after)
	if err != nil {
		return err
	}
	if q.Get("watch") != "true" {
		return writeJSON(w, http.StatusOK, v1alpha1.EventList{Items: evs})
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		return fmt.Errorf("streaming not supported by the connection")
	}
	rc := http.NewResponseController(w)
	// A watch outlives the server's ReadTimeout, which would otherwise end
	// the request's context after a minute.
	_ = rc.SetReadDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	t := time.NewTicker(h.EventPoll)
	defer t.Stop()
	keepalive, checked := time.Now(), time.Now()
	for {
		_ = rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		// A revoked or expired token ends the stream: checked before any
		// event is sent, and every TokenRecheck while idle.
		if len(evs) > 0 || time.Since(checked) >= h.TokenRecheck {
			if err := h.stillAuthorized(r); err != nil {
				var se *service.Error
				if !errors.As(err, &se) {
					return nil
				}
				b, _ := json.Marshal(v1alpha1.Status{Code: statusOf(se), Reason: string(se.Kind), Message: se.Message})
				fmt.Fprintf(w, "event: error\ndata: %s\n\n", b)
				flusher.Flush()
				return nil
			}
			checked = time.Now()
		}
		for _, e := range evs {
			b, _ := json.Marshal(e)
			if _, err := fmt.Fprintf(w, "id: %d\nevent: event\ndata: %s\n\n", e.Seq, b); err != nil {
				return nil
			}
			after = e.Seq
		}
		if len(evs) > 0 {
			flusher.Flush()
		}
		d, err := h.svc.GetDeployment(r.Context(), id)
		if err != nil {
			return nil
		}
		if d.Status.Final() {
			// Drain what was written with the final state, then end.
			if rest, err := h.svc.Events(r.Context(), id, after); err == nil && len(rest) > 0 {
				evs = rest
				continue
			}
			b, _ := json.Marshal(d)
			fmt.Fprintf(w, "event: end\ndata: %s\n\n", b)
			flusher.Flush()
			return nil
		}
		if time.Since(keepalive) > 15*time.Second {
			fmt.Fprint(w, ": keepalive\n\n")
			flusher.Flush()
			keepalive = time.Now()
		}
		select {
		case <-r.Context().Done():
			return nil
		case <-t.C:
		}
		evs, err = h.svc.Events(r.Context(), id, after)
		if err != nil {
			return nil
		}
	}
}
