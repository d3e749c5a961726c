package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/service"
)

// Refused requests (401, 403) are audited, but must cost almost nothing:
// anyone can send them, as fast as they like, with paths as long as the
// server accepts. So they are rate-limited in memory before they reach
// the store: the first refusal of a kind from a source is written at once,
// the rest of its window only counted, and one summary entry says how many
// there were when the window ends. Each entry's target and detail are
// truncated. Whatever the traffic, the audit log grows by at most two
// entries per source, identity and kind per window, and by at most
// refusalMaxKeys first entries per window in all (beyond that, sources are
// counted together).
const (
	refusalWindow    = time.Minute
	refusalMaxKeys   = 1000
	refusalTargetMax = 200
	refusalDetailMax = 500
)

// refusalKey is what refusals are counted by: where from, as whom, what
// kind of refusal. The path is left out: an attacker chooses it freely.
type refusalKey struct {
	source, actor, action, class string
}

type refusalCount struct {
	start  time.Time
	count  int
	target string
	detail string
}

// refusals counts refused requests per key and window.
type refusals struct {
	mu     sync.Mutex
	window time.Duration
	counts map[refusalKey]*refusalCount
	// keysStart and keys bound the first entries written per window.
	keysStart time.Time
	keys      int
}

func newRefusals(window time.Duration) *refusals {
	return &refusals{window: window, counts: map[refusalKey]*refusalCount{}}
}

// refused records a refused request in the audit log, rate-limited and
// aggregated (see refusalWindow). class names the kind of refusal within
// action (the reason, never the path).
func (h *Handler) refused(r *http.Request, actor, action, class, target, detail string) {
	if h.svc == nil {
		return
	}
	key := refusalKey{source: remoteHost(r), actor: actor, action: action, class: class}
	target, detail = truncateText(target, refusalTargetMax), truncateText(detail, refusalDetailMax)
	rs := h.refusals
	now := time.Now()
	rs.mu.Lock()
	if c, ok := rs.counts[key]; ok {
		c.count++
		rs.mu.Unlock()
		return
	}
	if now.Sub(rs.keysStart) >= rs.window {
		rs.keysStart, rs.keys = now, 0
	}
	if rs.keys >= refusalMaxKeys {
		key.source, key.actor = "(many sources)", ""
		if c, ok := rs.counts[key]; ok {
			c.count++
			rs.mu.Unlock()
			return
		}
	}
	rs.keys++
	c := &refusalCount{start: now, count: 1, target: target, detail: detail}
	rs.counts[key] = c
	rs.mu.Unlock()
	time.AfterFunc(rs.window, func() { h.flushRefusals(key, c) })
	h.audit(r, actor, action, target, service.OutcomeDenied, detail)
}

// flushRefusals ends a key's window: the refusals counted after its first
// entry become one summary entry.
func (h *Handler) flushRefusals(key refusalKey, c *refusalCount) {
	rs := h.refusals
	rs.mu.Lock()
	delete(rs.counts, key)
	more := c.count - 1
	rs.mu.Unlock()
	if more == 0 {
		return
	}
	h.svc.Audit(context.Background(), v1alpha1.AuditEntry{
		Actor: key.actor, Action: key.action, Target: c.target, RemoteAddr: key.source, Outcome: service.OutcomeDenied,
		Detail: fmt.Sprintf("%d more refused requests like the one at %s, from %s within %s (refusals are audited once per source and window, then counted)",
			more, c.start.UTC().Format(time.RFC3339), key.source, rs.window),
	})
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a character boundary.
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n] + "..."
}
