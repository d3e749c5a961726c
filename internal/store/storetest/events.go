package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"fledge.dev/fledge/internal/store"
)

func eventTests() []testCase {
	return []testCase{
		{"Events/SeqIsGaplessAcrossWriters", testEventSeq},
		{"Events/ListAfterSeq", testListEventsAfter},
		{"Events/AppendIsAtomic", testAppendEventsAtomic},
		{"Events/ProgressCompactedAtTheEnd", testProgressCompacted},
		{"Decisions/AddAndList", testDecisions},
		{"Decisions/Duplicate", testDuplicateDecision},
		{"Decisions/WakesDeployment", testDecisionWakes},
		{"Decisions/OnlyWhileStageOpen", testDecisionGate},
		{"Ping", testPing},
	}
}

func testEventSeq(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	d, err := b.s.CreateDeployment(b.ctx, store.Deployment{Pipeline: "web", Status: "Queued"},
		store.Event{Type: "Created"})
	must(t, err, "CreateDeployment")
	other := b.create(t, "api")

	must(t, b.s.AppendEvents(b.ctx), "AppendEvents with nothing")
	must(t, b.s.AppendEvents(b.ctx,
		store.Event{DeploymentID: d.ID, Type: "A1"},
		store.Event{DeploymentID: other.ID, Type: "O1"},
		store.Event{DeploymentID: d.ID, Type: "A2", Stage: "canary", Message: "hello", Time: start.Add(-time.Minute)},
	), "AppendEvents")
	c := b.claim(t, "exec-1")
	_, err = b.s.UpdateDeployment(b.ctx, c, "exec-1", store.Event{Type: "U1"}, store.Event{Type: "U2"})
	must(t, err, "UpdateDeployment")
	must(t, b.s.AddDecision(b.ctx,
		store.Decision{DeploymentID: d.ID, Stage: "prod", User: "bob", Decision: "Approve"}, 0,
		store.Event{Stage: "prod", Type: "Approved"}), "AddDecision")
	must(t, b.s.AppendEvents(b.ctx, store.Event{DeploymentID: d.ID, Type: "A3"}), "AppendEvents")

	es := b.events(t, d.ID, 0)
	wantSeqs(t, es, d.ID, 1, 7)
	var types []string
	for _, e := range es {
		types = append(types, e.Type)
	}
	want := []string{"Created", "A1", "A2", "U1", "U2", "Approved", "A3"}
	for i := range want {
		if types[i] != want[i] {
			t.Fatalf("event types %v, want %v", types, want)
		}
	}
	if es[2].Stage != "canary" || es[2].Message != "hello" {
		t.Errorf("event A2 = %+v", es[2])
	}
	sameTime(t, "given event time", es[2].Time, start.Add(-time.Minute))
	sameTime(t, "default event time", es[1].Time, start)

	oes := b.events(t, other.ID, 0)
	wantSeqs(t, oes, other.ID, 1, 1)
	if oes[0].Type != "O1" {
		t.Errorf("other deployment's events %+v", oes)
	}
}

func testListEventsAfter(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	d := b.create(t, "web")
	for range 5 {
		must(t, b.s.AppendEvents(b.ctx, store.Event{DeploymentID: d.ID, Type: "Tick"}), "AppendEvents")
	}
	for _, tc := range []struct {
		after int64
		from  int64
		n     int
	}{{-1, 1, 5}, {0, 1, 5}, {2, 3, 3}, {4, 5, 1}, {5, 0, 0}, {99, 0, 0}} {
		wantSeqs(t, b.events(t, d.ID, tc.after), d.ID, tc.from, tc.n)
	}
	if es := b.events(t, d.ID+1000, 0); len(es) != 0 {
		t.Errorf("events of a missing deployment: %+v", es)
	}
}

