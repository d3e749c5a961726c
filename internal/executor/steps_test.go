package executor_test

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/pipeline"
	"fledge.dev/fledge/internal/store"
)

// scripted is an analysis engine whose one metric measures the given
// phases in turn, one per look once due: the run's verdict is the first
// Failed, Inconclusive or Error, or the last phase.
type scripted struct {
	phases []v1alpha1.AnalysisPhase
	// interval is the time between measurements, delay the time before
	// the first.
	interval, delay time.Duration
	measures        atomic.Int32
	// canaryNS and productionNS are the namespaces the arguments must
	// name, canaryNS and any when unset.
	canaryNS, productionNS string
}

func (s *scripted) Begin(_ context.Context, _ *pipeline.Plan, name string, step v1alpha1.AnalysisStep, args map[string]string, now time.Time) (*v1alpha1.AnalysisRun, error) {
	wantCanary := cmp.Or(s.canaryNS, canaryNS)
	if args["pipeline"] != "web" || args["canaryNamespace"] != wantCanary || args["param.IMAGE_TAG"] != "x" || args["service"] != "web" ||
		(s.productionNS != "" && args["productionNamespace"] != s.productionNS) {
		return nil, fmt.Errorf("deployment arguments missing: %v", args)
	}
	var names []string
	for _, t := range step.Templates {
		names = append(names, t.Name)
	}
	first := now.Add(s.delay)
	return &v1alpha1.AnalysisRun{
		Name: name, Templates: names, Args: args, Phase: v1alpha1.AnalysisRunning, StartedAt: now,
		Metrics: []v1alpha1.MetricProgress{{Template: names[0], Metric: "success-rate", Phase: v1alpha1.AnalysisRunning, NextAt: &first}},
	}, nil
}

func (s *scripted) Measure(_ context.Context, _ *pipeline.Plan, run *v1alpha1.AnalysisRun, now time.Time) (*v1alpha1.AnalysisRun, []v1alpha1.Measurement, error) {
	next := *run
	next.Metrics = slices.Clone(run.Metrics)
	m := &next.Metrics[0]
	if m.NextAt == nil || now.Before(*m.NextAt) || m.Count >= len(s.phases) {
		return &next, nil, nil
	}
	s.measures.Add(1)
	p := s.phases[m.Count]
	meas := v1alpha1.Measurement{
		Analysis: run.Name, Template: m.Template, Metric: m.Metric, Phase: p,
		Value: fmt.Sprint(m.Count), Message: "result " + string(p), StartedAt: now, FinishedAt: now,
	}
	m.Count++
	switch p {
	case v1alpha1.AnalysisSuccessful:
		m.Successful++
	case v1alpha1.AnalysisFailed:
		m.Failed++
	case v1alpha1.AnalysisInconclusive:
		m.Inconclusive++
	case v1alpha1.AnalysisError:
		m.Errors++
	}
	at := now.Add(s.interval)
	m.NextAt = &at
	if p != v1alpha1.AnalysisSuccessful || m.Count == len(s.phases) {
		m.Phase, m.NextAt = p, nil
		next.Phase = p
		next.Message = fmt.Sprintf("success-rate was %s at measurement %d", p, m.Count)
		next.EndedAt = &now
	}
	return &next, []v1alpha1.Measurement{meas}, nil
}

func weight(w int) v1alpha1.CanaryStep { return v1alpha1.CanaryStep{SetWeight: &w} }

func analyse(templates ...string) v1alpha1.CanaryStep {
	st := &v1alpha1.AnalysisStep{}
	for _, t := range templates {
		st.Templates = append(st.Templates, v1alpha1.AnalysisTemplateRef{Name: t})
	}
	return v1alpha1.CanaryStep{Analysis: st}
}

func pauseFor(d time.Duration) v1alpha1.CanaryStep {
	p := &v1alpha1.PauseStep{}
	if d > 0 {
		p.Duration = duration(d)
	}
	return v1alpha1.CanaryStep{Pause: p}
}

