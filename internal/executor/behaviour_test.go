package executor_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/pipeline"
	"fledge.dev/fledge/internal/store"
)

// inOrder reports whether want appears in got in this order (not
// necessarily next to each other).
func inOrder(got []string, want ...string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

// finalMessage is the message of the deployment's outcome.
func (b *bundle) finalMessage(d store.Deployment) string {
	b.t.Helper()
	st := b.state(d)
	if st.Final == nil {
		b.t.Fatalf("deployment %d has not ended", d.ID)
	}
	return st.Final.Message
}

// releaseOne runs a release of web:tag through canary and production to
// its success, so that a later run has a live release.
func (b *bundle) releaseOne(tag string) {
	b.t.Helper()
	id := b.create(release(tag, 0, canaryStage(), productionStage()))
	s := b.start("")
	b.waitStatus(id, v1alpha1.StatusSucceeded)
	s.stop()
}

// While a run waits for approval it is parked (no lease, woken at the
// deadline); a decision or the deadline ends the wait.
func TestApproval(t *testing.T) {
	t.Parallel()
	approve := func(user string) func(b *bundle, s *server, id int64) {
		return func(b *bundle, s *server, id int64) {
			b.decide(s, id, user, v1alpha1.DecisionApprove, "")
			b.waitParked(id)
		}
	}
	tests := []struct {
		name     string
		required int
		acts     []func(b *bundle, s *server, id int64)
		status   v1alpha1.DeploymentStatus
		message  string // of the outcome
		event    string // the event that says why, with message
		eventMsg string
	}{
		{
			name: "approved", required: 1,
			acts:   []func(*bundle, *server, int64){func(b *bundle, s *server, id int64) { b.decide(s, id, "alice", v1alpha1.DecisionApprove, "") }},
			status: v1alpha1.StatusSucceeded, message: "", event: "ApprovalGranted", eventMsg: "1 of 1 approvals: alice",
		},
		{
			name: "two approvers", required: 2,
			acts: []func(*bundle, *server, int64){approve("Carol"), func(b *bundle, s *server, id int64) {
				b.decide(s, id, "alice", v1alpha1.DecisionApprove, "")
			}},
			status: v1alpha1.StatusSucceeded, event: "ApprovalGranted", eventMsg: "2 of 2 approvals: alice, carol",
		},
		{
			name: "rejected", required: 1,
			acts: []func(*bundle, *server, int64){func(b *bundle, s *server, id int64) {
				b.decide(s, id, "bob", v1alpha1.DecisionReject, "error rate up")
			}},
			status: v1alpha1.StatusRejected, message: "rejected by bob at stage approve: error rate up",
			event: "DeploymentRejected", eventMsg: "rejected by bob at stage approve: error rate up",
		},
		{
			name: "timed out", required: 1,
			acts:   []func(*bundle, *server, int64){func(b *bundle, _ *server, _ int64) { b.clock.Advance(time.Hour) }},
			status: v1alpha1.StatusFailed, message: "approval timed out after 1h0m0s with 0 of 1 approvals",
			event: "ApprovalTimedOut", eventMsg: "approval timed out after 1h0m0s with 0 of 1 approvals",
		},
		{
			name: "timed out one approval short", required: 2,
			acts:   []func(*bundle, *server, int64){approve("alice"), func(b *bundle, _ *server, _ int64) { b.clock.Advance(time.Hour) }},
			status: v1alpha1.StatusFailed, message: "approval timed out after 1h0m0s with 1 of 2 approvals",
			event: "ApprovalTimedOut", eventMsg: "with 1 of 2 approvals",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			id := b.create(release("1", 0, canaryStage(), approvalStage(tt.required, time.Hour), productionStage()))
			s := b.start("")
			d := b.waitParked(id)
			if dl := b.state(d).ApprovalDeadline; dl == nil || !d.WakeAt.Equal(*dl) || !dl.Equal(b.clock.Now().Add(time.Hour)) {
				t.Fatalf("parked until %v, approval deadline %v, want both an hour from now", d.WakeAt, dl)
			}
			for _, act := range tt.acts {
				act(b, s, id)
			}
			d = b.waitStatus(id, tt.status)
			if got := b.finalMessage(d); !strings.Contains(got, tt.message) || (tt.message == "") != (got == "") {
				t.Errorf("outcome %q, want %q", got, tt.message)
			}
			if got := b.message(id, tt.event); !strings.Contains(got, tt.eventMsg) {
				t.Errorf("%s says %q, want %q", tt.event, got, tt.eventMsg)
			}
			wantImage := ""
			if tt.status == v1alpha1.StatusSucceeded {
				wantImage = "web:1"
			}
			if img := b.cluster.Image(prodNS, "web"); img != wantImage {
				t.Errorf("production runs %q, want %q", img, wantImage)
			}
			if w := b.cluster.Weight(); w != 0 {
				t.Errorf("canary weight %d after the run, want 0", w)
			}
		})
	}
}

