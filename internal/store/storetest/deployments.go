package storetest

import (
	"fmt"
	"testing"
	"time"

	"fledge.dev/fledge/internal/store"
)

func deploymentTests() []testCase {
	return []testCase{
		{"Deployment/CreateAssignsIDNumberVersion", testCreateDeployment},
		{"Deployment/CreateStoresFieldsAndEvents", testCreateDeploymentFields},
		{"Deployment/CreateNeedsPipeline", testCreateDeploymentNeedsPipeline},
		{"Deployment/GetNotFound", testGetDeploymentNotFound},
		{"Deployment/TimesKeepMicroseconds", testTimePrecision},
		{"Deployment/ListAndCount", testListDeployments},
		{"Deployment/ListDefaultLimit", testListDeploymentsDefaultLimit},
		{"Deployment/ListWithoutPlanState", testListDeploymentsWithoutPlanState},
		{"Deployment/CountFollowsStatusChanges", testCountFollowsStatusChanges},
		{"Deployment/Update", testUpdateDeployment},
		{"Deployment/UpdateFencing", testUpdateDeploymentFencing},
		{"Deployment/RequestCancel", testRequestCancel},
		{"Deployment/LiveDeployment", testLiveDeployment},
	}
}

func testCreateDeployment(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	seen := map[int64]bool{}
	for i, tc := range []struct {
		pipeline   string
		wantNumber int64
	}{
		{"web", 1}, {"web", 2}, {"api", 1}, {"web", 3}, {"api", 2},
	} {
		b.clock.Advance(time.Second)
		d := b.create(t, tc.pipeline)
		if d.ID <= 0 || seen[d.ID] {
			t.Fatalf("create %d: ID %d, want a new positive ID", i, d.ID)
		}
		seen[d.ID] = true
		if d.Pipeline != tc.pipeline || d.Number != tc.wantNumber || d.Version != 1 {
			t.Fatalf("create %d: %s #%d version %d, want %s #%d version 1", i, d.Pipeline, d.Number, d.Version, tc.pipeline, tc.wantNumber)
		}
		sameTime(t, "CreatedAt", d.CreatedAt, b.clock.Now())
		sameTime(t, "UpdatedAt", d.UpdatedAt, b.clock.Now())
		sameDeployment(t, "GetDeployment after create", b.get(t, d.ID), d)
	}
}

func testCreateDeploymentFields(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	wake := start.Add(time.Hour)
	in := store.Deployment{
		ID: 999, Number: 77, Version: 5, // assigned by the store
		Pipeline:    "web",
		Kind:        "Rollback",
		RollbackTo:  3,
		Parameters:  map[string]string{"image": "web:1.2.3", "region": "eu"},
		TriggeredBy: "alice@example.com",
		Plan:        []byte(`{"stages":["canary","prod"]}`),
		State:       []byte(`{"stage":0}`),
		Status:      "Queued",
		WakeAt:      &wake,
		// A new deployment is never leased.
		LeaseOwner:   "someone",
		LeaseExpires: ptr(start.Add(time.Hour)),
	}
	events := []store.Event{
		{Stage: "", Type: "Created", Message: "deployment created"},
		{Stage: "canary", Type: "Planned", Message: "2 stages", Time: start.Add(-time.Second), DeploymentID: 12345},
	}
	got, err := b.s.CreateDeployment(b.ctx, in, events...)
	must(t, err, "CreateDeployment")
	want := in
	want.ID, want.Number, want.Version = got.ID, 1, 1
	want.CreatedAt, want.UpdatedAt = start, start
	want.LeaseOwner, want.LeaseExpires = "", nil
	sameDeployment(t, "CreateDeployment result", got, want)
	sameDeployment(t, "GetDeployment", b.get(t, got.ID), want)
	if got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt is in %s, want UTC", got.CreatedAt.Location())
	}

	es := b.events(t, got.ID, 0)
	wantSeqs(t, es, got.ID, 1, 2)
	if es[0].Type != "Created" || es[0].Message != "deployment created" || es[1].Stage != "canary" || es[1].Type != "Planned" {
		t.Errorf("events = %+v", es)
	}
	sameTime(t, "event without time", es[0].Time, start)
	sameTime(t, "event with time", es[1].Time, start.Add(-time.Second))

	// Empty optional fields read back empty.
	bare, err := b.s.CreateDeployment(b.ctx, store.Deployment{Pipeline: "bare", Status: "Queued"})
	must(t, err, "CreateDeployment bare")
	bare = b.get(t, bare.ID)
	if bare.Parameters != nil || bare.Plan != nil || bare.State != nil || bare.WakeAt != nil || bare.StartedAt != nil ||
		bare.EndedAt != nil || bare.ProductionAt != nil || bare.LeaseExpires != nil || bare.LeaseOwner != "" || bare.CancelRequested {
		t.Errorf("bare deployment has non-empty optional fields: %s", describe(bare))
	}
	if es := b.events(t, bare.ID, 0); len(es) != 0 {
		t.Errorf("bare deployment has events %+v", es)
	}
}

