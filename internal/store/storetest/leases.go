package storetest

import (
	"testing"
	"time"

	"fledge.dev/fledge/internal/store"
)

func leaseTests() []testCase {
	return []testCase{
		{"Claim/EmptyStore", testClaimEmpty},
		{"Claim/SetsLease", testClaimSetsLease},
		{"Claim/Rules", testClaimRules},
		{"Claim/PipelineRunsInOrder", testClaimPipelineOrder},
		{"Claim/BadArguments", testClaimBadArguments},
		{"Lease/Renew", testRenewLease},
		{"Lease/Release", testReleaseLease},
	}
}

func testClaimEmpty(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	b.claimNone(t, "exec-1")
}

func testClaimSetsLease(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	d := b.create(t, "web")
	b.clock.Advance(time.Second)
	now := b.clock.Now()
	got, ok, err := b.s.ClaimDeployment(b.ctx, "exec-1", 30*time.Second)
	must(t, err, "ClaimDeployment")
	if !ok || got.ID != d.ID {
		t.Fatalf("ClaimDeployment = %d, %t; want %d", got.ID, ok, d.ID)
	}
	if got.LeaseOwner != "exec-1" || got.Version != d.Version+1 {
		t.Errorf("claimed row: owner %q version %d, want exec-1 %d", got.LeaseOwner, got.Version, d.Version+1)
	}
	sameTimePtr(t, "LeaseExpires", got.LeaseExpires, ptr(now.Add(30*time.Second)))
	sameDeployment(t, "GetDeployment after claim", b.get(t, d.ID), got)
	if got.Status != "Queued" {
		t.Errorf("ClaimDeployment changed Status to %s", got.Status)
	}
	// Held: nobody, not even the holder, claims it again.
	b.claimNone(t, "exec-2")
	b.claimNone(t, "exec-1")
}