// A decision or a cancellation that arrives after the approval step read
// the decisions but before the run parked finds no wake-up time to pull
// forward, and nobody tells the executor: the run must see it before it
// parks, or it would sleep until the approval deadline.
func TestParkRace(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		racer  func(b *bundle, id int64) error
		status v1alpha1.DeploymentStatus
	}{
		{"approval", func(b *bundle, id int64) error {
			return b.st.AddDecision(t.Context(), store.Decision{DeploymentID: id, Stage: "approve", User: "alice", Decision: string(v1alpha1.DecisionApprove), At: b.clock.Now()},
				1, store.Event{DeploymentID: id, Time: b.clock.Now(), Stage: "approve", Type: "Approved", Message: "approved by alice"})
		}, v1alpha1.StatusSucceeded},
		{"rejection", func(b *bundle, id int64) error {
			return b.st.AddDecision(t.Context(), store.Decision{DeploymentID: id, Stage: "approve", User: "bob", Decision: string(v1alpha1.DecisionReject), At: b.clock.Now()},
				1, store.Event{DeploymentID: id, Time: b.clock.Now(), Stage: "approve", Type: "Rejected", Message: "rejected by bob"})
		}, v1alpha1.StatusRejected},
		{"cancellation", func(b *bundle, id int64) error { return b.st.RequestCancel(t.Context(), id) }, v1alpha1.StatusCancelled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			id := b.create(release("1", 0, canaryStage(), approvalStage(1, time.Hour), productionStage()))
			var (
				mu       sync.Mutex
				raced    bool
				racerErr error
			)
			b.start("", func(ps *procStore) {
				ps.beforeUpdate = func(d store.Deployment, _ []store.Event) {
					mu.Lock()
					defer mu.Unlock()
					if d.WakeAt != nil && !raced {
						raced = true
						racerErr = tt.racer(b, id)
					}
				}
			})
			d := b.waitStatus(id, tt.status)
			mu.Lock()
			defer mu.Unlock()
			if !raced || racerErr != nil {
				t.Fatalf("the racing write: happened %v, error %v", raced, racerErr)
			}
			if d.WakeAt != nil {
				t.Errorf("an ended run wakes at %v", d.WakeAt)
			}
		})
	}
}

// An approval that slips in before the park save, followed by the server's
// death before its next save, leaves no WakeAt behind: another server takes
// the deployment as soon as the lease expires, not at the approval deadline.
func TestParkRaceThenKilled(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.create(release("1", 0, canaryStage(), approvalStage(1, time.Hour), productionStage()))
	var raced atomic.Bool
	first := b.start("done:AwaitApproval", func(ps *procStore) {
		ps.beforeUpdate = func(d store.Deployment, _ []store.Event) {
			if d.WakeAt != nil && raced.CompareAndSwap(false, true) {
				if err := b.st.AddDecision(t.Context(), store.Decision{DeploymentID: id, Stage: "approve", User: "alice", Decision: string(v1alpha1.DecisionApprove), At: b.clock.Now()},
					1, store.Event{DeploymentID: id, Time: b.clock.Now(), Stage: "approve", Type: "Approved", Message: "approved by alice"}); err != nil {
					t.Errorf("approve: %v", err)
				}
			}
		}
	})
	for deadline := time.Now().Add(20 * time.Second); !first.dead.Load(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the server was not killed once the approval was granted")
		}
	}
	first.stop()
	if d := b.get(id); d.WakeAt != nil {
		t.Errorf("the approved deployment was left to wake at %v", d.WakeAt)
	}
	b.clock.Advance(leaseTTL + time.Second)
	b.start("")
	b.waitStatus(id, v1alpha1.StatusSucceeded)
}