func testCreateDeploymentNeedsPipeline(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	if _, err := b.s.CreateDeployment(b.ctx, store.Deployment{Status: "Queued"}); err == nil {
		t.Fatal("CreateDeployment without a pipeline succeeded")
	}
	n, err := b.s.CountDeployments(b.ctx, store.DeploymentFilter{})
	must(t, err, "CountDeployments")
	if n != 0 {
		t.Fatalf("%d deployments stored, want 0", n)
	}
}

func testGetDeploymentNotFound(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	d := b.create(t, "web")
	for _, id := range []int64{0, -1, d.ID + 1000} {
		_, err := b.s.GetDeployment(b.ctx, id)
		wantErr(t, err, store.ErrNotFound, fmt.Sprintf("GetDeployment(%d)", id))
	}
}

func testTimePrecision(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	b.clock.Advance(789 * time.Nanosecond)
	wake := start.Add(time.Hour + 999*time.Nanosecond).In(time.FixedZone("X", 3600))
	d := b.create(t, "web", func(d *store.Deployment) { d.WakeAt = &wake })
	got := b.get(t, d.ID)
	sameTime(t, "CreatedAt", got.CreatedAt, start)
	sameTimePtr(t, "WakeAt", got.WakeAt, ptr(start.Add(time.Hour)))
}