// testClaimRules checks which single deployment is claimable.
func testClaimRules(t *testing.T, newStore NewStore) {
	cases := []struct {
		name string
		// prepare creates deployments; it returns the claimable one's ID or 0.
		prepare func(t *testing.T, b *bundle) int64
		// more: another deployment is claimable after the wanted one.
		more bool
	}{
		{"queued", func(t *testing.T, b *bundle) int64 {
			return b.create(t, "web").ID
		}, false},
		{"wake in the future", func(t *testing.T, b *bundle) int64 {
			b.create(t, "web", func(d *store.Deployment) { d.WakeAt = ptr(start.Add(time.Second)) })
			return 0
		}, false},
		{"wake now", func(t *testing.T, b *bundle) int64 {
			return b.create(t, "web", func(d *store.Deployment) { d.WakeAt = ptr(start) }).ID
		}, false},
		{"wake passed", func(t *testing.T, b *bundle) int64 {
			return b.create(t, "web", func(d *store.Deployment) { d.WakeAt = ptr(start.Add(-time.Hour)) }).ID
		}, false},
		{"final statuses", func(t *testing.T, b *bundle) int64 {
			for _, s := range []string{"Succeeded", "Failed", "Rejected", "Cancelled"} {
				b.create(t, "p-"+s, func(d *store.Deployment) { d.Status = s })
			}
			return 0
		}, false},
		{"other statuses are runnable", func(t *testing.T, b *bundle) int64 {
			return b.create(t, "web", func(d *store.Deployment) { d.Status = "WaitingForApproval" }).ID
		}, false},
		{"leased by another", func(t *testing.T, b *bundle) int64 {
			b.create(t, "web")
			b.claim(t, "exec-2")
			return 0
		}, false},
		{"lease about to expire", func(t *testing.T, b *bundle) int64 {
			b.create(t, "web")
			b.claim(t, "exec-2")
			b.clock.Advance(time.Minute - time.Microsecond)
			return 0
		}, false},
		{"lease expired: another owner takes it", func(t *testing.T, b *bundle) int64 {
			id := b.create(t, "web").ID
			b.claim(t, "exec-2")
			b.clock.Advance(time.Minute)
			return id
		}, false},
		{"lease expired: the same owner takes it again", func(t *testing.T, b *bundle) int64 {
			id := b.create(t, "web").ID
			b.claim(t, "exec-1")
			b.clock.Advance(time.Hour)
			return id
		}, false},
		{"released", func(t *testing.T, b *bundle) int64 {
			id := b.create(t, "web").ID
			b.claim(t, "exec-2")
			must(t, b.s.ReleaseLease(b.ctx, id, "exec-2"), "ReleaseLease")
			return id
		}, false},
		{"first of the pipeline sleeps: the second waits", func(t *testing.T, b *bundle) int64 {
			b.create(t, "web", func(d *store.Deployment) { d.WakeAt = ptr(start.Add(time.Hour)) })
			b.create(t, "web")
			return 0
		}, false},
		{"first of the pipeline leased: the second waits", func(t *testing.T, b *bundle) int64 {
			b.create(t, "web")
			b.create(t, "web")
			b.claim(t, "exec-2")
			return 0
		}, false},
		{"first of the pipeline ended: the second runs", func(t *testing.T, b *bundle) int64 {
			b.create(t, "web", func(d *store.Deployment) { d.Status = "Failed" })
			return b.create(t, "web").ID
		}, false},
		{"other pipelines run beside a busy one", func(t *testing.T, b *bundle) int64 {
			b.create(t, "web")
			b.create(t, "web")
			b.claim(t, "exec-2")
			return b.create(t, "api").ID
		}, false},
		{"cancelled queued run jumps the queue", func(t *testing.T, b *bundle) int64 {
			b.create(t, "web")
			b.claim(t, "exec-2")
			id := b.create(t, "web").ID
			b.create(t, "web")
			must(t, b.s.RequestCancel(b.ctx, id), "RequestCancel")
			return id
		}, false},
		{"cancelled queued run behind a sleeping head", func(t *testing.T, b *bundle) int64 {
			b.create(t, "web", func(d *store.Deployment) { d.WakeAt = ptr(start.Add(time.Hour)) })
			id := b.create(t, "web").ID
			must(t, b.s.RequestCancel(b.ctx, id), "RequestCancel")
			return id
		}, false},
		{"cancelled run that started waits its turn", func(t *testing.T, b *bundle) int64 {
			b.create(t, "web")
			b.claim(t, "exec-2")
			id := b.create(t, "web", func(d *store.Deployment) { d.StartedAt = ptr(start) }).ID
			must(t, b.s.RequestCancel(b.ctx, id), "RequestCancel")
			return 0
		}, false},
		{"cancelled queued run already leased", func(t *testing.T, b *bundle) int64 {
			b.create(t, "web")
			b.claim(t, "exec-2")
			id := b.create(t, "web").ID
			must(t, b.s.RequestCancel(b.ctx, id), "RequestCancel")
			b.claim(t, "exec-2")
			return 0
		}, false},
		{"a started run before an older queued one", func(t *testing.T, b *bundle) int64 {
			b.create(t, "api")
			return b.create(t, "web", func(d *store.Deployment) { d.StartedAt = ptr(start) }).ID
		}, true},
		{"a started run whose lease expired before an older queued one", func(t *testing.T, b *bundle) int64 {
			b.create(t, "api")
			id := b.create(t, "web", func(d *store.Deployment) { d.StartedAt = ptr(start) }).ID
			b.claim(t, "exec-2")
			b.clock.Advance(time.Minute)
			return id
		}, true},
		{"oldest first across pipelines", func(t *testing.T, b *bundle) int64 {
			id := b.create(t, "web").ID
			b.create(t, "api")
			return id
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, newStore)
			want := tc.prepare(t, b)
			if want == 0 {
				b.claimNone(t, "exec-1")
				return
			}
			got := b.claim(t, "exec-1")
			if got.ID != want {
				t.Fatalf("claimed deployment %d, want %d", got.ID, want)
			}
			if got.LeaseOwner != "exec-1" {
				t.Fatalf("LeaseOwner %q, want exec-1", got.LeaseOwner)
			}
			if tc.more {
				if next := b.claim(t, "exec-3"); next.ID == got.ID {
					t.Fatalf("deployment %d claimed twice", got.ID)
				}
			}
			b.claimNone(t, "exec-3")
		})
	}
}

func testClaimPipelineOrder(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	var web []int64
	for range 3 {
		web = append(web, b.create(t, "web").ID)
	}
	api := b.create(t, "api").ID

	d := b.claim(t, "exec-1")
	if d.ID != web[0] {
		t.Fatalf("first claim %d, want web #1 (%d)", d.ID, web[0])
	}
	a := b.claim(t, "exec-2")
	if a.ID != api {
		t.Fatalf("second claim %d, want api #1 (%d)", a.ID, api)
	}
	b.claimNone(t, "exec-3")

	// A non-final update keeps the pipeline busy.
	d = b.setStatus(t, d, "exec-1", "Running")
	b.claimNone(t, "exec-3")
	must(t, b.s.ReleaseLease(b.ctx, d.ID, "exec-1"), "ReleaseLease")
	// Released but unfinished: the same deployment comes back, not #2.
	d = b.claim(t, "exec-3")
	if d.ID != web[0] {
		t.Fatalf("claimed %d after release, want web #1 again (%d)", d.ID, web[0])
	}

	for i := range web {
		if d.ID != web[i] {
			t.Fatalf("claimed %d, want web #%d (%d)", d.ID, i+1, web[i])
		}
		b.setStatus(t, d, d.LeaseOwner, "Succeeded")
		if i+1 < len(web) {
			d = b.claim(t, "exec-1")
		}
	}
	b.claimNone(t, "exec-1")
}