// A cancelled run undoes its canary: the weight goes back to 0, and a run
// cancelled before it started touches nothing.
func TestCancel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// when waits until the moment to cancel; nil cancels before the
		// executor starts.
		when    func(b *bundle, id int64)
		plan    *pipeline.Plan
		message string
		started bool
	}{
		{name: "before it started", plan: walkthrough("1"), message: "cancelled before it started"},
		{name: "during a batch delay", plan: walkthrough("1"), when: func(b *bundle, id int64) {
			b.waitFor(id, "in its batch delay", func(d store.Deployment) bool { return b.state(d).NextBatchAt != nil })
		}, message: "cancelled on request", started: true},
		{
			name: "while parked for approval", plan: release("1", 0, canaryStage(), shiftStage(25, 1, 0), approvalStage(1, time.Hour), productionStage()),
			when: func(b *bundle, id int64) { b.waitParked(id) }, message: "cancelled on request", started: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			id := b.create(tt.plan)
			if tt.when == nil {
				b.cancelRun(nil, id)
				b.start("")
			} else {
				s := b.start("")
				tt.when(b, id)
				b.cancelRun(s, id)
			}
			d := b.waitStatus(id, v1alpha1.StatusCancelled)
			if got := b.finalMessage(d); got != tt.message {
				t.Errorf("outcome %q, want %q", got, tt.message)
			}
			if (d.StartedAt != nil) != tt.started {
				t.Errorf("started at %v", d.StartedAt)
			}
			if w := b.cluster.Weight(); w != 0 {
				t.Errorf("canary weight %d after the cancellation, want 0", w)
			}
			if img := b.cluster.Image(prodNS, "web"); img != "" {
				t.Errorf("production runs %q", img)
			}
			if !tt.started {
				if calls := b.cluster.Calls(); len(calls) > 0 {
					t.Errorf("a run cancelled before it started acted on the cluster: %v", calls)
				}
				if got := strings.Join(b.eventTypes(id), " "); got != "DeploymentCreated DeploymentCancelled" {
					t.Errorf("events %s", got)
				}
				return
			}
			// A first release kept its weight at 0: nothing to reset.
			reset := "WeightSet0%"
			if slices.Contains(b.eventTypes(id), "WeightKept") {
				reset = "WeightUnchanged"
			}
			if !inOrder(b.eventTypes(id), "CancelRequested", reset, "DeploymentCancelled") {
				t.Errorf("events %v", b.eventTypes(id))
			}
			for _, st := range b.state(d).Stages {
				if st.Status == v1alpha1.StageFailed && st.Message != "cancelled on request" {
					t.Errorf("stage %s failed with %q", st.Name, st.Message)
				}
			}
		})
	}
}

// A run that fails after touching production puts the live release back.
func TestRestoreOnFailure(t *testing.T) {
	t.Parallel()
	failWhere := func(ns string, images ...string) func(string, []*unstructured.Unstructured) error {
		return func(got string, objs []*unstructured.Unstructured) error {
			img := (&fakeCluster{}).imageOf(objs)
			if got == ns && (len(images) == 0 || strings.Contains(strings.Join(images, ","), img)) {
				return errors.New("deployment web: 0 of 2 updated replicas are available")
			}
			return nil
		}
	}
	tests := []struct {
		name    string
		earlier bool // a release of web:1 is live
		fail    func(string, []*unstructured.Unstructured) error
		image   string // production's at the end
		events  []string
		absent  []string
		message []string
	}{
		{
			name: "production rollout fails", earlier: true, fail: failWhere(prodNS, "web:2"), image: "web:1",
			events:  []string{"StageFailed", "Applied", "RolloutComplete", "ProductionRestored", "WeightSet0%", "DeploymentFailed"},
			message: []string{"stage production failed at WaitProductionRollout: rollout in web-prod: deployment web: 0 of 2"},
		},
		{
			name: "first release: nothing to restore", fail: failWhere(prodNS), image: "web:2",
			events:  []string{"StageFailed", "ProductionNotRestored", "WeightSet0%", "DeploymentFailed"},
			absent:  []string{"ProductionRestored"},
			message: []string{"stage production failed at WaitProductionRollout"},
		},
		{
			name: "the restore fails too", earlier: true, fail: failWhere(prodNS, "web:1", "web:2"), image: "web:1",
			events: []string{"StageFailed", "FinishingStepFailed", "WeightSet0%", "DeploymentFailed"},
			absent: []string{"ProductionRestored"},
			message: []string{
				"stage production failed at WaitProductionRollout",
				"RestoreProduction failed: restore deployment web#1: rollout in web-prod",
			},
		},
		{
			name: "canary rollout fails: production untouched", earlier: true, fail: failWhere(canaryNS), image: "web:1",
			events:  []string{"StageFailed", "WeightSet0%", "DeploymentFailed"},
			absent:  []string{"ProductionRestored", "ProductionNotRestored"},
			message: []string{"stage canary failed at WaitCanaryRollout: rollout in web-canary"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			if tt.earlier {
				b.releaseOne("1")
			}
			b.cluster.mu.Lock()
			b.cluster.rolloutErr = tt.fail
			b.cluster.mu.Unlock()
			id := b.create(release("2", 0, canaryStage(), productionStage()))
			b.start("")
			d := b.waitStatus(id, v1alpha1.StatusFailed)
			if img := b.cluster.Image(prodNS, "web"); img != tt.image {
				t.Errorf("production runs %q, want %q", img, tt.image)
			}
			got := b.eventTypes(id)
			if !inOrder(got, tt.events...) {
				t.Errorf("events %v, want in order %v", got, tt.events)
			}
			for _, typ := range tt.absent {
				if strings.Contains(" "+strings.Join(got, " ")+" ", " "+typ+" ") {
					t.Errorf("events %v have %s", got, typ)
				}
			}
			for _, m := range tt.message {
				if msg := b.finalMessage(d); !strings.Contains(msg, m) {
					t.Errorf("outcome %q, want it to say %q", msg, m)
				}
			}
			if w := b.cluster.Weight(); w != 0 {
				t.Errorf("canary weight %d, want 0", w)
			}
		})
	}
}