func testListDeployments(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	type row struct {
		pipeline, status string
	}
	rows := []row{
		{"web", "Succeeded"},
		{"api", "Failed"},
		{"web", "Failed"},
		{"web", "Queued"},
		{"api", "Queued"},
		{"web", "Queued"},
		{"db", "Cancelled"},
	}
	var ids []int64
	for _, r := range rows {
		d := b.create(t, r.pipeline, func(d *store.Deployment) { d.Status = r.status })
		ids = append(ids, d.ID)
	}
	// idx turns row indexes into IDs, newest first as List returns them.
	idx := func(is ...int) []int64 {
		out := make([]int64, len(is))
		for i, v := range is {
			out[i] = ids[v]
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		f         store.DeploymentFilter
		want      []int64
		wantCount int
	}{
		{"all", store.DeploymentFilter{}, idx(6, 5, 4, 3, 2, 1, 0), 7},
		{"pipeline", store.DeploymentFilter{Pipeline: "web"}, idx(5, 3, 2, 0), 4},
		{"unknown pipeline", store.DeploymentFilter{Pipeline: "nope"}, nil, 0},
		{"pipeline and number", store.DeploymentFilter{Pipeline: "web", Number: 2}, idx(2), 1},
		{"number of another pipeline", store.DeploymentFilter{Pipeline: "api", Number: 2}, idx(4), 1},
		{"number past the last", store.DeploymentFilter{Pipeline: "db", Number: 2}, nil, 0},
		{"one status", store.DeploymentFilter{Statuses: []string{"Queued"}}, idx(5, 4, 3), 3},
		{"statuses", store.DeploymentFilter{Statuses: []string{"Failed", "Cancelled"}}, idx(6, 2, 1), 3},
		{"pipeline and status", store.DeploymentFilter{Pipeline: "web", Statuses: []string{"Failed", "Succeeded"}}, idx(2, 0), 2},
		{"limit", store.DeploymentFilter{Limit: 2}, idx(6, 5), 7},
		{"page", store.DeploymentFilter{BeforeID: ids[4], Limit: 2}, idx(3, 2), 7},
		{"last page", store.DeploymentFilter{BeforeID: ids[1]}, idx(0), 7},
		{"past the end", store.DeploymentFilter{BeforeID: ids[0]}, nil, 7},
		{"page with filter", store.DeploymentFilter{Pipeline: "web", BeforeID: ids[5], Limit: 1}, idx(3), 4},
		{"ids", store.DeploymentFilter{IDs: idx(1, 4, 6)}, idx(6, 4, 1), 3},
		{"ids and pipeline", store.DeploymentFilter{IDs: idx(1, 4, 5), Pipeline: "web"}, idx(5), 1},
		{"unknown id", store.DeploymentFilter{IDs: []int64{ids[6] + 100}}, nil, 0},
	} {
		got, err := b.s.ListDeployments(b.ctx, tc.f)
		must(t, err, tc.name+": ListDeployments")
		var gotIDs []int64
		for _, d := range got {
			gotIDs = append(gotIDs, d.ID)
		}
		if fmt.Sprint(gotIDs) != fmt.Sprint(tc.want) {
			t.Errorf("%s: ListDeployments = %v, want %v", tc.name, gotIDs, tc.want)
		}
		n, err := b.s.CountDeployments(b.ctx, tc.f)
		must(t, err, tc.name+": CountDeployments")
		if n != tc.wantCount {
			t.Errorf("%s: CountDeployments = %d, want %d", tc.name, n, tc.wantCount)
		}
	}
	// Listed rows are whole rows.
	got, err := b.s.ListDeployments(b.ctx, store.DeploymentFilter{Limit: 1})
	must(t, err, "ListDeployments")
	sameDeployment(t, "listed row", got[0], b.get(t, ids[6]))
}

func testListDeploymentsDefaultLimit(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	for range 101 {
		b.create(t, "web", func(d *store.Deployment) { d.Status = "Succeeded" })
	}
	got, err := b.s.ListDeployments(b.ctx, store.DeploymentFilter{Pipeline: "web"})
	must(t, err, "ListDeployments")
	if len(got) != 100 || got[0].Number != 101 || got[99].Number != 2 {
		t.Fatalf("ListDeployments without a limit: %d rows, want 100 from #101 down", len(got))
	}
	n, err := b.s.CountDeployments(b.ctx, store.DeploymentFilter{Pipeline: "web", Limit: 5})
	must(t, err, "CountDeployments")
	if n != 101 {
		t.Fatalf("CountDeployments = %d, want 101", n)
	}
}

// testListDeploymentsWithoutPlanState: OmitPlanState leaves out the plan
// and the state, and nothing else.
func testListDeploymentsWithoutPlanState(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	d := b.create(t, "web", func(d *store.Deployment) {
		d.Plan, d.State, d.Parameters = []byte(`{"plan":1}`), []byte(`{"state":1}`), map[string]string{"TAG": "1"}
	})
	got, err := b.s.ListDeployments(b.ctx, store.DeploymentFilter{IDs: []int64{d.ID}, OmitPlanState: true})
	must(t, err, "ListDeployments")
	if len(got) != 1 {
		t.Fatalf("ListDeployments: %d rows, want 1", len(got))
	}
	if got[0].Plan != nil || got[0].State != nil {
		t.Errorf("OmitPlanState: plan %q, state %q, want both nil", got[0].Plan, got[0].State)
	}
	want := b.get(t, d.ID)
	want.Plan, want.State = nil, nil
	sameDeployment(t, "row without plan and state", got[0], want)
}

// testCountFollowsStatusChanges: CountDeployments stays what the rows say
// through creations and status changes, for every kind of filter.
func testCountFollowsStatusChanges(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	filters := []store.DeploymentFilter{
		{},
		{Pipeline: "web"},
		{Pipeline: "api"},
		{Pipeline: "nope"},
		{Statuses: []string{"Queued"}},
		{Statuses: []string{"Running", "Succeeded"}},
		{Pipeline: "web", Statuses: []string{"Queued", "Running"}},
		{Pipeline: "web", Statuses: []string{"Succeeded"}},
		{Pipeline: "web", Number: 1},
	}
	check := func(step string) {
		t.Helper()
		for _, f := range filters {
			rows, err := b.s.ListDeployments(b.ctx, store.DeploymentFilter{Pipeline: f.Pipeline, Statuses: f.Statuses, Number: f.Number, Limit: 1000})
			must(t, err, "ListDeployments")
			n, err := b.s.CountDeployments(b.ctx, f)
			must(t, err, "CountDeployments")
			if n != len(rows) {
				t.Errorf("%s: CountDeployments(%+v) = %d, want %d", step, f, n, len(rows))
			}
		}
	}
	check("empty store")
	for _, p := range []string{"web", "api", "web", "web"} {
		b.create(t, p)
	}
	check("created")
	for _, tc := range []struct{ step, status string }{
		{"running", "Running"},
		{"waiting", store.StatusWaitingForApproval},
		{"running again", "Running"},
		{"succeeded", "Succeeded"},
	} {
		d := b.claim(t, "exec")
		d = b.setStatus(t, d, "exec", tc.status)
		must(t, b.s.ReleaseLease(b.ctx, d.ID, "exec"), "ReleaseLease")
		check(tc.step)
	}
}

func testUpdateDeployment(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	created, err := b.s.CreateDeployment(b.ctx, store.Deployment{
		Pipeline: "web", Kind: "Deploy", Status: "Queued", Plan: []byte(`{"plan":1}`),
		Parameters: map[string]string{"a": "b"}, TriggeredBy: "alice",
	}, store.Event{Type: "Created"})
	must(t, err, "CreateDeployment")
	b.clock.Advance(time.Second)
	d := b.claim(t, "exec-1")

	b.clock.Advance(time.Second)
	now := b.clock.Now()
	upd := d
	upd.State = []byte(`{"stage":1}`)
	upd.Status = "WaitingForApproval"
	upd.WakeAt = ptr(now.Add(time.Hour))
	upd.StartedAt = ptr(now.Add(-time.Second))
	upd.EndedAt = ptr(now.Add(2 * time.Hour))
	upd.ProductionAt = ptr(now.Add(3 * time.Hour))
	// Not written by UpdateDeployment:
	upd.Pipeline, upd.Number, upd.Kind, upd.RollbackTo = "other", 9, "Other", 4
	upd.Parameters, upd.TriggeredBy, upd.Plan = map[string]string{"x": "y"}, "mallory", []byte(`{"plan":2}`)
	upd.CancelRequested, upd.LeaseOwner, upd.LeaseExpires = true, "mallory", nil
	got, err := b.s.UpdateDeployment(b.ctx, upd, "exec-1",
		store.Event{Stage: "canary", Type: "StageStarted", Message: "m1"},
		store.Event{Stage: "canary", Type: "Waiting", DeploymentID: 777})
	must(t, err, "UpdateDeployment")

	want := d
	want.State, want.Status, want.Version, want.UpdatedAt = upd.State, upd.Status, d.Version+1, now
	want.WakeAt, want.StartedAt, want.EndedAt, want.ProductionAt = upd.WakeAt, upd.StartedAt, upd.EndedAt, upd.ProductionAt
	sameDeployment(t, "UpdateDeployment result", got, want)
	sameDeployment(t, "GetDeployment", b.get(t, d.ID), want)
	if got.Pipeline != created.Pipeline || string(got.Plan) != `{"plan":1}` || got.Parameters["a"] != "b" {
		t.Errorf("UpdateDeployment wrote fields it must not: %s", describe(got))
	}

	es := b.events(t, d.ID, 0)
	wantSeqs(t, es, d.ID, 1, 3)
	if es[1].Type != "StageStarted" || es[1].Message != "m1" || es[2].Type != "Waiting" {
		t.Errorf("events %+v", es)
	}
	sameTime(t, "appended event time", es[1].Time, now)

	// Clearing optional fields writes NULLs.
	got.State, got.WakeAt, got.EndedAt, got.ProductionAt = nil, nil, nil, nil
	got.Status = "Running"
	got2, err := b.s.UpdateDeployment(b.ctx, got, "exec-1")
	must(t, err, "UpdateDeployment clearing fields")
	if got2.State != nil || got2.WakeAt != nil || got2.EndedAt != nil || got2.ProductionAt != nil || got2.StartedAt == nil {
		t.Errorf("cleared fields read back as %s", describe(got2))
	}
	if got2.Version != got.Version+1 {
		t.Errorf("Version %d, want %d", got2.Version, got.Version+1)
	}
	if es := b.events(t, d.ID, 0); len(es) != 3 {
		t.Errorf("an update without events appended %d", len(es)-3)
	}
}

func testUpdateDeploymentFencing(t *testing.T, newStore NewStore) {
	cases := []struct {
		name string
		// prepare returns the row and owner to update with.
		prepare func(t *testing.T, b *bundle, d store.Deployment) (store.Deployment, string)
		want    error
	}{
		{"holder with current version", func(t *testing.T, b *bundle, d store.Deployment) (store.Deployment, string) {
			return d, "exec-1"
		}, nil},
		{"stale version", func(t *testing.T, b *bundle, d store.Deployment) (store.Deployment, string) {
			b.setStatus(t, d, "exec-1", "Running")
			return d, "exec-1"
		}, store.ErrConflict},
		{"another owner", func(t *testing.T, b *bundle, d store.Deployment) (store.Deployment, string) {
			return d, "exec-2"
		}, store.ErrLeaseLost},
		{"empty owner", func(t *testing.T, b *bundle, d store.Deployment) (store.Deployment, string) {
			return d, ""
		}, store.ErrLeaseLost},
		{"lease expired", func(t *testing.T, b *bundle, d store.Deployment) (store.Deployment, string) {
			b.clock.Advance(time.Minute)
			return d, "exec-1"
		}, store.ErrLeaseLost},
		{"lease released", func(t *testing.T, b *bundle, d store.Deployment) (store.Deployment, string) {
			must(t, b.s.ReleaseLease(b.ctx, d.ID, "exec-1"), "ReleaseLease")
			return d, "exec-1"
		}, store.ErrLeaseLost},
		{"lease taken over after expiry", func(t *testing.T, b *bundle, d store.Deployment) (store.Deployment, string) {
			b.clock.Advance(2 * time.Minute)
			b.claim(t, "exec-2")
			return d, "exec-1"
		}, store.ErrLeaseLost},
		{"stale version and lost lease: lease lost wins", func(t *testing.T, b *bundle, d store.Deployment) (store.Deployment, string) {
			d.Version--
			return d, "exec-2"
		}, store.ErrLeaseLost},
		{"re-claimed by the same owner: old row is stale", func(t *testing.T, b *bundle, d store.Deployment) (store.Deployment, string) {
			b.clock.Advance(2 * time.Minute)
			b.claim(t, "exec-1")
			return d, "exec-1"
		}, store.ErrConflict},
		{"never leased", func(t *testing.T, b *bundle, d store.Deployment) (store.Deployment, string) {
			other := b.create(t, "api")
			return other, "exec-1"
		}, store.ErrLeaseLost},
		{"not found", func(t *testing.T, b *bundle, d store.Deployment) (store.Deployment, string) {
			d.ID += 1000
			return d, "exec-1"
		}, store.ErrNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, newStore)
			b.create(t, "web")
			d := b.claim(t, "exec-1")
			b.clock.Advance(time.Second)
			row, owner := tc.prepare(t, b, d)
			before, beforeErr := b.s.GetDeployment(b.ctx, row.ID)
			nEvents := len(b.events(t, row.ID, 0))

			row.Status = "Running"
			row.State = []byte(`{"x":1}`)
			got, err := b.s.UpdateDeployment(b.ctx, row, owner, store.Event{Type: "Progress"})
			if tc.want == nil {
				must(t, err, "UpdateDeployment")
				if got.Version != row.Version+1 || got.Status != "Running" {
					t.Fatalf("UpdateDeployment = version %d status %s", got.Version, got.Status)
				}
				if n := len(b.events(t, row.ID, 0)); n != nEvents+1 {
					t.Fatalf("%d events, want %d", n, nEvents+1)
				}
				return
			}
			wantErr(t, err, tc.want, "UpdateDeployment")
			if beforeErr != nil {
				return
			}
			sameDeployment(t, "row after a refused update", b.get(t, row.ID), before)
			if n := len(b.events(t, row.ID, 0)); n != nEvents {
				t.Fatalf("a refused update appended %d events", n-nEvents)
			}
		})
	}
}

