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
	// Until keeps entries strictly before it; Oldest lists oldest first,
	// paged with After (an export).
	Until  time.Time
	Oldest bool
	After  int64
}

// ListAudit returns a page of the audit log, newest first.
func (s *Service) ListAudit(ctx context.Context, q AuditQuery) (v1alpha1.AuditList, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	if q.Limit > 1000 {
		return v1alpha1.AuditList{}, badRequest("limit must be at most 1000, got %d", q.Limit)
	}
	rows, err := s.store.ListAudit(ctx, store.AuditFilter{
		Actor: auth.Canonical(q.Actor), Action: q.Action, Since: q.Since, BeforeID: q.Before, Limit: q.Limit + 1,
		Until: q.Until, Oldest: q.Oldest, AfterID: q.After,
	})
	if err != nil {
		return v1alpha1.AuditList{}, fmt.Errorf("list audit log: %w", err)
	}
	out := v1alpha1.AuditList{Items: []v1alpha1.AuditEntry{}}
	if len(rows) > q.Limit {
		rows = rows[:q.Limit]
		if q.Oldest {
			out.NextAfter = rows[len(rows)-1].ID
		} else {
			out.NextBefore = rows[len(rows)-1].ID
		}
	}
	for _, r := range rows {
		out.Items = append(out.Items, v1alpha1.AuditEntry{
			ID: r.ID, At: r.At, Actor: r.Actor, Action: r.Action, Target: r.Target,
			RemoteAddr: r.RemoteAddr, Outcome: r.Outcome, Detail: r.Detail,
		})
	}
	return out, nil
}

// PruneAudit removes the audit entries older than before with an ID up to
// throughID (the newest one archived), recording the prune in the store.
// The newest day is never pruned: what just happened stays visible.
func (s *Service) PruneAudit(ctx context.Context, before time.Time, throughID int64, by string) (int64, error) {
	var fes []v1alpha1.FieldError
	if before.IsZero() {
		fes = append(fes, v1alpha1.FieldError{Field: "before", Message: "is required"})
	} else if limit := s.now().Add(-24 * time.Hour); before.After(limit) {
		fes = append(fes, v1alpha1.FieldError{Field: "before", Message: fmt.Sprintf("must be at least 24h ago (%s or earlier), got %s", limit.UTC().Format(time.RFC3339), before.UTC().Format(time.RFC3339))})
	}
	if throughID < 1 {
		fes = append(fes, v1alpha1.FieldError{Field: "throughId", Message: "is required: the id of the newest entry archived"})
	}
	if len(fes) > 0 {
		return 0, invalid("invalid audit prune: "+joinFields(fes), fes...)
	}
	n, err := s.store.PruneAudit(ctx, store.AuditPrune{At: s.now(), Actor: by, Before: before, ThroughID: throughID})
	if err != nil {
		return 0, err
	}
	s.log.Info("audit log pruned", "before", before, "through_id", throughID, "deleted", n, "user", by)
	return n, nil
}