// Before production rolls, a canary with a share of the requests gets all
// of them; they go back to production only once its rollout is complete,
// its endpoints settled and the hold passed.
func TestPromotion(t *testing.T) {
	t.Parallel()
	const hold = 20 * time.Millisecond
	tests := []struct {
		name    string
		earlier bool
		stages  []v1alpha1.Stage
		prepare func(c *fakeCluster)
		calls   []string // in this order
		events  []string // in this order
		absent  []string // neither calls nor events
		weight  int      // the state's weight once production applied
		surge   string   // production's maxSurge: full while the canary holds every request
	}{
		{
			name: "promoted, endpoints settle, hold", earlier: true,
			stages: []v1alpha1.Stage{canaryStage(), shiftStage(25, 1, 0), productionStage()},
			calls:  []string{"weight 25", "weight 100", "apply web-prod", "rollout web-prod", "endpoints web-prod", "weight 0"},
			events: []string{"WeightSet25%", "WeightSet100%", "Applied", "RolloutComplete", "EndpointsSettled", "ProductionReleased", "WeightSet0%", "DeploymentSucceeded"},
			weight: 100, surge: "100%",
		},
		{
			name: "endpoints do not settle", earlier: true,
			stages:  []v1alpha1.Stage{canaryStage(), shiftStage(25, 1, 0), productionStage()},
			prepare: func(c *fakeCluster) { c.endpointsErr = errors.New("old pods still serve") },
			calls:   []string{"weight 100", "apply web-prod", "rollout web-prod", "endpoints web-prod", "weight 0"},
			events:  []string{"WeightSet100%", "RolloutComplete", "EndpointsNotSettled", "ProductionReleased", "WeightSet0%"},
			absent:  []string{"EndpointsSettled"},
			weight:  100, surge: "100%",
		},
		{
			name:   "first release: weight kept at 0, nothing to promote",
			stages: []v1alpha1.Stage{canaryStage(), shiftStage(25, 1, 0), productionStage()},
			calls:  []string{"apply web-prod", "rollout web-prod"},
			events: []string{"WeightKept", "Applied", "ProductionReleased", "WeightUnchanged"},
			absent: []string{"weight 25", "weight 100", "endpoints web-prod", "PromotionSkipped", "WeightSet25%", "WeightSet100%", "WeightSet0%"},
		},
		{
			name: "no weight, no promotion", earlier: true,
			stages: []v1alpha1.Stage{canaryStage(), productionStage()},
			calls:  []string{"apply web-prod", "rollout web-prod"},
			events: []string{"Applied", "ProductionReleased"},
			absent: []string{"weight 100", "endpoints web-prod", "PromotionSkipped", "WeightSet100%"},
		},
		{
			name: "production's paths are not the canary's: weight kept at 0", earlier: true,
			stages:  []v1alpha1.Stage{canaryStage(), shiftStage(25, 1, 0), productionStage()},
			prepare: func(c *fakeCluster) { c.noProduction = true },
			calls:   []string{"apply web-prod", "rollout web-prod"},
			events:  []string{"WeightKept", "Applied", "ProductionReleased"},
			absent:  []string{"weight 25", "weight 100", "endpoints web-prod", "PromotionSkipped", "WeightSet25%"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			if tt.earlier {
				b.releaseOne("1")
			}
			if tt.prepare != nil {
				b.cluster.mu.Lock()
				tt.prepare(b.cluster)
				b.cluster.mu.Unlock()
			}
			before := len(b.cluster.Calls())
			// The weight saved with the production apply's result.
			var (
				mu                 sync.Mutex
				weightAtProduction []int
			)
			id := b.create(release("2", hold, tt.stages...))
			s := b.start("", func(ps *procStore) {
				ps.beforeUpdate = func(d store.Deployment, _ []store.Event) {
					var st pipeline.State
					if json.Unmarshal(d.State, &st) == nil && st.ProductionTouched && !st.ProductionDone {
						mu.Lock()
						weightAtProduction = append(weightAtProduction, st.Weight)
						mu.Unlock()
					}
				}
			})
			b.waitStatus(id, v1alpha1.StatusSucceeded)
			s.stop()
			if got := b.cluster.MaxSurge(prodNS, "web"); got != tt.surge {
				t.Errorf("production's maxSurge %q, want %q", got, tt.surge)
			}
			calls := b.cluster.Calls()[before:]
			if !inOrder(calls, tt.calls...) {
				t.Errorf("cluster calls %v, want in order %v", calls, tt.calls)
			}
			events := b.eventTypes(id)
			if !inOrder(events, tt.events...) {
				t.Errorf("events %v, want in order %v", events, tt.events)
			}
			for _, a := range tt.absent {
				if inOrder(calls, a) || inOrder(events, a) {
					t.Errorf("%s happened: calls %v, events %v", a, calls, events)
				}
			}
			if len(weightAtProduction) == 0 || weightAtProduction[0] != tt.weight {
				t.Errorf("weight recorded with the production apply %v, want %d", weightAtProduction, tt.weight)
			}
			if w := b.cluster.Weight(); w != 0 {
				t.Errorf("canary weight %d at the end, want 0", w)
			}
			if img := b.cluster.Image(prodNS, "web"); img != "web:2" {
				t.Errorf("production runs %q, want web:2", img)
			}
		})
	}
}

