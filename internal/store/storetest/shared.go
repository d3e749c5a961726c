package storetest

import (
	"testing"
	"time"

	"fledge.dev/fledge/internal/store"
)

// NewStores opens two handles on one fresh, empty database, as two
// server replicas sharing it have: for SQLite two Stores on one file, for
// PostgreSQL two pools. It must close both in t.Cleanup.
type NewStores func(t *testing.T, clock func() time.Time) (store.Store, store.Store)

type sharedCase struct {
	name string
	fn   func(t *testing.T, a, b store.Store)
}

// RunShared runs the tests of what one handle must see of another's
// writes. Every test is parallel and gets a database of its own.
func RunShared(t *testing.T, newStores NewStores) {
	for _, tc := range []sharedCase{
		{"Token/ChangeThroughOneHandleMovesTheOthersRevision", testSharedTokensRevision},
		{"Deployment/CountSeesTheOthersCreations", testSharedCount},
		{"Deployment/ViewSeesTheOthersWrites", testSharedView},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := NewClock(start)
			a, b := newStores(t, clock.Now)
			tc.fn(t, a, b)
		})
	}
}

// testSharedTokensRevision: a token read through b, then revoked through
// a, is seen to have changed through b (its revision moved) and is gone.
func testSharedTokensRevision(t *testing.T, a, b store.Store) {
	ctx := t.Context()
	tok := store.Token{Name: "ci", Hash: []byte("hash-ci"), Roles: []string{"deployer"}}
	must(t, a.CreateToken(ctx, tok), "CreateToken through a")
	for _, step := range []struct {
		name   string
		change func() error
		found  bool
	}{
		{"created through a", nil, true},
		{"revoked through a", func() error { return a.DeleteToken(ctx, "ci") }, false},
		{"created again through b", func() error { return b.CreateToken(ctx, tok) }, true},
	} {
		before, err := b.TokensRevision(ctx)
		must(t, err, step.name+": TokensRevision through b")
		if step.change != nil {
			must(t, step.change(), step.name)
			after, err := b.TokensRevision(ctx)
			must(t, err, step.name+": TokensRevision through b")
			if after <= before {
				t.Fatalf("%s: revision through b %d, want more than %d", step.name, after, before)
			}
			if ra, err := a.TokensRevision(ctx); err != nil || ra != after {
				t.Fatalf("%s: revision through a %d (%v), through b %d: want the same", step.name, ra, err, after)
			}
		}
		_, err = b.TokenByHash(ctx, tok.Hash)
		if step.found {
			must(t, err, step.name+": TokenByHash through b")
		} else {
			wantErr(t, err, store.ErrNotFound, step.name+": TokenByHash through b")
		}
	}
}

// testSharedCount: deployments created and moved through one handle are
// counted through the other.
func testSharedCount(t *testing.T, a, b store.Store) {
	ctx := t.Context()
	for i := range 3 {
		_, err := a.CreateDeployment(ctx, store.Deployment{Pipeline: "web", Status: "Queued"})
		must(t, err, "CreateDeployment through a")
		_, err = b.CreateDeployment(ctx, store.Deployment{Pipeline: "web", Status: "Queued"})
		must(t, err, "CreateDeployment through b")
		for _, s := range []store.Store{a, b} {
			n, err := s.CountDeployments(ctx, store.DeploymentFilter{Pipeline: "web", Statuses: []string{"Queued"}})
			must(t, err, "CountDeployments")
			if n != 2*(i+1) {
				t.Fatalf("CountDeployments = %d, want %d", n, 2*(i+1))
			}
		}
	}
}

// testSharedView: a deployment's view read through b shows at once each
// change written through a: a decision, a notification, the state, the
// pipeline's live deployment and the tokens revision.
func testSharedView(t *testing.T, a, b store.Store) {
	ctx := t.Context()
	d, err := a.CreateDeployment(ctx, store.Deployment{Pipeline: "web", Status: "Queued", Plan: []byte(`{"p":1}`), State: []byte(`{"s":1}`)})
	must(t, err, "CreateDeployment through a")
	view := func(step string) store.DeploymentView {
		t.Helper()
		v, err := b.GetDeploymentView(ctx, d.ID, d.Version)
		must(t, err, step+": GetDeploymentView through b")
		return v
	}
	if v := view("created"); v.LiveID != 0 || len(v.Decisions) != 0 || len(v.Notifications) != 0 || v.Deployment.State != nil {
		t.Fatalf("created: view %+v, want nothing live, decided or notified, and no state (its version is known)", v)
	}
	must(t, a.AddDecision(ctx, store.Decision{DeploymentID: d.ID, Stage: "prod", User: "bob", Decision: "Approve"}, 0,
		store.Event{Type: "Approve"}), "AddDecision through a")
	if v := view("decided"); len(v.Decisions) != 1 || v.Decisions[0].User != "bob" {
		t.Fatalf("decided: decisions %+v, want bob's", v.Decisions)
	}
	c, ok, err := a.ClaimDeployment(ctx, "exec", time.Minute)
	if err != nil || !ok || c.ID != d.ID {
		t.Fatalf("ClaimDeployment through a = %d, %t, %v; want %d", c.ID, ok, err, d.ID)
	}
	at := start.Add(time.Minute)
	c.State, c.Status, c.ProductionAt = []byte(`{"s":2}`), "Succeeded", &at
	c, err = a.UpdateDeployment(ctx, c, "exec", store.Event{DeploymentID: d.ID, Type: "DeploymentSucceeded", Notify: "Succeeded"})
	must(t, err, "UpdateDeployment through a")
	v := view("succeeded")
	if v.Deployment.Version != c.Version || string(v.Deployment.State) != `{"s":2}` || v.Deployment.Status != "Succeeded" {
		t.Errorf("succeeded: row version %d, state %q, status %s; want %d, the new state, Succeeded",
			v.Deployment.Version, v.Deployment.State, v.Deployment.Status, c.Version)
	}
	if v.LiveID != d.ID {
		t.Errorf("succeeded: LiveID = %d, want %d", v.LiveID, d.ID)
	}
	if len(v.Notifications) != 1 || v.Notifications[0].Event != "Succeeded" {
		t.Errorf("succeeded: notifications %+v, want Succeeded", v.Notifications)
	}
	must(t, a.CreateToken(ctx, store.Token{Name: "ci", Hash: []byte("hash-ci"), Roles: []string{"viewer"}}), "CreateToken through a")
	if after := view("token created"); after.TokensRevision <= v.TokensRevision {
		t.Errorf("token created: view's TokensRevision %d, want more than %d", after.TokensRevision, v.TokensRevision)
	}
}