func stepsStage(steps ...v1alpha1.CanaryStep) v1alpha1.Stage {
	return v1alpha1.Stage{Name: "progressive", CanarySteps: &v1alpha1.CanaryStepsStage{Steps: steps}}
}

// A canarySteps stage runs its steps in order: weights, analyses to their
// verdict, pauses, approvals at their own gates.
func TestCanarySteps(t *testing.T) {
	t.Parallel()
	ok := v1alpha1.AnalysisSuccessful
	tests := []struct {
		name     string
		phases   []v1alpha1.AnalysisPhase
		steps    []v1alpha1.CanaryStep
		noEngine bool
		first    bool // a first release: no production to split with
		// act is done each time the run parks or pauses (at most twice).
		act      func(b *bundle, s *server, id int64)
		status   v1alpha1.DeploymentStatus
		message  string
		events   []string // in this order
		measured int
		image    string // production's at the end
	}{
		{
			name:     "analysis passes",
			phases:   []v1alpha1.AnalysisPhase{ok, ok, ok},
			steps:    []v1alpha1.CanaryStep{weight(10), analyse("success-rate"), weight(30)},
			status:   v1alpha1.StatusSucceeded,
			events:   []string{"WeightSet10%", "AnalysisStarted", "AnalysisMeasurement", "AnalysisMeasurement", "AnalysisMeasurement", "AnalysisSuccessful", "WeightSet30%", "ProductionReleased"},
			measured: 3, image: "web:2",
		},
		{
			name:     "analysis fails: the deployment aborts by itself",
			phases:   []v1alpha1.AnalysisPhase{ok, v1alpha1.AnalysisFailed, ok},
			steps:    []v1alpha1.CanaryStep{weight(10), analyse("success-rate"), weight(30)},
			status:   v1alpha1.StatusFailed,
			message:  "analysis progressive/step-2 failed: success-rate was Failed at measurement 2",
			events:   []string{"WeightSet10%", "AnalysisStarted", "AnalysisMeasurement", "AnalysisMeasurement", "AnalysisFailed", "WeightSet0%", "DeploymentFailed"},
			measured: 2, image: "web:1",
		},
		{
			name:   "inconclusive analysis waits for a person who approves",
			phases: []v1alpha1.AnalysisPhase{v1alpha1.AnalysisInconclusive},
			steps:  []v1alpha1.CanaryStep{weight(10), analyse("success-rate")},
			act: func(b *bundle, s *server, id int64) {
				b.decide(s, id, "alice", v1alpha1.DecisionApprove, "")
			},
			status:   v1alpha1.StatusSucceeded,
			events:   []string{"AnalysisStarted", "AnalysisMeasurement", "AnalysisInconclusive", "Approved", "ApprovalGranted", "ProductionReleased"},
			measured: 1, image: "web:2",
		},
		{
			name:   "analysis error waits for a person who rejects",
			phases: []v1alpha1.AnalysisPhase{v1alpha1.AnalysisError},
			steps:  []v1alpha1.CanaryStep{weight(10), analyse("success-rate")},
			act: func(b *bundle, s *server, id int64) {
				b.decide(s, id, "bob", v1alpha1.DecisionReject, "metrics are down")
			},
			status:   v1alpha1.StatusRejected,
			message:  "rejected by bob at progressive/step-2: metrics are down",
			events:   []string{"AnalysisError", "Rejected", "WeightSet0%", "DeploymentRejected"},
			measured: 1, image: "web:1",
		},
		{
			name:  "a pause without a duration waits to be resumed",
			steps: []v1alpha1.CanaryStep{weight(20), pauseFor(0), weight(40)},
			act: func(b *bundle, s *server, id int64) {
				b.decide(s, id, "alice", v1alpha1.DecisionApprove, "")
			},
			status: v1alpha1.StatusSucceeded,
			events: []string{"WeightSet20%", "Paused", "Approved", "ApprovalGranted", "WeightSet40%", "ProductionReleased"},
			image:  "web:2",
		},
		{
			name:  "a timed pause ends by itself",
			steps: []v1alpha1.CanaryStep{weight(20), pauseFor(time.Minute), weight(40)},
			act: func(b *bundle, _ *server, _ int64) {
				b.clock.Advance(time.Minute)
			},
			status: v1alpha1.StatusSucceeded,
			events: []string{"WeightSet20%", "Paused", "Resumed", "WeightSet40%", "ProductionReleased"},
			image:  "web:2",
		},
		{
			name: "approvals at two gates",
			steps: []v1alpha1.CanaryStep{
				weight(10),
				{Approval: &v1alpha1.ApprovalStage{ApprovalsRequired: 1}},
				weight(50),
				{Approval: &v1alpha1.ApprovalStage{ApprovalsRequired: 1}},
			},
			act: func(b *bundle, s *server, id int64) {
				b.decide(s, id, "alice", v1alpha1.DecisionApprove, "")
			},
			status: v1alpha1.StatusSucceeded,
			events: []string{"WeightSet10%", "WaitingForApproval", "Approved", "ApprovalGranted", "WeightSet50%", "WaitingForApproval", "Approved", "ApprovalGranted", "ProductionReleased"},
			image:  "web:2",
		},
		{
			name:   "first release: the analysis has nothing to measure",
			first:  true,
			phases: []v1alpha1.AnalysisPhase{v1alpha1.AnalysisFailed},
			steps:  []v1alpha1.CanaryStep{weight(10), analyse("success-rate"), weight(30)},
			status: v1alpha1.StatusSucceeded,
			events: []string{"WeightKept", "AnalysisSkipped", "WeightKept", "ProductionReleased"},
			image:  "web:2",
		},
		{
			name:     "no analysis engine",
			noEngine: true,
			steps:    []v1alpha1.CanaryStep{weight(10), analyse("success-rate")},
			status:   v1alpha1.StatusFailed,
			message:  "analysis is not available on this server",
			events:   []string{"WeightSet10%", "StageFailed", "WeightSet0%"},
			image:    "web:1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			if !tt.first {
				b.releaseOne("1")
			}
			engine := &scripted{phases: tt.phases, interval: 0}
			if !tt.noEngine {
				b.analyzer = engine
			}
			id := b.create(release("2", 0, canaryStage(), stepsStage(tt.steps...), productionStage()))
			s := b.start("")
			for range 2 {
				if tt.act == nil {
					break
				}
				d := b.waitFor(id, "waiting or paused", func(d store.Deployment) bool {
					st := b.state(d)
					return d.Status == string(tt.status) || st.Final != nil ||
						(d.Status == string(v1alpha1.StatusWaitingForApproval) && d.LeaseOwner == "" && d.WakeAt != nil) ||
						st.NextBatchAt != nil
				})
				if b.state(d).Final != nil {
					break
				}
				tt.act(b, s, id)
				// The run takes the act up before the next look.
				b.waitFor(id, "changed after the act", func(n store.Deployment) bool { return n.Version != d.Version })
			}
			d := b.waitStatus(id, tt.status)
			if got := b.finalMessage(d); !strings.Contains(got, tt.message) || (tt.message == "") != (got == "") {
				t.Errorf("outcome %q, want %q", got, tt.message)
			}
			if got := b.eventTypes(id); !inOrder(got, tt.events...) {
				t.Errorf("events %v, want in order %v", got, tt.events)
			}
			ms, err := b.st.ListMeasurements(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) != tt.measured || int(engine.measures.Load()) != tt.measured {
				t.Errorf("%d measurements stored, %d taken, want %d", len(ms), engine.measures.Load(), tt.measured)
			}
			for i, m := range ms {
				if m.Analysis != "progressive/step-2" || m.Value != fmt.Sprint(i) || m.Phase != tt.phases[i] {
					t.Errorf("measurement %d: %+v", i, m)
				}
			}
			if got := b.state(d).Weight; got != 0 {
				t.Errorf("weight %d at the end, want 0", got)
			}
			if img := b.cluster.Image(prodNS, "web"); img != tt.image {
				t.Errorf("production runs %q, want %q", img, tt.image)
			}
		})
	}
}

