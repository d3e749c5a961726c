package executor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/executor"
	"fledge.dev/fledge/internal/pipeline"
	"fledge.dev/fledge/internal/secretbox"
	"fledge.dev/fledge/internal/store"
	"fledge.dev/fledge/internal/store/sqlite"
	"fledge.dev/fledge/internal/store/storetest"
)

// These tests run the executor against the SQLite store, a manual clock
// and a fake cluster (fake_test.go): every step, wait and crash of a
// deployment in milliseconds. test/e2e runs the same paths against a real
// control plane.

const (
	leaseTTL = time.Minute
	canaryNS = "web-canary"
	prodNS   = "web-prod"
)

// manifests are a web application's: a Deployment of image web:tag, its
// Service and its Ingress.
func manifests(tag string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "web:` + tag + `"}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  rules:
  - http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
`
}

func duration(d time.Duration) *v1alpha1.Duration { return &v1alpha1.Duration{Duration: d} }

func canaryStage() v1alpha1.Stage {
	return v1alpha1.Stage{Name: "canary", CanaryDeployment: &v1alpha1.CanaryDeploymentStage{
		Environment: "local", Namespace: canaryNS, IngressName: "web",
	}}
}

func shiftStage(ramp, batches int, delay time.Duration) v1alpha1.Stage {
	return v1alpha1.Stage{Name: "shift", ShiftTraffic: &v1alpha1.ShiftTrafficStage{
		RampLimitPercent: ramp, BatchCount: batches, BatchDelay: duration(delay),
	}}
}

func approvalStage(required int, timeout time.Duration) v1alpha1.Stage {
	return v1alpha1.Stage{Name: "approve", Approval: &v1alpha1.ApprovalStage{ApprovalsRequired: required, Timeout: duration(timeout)}}
}

func productionStage() v1alpha1.Stage {
	return v1alpha1.Stage{Name: "production", ProductionRelease: &v1alpha1.ProductionReleaseStage{Namespace: prodNS}}
}

// release is the plan of a release of image web:tag through stages.
func release(tag string, hold time.Duration, stages ...v1alpha1.Stage) *pipeline.Plan {
	return &pipeline.Plan{
		Pipeline: "web", Kind: v1alpha1.KindRelease, Environment: "local", Manifests: manifests(tag),
		IngressName: "web", CanaryNamespace: canaryNS, ProductionNamespace: prodNS, Stages: stages,
		CanaryRolloutTimeout: time.Minute, ProductionRolloutTimeout: time.Minute, PromotionHold: &hold,
	}
}

// walkthrough is the seed walkthrough's pipeline: canary, shift traffic in
// two batches, one approval, production.
func walkthrough(tag string) *pipeline.Plan {
	return release(tag, 0, canaryStage(), shiftStage(50, 2, 10*time.Second), approvalStage(1, 24*time.Hour), productionStage())
}

// bundle is one test's store, clock and cluster, shared by the servers it
// starts one after the other.
type bundle struct {
	t       *testing.T
	st      store.Store
	clock   *storetest.Clock
	cluster *fakeCluster
	servers atomic.Int32
	// box is the server key the executors open sealed Secret values with.
	box *secretbox.Box
	// analyzer runs the analysis steps of the servers started after it is
	// set; nil: the servers have no analysis engine.
	analyzer executor.Analyzer
	// promoter, when set, promotes the deployment the first time drive
	// finds it waiting for people, instead of approving.
	promoter string
}

func setup(t *testing.T) *bundle {
	t.Helper()
	clock := storetest.NewClock(time.Date(2030, time.January, 2, 3, 4, 5, 0, time.UTC))
	st, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "fledge.db"), Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	var box *secretbox.Box
	key, err := secretbox.GenerateKey()
	if err == nil {
		box, err = secretbox.New(key)
	}
	if err != nil {
		t.Fatal(err)
	}
	return &bundle{t: t, st: st, clock: clock, cluster: newFakeCluster(), box: box}
}

// server is one executor process.
type server struct {
	ex     *executor.Executor
	dead   atomic.Bool
	cancel context.CancelFunc

	mu     sync.Mutex
	points []string
}

// Points returns the step boundaries the server passed, in order.
func (s *server) Points() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.points...)
}

// stop stops the server (a killed one has stopped acting already).
func (s *server) stop() {
	s.cancel()
	s.ex.Stop()
}

type serverOption func(*procStore)

// start starts a server. When killAt names a step boundary
// ("after:ApplyCanary"), the server dies there the first time: from that
// moment none of its calls reaches the store or the cluster and its lease
// is left to expire, as with a SIGKILL.
func (b *bundle) start(killAt string, opts ...serverOption) *server {
	b.t.Helper()
	s := &server{}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	ps := procStore{Store: b.st, dead: &s.dead}
	for _, o := range opts {
		o(&ps)
	}
	ex, err := executor.New(executor.Config{
		Store: ps, Clusters: fakeSource{c: b.cluster, dead: &s.dead}, Clock: b.clock.Now, Secrets: b.box, Analyzer: b.analyzer,
		Owner:    fmt.Sprintf("server-%d", b.servers.Add(1)),
		LeaseTTL: leaseTTL, PollInterval: 5 * time.Millisecond, StepTimeout: 5 * time.Second, FinishTimeout: 5 * time.Second,
		Hook: func(point string) {
			s.mu.Lock()
			s.points = append(s.points, point)
			s.mu.Unlock()
			if point == killAt && !s.dead.Load() {
				s.dead.Store(true)
				cancel()
			}
		},
	})
	if err != nil {
		b.t.Fatal(err)
	}
	if err := ex.Start(ctx); err != nil {
		b.t.Fatal(err)
	}
	s.ex = ex
	b.t.Cleanup(s.stop)
	return s
}

// create stores a deployment of plan, as the service does.
func (b *bundle) create(plan *pipeline.Plan) int64 {
	b.t.Helper()
	pj, err := json.Marshal(plan)
	if err != nil {
		b.t.Fatal(err)
	}
	sj, err := json.Marshal(pipeline.NewState(plan))
	if err != nil {
		b.t.Fatal(err)
	}
	d, err := b.st.CreateDeployment(b.t.Context(), store.Deployment{
		Pipeline: plan.Pipeline, Kind: string(plan.Kind), Parameters: map[string]string{"IMAGE_TAG": "x"},
		TriggeredBy: "ci", Plan: pj, State: sj, Status: string(v1alpha1.StatusQueued),
	}, store.Event{Time: b.clock.Now(), Type: "DeploymentCreated", Message: "created"})
	if err != nil {
		b.t.Fatal(err)
	}
	return d.ID
}

// decide records a decision at the deployment's current stage, as the
// service does; s, when not nil, is told.
// promote records user's promotion, as the service does.
func (b *bundle) promote(s *server, id int64, user string) {
	b.t.Helper()
	err := b.st.AddDecision(b.t.Context(), store.Decision{
		DeploymentID: id, Stage: v1alpha1.PromoteGate, User: user, Decision: string(v1alpha1.DecisionPromote), At: b.clock.Now(),
	}, 0, store.Event{DeploymentID: id, Time: b.clock.Now(), Type: "PromoteRequested", Message: user})
	if err != nil {
		b.t.Fatal(err)
	}
	if s != nil {
		s.ex.Notify(id)
	}
}

func (b *bundle) decide(s *server, id int64, user string, kind v1alpha1.DecisionKind, reason string) {
	b.t.Helper()
	ctx := b.t.Context()
	d := b.get(id)
	st := b.state(d)
	var plan pipeline.Plan
	if err := json.Unmarshal(d.Plan, &plan); err != nil {
		b.t.Fatal(err)
	}
	need := v1alpha1.DefaultApprovalsRequired
	if ap, _ := plan.Gate(st.CurrentStageName()); ap != nil && ap.ApprovalsRequired > 0 {
		need = ap.ApprovalsRequired
	}
	err := b.st.AddDecision(ctx, store.Decision{
		DeploymentID: id, Stage: st.CurrentStageName(), User: user, Decision: string(kind), Reason: reason, At: b.clock.Now(),
	}, need, store.Event{DeploymentID: id, Time: b.clock.Now(), Stage: st.CurrentStageName(), Type: strings.TrimSuffix(string(kind), "e") + "ed", Message: user})
	if err != nil {
		b.t.Fatal(err)
	}
	if s != nil {
		s.ex.Notify(id)
	}
}

// cancelRun requests the deployment's cancellation, as the service does.
func (b *bundle) cancelRun(s *server, id int64) {
	b.t.Helper()
	if err := b.st.RequestCancel(b.t.Context(), id); err != nil {
		b.t.Fatal(err)
	}
	if s != nil {
		s.ex.Notify(id)
	}
}

func (b *bundle) get(id int64) store.Deployment {
	b.t.Helper()
	d, err := b.st.GetDeployment(context.Background(), id)
	if err != nil {
		b.t.Fatal(err)
	}
	return d
}

func (b *bundle) state(d store.Deployment) *pipeline.State {
	b.t.Helper()
	var st pipeline.State
	if err := json.Unmarshal(d.State, &st); err != nil {
		b.t.Fatal(err)
	}
	return &st
}

// waitFor waits until cond holds for the deployment; what names it.
func (b *bundle) waitFor(id int64, what string, cond func(store.Deployment) bool) store.Deployment {
	b.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(time.Millisecond) {
		d := b.get(id)
		if cond(d) {
			return d
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("deployment %d: still not %s: status %s, state %s", id, what, d.Status, d.State)
		}
	}
}

func (b *bundle) waitStatus(id int64, want v1alpha1.DeploymentStatus) store.Deployment {
	b.t.Helper()
	return b.waitFor(id, string(want), func(d store.Deployment) bool { return d.Status == string(want) })
}

// waitParked waits until the deployment waits for approval holding no
// lease, woken at the approval deadline.
func (b *bundle) waitParked(id int64) store.Deployment {
	b.t.Helper()
	return b.waitFor(id, "parked", func(d store.Deployment) bool {
		return d.Status == string(v1alpha1.StatusWaitingForApproval) && d.LeaseOwner == "" && d.WakeAt != nil
	})
}

func (b *bundle) events(id int64) []store.Event {
	b.t.Helper()
	evs, err := b.st.ListEvents(context.Background(), id, 0)
	if err != nil {
		b.t.Fatal(err)
	}
	return evs
}

// eventCounts counts a deployment's events by type, WeightSet by weight
// ("WeightSet25%"); it checks they are numbered in order (with gaps where
// the store compacted rollout progress at the end). Rollout
// progress is written as it happens, not with the step, and is left out.
func (b *bundle) eventCounts(id int64) map[string]int {
	b.t.Helper()
	count := map[string]int{}
	var last int64
	for i, e := range b.events(id) {
		if e.Seq <= last {
			b.t.Fatalf("event %d has seq %d after %d", i+1, e.Seq, last)
		}
		last = e.Seq
		key := e.Type
		switch key {
		case "RolloutProgress":
			continue
		case "WeightSet":
			key += strings.Fields(strings.SplitAfter(e.Message, "set to ")[1])[0]
		}
		count[key]++
	}
	return count
}

// eventTypes lists the types of a deployment's events in order, the
// weight of each WeightSet with it, without rollout progress.
func (b *bundle) eventTypes(id int64) []string {
	b.t.Helper()
	var out []string
	for _, e := range b.events(id) {
		switch e.Type {
		case "RolloutProgress":
			continue
		case "WeightSet":
			out = append(out, e.Type+strings.Fields(strings.SplitAfter(e.Message, "set to ")[1])[0])
		default:
			out = append(out, e.Type)
		}
	}
	return out
}

// message returns the message of the deployment's first event of type typ.
func (b *bundle) message(id int64, typ string) string {
	b.t.Helper()
	for _, e := range b.events(id) {
		if e.Type == typ {
			return e.Message
		}
	}
	b.t.Fatalf("deployment %d has no %s event: %v", id, typ, b.eventTypes(id))
	return ""
}

// drive runs deployment id to its end with the server s: it approves once
// the run waits for approval, moves the clock to a batch's start, and
// when s dies restarts a server once its lease has expired. It returns
// the server that ran last.
func (b *bundle) drive(s *server, id int64) *server {
	b.t.Helper()
	approved := map[string]bool{}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			d := b.get(id)
			b.t.Fatalf("deployment %d did not end: status %s, state %s, events %v", id, d.Status, d.State, b.eventTypes(id))
		}
		if s.dead.Load() {
			s.stop()
			b.clock.Advance(leaseTTL + time.Second)
			s = b.start("")
			continue
		}
		d := b.get(id)
		if store.Final(d.Status) {
			return s
		}
		st := b.state(d)
		if gate := st.CurrentStageName(); d.Status == string(v1alpha1.StatusWaitingForApproval) && !approved[gate] {
			if b.promoter != "" && !approved[v1alpha1.PromoteGate] {
				b.promote(s, id, b.promoter)
				approved[v1alpha1.PromoteGate] = true
			} else {
				b.decide(s, id, "alice", v1alpha1.DecisionApprove, "")
			}
			approved[gate] = true
		}
		if at := st.NextBatchAt; at != nil && b.clock.Now().Before(*at) {
			b.clock.Advance(at.Sub(b.clock.Now()))
		}
	}
}

func TestWalkthrough(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.create(walkthrough("1"))
	s := b.start("")
	b.drive(s, id)
	d := b.waitStatus(id, v1alpha1.StatusSucceeded)
	if d.StartedAt == nil || d.EndedAt == nil || d.ProductionAt == nil {
		t.Errorf("times: started %v ended %v production %v", d.StartedAt, d.EndedAt, d.ProductionAt)
	}
	want := []string{
		"DeploymentCreated", "DeploymentStarted",
		"StageStarted", "NamespaceCreated", "Applied", "RolloutComplete", "HeaderRouteNotSet", "StageSucceeded",
		"StageStarted", "WeightKept", "BatchDelay", "WeightKept", "StageSucceeded",
		"StageStarted", "WaitingForApproval", "Approved", "ApprovalGranted", "StageSucceeded",
		"StageStarted", "NamespaceCreated", "Applied", "RolloutComplete", "ProductionReleased", "StageSucceeded",
		"WeightUnchanged", "DeploymentSucceeded",
	}
	if got := b.eventTypes(id); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("events\n got %v\nwant %v", got, want)
	}
	if img := b.cluster.Image(prodNS, "web"); img != "web:1" {
		t.Errorf("production runs %q, want web:1", img)
	}
	if w := b.cluster.Weight(); w != 0 {
		t.Errorf("canary weight %d, want 0", w)
	}
	st := b.state(d)
	if st.Weight != 0 || !st.ProductionDone || st.Final == nil {
		t.Errorf("final state %+v", st)
	}
	// The first release has no production Ingress: the weight is kept at
	// 0 and the event says why.
	if msg := b.message(id, "WeightKept"); !strings.HasPrefix(msg, "canary weight kept at 0% instead of 25% (batch 1 of 2): ") ||
		!strings.Contains(msg, "production namespace has no Ingress web yet") {
		t.Errorf("weight kept because %q", msg)
	}
}