func testAppendEventsAtomic(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	d := b.create(t, "web")
	err := b.s.AppendEvents(b.ctx,
		store.Event{DeploymentID: d.ID, Type: "A"},
		store.Event{DeploymentID: d.ID + 1000, Type: "B"})
	wantErr(t, err, store.ErrNotFound, "AppendEvents to a missing deployment")
	if es := b.events(t, d.ID, 0); len(es) != 0 {
		t.Fatalf("a failed AppendEvents stored %d events", len(es))
	}
	must(t, b.s.AppendEvents(b.ctx, store.Event{DeploymentID: d.ID, Type: "C"}), "AppendEvents")
	wantSeqs(t, b.events(t, d.ID, 0), d.ID, 1, 1)
}

// testProgressCompacted: a deployment's rollout progress stays whole
// while it runs; the update that ends it keeps the newest line of each
// workload in each stage and every other event, in order.
func testProgressCompacted(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	b.create(t, "web")
	other := b.create(t, "api")
	d := b.claim(t, "exec-1")
	progress := func(id int64, stage, msg string) store.Event {
		return store.Event{DeploymentID: id, Stage: stage, Type: store.ProgressEventType, Message: msg}
	}
	must(t, b.s.AppendEvents(b.ctx,
		store.Event{DeploymentID: d.ID, Stage: "canary", Type: "Applied"},
		progress(d.ID, "canary", "web-canary: deployment/web: waiting for the spec update to be observed"),
		progress(d.ID, "canary", "web-canary: deployment/api: 0 of 1 updated replicas are available"),
		progress(d.ID, "canary", "web-canary: deployment/web: 1 of 3 updated replicas are available"),
		progress(other.ID, "canary", "api-canary: deployment/api: waiting"),
		progress(d.ID, "canary", "web-canary: deployment/api: successfully rolled out"),
		progress(d.ID, "canary", "web-canary: deployment/web: successfully rolled out"),
		store.Event{DeploymentID: d.ID, Stage: "canary", Type: "RolloutComplete"},
		progress(d.ID, "prod", "web-prod: deployment/web: waiting for the spec update to be observed"),
		progress(d.ID, "prod", "web-prod: deployment/web: successfully rolled out"),
		progress(other.ID, "canary", "api-canary: deployment/api: successfully rolled out"),
	), "AppendEvents")
	d = b.setStatus(t, d, "exec-1", "WaitingForApproval")
	if n := len(b.events(t, d.ID, 0)); n != 9 {
		t.Fatalf("a running deployment has %d events, want all 9", n)
	}

	d.Status = "Succeeded"
	_, err := b.s.UpdateDeployment(b.ctx, d, "exec-1", store.Event{Type: "DeploymentSucceeded"})
	must(t, err, "UpdateDeployment to Succeeded")
	var got []string
	var last int64
	for _, e := range b.events(t, d.ID, 0) {
		if e.Seq <= last {
			t.Fatalf("seq %d after %d", e.Seq, last)
		}
		last = e.Seq
		got = append(got, fmt.Sprintf("%d %s %s", e.Seq, e.Type, e.Message))
	}
	want := []string{
		"1 Applied ",
		"5 RolloutProgress web-canary: deployment/api: successfully rolled out",
		"6 RolloutProgress web-canary: deployment/web: successfully rolled out",
		"7 RolloutComplete ",
		"9 RolloutProgress web-prod: deployment/web: successfully rolled out",
		"10 DeploymentSucceeded ",
	}
	if !slices.Equal(got, want) {
		t.Errorf("events of the finished deployment:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := len(b.events(t, other.ID, 0)); n != 2 {
		t.Errorf("the other deployment, still queued, has %d events, want both progress lines", n)
	}
}

func testDecisions(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	d := b.create(t, "web")
	other := b.create(t, "api")
	if ds, err := b.s.ListDecisions(b.ctx, d.ID); err != nil || len(ds) != 0 {
		t.Fatalf("ListDecisions of a new deployment = %v, %v", ds, err)
	}

	in := []store.Decision{
		{DeploymentID: d.ID, Stage: "prod", User: "bob", Decision: "Approve", Reason: "looks good", At: start.Add(time.Minute)},
		{DeploymentID: d.ID, Stage: "prod", User: "carol", Decision: "Reject", Reason: "error rate"},
		{DeploymentID: d.ID, Stage: "canary", User: "bob", Decision: "Approve"},
		{DeploymentID: other.ID, Stage: "prod", User: "bob", Decision: "Approve"},
	}
	for _, dec := range in {
		b.clock.Advance(time.Second)
		must(t, b.s.AddDecision(b.ctx, dec, 0, store.Event{Stage: dec.Stage, Type: dec.Decision, Message: dec.User}),
			"AddDecision")
	}
	ds, err := b.s.ListDecisions(b.ctx, d.ID)
	must(t, err, "ListDecisions")
	if len(ds) != 3 {
		t.Fatalf("ListDecisions = %+v, want 3", ds)
	}
	for i, got := range ds {
		want := in[i]
		if got.DeploymentID != want.DeploymentID || got.Stage != want.Stage || got.User != want.User ||
			got.Decision != want.Decision || got.Reason != want.Reason {
			t.Errorf("decision %d = %+v, want %+v", i, got, want)
		}
	}
	sameTime(t, "given decision time", ds[0].At, start.Add(time.Minute))
	sameTime(t, "default decision time", ds[1].At, start.Add(2*time.Second))

	es := b.events(t, d.ID, 0)
	wantSeqs(t, es, d.ID, 1, 3)
	if es[0].Type != "Approve" || es[0].Message != "bob" || es[1].Type != "Reject" || es[2].Stage != "canary" {
		t.Errorf("decision events %+v", es)
	}
	wantSeqs(t, b.events(t, other.ID, 0), other.ID, 1, 1)

	// The batch form agrees with the one by one form, and leaves out
	// deployments without decisions (and missing ones).
	quiet := b.create(t, "quiet")
	byID, err := b.s.ListDecisionsOf(b.ctx, []int64{d.ID, other.ID, quiet.ID, d.ID + 1000})
	must(t, err, "ListDecisionsOf")
	if len(byID) != 2 || len(byID[d.ID]) != 3 || len(byID[other.ID]) != 1 {
		t.Fatalf("ListDecisionsOf = %+v, want 3 decisions of %d and 1 of %d", byID, d.ID, other.ID)
	}
	for i, got := range byID[d.ID] {
		if got != ds[i] {
			t.Errorf("ListDecisionsOf: decision %d = %+v, ListDecisions has %+v", i, got, ds[i])
		}
	}
	if none, err := b.s.ListDecisionsOf(b.ctx, nil); err != nil || len(none) != 0 {
		t.Errorf("ListDecisionsOf(nil) = %v, %v; want empty", none, err)
	}

	err = b.s.AddDecision(b.ctx, store.Decision{DeploymentID: d.ID + 1000, Stage: "prod", User: "bob", Decision: "Approve"}, 1,
		store.Event{Type: "Approve"})
	wantErr(t, err, store.ErrNotFound, "AddDecision to a missing deployment")
	if ds, err := b.s.ListDecisions(b.ctx, d.ID+1000); err != nil || len(ds) != 0 {
		t.Fatalf("ListDecisions of a missing deployment = %v, %v", ds, err)
	}
}

func testDuplicateDecision(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	d := b.create(t, "web")
	dec := store.Decision{DeploymentID: d.ID, Stage: "prod", User: "bob", Decision: "Approve"}
	must(t, b.s.AddDecision(b.ctx, dec, 0, store.Event{Type: "Approve"}), "AddDecision")

	for _, again := range []string{"Approve", "Reject"} {
		dup := dec
		dup.Decision = again
		err := b.s.AddDecision(b.ctx, dup, 0, store.Event{Type: again})
		wantErr(t, err, store.ErrDuplicateDecision, "AddDecision "+again+" again")
	}
	ds, err := b.s.ListDecisions(b.ctx, d.ID)
	must(t, err, "ListDecisions")
	if len(ds) != 1 || ds[0].Decision != "Approve" {
		t.Fatalf("decisions after duplicates: %+v", ds)
	}
	// The refused decision's event was not appended, and no Seq was spent.
	wantSeqs(t, b.events(t, d.ID, 0), d.ID, 1, 1)
	must(t, b.s.AppendEvents(b.ctx, store.Event{DeploymentID: d.ID, Type: "Next"}), "AppendEvents")
	wantSeqs(t, b.events(t, d.ID, 0), d.ID, 1, 2)
}

func testDecisionWakes(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	d := b.create(t, "web", func(d *store.Deployment) {
		d.Status = "WaitingForApproval"
		d.WakeAt = ptr(start.Add(24 * time.Hour))
	})
	b.claimNone(t, "exec-1")
	b.clock.Advance(time.Minute)
	must(t, b.s.AddDecision(b.ctx, store.Decision{DeploymentID: d.ID, Stage: "prod", User: "bob", Decision: "Approve"}, 1,
		store.Event{Type: "Approve"}), "AddDecision")
	got := b.get(t, d.ID)
	sameTimePtr(t, "WakeAt after a decision", got.WakeAt, ptr(b.clock.Now()))
	if got.Version != d.Version {
		t.Errorf("AddDecision changed Version %d -> %d", d.Version, got.Version)
	}
	if c := b.claim(t, "exec-1"); c.ID != d.ID {
		t.Fatalf("claimed %d, want %d", c.ID, d.ID)
	}
}

func testPing(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	must(t, b.s.Ping(b.ctx), "Ping")
}

// testDecisionGate: with need > 0 a decision is taken only while the
// deployment waits and its stage is undecided; a refused one leaves
// nothing behind.
func testDecisionGate(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	waiting := func(d *store.Deployment) { d.Status = store.StatusWaitingForApproval }
	dec := func(id int64, user, kind string) store.Decision {
		return store.Decision{DeploymentID: id, Stage: "prod", User: user, Decision: kind, Reason: "r"}
	}
	add := func(d store.Decision, need int) error {
		return b.s.AddDecision(b.ctx, d, need, store.Event{Stage: d.Stage, Type: d.Decision})
	}

	running := b.create(t, "web", func(d *store.Deployment) { d.Status = "Running" })
	wantErr(t, add(dec(running.ID, "bob", "Approve"), 1), store.ErrStageDecided, "approve a running deployment")

	rejected := b.create(t, "api", waiting)
	must(t, add(dec(rejected.ID, "carol", "Reject"), 2), "reject")
	wantErr(t, add(dec(rejected.ID, "bob", "Approve"), 2), store.ErrStageDecided, "approve after a rejection")
	wantErr(t, add(dec(rejected.ID, "dave", "Reject"), 2), store.ErrStageDecided, "reject after a rejection")

	approved := b.create(t, "db", waiting)
	must(t, add(dec(approved.ID, "bob", "Approve"), 2), "first approval")
	must(t, add(dec(approved.ID, "carol", "Approve"), 2), "second approval")
	wantErr(t, add(dec(approved.ID, "dave", "Reject"), 2), store.ErrStageDecided, "reject after the approvals")
	wantErr(t, add(dec(approved.ID, "erin", "Approve"), 2), store.ErrStageDecided, "approve after the approvals")
	// Another stage of the same deployment is decided on its own.
	other := dec(approved.ID, "dave", "Reject")
	other.Stage = "canary"
	must(t, add(other, 1), "reject another stage")

	for id, want := range map[int64]int{running.ID: 0, rejected.ID: 1, approved.ID: 3} {
		ds, err := b.s.ListDecisions(b.ctx, id)
		must(t, err, "ListDecisions")
		if len(ds) != want {
			t.Errorf("deployment %d has %d decisions, want %d: %+v", id, len(ds), want, ds)
		}
		wantSeqs(t, b.events(t, id, 0), id, 1, want)
	}
}
