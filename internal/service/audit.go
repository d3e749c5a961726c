package service

import (
	"context"
	"fmt"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/auth"
	"fledge.dev/fledge/internal/store"
)

// Audit outcomes.
const (
	OutcomeOK     = "ok"
	OutcomeFailed = "failed"
	OutcomeDenied = "denied"
)

// Audit appends an entry to the audit log. A failure is logged, not
// returned: the change it records has already happened.
func (s *Service) Audit(ctx context.Context, e v1alpha1.AuditEntry) {
	if e.At.IsZero() {
		e.At = s.now()
	}
	_, err := s.store.AppendAudit(context.WithoutCancel(ctx), store.AuditEntry{
		At: e.At, Actor: e.Actor, Action: e.Action, Target: e.Target, RemoteAddr: e.RemoteAddr,
		Outcome: e.Outcome, Detail: truncate(e.Detail, 2000),
	})
	if err != nil {
		s.log.Error("audit log append failed", "action", e.Action, "actor", e.Actor, "target", e.Target, "error", err)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// AuditQuery selects a page of the audit log.
type AuditQuery struct {
	Actor  string
	Action string
	Since  time.Time
	Before int64
	Limit  int
}

// ListAudit returns a page of the audit log, newest first.
func (s *Service) ListAudit(ctx context.Context, q AuditQuery) (v1alpha1.AuditList, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	if q.Limit > 1000 {
		return v1alpha1.AuditList{}, badRequest("limit must be at most 1000, got %d", q.Limit)
	}
	rows, err := s.store.ListAudit(ctx, store.AuditFilter{Actor: auth.Canonical(q.Actor), Action: q.Action, Since: q.Since, BeforeID: q.Before, Limit: q.Limit + 1})
	if err != nil {
		return v1alpha1.AuditList{}, fmt.Errorf("list audit log: %w", err)
	}
	out := v1alpha1.AuditList{Items: []v1alpha1.AuditEntry{}}
	if len(rows) > q.Limit {
		rows = rows[:q.Limit]
		out.NextBefore = rows[len(rows)-1].ID
	}
	for _, r := range rows {
		out.Items = append(out.Items, v1alpha1.AuditEntry{
			ID: r.ID, At: r.At, Actor: r.Actor, Action: r.Action, Target: r.Target,
			RemoteAddr: r.RemoteAddr, Outcome: r.Outcome, Detail: r.Detail,
		})
	}
	return out, nil
}