func testRequestCancel(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	later := start.Add(time.Hour)
	d := b.create(t, "web", func(d *store.Deployment) { d.WakeAt = &later })

	b.clock.Advance(time.Minute)
	must(t, b.s.RequestCancel(b.ctx, d.ID), "RequestCancel")
	got := b.get(t, d.ID)
	if !got.CancelRequested {
		t.Fatal("CancelRequested is false after RequestCancel")
	}
	if got.Version != d.Version {
		t.Errorf("RequestCancel changed Version %d -> %d", d.Version, got.Version)
	}
	// A future WakeAt is pulled to now so the executor sees the request.
	sameTimePtr(t, "WakeAt after RequestCancel", got.WakeAt, ptr(b.clock.Now()))
	must(t, b.s.RequestCancel(b.ctx, d.ID), "RequestCancel twice")

	// A past WakeAt or none stays as it is.
	past := start.Add(-time.Hour)
	p := b.create(t, "api", func(d *store.Deployment) { d.WakeAt = &past })
	n := b.create(t, "db")
	must(t, b.s.RequestCancel(b.ctx, p.ID), "RequestCancel past wake")
	must(t, b.s.RequestCancel(b.ctx, n.ID), "RequestCancel no wake")
	sameTimePtr(t, "past WakeAt", b.get(t, p.ID).WakeAt, &past)
	sameTimePtr(t, "no WakeAt", b.get(t, n.ID).WakeAt, nil)

	// The lease holder learns of it from its next update.
	c := b.claim(t, "exec-1")
	upd, err := b.s.UpdateDeployment(b.ctx, c, "exec-1")
	must(t, err, "UpdateDeployment")
	if !upd.CancelRequested {
		t.Error("UpdateDeployment cleared CancelRequested")
	}

	wantErr(t, b.s.RequestCancel(b.ctx, d.ID+1000), store.ErrNotFound, "RequestCancel of a missing deployment")
	for _, status := range []string{"Succeeded", "Failed", "Rejected", "Cancelled"} {
		f := b.create(t, "ended-"+status, func(d *store.Deployment) { d.Status = status })
		wantErr(t, b.s.RequestCancel(b.ctx, f.ID), store.ErrConflict, "RequestCancel of a "+status+" deployment")
		if b.get(t, f.ID).CancelRequested {
			t.Errorf("a refused RequestCancel set CancelRequested on a %s deployment", status)
		}
	}
}

