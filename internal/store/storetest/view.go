package storetest

import (
	"reflect"
	"testing"
	"time"

	"fledge.dev/fledge/internal/store"
)

func viewTests() []testCase {
	return []testCase{
		{"DeploymentView/NotFound", testDeploymentViewNotFound},
		{"DeploymentView/PlanStateOnlyForAnotherVersion", testDeploymentViewPlanState},
		{"DeploymentView/AgreesWithTheReadsOfEach", testDeploymentViewAgrees},
	}
}

func testDeploymentViewNotFound(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	_, err := b.s.GetDeploymentView(b.ctx, 4242, 0)
	wantErr(t, err, store.ErrNotFound, "GetDeploymentView of a missing deployment")
}

// testDeploymentViewPlanState: the view's row is GetDeployment's, without
// the plan and state exactly when the caller has the row's version.
func testDeploymentViewPlanState(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	d := b.create(t, "web", func(d *store.Deployment) {
		d.Plan, d.State, d.Parameters = []byte(`{"plan":1}`), []byte(`{"state":1}`), map[string]string{"TAG": "1"}
	})
	full := b.get(t, d.ID)
	bare := full
	bare.Plan, bare.State = nil, nil
	for _, tc := range []struct {
		name  string
		known int64
		want  store.Deployment
	}{
		{"no version known", 0, full},
		{"an older version known", full.Version - 1, full},
		{"a newer version known", full.Version + 1, full},
		{"the row's version known", full.Version, bare},
	} {
		v, err := b.s.GetDeploymentView(b.ctx, d.ID, tc.known)
		must(t, err, tc.name+": GetDeploymentView")
		sameDeployment(t, tc.name, v.Deployment, tc.want)
	}
	// A change of the row moves its version: the plan and state come
	// again, with the new state.
	c := b.claim(t, "exec")
	c.State = []byte(`{"state":2}`)
	c, err := b.s.UpdateDeployment(b.ctx, c, "exec")
	must(t, err, "UpdateDeployment")
	v, err := b.s.GetDeploymentView(b.ctx, d.ID, full.Version)
	must(t, err, "GetDeploymentView after an update")
	sameDeployment(t, "after an update", v.Deployment, b.get(t, c.ID))
}