// The background analysis of a canarySteps stage runs from the first
// weight above 0 while the steps run and wait, and decides at any moment.
func TestBackgroundAnalysis(t *testing.T) {
	t.Parallel()
	ok := v1alpha1.AnalysisSuccessful
	tests := []struct {
		name     string
		first    bool // a first release: no production to split with
		phases   []v1alpha1.AnalysisPhase
		interval time.Duration
		delay    time.Duration
		steps    []v1alpha1.CanaryStep
		act      func(b *bundle, s *server, id int64)
		status   v1alpha1.DeploymentStatus
		message  string
		events   []string
	}{
		{
			name:   "fails while paused: the deployment aborts at once",
			phases: []v1alpha1.AnalysisPhase{ok, v1alpha1.AnalysisFailed}, interval: time.Second,
			steps: []v1alpha1.CanaryStep{weight(10), pauseFor(0), weight(30)},
			act: func(b *bundle, _ *server, id int64) {
				// The first measurement is taken at the pause before the
				// clock reaches the second.
				b.waitFor(id, "measured once and parked", func(d store.Deployment) bool {
					as := b.state(d).Analyses
					return len(as) == 1 && as[0].Metrics[0].Count == 1 && d.LeaseOwner == "" && d.WakeAt != nil
				})
				b.clock.Advance(time.Second)
			},
			status: v1alpha1.StatusFailed, message: "analysis progressive/background failed",
			events: []string{"WeightSet10%", "AnalysisStarted", "Paused", "AnalysisMeasurement", "AnalysisMeasurement", "AnalysisFailed", "WeightSet0%"},
		},
		{
			name:   "passes and ends with the stage",
			phases: []v1alpha1.AnalysisPhase{ok, ok, ok, ok, ok, ok}, interval: 10 * time.Second,
			steps:  []v1alpha1.CanaryStep{weight(10), pauseFor(time.Minute), weight(30)},
			act:    func(b *bundle, _ *server, _ int64) { b.clock.Advance(time.Minute) },
			status: v1alpha1.StatusSucceeded,
			events: []string{"WeightSet10%", "AnalysisStarted", "Paused", "AnalysisMeasurement", "WeightSet30%", "AnalysisSuccessful", "ProductionReleased"},
		},
		{
			name:   "inconclusive: a person lets it go on",
			phases: []v1alpha1.AnalysisPhase{v1alpha1.AnalysisInconclusive}, interval: time.Second,
			steps: []v1alpha1.CanaryStep{weight(10), weight(30)},
			act: func(b *bundle, s *server, id int64) {
				b.decide(s, id, "alice", v1alpha1.DecisionApprove, "")
			},
			status: v1alpha1.StatusSucceeded,
			events: []string{"WeightSet10%", "AnalysisStarted", "AnalysisMeasurement", "AnalysisInconclusive", "Approved", "ApprovalGranted", "ProductionReleased"},
		},
		{
			name:   "a stage that ends before any measurement waits for a person",
			phases: []v1alpha1.AnalysisPhase{ok}, delay: time.Hour,
			steps: []v1alpha1.CanaryStep{weight(10)},
			act: func(b *bundle, s *server, id int64) {
				b.decide(s, id, "bob", v1alpha1.DecisionReject, "no data")
			},
			status: v1alpha1.StatusRejected, message: "rejected by bob at progressive/background: no data",
			events: []string{"WeightSet10%", "AnalysisStarted", "AnalysisInconclusive", "Rejected", "WeightSet0%"},
		},
		{
			name: "first release: no requests, nothing to analyse", first: true,
			phases: []v1alpha1.AnalysisPhase{ok}, interval: time.Second,
			steps:  []v1alpha1.CanaryStep{weight(10)},
			status: v1alpha1.StatusSucceeded,
			events: []string{"WeightKept", "BackgroundAnalysisSkipped", "ProductionReleased"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			if !tt.first {
				b.releaseOne("1")
			}
			b.analyzer = &scripted{phases: tt.phases, interval: tt.interval, delay: tt.delay}
			stage := stepsStage(tt.steps...)
			stage.CanarySteps.BackgroundAnalysis = &v1alpha1.AnalysisStep{Templates: []v1alpha1.AnalysisTemplateRef{{Name: "success-rate"}}}
			id := b.create(release("2", 0, canaryStage(), stage, productionStage()))
			s := b.start("")
			if tt.act != nil {
				d := b.waitFor(id, "waiting or paused", func(d store.Deployment) bool {
					st := b.state(d)
					return st.Final != nil || d.Status == string(v1alpha1.StatusWaitingForApproval) || st.NextBatchAt != nil
				})
				if b.state(d).Final == nil {
					tt.act(b, s, id)
					s.ex.Notify(id)
				}
			}
			d := b.waitStatus(id, tt.status)
			if got := b.finalMessage(d); !strings.Contains(got, tt.message) || (tt.message == "") != (got == "") {
				t.Errorf("outcome %q, want %q", got, tt.message)
			}
			if got := b.eventTypes(id); !inOrder(got, tt.events...) {
				t.Errorf("events %v, want in order %v", got, tt.events)
			}
			ms, err := b.st.ListMeasurements(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range ms {
				if m.Analysis != "progressive/background" {
					t.Errorf("measurement of %q", m.Analysis)
				}
			}
		})
	}
}

// A pause longer than the lease parks the run: it holds neither a lease
// nor a slot while it waits, wakes at the pause's end (taken by whichever
// server claims it then), and a resume wakes it early.
func TestLongPauseParks(t *testing.T) {
	t.Parallel()
	for _, resume := range []bool{false, true} {
		t.Run(fmt.Sprintf("resumed=%v", resume), func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.releaseOne("1")
			id := b.create(release("2", 0, canaryStage(), stepsStage(weight(20), pauseFor(2*time.Hour), weight(40)), productionStage()))
			s := b.start("")
			d := b.waitFor(id, "parked in its pause", func(d store.Deployment) bool {
				return d.LeaseOwner == "" && d.WakeAt != nil
			})
			if st := b.state(d); st.NextBatchAt == nil || !d.WakeAt.Equal(*st.NextBatchAt) || d.Status != string(v1alpha1.StatusRunning) {
				t.Fatalf("parked with wake %v, pause end %v, status %s", d.WakeAt, st.NextBatchAt, d.Status)
			}
			if resume {
				// As fledge resume records it: a decision at the pause's
				// gate, which pulls the wake time to now.
				now := b.clock.Now()
				if err := b.st.AddDecision(t.Context(), store.Decision{
					DeploymentID: id, Stage: "progressive/step-2", User: "alice", Decision: string(v1alpha1.DecisionApprove), At: now,
				}, 0, store.Event{DeploymentID: id, Time: now, Stage: "progressive/step-2", Type: "ResumeRequested", Message: "alice"}); err != nil {
					t.Fatal(err)
				}
				s.ex.Notify(id)
			} else {
				b.clock.Advance(2 * time.Hour)
			}
			b.waitStatus(id, v1alpha1.StatusSucceeded)
			want := "pause at progressive/step-2 ended"
			if resume {
				want += " early: resumed by alice"
			}
			if msg := b.message(id, "Resumed"); msg != want {
				t.Errorf("Resumed %q, want %q", msg, want)
			}
		})
	}
}