func testLiveDeployment(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	_, err := b.s.LiveDeployment(b.ctx, "web")
	wantErr(t, err, store.ErrNotFound, "LiveDeployment of an empty store")
	_, err = b.s.LiveDeploymentID(b.ctx, "web")
	wantErr(t, err, store.ErrNotFound, "LiveDeploymentID of an empty store")
	// LiveDeploymentID agrees with LiveDeployment.
	sameID := func(want int64) {
		t.Helper()
		id, err := b.s.LiveDeploymentID(b.ctx, "web")
		must(t, err, "LiveDeploymentID")
		if id != want {
			t.Fatalf("LiveDeploymentID = %d, want %d", id, want)
		}
	}

	promote := func(d store.Deployment, at time.Time) {
		t.Helper()
		c := b.claim(t, "exec")
		if c.ID != d.ID {
			t.Fatalf("claimed %d, want %d", c.ID, d.ID)
		}
		c.ProductionAt = &at
		c.Status = "Succeeded"
		_, err := b.s.UpdateDeployment(b.ctx, c, "exec")
		must(t, err, "UpdateDeployment")
	}
	d1 := b.create(t, "web")
	promote(d1, start.Add(time.Hour))
	got, err := b.s.LiveDeployment(b.ctx, "web")
	must(t, err, "LiveDeployment")
	if got.ID != d1.ID {
		t.Fatalf("LiveDeployment = %d, want %d", got.ID, d1.ID)
	}
	sameID(d1.ID)

	// A newer deployment that never reached production does not count.
	d2 := b.create(t, "web")
	c := b.claim(t, "exec")
	c.Status = "Failed"
	_, err = b.s.UpdateDeployment(b.ctx, c, "exec")
	must(t, err, "UpdateDeployment")
	// The next one did, later.
	d3 := b.create(t, "web")
	promote(d3, start.Add(2*time.Hour))
	// Another pipeline is separate.
	other := b.create(t, "api")
	promote(other, start.Add(3*time.Hour))

	got, err = b.s.LiveDeployment(b.ctx, "web")
	must(t, err, "LiveDeployment")
	if got.ID != d3.ID {
		t.Fatalf("LiveDeployment = %d, want %d (not %d)", got.ID, d3.ID, d2.ID)
	}
	sameDeployment(t, "live row", got, b.get(t, d3.ID))
	sameID(d3.ID)

	// Latest ProductionAt wins, not the highest ID (a rollback re-promotes
	// an old release by a new deployment, but ProductionAt says it).
	d4 := b.create(t, "web")
	promote(d4, start.Add(90*time.Minute))
	got, err = b.s.LiveDeployment(b.ctx, "web")
	must(t, err, "LiveDeployment")
	if got.ID != d3.ID {
		t.Fatalf("LiveDeployment = %d, want %d (latest ProductionAt)", got.ID, d3.ID)
	}
	sameID(d3.ID)
	_, err = b.s.LiveDeployment(b.ctx, "nope")
	wantErr(t, err, store.ErrNotFound, "LiveDeployment of an unknown pipeline")
	_, err = b.s.LiveDeploymentID(b.ctx, "nope")
	wantErr(t, err, store.ErrNotFound, "LiveDeploymentID of an unknown pipeline")
}
