package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"fledge.dev/fledge/internal/store"
)

// NewStore opens a fresh, empty store whose times come from clock. It must
// close the store (and drop what it created) in t.Cleanup.
type NewStore func(t *testing.T, clock func() time.Time) store.Store

// Clock is a manual clock for lease and wake-up tests; safe for concurrent
// use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock stopped at now.
func NewClock(now time.Time) *Clock { return &Clock{now: now} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// start is where every test's clock begins; it has whole microseconds, the
// precision stores keep.
var start = time.Date(2030, time.January, 2, 3, 4, 5, 123456000, time.UTC)

type testCase struct {
	name string
	fn   func(t *testing.T, newStore NewStore)
}

// Run runs the conformance suite against the driver newStore opens. Every
// test is parallel and gets a store of its own.
func Run(t *testing.T, newStore NewStore) {
	var cases []testCase
	cases = append(cases, resourceTests()...)
	cases = append(cases, deploymentTests()...)
	cases = append(cases, leaseTests()...)
	cases = append(cases, eventTests()...)
	cases = append(cases, concurrencyTests()...)
	cases = append(cases, securityTests()...)
	cases = append(cases, notificationTests()...)
	cases = append(cases, viewTests()...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore)
		})
	}
}

// bundle is what a test works with.
type bundle struct {
	ctx   context.Context
	s     store.Store
	clock *Clock
}

func setup(t *testing.T, newStore NewStore) *bundle {
	t.Helper()
	clock := NewClock(start)
	s := newStore(t, clock.Now)
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	return &bundle{ctx: t.Context(), s: s, clock: clock}
}

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func wantErr(t *testing.T, err, want error, what string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

// create stores a Queued deployment of pipeline, after mods.
func (b *bundle) create(t *testing.T, pipeline string, mods ...func(*store.Deployment)) store.Deployment {
	t.Helper()
	d := store.Deployment{Pipeline: pipeline, Kind: "Deploy", Status: "Queued", TriggeredBy: "alice"}
	for _, m := range mods {
		m(&d)
	}
	got, err := b.s.CreateDeployment(b.ctx, d)
	must(t, err, "CreateDeployment")
	return got
}

// claim claims for owner with a one-minute lease and fails the test if
// nothing is claimable.
func (b *bundle) claim(t *testing.T, owner string) store.Deployment {
	t.Helper()
	d, ok, err := b.s.ClaimDeployment(b.ctx, owner, time.Minute)
	must(t, err, "ClaimDeployment")
	if !ok {
		t.Fatalf("ClaimDeployment(%s): nothing claimable, want a deployment", owner)
	}
	return d
}

// claimNone fails the test if owner can claim anything.
func (b *bundle) claimNone(t *testing.T, owner string) {
	t.Helper()
	d, ok, err := b.s.ClaimDeployment(b.ctx, owner, time.Minute)
	must(t, err, "ClaimDeployment")
	if ok {
		t.Fatalf("ClaimDeployment(%s) claimed deployment %d (%s #%d), want none", owner, d.ID, d.Pipeline, d.Number)
	}
}

// setStatus writes status through the lease owner's UpdateDeployment.
func (b *bundle) setStatus(t *testing.T, d store.Deployment, owner, status string) store.Deployment {
	t.Helper()
	d.Status = status
	got, err := b.s.UpdateDeployment(b.ctx, d, owner)
	must(t, err, "UpdateDeployment")
	return got
}

func (b *bundle) get(t *testing.T, id int64) store.Deployment {
	t.Helper()
	d, err := b.s.GetDeployment(b.ctx, id)
	must(t, err, "GetDeployment")
	return d
}

func (b *bundle) events(t *testing.T, id, after int64) []store.Event {
	t.Helper()
	es, err := b.s.ListEvents(b.ctx, id, after)
	must(t, err, "ListEvents")
	return es
}

// wantSeqs checks that es have Seq from, from+1, ... in order, all of
// deployment id.
func wantSeqs(t *testing.T, es []store.Event, id, from int64, n int) {
	t.Helper()
	if len(es) != n {
		t.Fatalf("got %d events, want %d: %+v", len(es), n, es)
	}
	for i, e := range es {
		if e.Seq != from+int64(i) || e.DeploymentID != id {
			t.Fatalf("event %d: deployment %d seq %d, want deployment %d seq %d", i, e.DeploymentID, e.Seq, id, from+int64(i))
		}
	}
}

func ptr[T any](v T) *T { return &v }

func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s = %s, want %s", what, got.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
	}
}

func sameTimePtr(t *testing.T, what string, got, want *time.Time) {
	t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil:
		t.Errorf("%s = %v, want %v", what, fmtPtr(got), fmtPtr(want))
	default:
		sameTime(t, what, *got, *want)
	}
}

func fmtPtr(p *time.Time) string {
	if p == nil {
		return "nil"
	}
	return p.Format(time.RFC3339Nano)
}

// normalize makes two rows of the same deployment comparable with
// reflect.DeepEqual whatever the location of their times.
func normalize(d store.Deployment) store.Deployment {
	utc := func(p *time.Time) *time.Time {
		if p == nil {
			return nil
		}
		v := p.UTC()
		return &v
	}
	d.CreatedAt, d.UpdatedAt = d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	d.WakeAt, d.StartedAt, d.EndedAt = utc(d.WakeAt), utc(d.StartedAt), utc(d.EndedAt)
	d.ProductionAt, d.LeaseExpires = utc(d.ProductionAt), utc(d.LeaseExpires)
	return d
}

func sameDeployment(t *testing.T, what string, got, want store.Deployment) {
	t.Helper()
	if g, w := normalize(got), normalize(want); !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %s\nwant %s", what, describe(g), describe(w))
	}
}

func describe(d store.Deployment) string {
	return fmt.Sprintf("{ID:%d Pipeline:%s Number:%d Kind:%s RollbackTo:%d Parameters:%v TriggeredBy:%s Plan:%q State:%q "+
		"Status:%s Version:%d CancelRequested:%t WakeAt:%s CreatedAt:%s UpdatedAt:%s StartedAt:%s EndedAt:%s "+
		"ProductionAt:%s LeaseOwner:%q LeaseExpires:%s}",
		d.ID, d.Pipeline, d.Number, d.Kind, d.RollbackTo, d.Parameters, d.TriggeredBy, d.Plan, d.State,
		d.Status, d.Version, d.CancelRequested, fmtPtr(d.WakeAt), d.CreatedAt.Format(time.RFC3339Nano),
		d.UpdatedAt.Format(time.RFC3339Nano), fmtPtr(d.StartedAt), fmtPtr(d.EndedAt), fmtPtr(d.ProductionAt),
		d.LeaseOwner, fmtPtr(d.LeaseExpires))
}
