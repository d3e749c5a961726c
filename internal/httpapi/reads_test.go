package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/store/sqlite"
)

// TestGetDeploymentAfterWrites: a deployment read again after each kind of
// write shows it, although the server has the earlier version's plan and
// state decoded and its view encoded: a decision, a new state, the
// pipeline's live deployment moving to another, a cancel request (which
// does not move the row's version).
func TestGetDeploymentAfterWrites(t *testing.T) {
	t.Parallel()
	a := setup(t)
	approver := a.token(t, "bob", "approver")
	run := func() int64 {
		t.Helper()
		code, body := do(t, a, "POST", "/api/v1/pipelines/p/runs", `{"parameters":{"TAG":"1.0"}}`)
		var d v1alpha1.Deployment
		if err := json.Unmarshal([]byte(body), &d); code != http.StatusCreated || err != nil {
			t.Fatalf("run: %d %s", code, body)
		}
		return d.ID
	}
	get := func(id int64) v1alpha1.Deployment {
		t.Helper()
		code, body := do(t, a, "GET", fmt.Sprintf("/api/v1/deployments/%d", id), "")
		var d v1alpha1.Deployment
		if err := json.Unmarshal([]byte(body), &d); code != http.StatusOK || err != nil {
			t.Fatalf("GET deployment %d: %d %s", id, code, body)
		}
		return d
	}
	decide := func(id int64, verb string) {
		t.Helper()
		code, body := doAs(t, a, approver, "POST", fmt.Sprintf("/api/v1/deployments/%d/%s", id, verb), `{"reason":"checked"}`)
		if code != http.StatusOK {
			t.Fatalf("%s %d: %d %s", verb, id, code, body)
		}
	}
	first := run()
	forceSucceeded(t, a.st, first)
	second := run()
	third := run()
	fourth := run()
	type want struct {
		id        int64
		status    v1alpha1.DeploymentStatus
		stage     string // from the state: stale if the state is
		live      bool
		decisions []v1alpha1.DecisionKind
		cancel    bool
	}
	for _, step := range []struct {
		name  string
		write func()
		want  []want
	}{
		{"first live, second queued", nil, []want{
			{first, v1alpha1.StatusSucceeded, "", true, nil, false},
			{second, v1alpha1.StatusQueued, "canary", false, nil, false},
		}},
		{"second waits", func() { forceWaiting(t, a.st, second) }, []want{
			{second, v1alpha1.StatusWaitingForApproval, "approve", false, nil, false},
		}},
		{"second approved", func() { decide(second, "approve") }, []want{
			{second, v1alpha1.StatusWaitingForApproval, "approve", false, []v1alpha1.DecisionKind{v1alpha1.DecisionApprove}, false},
		}},
		{"second live", func() { forceSucceeded(t, a.st, second) }, []want{
			{first, v1alpha1.StatusSucceeded, "", false, nil, false},
			{second, v1alpha1.StatusSucceeded, "", true, []v1alpha1.DecisionKind{v1alpha1.DecisionApprove}, false},
		}},
		{"third rejected", func() { forceWaiting(t, a.st, third); get(third); decide(third, "reject") }, []want{
			{third, v1alpha1.StatusWaitingForApproval, "approve", false, []v1alpha1.DecisionKind{v1alpha1.DecisionReject}, false},
			{second, v1alpha1.StatusSucceeded, "", true, []v1alpha1.DecisionKind{v1alpha1.DecisionApprove}, false},
		}},
		{"fourth cancel requested", func() {
			get(fourth)
			if code, body := do(t, a, "POST", fmt.Sprintf("/api/v1/deployments/%d/cancel", fourth), ""); code != http.StatusOK {
				t.Fatalf("cancel %d: %d %s", fourth, code, body)
			}
		}, []want{
			{fourth, v1alpha1.StatusQueued, "canary", false, nil, true},
		}},
	} {
		if step.write != nil {
			step.write()
		}
		for _, w := range step.want {
			d := get(w.id)
			var kinds []v1alpha1.DecisionKind
			for _, x := range d.Decisions {
				kinds = append(kinds, x.Decision)
			}
			if d.Status != w.status || d.CurrentStage != w.stage || d.Live != w.live || fmt.Sprint(kinds) != fmt.Sprint(w.decisions) || d.CancelRequested != w.cancel {
				t.Errorf("%s: deployment %d is %s at stage %q, live %t, decisions %v, cancel requested %t; want %s at %q, live %t, decisions %v, cancel requested %t",
					step.name, w.id, d.Status, d.CurrentStage, d.Live, kinds, d.CancelRequested, w.status, w.stage, w.live, w.decisions, w.cancel)
			}
		}
	}
}

// TestGetDeploymentTokenRevoked: GET of a deployment authenticates a token
// it has seen from the token cache and confirms it with the same read as
// the deployment; a token revoked since, through this server or another
// on the same database, is refused at once, and audited, for a deployment
// that exists or not, while another token's change leaves the others
// working.
func TestGetDeploymentTokenRevoked(t *testing.T) {
	t.Parallel()
	a := setup(t)
	other, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(a.dbDir, "f.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	code, body := do(t, a, "POST", "/api/v1/pipelines/p/runs", `{"parameters":{"TAG":"1.0"}}`)
	if code != http.StatusCreated {
		t.Fatalf("run: %d %s", code, body)
	}
	vera, walt, yuri := a.token(t, "vera", "viewer"), a.token(t, "walt", "viewer"), a.token(t, "yuri", "viewer")
	revokeElsewhere := func(name string) func() {
		return func() {
			if err := other.DeleteToken(t.Context(), name); err != nil {
				t.Fatal(err)
			}
		}
	}
	found, missing := "/api/v1/deployments/1", "/api/v1/deployments/99"
	for _, step := range []struct {
		name   string
		revoke func()
		token  string
		path   string
		want   int
	}{
		{"cached", nil, vera, found, http.StatusOK},
		{"cached, missing deployment", nil, vera, missing, http.StatusNotFound},
		{"another token created", func() { a.token(t, "xena", "viewer") }, vera, found, http.StatusOK},
		{"revoked through this server", func() { do(t, a, "DELETE", "/api/v1/tokens/vera", "") }, vera, found, http.StatusUnauthorized},
		{"cached again", nil, walt, found, http.StatusOK},
		{"revoked through another server", revokeElsewhere("walt"), walt, found, http.StatusUnauthorized},
		{"cached once more", nil, yuri, found, http.StatusOK},
		{"revoked through another server, missing deployment", revokeElsewhere("yuri"), yuri, missing, http.StatusUnauthorized},
	} {
		if step.revoke != nil {
			step.revoke()
		}
		if code, body := doAs(t, a, step.token, "GET", step.path, ""); code != step.want {
			t.Errorf("%s: GET %s: %d %s, want %d", step.name, step.path, code, body, step.want)
		}
	}
	// Refusals from one address are audited once per window: the first.
	_, body = do(t, a, "GET", "/api/v1/audit?action=auth.unauthenticated", "")
	if !strings.Contains(body, `"target":"GET /api/v1/deployments/1"`) || !strings.Contains(body, "unknown token") {
		t.Errorf("the refusal is not audited: %s", body)
	}
}
