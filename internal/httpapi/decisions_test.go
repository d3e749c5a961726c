package httpapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"fledge.dev/fledge/api/v1alpha1"
)

// Approvals and rejections sent at once have one outcome: the winners get
// 200, the losers 409, and the history never shows approvers on a
// rejected stage (or a rejection after the approvals were complete).
func TestDecisionRace(t *testing.T) {
	t.Parallel()
	a := setup(t)
	const people = 8
	tokens := make([]string, people)
	for i := range tokens {
		tokens[i] = a.token(t, fmt.Sprintf("person-%d", i), "approver")
	}
	// Every run waits before any decision: a decision wakes its run, which
	// the test's stand-in for the executor would then claim.
	const rounds = 4
	ids := make([]int64, rounds)
	for round := range rounds {
		name := fmt.Sprintf("race-%d", round)
		pj := strings.Replace(pipelineJSON(name, 25, "cr", "pr"), `"approval":{}`, `"approval":{"approvalsRequired":2}`, 1)
		if code, body := do(t, a, "PUT", "/api/v1/pipelines/"+name, pj); code != 201 {
			t.Fatalf("apply: %d %s", code, body)
		}
		code, body := do(t, a, "POST", "/api/v1/pipelines/"+name+"/runs", `{"parameters":{"TAG":"1"}}`)
		var d v1alpha1.Deployment
		if err := json.Unmarshal([]byte(body), &d); code != 201 || err != nil {
			t.Fatalf("run: %d %s", code, body)
		}
		waitForApproval(t, a, d.ID)
		ids[round] = d.ID
	}
	for round, id := range ids {
		d := v1alpha1.Deployment{ID: id}
		var wg sync.WaitGroup
		codes := make([]int, people)
		bodies := make([]string, people)
		for i := range people {
			verb, body := "approve", `{}`
			if (i+round)%2 == 0 {
				verb, body = "reject", `{"reason":"no"}`
			}
			wg.Go(func() {
				codes[i], bodies[i] = doAs(t, a, tokens[i], "POST", fmt.Sprintf("/api/v1/deployments/%d/%s", d.ID, verb), body)
			})
		}
		wg.Wait()
		ok := 0
		for i, c := range codes {
			switch c {
			case 200:
				ok++
			case 409:
				if !strings.Contains(bodies[i], "no longer waits for a decision") {
					t.Errorf("loser %d: 409 without the reason: %s", i, bodies[i])
				}
			default:
				t.Fatalf("decision %d: %d %s", i, c, bodies[i])
			}
		}
		_, body := do(t, a, "GET", fmt.Sprintf("/api/v1/deployments/%d", d.ID), "")
		if err := json.Unmarshal([]byte(body), &d); err != nil {
			t.Fatal(err)
		}
		if len(d.Decisions) != ok {
			t.Fatalf("round %d: %d answered 200 but %d decisions are recorded: %+v", round, ok, len(d.Decisions), d.Decisions)
		}
		approvals, rejected := 0, false
		for _, x := range d.Decisions {
			if rejected || approvals == 2 {
				t.Fatalf("round %d: a decision after the outcome: %+v", round, d.Decisions)
			}
			if x.Decision == v1alpha1.DecisionReject {
				rejected = true
			} else {
				approvals++
			}
		}
		if !rejected && approvals != 2 {
			t.Fatalf("round %d: no outcome: %+v", round, d.Decisions)
		}
	}
}

// One identity whatever its case: token names are stored canonical and
// "BOB" cannot be created beside "bob"; an approver counts once, and the
// four-eyes check and webhook senders use the same form.
func TestCanonicalIdentity(t *testing.T) {
	t.Parallel()
	a := setup(t)
	a.token(t, "bob", "approver")
	for _, name := range []string{"BOB", " Bob "} {
		b, _ := json.Marshal(v1alpha1.TokenRequest{Name: name, Roles: []string{"viewer"}})
		code, body := do(t, a, "POST", "/api/v1/tokens", string(b))
		if name == " Bob " {
			if code != 422 {
				t.Errorf("create %q: %d %s, want 422 (spaces are not part of a name)", name, code, body)
			}
			continue
		}
		if code != 409 || !strings.Contains(body, `token named \"bob\" exists`) {
			t.Errorf("create %q beside bob: %d %s, want 409", name, code, body)
		}
	}
	carol := a.token(t, "Carol", "approver", "deployer")
	_, body := doAs(t, a, carol, "GET", "/api/v1/whoami", "")
	if !strings.Contains(body, `"name":"carol"`) {
		t.Fatalf("whoami of a token created as Carol: %s", body)
	}
	_, body = do(t, a, "GET", "/api/v1/tokens", "")
	if strings.Contains(body, "Carol") {
		t.Fatalf("a token name is stored as given, not canonical: %s", body)
	}
	// Four eyes: carol triggered the run, so CAROL (the same person) may not
	// approve it.
	pj := strings.Replace(pipelineJSON("eyes", 25, "ce", "pe"), `"approval":{}`, `"approval":{"approvalsRequired":2,"requireDistinctFromTrigger":true}`, 1)
	if code, body := do(t, a, "PUT", "/api/v1/pipelines/eyes", pj); code != 201 {
		t.Fatalf("apply: %d %s", code, body)
	}
	code, body := doAs(t, a, carol, "POST", "/api/v1/pipelines/eyes/runs", `{"parameters":{"TAG":"1"}}`)
	var d v1alpha1.Deployment
	if err := json.Unmarshal([]byte(body), &d); code != 201 || err != nil || d.TriggeredBy != "carol" {
		t.Fatalf("run: %d %s", code, body)
	}
	waitForApproval(t, a, d.ID)
	if code, body := doAs(t, a, carol, "POST", fmt.Sprintf("/api/v1/deployments/%d/approve", d.ID), `{}`); code != 403 {
		t.Fatalf("the trigger approving: %d %s", code, body)
	}
}