// testDeploymentViewAgrees: what the view reads in one statement is what
// LiveDeploymentID, ListDecisions and ListNotifications read one by one,
// through every kind of change, and nothing of another deployment.
func testDeploymentViewAgrees(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	d := b.create(t, "web")
	other := b.create(t, "api")
	check := func(step string, wantLive int64) {
		t.Helper()
		v, err := b.s.GetDeploymentView(b.ctx, d.ID, 0)
		must(t, err, step+": GetDeploymentView")
		sameView(t, b, step, v)
		if v.LiveID != wantLive {
			t.Errorf("%s: LiveID = %d, want %d", step, v.LiveID, wantLive)
		}
	}
	check("new", 0)
	must(t, b.s.CreateToken(b.ctx, store.Token{Name: "ci", Hash: []byte("hash-ci"), Roles: []string{"viewer"}}), "CreateToken")
	check("a token created", 0)

	// A decision of another deployment is not this one's.
	must(t, b.s.AddDecision(b.ctx, store.Decision{DeploymentID: other.ID, Stage: "prod", User: "bob", Decision: "Approve"}, 0,
		store.Event{Type: "Approve"}), "AddDecision to the other deployment")
	check("another deployment decided", 0)
	for _, dec := range []store.Decision{
		{DeploymentID: d.ID, Stage: "prod", User: "bob", Decision: "Approve", Reason: "looks \"good\"\n", At: start.Add(time.Minute)},
		// Before the first by stage and user: the order is the ids'.
		{DeploymentID: d.ID, Stage: "canary", User: "carol", Decision: "Reject", Reason: "error rate"},
	} {
		b.clock.Advance(time.Second)
		must(t, b.s.AddDecision(b.ctx, dec, 0, store.Event{Stage: dec.Stage, Type: dec.Decision}), "AddDecision")
		check("decided by "+dec.User, 0)
	}

	// Notifications and their attempts, as the sender records them.
	c := b.claim(t, "exec")
	if c.ID != d.ID {
		t.Fatalf("claimed %d, want %d", c.ID, d.ID)
	}
	c.Status = "Running"
	c, err := b.s.UpdateDeployment(b.ctx, c, "exec",
		store.Event{DeploymentID: d.ID, Type: "WaitingForApproval", Notify: "ApprovalNeeded"},
		store.Event{DeploymentID: d.ID, Type: "Paused", Notify: "Paused"})
	must(t, err, "UpdateDeployment")
	check("notified", 0)
	ns, err := b.s.ClaimNotifications(b.ctx, "sender", time.Minute, 1)
	must(t, err, "ClaimNotifications")
	if len(ns) != 1 {
		t.Fatalf("ClaimNotifications = %+v, want one", ns)
	}
	b.clock.Advance(time.Second)
	must(t, b.s.FinishNotification(b.ctx, ns[0].ID, "sender", []store.NotificationAttempt{
		{NotificationID: ns[0].ID, Receiver: "team", Sink: "slack", Attempt: 1, Result: "failed", Detail: "503 \"busy\""},
		{NotificationID: ns[0].ID, Receiver: "ops", Sink: "webhook", Attempt: 1, Result: "sent"},
	}, true, b.clock.Now()), "FinishNotification")
	check("delivered", 0)

	// The pipeline's live deployment: this one, then a later one; another
	// pipeline's does not count.
	at := b.clock.Now()
	c.ProductionAt, c.Status = &at, "Succeeded"
	_, err = b.s.UpdateDeployment(b.ctx, c, "exec")
	must(t, err, "UpdateDeployment to production")
	check("live", d.ID)
	next := b.create(t, "web")
	n := b.claim(t, "exec")
	if n.ID != other.ID {
		t.Fatalf("claimed %d, want %d (the other pipeline's)", n.ID, other.ID)
	}
	later := at.Add(time.Hour)
	n.ProductionAt, n.Status = &later, "Succeeded"
	_, err = b.s.UpdateDeployment(b.ctx, n, "exec")
	must(t, err, "UpdateDeployment of the other pipeline")
	check("another pipeline live", d.ID)
	n = b.claim(t, "exec")
	n.ProductionAt, n.Status = &later, "Succeeded"
	_, err = b.s.UpdateDeployment(b.ctx, n, "exec")
	must(t, err, "UpdateDeployment of the next deployment")
	check("a later one live", next.ID)
}

// sameView checks v against the reads of each part of deployment
// v.Deployment.ID.
func sameView(t *testing.T, b *bundle, step string, v store.DeploymentView) {
	t.Helper()
	id := v.Deployment.ID
	sameDeployment(t, step+": row", v.Deployment, b.get(t, id))
	live, err := b.s.LiveDeploymentID(b.ctx, v.Deployment.Pipeline)
	if err != nil {
		wantErr(t, err, store.ErrNotFound, step+": LiveDeploymentID")
	}
	if v.LiveID != live {
		t.Errorf("%s: LiveID = %d, LiveDeploymentID says %d", step, v.LiveID, live)
	}
	rev, err := b.s.TokensRevision(b.ctx)
	must(t, err, step+": TokensRevision")
	if v.TokensRevision != rev {
		t.Errorf("%s: view's TokensRevision = %d, TokensRevision says %d", step, v.TokensRevision, rev)
	}
	ds, err := b.s.ListDecisions(b.ctx, id)
	must(t, err, step+": ListDecisions")
	if v.Decisions == nil || !reflect.DeepEqual(v.Decisions, ds) {
		t.Errorf("%s: decisions\n got %+v\nwant %+v", step, v.Decisions, ds)
	}
	ns, as, err := b.s.ListNotifications(b.ctx, id)
	must(t, err, step+": ListNotifications")
	if len(v.Notifications) != len(ns) || len(ns) > 0 && !reflect.DeepEqual(v.Notifications, ns) {
		t.Errorf("%s: notifications\n got %+v\nwant %+v", step, v.Notifications, ns)
	}
	if len(v.Attempts) != len(as) || len(as) > 0 && !reflect.DeepEqual(v.Attempts, as) {
		t.Errorf("%s: notification attempts\n got %+v\nwant %+v", step, v.Attempts, as)
	}
}