// Events that notify say so when they are recorded: a batch delay is a
// pause only when it lasts.
func TestNotifications(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		plan *pipeline.Plan
		want map[string]string // event type: notification
	}{
		{
			name: "walkthrough", plan: walkthrough("1"),
			want: map[string]string{"BatchDelay": "Paused", "WaitingForApproval": "ApprovalNeeded", "DeploymentSucceeded": "Succeeded", "WeightUnchanged": ""},
		},
		{
			name: "batches without a delay", plan: release("1", 0, canaryStage(), shiftStage(50, 2, 0), productionStage()),
			want: map[string]string{"BatchDelay": "", "DeploymentSucceeded": "Succeeded"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			var (
				mu     sync.Mutex
				notify = map[string]string{}
			)
			id := b.create(tt.plan)
			s := b.start("", func(ps *procStore) {
				ps.beforeUpdate = func(_ store.Deployment, events []store.Event) {
					mu.Lock()
					defer mu.Unlock()
					for _, e := range events {
						notify[e.Type] = e.Notify
					}
				}
			})
			b.drive(s, id)
			b.waitStatus(id, v1alpha1.StatusSucceeded)
			s.stop()
			for typ, want := range tt.want {
				got, ok := notify[typ]
				if !ok || got != want {
					t.Errorf("%s recorded %v with notification %q, want %q", typ, ok, got, want)
				}
			}
		})
	}
}

// Manifests the API server refuses leave nothing behind: the namespace
// created for them is deleted again, and the finishing step says there was
// no weight to reset.
func TestRefusedManifests(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.cluster.mu.Lock()
	b.cluster.refuse = canaryNS
	b.cluster.mu.Unlock()
	id := b.create(walkthrough("1"))
	b.start("")
	d := b.waitStatus(id, v1alpha1.StatusFailed)
	want := "namespace web-canary, created for them, was deleted again"
	if msg := b.finalMessage(d); !strings.Contains(msg, "spec.selector: does not match") || !strings.Contains(msg, want) {
		t.Errorf("outcome %q, want the refusal and %q", msg, want)
	}
	if calls := b.cluster.Calls(); !inOrder(calls, "create namespace web-canary", "dry-run web-canary", "delete namespace web-canary") || slices.Contains(calls, "apply web-canary") {
		t.Errorf("cluster calls %v", calls)
	}
	events := b.eventTypes(id)
	if !inOrder(events, "StageFailed", "WeightUnchanged", "DeploymentFailed") || inOrder(events, "NamespaceCreated") {
		t.Errorf("events %v", events)
	}
}
