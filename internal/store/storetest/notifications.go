package storetest

import (
	"sync"
	"testing"
	"time"

	"fledge.dev/fledge/internal/store"
)

func notificationTests() []testCase {
	return []testCase{
		{"NotificationOutboxWrittenWithEvents", testOutboxWrittenWithEvents},
		{"NotificationOutboxRolledBackWithEvents", testOutboxRolledBack},
		{"NotificationClaimLeaseAndRetry", testNotificationClaimLease},
		{"NotificationClaimedOnce", testNotificationClaimedOnce},
	}
}

// testOutboxWrittenWithEvents: every write path that stores events writes
// the outbox rows of the events that raise notifications, with the event's
// Seq, and no row for the others.
func testOutboxWrittenWithEvents(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	d, err := b.s.CreateDeployment(b.ctx, store.Deployment{Pipeline: "web", Kind: "Release", Status: "Queued"},
		store.Event{Type: "DeploymentCreated", Message: "created"})
	must(t, err, "CreateDeployment")
	d = b.claim(t, "a")
	d.Status = "WaitingForApproval"
	d, err = b.s.UpdateDeployment(b.ctx, d, "a",
		store.Event{DeploymentID: d.ID, Type: "StageStarted", Message: "s"},
		store.Event{DeploymentID: d.ID, Type: "WaitingForApproval", Message: "w", Notify: "ApprovalNeeded"})
	must(t, err, "UpdateDeployment")
	must(t, b.s.AppendEvents(b.ctx, store.Event{DeploymentID: d.ID, Type: "Note", Message: "n", Notify: "Paused"}), "AppendEvents")
	ns, as, err := b.s.ListNotifications(b.ctx, d.ID)
	must(t, err, "ListNotifications")
	if len(as) != 0 {
		t.Errorf("attempts before any delivery: %+v", as)
	}
	if len(ns) != 2 {
		t.Fatalf("notifications = %+v, want ApprovalNeeded (seq 3) and Paused (seq 4)", ns)
	}
	for i, want := range []struct {
		event string
		seq   int64
	}{{"ApprovalNeeded", 3}, {"Paused", 4}} {
		n := ns[i]
		if n.Event != want.event || n.EventSeq != want.seq || n.DeploymentID != d.ID || n.Done || n.Attempts != 0 || !n.CreatedAt.Equal(start) || !n.NextAttemptAt.Equal(start) {
			t.Errorf("notification %d = %+v, want %s for event %d, due at %s", i, n, want.event, want.seq, start)
		}
	}
	pending, err := b.s.PendingNotifications(b.ctx)
	must(t, err, "PendingNotifications")
	if pending != 2 {
		t.Errorf("PendingNotifications = %d, want 2", pending)
	}
}

// testOutboxRolledBack: an update refused by its lease writes neither the
// events nor their notifications.
func testOutboxRolledBack(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	b.create(t, "web")
	d := b.claim(t, "a")
	_, err := b.s.UpdateDeployment(b.ctx, d, "intruder", store.Event{DeploymentID: d.ID, Type: "DeploymentFailed", Notify: "Failed"})
	wantErr(t, err, store.ErrLeaseLost, "UpdateDeployment by another owner")
	ns, _, err := b.s.ListNotifications(b.ctx, d.ID)
	must(t, err, "ListNotifications")
	if len(ns) != 0 {
		t.Errorf("a refused update left notifications: %+v", ns)
	}
}