func testClaimBadArguments(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	b.create(t, "web")
	for _, tc := range []struct {
		owner string
		ttl   time.Duration
	}{{"", time.Minute}, {"exec-1", 0}, {"exec-1", -time.Second}} {
		if _, ok, err := b.s.ClaimDeployment(b.ctx, tc.owner, tc.ttl); err == nil || ok {
			t.Errorf("ClaimDeployment(%q, %s) = %t, %v; want an error", tc.owner, tc.ttl, ok, err)
		}
	}
	b.claim(t, "exec-1")
}

func testRenewLease(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	b.create(t, "web")
	d := b.claim(t, "exec-1")

	b.clock.Advance(50 * time.Second)
	must(t, b.s.RenewLease(b.ctx, d.ID, "exec-1", time.Minute), "RenewLease")
	got := b.get(t, d.ID)
	sameTimePtr(t, "LeaseExpires after renew", got.LeaseExpires, ptr(b.clock.Now().Add(time.Minute)))
	if got.Version != d.Version || got.LeaseOwner != "exec-1" {
		t.Errorf("RenewLease changed version %d -> %d or owner to %q", d.Version, got.Version, got.LeaseOwner)
	}

	// Past the first expiry, the renewed lease still holds.
	b.clock.Advance(50 * time.Second)
	b.claimNone(t, "exec-2")
	d = b.setStatus(t, d, "exec-1", "Running")

	wantErr(t, b.s.RenewLease(b.ctx, d.ID, "exec-2", time.Minute), store.ErrLeaseLost, "RenewLease by another owner")
	wantErr(t, b.s.RenewLease(b.ctx, d.ID, "", time.Minute), store.ErrLeaseLost, "RenewLease with no owner")
	wantErr(t, b.s.RenewLease(b.ctx, d.ID+1000, "exec-1", time.Minute), store.ErrNotFound, "RenewLease of a missing deployment")
	if err := b.s.RenewLease(b.ctx, d.ID, "exec-1", 0); err == nil {
		t.Error("RenewLease with ttl 0 succeeded")
	}

	// Expired: lost, even though nobody took it yet.
	b.clock.Advance(time.Minute)
	wantErr(t, b.s.RenewLease(b.ctx, d.ID, "exec-1", time.Minute), store.ErrLeaseLost, "RenewLease after expiry")
	c := b.claim(t, "exec-2")
	wantErr(t, b.s.RenewLease(b.ctx, d.ID, "exec-1", time.Minute), store.ErrLeaseLost, "RenewLease after takeover")
	must(t, b.s.RenewLease(b.ctx, c.ID, "exec-2", time.Minute), "RenewLease by the new owner")
}

func testReleaseLease(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	b.create(t, "web")
	d := b.claim(t, "exec-1")

	// Not the holder: nothing happens, no error.
	must(t, b.s.ReleaseLease(b.ctx, d.ID, "exec-2"), "ReleaseLease by another owner")
	must(t, b.s.ReleaseLease(b.ctx, d.ID, ""), "ReleaseLease with no owner")
	must(t, b.s.ReleaseLease(b.ctx, d.ID+1000, "exec-1"), "ReleaseLease of a missing deployment")
	if got := b.get(t, d.ID); got.LeaseOwner != "exec-1" {
		t.Fatalf("LeaseOwner %q after others released, want exec-1", got.LeaseOwner)
	}
	b.claimNone(t, "exec-2")

	must(t, b.s.ReleaseLease(b.ctx, d.ID, "exec-1"), "ReleaseLease")
	got := b.get(t, d.ID)
	if got.LeaseOwner != "" || got.LeaseExpires != nil {
		t.Fatalf("after release: owner %q expires %s", got.LeaseOwner, fmtPtr(got.LeaseExpires))
	}
	must(t, b.s.ReleaseLease(b.ctx, d.ID, "exec-1"), "ReleaseLease twice")
	_, err := b.s.UpdateDeployment(b.ctx, got, "exec-1")
	wantErr(t, err, store.ErrLeaseLost, "UpdateDeployment after release")

	c := b.claim(t, "exec-2")
	if c.ID != d.ID {
		t.Fatalf("claimed %d after release, want %d", c.ID, d.ID)
	}
}
