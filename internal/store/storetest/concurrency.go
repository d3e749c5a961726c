package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"fledge.dev/fledge/internal/store"
)

func concurrencyTests() []testCase {
	return []testCase{
		{"Concurrent/ClaimEachOnce", testConcurrentClaims},
		{"Concurrent/ClaimOnePerPipeline", testConcurrentClaimsOnePipeline},
		{"Concurrent/EventSeqGapless", testConcurrentEvents},
		{"Concurrent/CreateNumbersUnique", testConcurrentCreate},
		{"Concurrent/DecisionsOneOutcome", testConcurrentDecisions},
	}
}

const workers = 8

// testConcurrentClaims: workers claim until nothing is left; every
// deployment is claimed by exactly one of them.
func testConcurrentClaims(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	const n = 24
	want := map[int64]bool{}
	for i := range n {
		want[b.create(t, fmt.Sprintf("p%02d", i)).ID] = true
	}
	var mu sync.Mutex
	claimedBy := map[int64]string{}
	var errs []error
	var wg sync.WaitGroup
	for w := range workers {
		owner := fmt.Sprintf("exec-%d", w)
		wg.Go(func() {
			for {
				d, ok, err := b.s.ClaimDeployment(b.ctx, owner, time.Hour)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				}
				if ok {
					if prev, dup := claimedBy[d.ID]; dup {
						errs = append(errs, fmt.Errorf("deployment %d claimed by %s and %s", d.ID, prev, owner))
					}
					claimedBy[d.ID] = owner
				}
				mu.Unlock()
				if !ok || err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	if len(claimedBy) != n {
		t.Fatalf("%d deployments claimed, want %d", len(claimedBy), n)
	}
	for id, owner := range claimedBy {
		if !want[id] {
			t.Fatalf("claimed unknown deployment %d", id)
		}
		if got := b.get(t, id); got.LeaseOwner != owner {
			t.Fatalf("deployment %d: LeaseOwner %q, want %q", id, got.LeaseOwner, owner)
		}
	}
}

// testConcurrentClaimsOnePipeline: runs of one pipeline go one at a time
// even when workers race, and finishing one lets exactly the next one run.
func testConcurrentClaimsOnePipeline(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	const n = 4
	var ids []int64
	for range n {
		ids = append(ids, b.create(t, "web").ID)
	}
	for round := range n {
		var mu sync.Mutex
		var got []store.Deployment
		var errs []error
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				d, ok, err := b.s.ClaimDeployment(b.ctx, fmt.Sprintf("exec-%d", w), time.Hour)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
				}
				if ok {
					got = append(got, d)
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].ID != ids[round] {
			t.Fatalf("round %d: %d claims (%v), want only deployment %d", round, len(got), got, ids[round])
		}
		b.setStatus(t, got[0], got[0].LeaseOwner, "Succeeded")
	}
}

// testConcurrentEvents: AppendEvents callers and the lease holder's
// UpdateDeployment race on one deployment; Seqs come out unique and
// gapless.
func testConcurrentEvents(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	b.create(t, "web")
	d := b.claim(t, "exec-1")
	const perWorker = 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker+perWorker)
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				err := b.s.AppendEvents(b.ctx,
					store.Event{DeploymentID: d.ID, Type: "Append", Message: fmt.Sprintf("%d-%d-a", w, i)},
					store.Event{DeploymentID: d.ID, Type: "Append", Message: fmt.Sprintf("%d-%d-b", w, i)})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Go(func() {
		cur := d
		for i := range perWorker {
			next, err := b.s.UpdateDeployment(b.ctx, cur, "exec-1",
				store.Event{Type: "Update", Message: fmt.Sprintf("u-%d", i)})
			if err != nil {
				errs <- err
				return
			}
			cur = next
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := workers*perWorker*2 + perWorker
	es := b.events(t, d.ID, 0)
	wantSeqs(t, es, d.ID, 1, total)
	seen := map[string]int64{}
	for _, e := range es {
		if prev, dup := seen[e.Message]; dup {
			t.Fatalf("event %q stored twice (seq %d and %d)", e.Message, prev, e.Seq)
		}
		seen[e.Message] = e.Seq
	}
	// A pair appended together stays together.
	for w := range workers {
		for i := range perWorker {
			x, y := seen[fmt.Sprintf("%d-%d-a", w, i)], seen[fmt.Sprintf("%d-%d-b", w, i)]
			if y != x+1 {
				t.Fatalf("events of one AppendEvents call got seqs %d and %d", x, y)
			}
		}
	}
}

// testConcurrentCreate: concurrent creations in one pipeline get Numbers
// 1..n without duplicates.
func testConcurrentCreate(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	const perWorker = 5
	var wg sync.WaitGroup
	var mu sync.Mutex
	numbers := map[int64]int64{}
	var errs []error
	for range workers {
		wg.Go(func() {
			for range perWorker {
				d, err := b.s.CreateDeployment(b.ctx, store.Deployment{Pipeline: "web", Status: "Queued"},
					store.Event{Type: "Created"})
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else if prev, dup := numbers[d.Number]; dup {
					errs = append(errs, fmt.Errorf("number %d given to deployments %d and %d", d.Number, prev, d.ID))
				} else {
					numbers[d.Number] = d.ID
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		t.Fatal(err)
	}
	for n := int64(1); n <= workers*perWorker; n++ {
		if _, ok := numbers[n]; !ok {
			t.Fatalf("no deployment got number %d: %v", n, numbers)
		}
	}
}

// testConcurrentDecisions: approvals and rejections sent at once to a
// waiting stage have exactly one outcome: either a rejection and fewer
// approvers than needed before it, or the approvals needed and no
// rejection. Every other decision is refused with ErrStageDecided.
func testConcurrentDecisions(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	const need = 2
	for round := range 6 {
		d := b.create(t, fmt.Sprintf("p%d", round), func(d *store.Deployment) { d.Status = store.StatusWaitingForApproval })
		var wg sync.WaitGroup
		var mu sync.Mutex
		taken, refused := 0, 0
		var errs []error
		for w := range workers {
			kind := "Approve"
			if (w+round)%3 == 0 {
				kind = "Reject"
			}
			dec := store.Decision{DeploymentID: d.ID, Stage: "prod", User: fmt.Sprintf("user-%d", w), Decision: kind, Reason: "r"}
			wg.Go(func() {
				err := b.s.AddDecision(b.ctx, dec, need, store.Event{Stage: "prod", Type: kind})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					taken++
				case errors.Is(err, store.ErrStageDecided):
					refused++
				default:
					errs = append(errs, err)
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			t.Fatal(err)
		}
		ds, err := b.s.ListDecisions(b.ctx, d.ID)
		must(t, err, "ListDecisions")
		if len(ds) != taken || taken+refused != workers {
			t.Fatalf("round %d: %d decisions stored, %d taken, %d refused of %d", round, len(ds), taken, refused, workers)
		}
		rejects, approvals := 0, 0
		for i, x := range ds {
			if rejects > 0 || approvals == need {
				t.Fatalf("round %d: decision %d (%s by %s) recorded after the stage was decided: %+v", round, i, x.Decision, x.User, ds)
			}
			if x.Decision == "Reject" {
				rejects++
			} else {
				approvals++
			}
		}
		if rejects == 0 && approvals != need {
			t.Fatalf("round %d: no outcome: %+v", round, ds)
		}
		wantSeqs(t, b.events(t, d.ID, 0), d.ID, 1, taken)
	}
}