// testNotificationClaimLease: a claimed row is not claimed again while
// leased; a finished round records its attempts and is due again at next;
// done rows are never claimed; an expired lease is reclaimable and fences
// the first owner out.
func testNotificationClaimLease(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	b.create(t, "web")
	d := b.claim(t, "a")
	d, err := b.s.UpdateDeployment(b.ctx, d, "a",
		store.Event{DeploymentID: d.ID, Type: "DeploymentSucceeded", Notify: "Succeeded"},
		store.Event{DeploymentID: d.ID, Type: "Other", Notify: "Failed"})
	must(t, err, "UpdateDeployment")

	got, err := b.s.ClaimNotifications(b.ctx, "s1", time.Minute, 1)
	must(t, err, "ClaimNotifications")
	if len(got) != 1 || got[0].Event != "Succeeded" {
		t.Fatalf("first claim = %+v, want the oldest (Succeeded)", got)
	}
	first := got[0]
	got, err = b.s.ClaimNotifications(b.ctx, "s2", time.Minute, 10)
	must(t, err, "ClaimNotifications")
	if len(got) != 1 || got[0].Event != "Failed" {
		t.Fatalf("second claim = %+v, want only the unleased one (Failed)", got)
	}
	second := got[0]

	next := start.Add(30 * time.Second)
	must(t, b.s.FinishNotification(b.ctx, first.ID, "s1", []store.NotificationAttempt{
		{NotificationID: first.ID, Receiver: "team", Sink: "slack", Attempt: 1, Result: "failed", Detail: "503"},
		{NotificationID: first.ID, Receiver: "ops", Sink: "webhook", Attempt: 1, Result: "sent"},
	}, false, next), "FinishNotification (retry)")
	wantErr(t, b.s.FinishNotification(b.ctx, first.ID, "s1", nil, true, next), store.ErrLeaseLost, "FinishNotification without the lease")

	if got, _ := b.s.ClaimNotifications(b.ctx, "s1", time.Minute, 10); len(got) != 0 {
		t.Fatalf("claim before anything is due = %+v, want none", got)
	}
	b.clock.Advance(30 * time.Second)
	got, err = b.s.ClaimNotifications(b.ctx, "s3", time.Minute, 10)
	must(t, err, "ClaimNotifications")
	if len(got) != 1 || got[0].ID != first.ID || got[0].Attempts != 1 {
		t.Fatalf("claim when due = %+v, want notification %d after 1 attempt", got, first.ID)
	}
	must(t, b.s.FinishNotification(b.ctx, first.ID, "s3", []store.NotificationAttempt{
		{NotificationID: first.ID, Receiver: "team", Sink: "slack", Attempt: 2, Result: "sent"},
	}, true, b.clock.Now()), "FinishNotification (done)")

	// second's lease (from s2) expires: s4 takes it and s2 is fenced out.
	b.clock.Advance(time.Minute)
	got, err = b.s.ClaimNotifications(b.ctx, "s4", time.Minute, 10)
	must(t, err, "ClaimNotifications")
	if len(got) != 1 || got[0].ID != second.ID {
		t.Fatalf("claim after the lease expired = %+v, want notification %d", got, second.ID)
	}
	wantErr(t, b.s.FinishNotification(b.ctx, second.ID, "s2", nil, true, b.clock.Now()), store.ErrLeaseLost, "FinishNotification by the expired owner")
	must(t, b.s.FinishNotification(b.ctx, second.ID, "s4", nil, true, b.clock.Now()), "FinishNotification by the new owner")

	ns, as, err := b.s.ListNotifications(b.ctx, d.ID)
	must(t, err, "ListNotifications")
	if len(ns) != 2 || !ns[0].Done || !ns[1].Done || ns[0].Attempts != 2 {
		t.Errorf("notifications = %+v, want both done, the first after 2 rounds", ns)
	}
	if len(as) != 3 || as[0].Detail != "503" || as[2].Result != "sent" || as[2].Attempt != 2 || !as[0].At.Equal(start) {
		t.Errorf("attempts = %+v, want the 3 recorded, in order", as)
	}
	if n, _ := b.s.PendingNotifications(b.ctx); n != 0 {
		t.Errorf("PendingNotifications = %d, want 0", n)
	}
	if got, _ := b.s.ClaimNotifications(b.ctx, "s5", time.Minute, 10); len(got) != 0 {
		t.Errorf("claim of done notifications = %+v, want none", got)
	}
}

// testNotificationClaimedOnce: owners claiming at once never get the same
// notification, and together get all.
func testNotificationClaimedOnce(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	b.create(t, "web")
	d := b.claim(t, "a")
	var events []store.Event
	const total = 40
	for range total {
		events = append(events, store.Event{DeploymentID: d.ID, Type: "X", Notify: "Succeeded"})
	}
	_, err := b.s.UpdateDeployment(b.ctx, d, "a", events...)
	must(t, err, "UpdateDeployment")
	var mu sync.Mutex
	seen := map[int64]string{}
	var wg sync.WaitGroup
	for w := range 4 {
		owner := string(rune('p' + w))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				got, err := b.s.ClaimNotifications(b.ctx, owner, time.Minute, 3)
				if err != nil {
					t.Errorf("ClaimNotifications(%s): %v", owner, err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, n := range got {
					if prev, dup := seen[n.ID]; dup {
						t.Errorf("notification %d claimed by %s and %s", n.ID, prev, owner)
					}
					seen[n.ID] = owner
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != total {
		t.Errorf("claimed %d notifications, want %d", len(seen), total)
	}
}
