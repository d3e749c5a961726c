package httpapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"fledge.dev/fledge/api/v1alpha1"
)

// A rollback changes production with no approval stage, so by default it
// needs the approver role; a pipeline may let deployers roll back
// (spec.rollback.requiredRole: deployer). Refusals are audited.
func TestRollbackPolicy(t *testing.T) {
	t.Parallel()
	a := setup(t)
	ci := a.token(t, "ci", "deployer")
	alice := a.token(t, "alice", "deployer", "approver:p")
	code, body := do(t, a, "POST", "/api/v1/pipelines/p/runs", `{"parameters":{"TAG":"1"}}`)
	var d v1alpha1.Deployment
	if err := json.Unmarshal([]byte(body), &d); code != 201 || err != nil {
		t.Fatalf("run: %d %s", code, body)
	}
	forceSucceeded(t, a.st, d.ID)
	rollback := fmt.Sprintf(`{"to":%d}`, d.ID)

	code, body = doAs(t, a, ci, "POST", "/api/v1/pipelines/p/rollback", rollback)
	if code != 403 || !strings.Contains(body, "lets only role approver (or approver:p) roll production back") {
		t.Fatalf("a deployer rolling back by default: %d %s", code, body)
	}
	_, body = do(t, a, "GET", "/api/v1/audit?action=rollback.create", "")
	if !strings.Contains(body, `"actor":"ci"`) || !strings.Contains(body, `"outcome":"denied"`) {
		t.Fatalf("the refused rollback is not audited: %s", body)
	}

	// A pipeline that lets deployers roll back.
	var p v1alpha1.Pipeline
	if err := json.Unmarshal([]byte(pipelineJSON("q", 25, "cq", "pq")), &p); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		role string
		code int
	}{{"root", 422}, {"deployer", 201}} {
		p.Spec.Rollback = &v1alpha1.RollbackPolicy{RequiredRole: tc.role}
		b, _ := json.Marshal(p)
		if code, body := do(t, a, "PUT", "/api/v1/pipelines/q", string(b)); code != tc.code {
			t.Fatalf("apply requiredRole %s: %d %s", tc.role, code, body)
		}
	}
	code, body = do(t, a, "POST", "/api/v1/pipelines/q/runs", `{"parameters":{"TAG":"1"}}`)
	if err := json.Unmarshal([]byte(body), &d); code != 201 || err != nil {
		t.Fatalf("run q: %d %s", code, body)
	}
	forceSucceeded(t, a.st, d.ID)
	if code, body := doAs(t, a, alice, "POST", "/api/v1/pipelines/p/rollback", rollback); code != 201 {
		t.Fatalf("a deployer and approver of p rolling back: %d %s", code, body)
	}
	if code, body := doAs(t, a, ci, "POST", "/api/v1/pipelines/q/rollback", fmt.Sprintf(`{"to":%d}`, d.ID)); code != 201 {
		t.Fatalf("a deployer rolling back q (requiredRole deployer): %d %s", code, body)
	}
}
