package executor_test

import (
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/pipeline"
	"fledge.dev/fledge/internal/store"
)

// crashScenario is a deployment whose server is killed at each of its step
// boundaries in turn.
type crashScenario struct {
	name string
	// prepare runs before the deployment (earlier releases, faults).
	prepare func(b *bundle)
	plan    func() *pipeline.Plan
	// steps are the deployment's steps in the order they run; a server is
	// killed at the first time a step is reached.
	steps []pipeline.Step
	// failing is the step that fails: it has no done: or after: boundary.
	failing pipeline.Step
	status  v1alpha1.DeploymentStatus
}

// outcome is what a deployment leaves behind.
type outcome struct {
	status      string
	events      map[string]int
	generations map[string]int64
	weight      int
	image       string
}

func (b *bundle) outcome(id int64) outcome {
	d := b.get(id)
	ev := b.eventCounts(id)
	// A canary with a share of the requests is promoted before its
	// production apply, or, when the server died after that apply and
	// repeats it, promotion is skipped (the weight is already 100 or the
	// apply is repeated); once either way.
	if n := ev["PromotionSkipped"] + ev["WeightSet100%"]; n > 0 {
		delete(ev, "PromotionSkipped")
		delete(ev, "WeightSet100%")
		ev["Promotion"] = n
	}
	// A namespace is said to be created when it is; a step repeated after
	// a crash finds it there.
	delete(ev, "NamespaceCreated")
	return outcome{
		status: d.Status, events: ev, generations: b.cluster.Generations(),
		weight: b.cluster.Weight(), image: b.cluster.Image(prodNS, "web"),
	}
}

// walkthroughSteps are the steps of walkthrough's plan.
var walkthroughSteps = []pipeline.Step{
	pipeline.StepApplyCanary, pipeline.StepWaitCanary, pipeline.StepSetWeight, pipeline.StepBatchDelay,
	pipeline.StepSetWeight, pipeline.StepOpenApproval, pipeline.StepAwaitApproval, pipeline.StepApplyProduction,
	pipeline.StepWaitProduction, pipeline.StepResetWeight,
}

var crashScenarios = []crashScenario{
	{
		// The first release keeps the weight at 0: no production yet.
		name:   "first release",
		plan:   func() *pipeline.Plan { return walkthrough("1") },
		steps:  walkthroughSteps,
		status: v1alpha1.StatusSucceeded,
	},
	{
		// The next one ramps and promotes the canary.
		name:    "second release",
		prepare: func(b *bundle) { b.releaseOne("1") },
		plan:    func() *pipeline.Plan { return walkthrough("2") },
		steps:   walkthroughSteps,
		status:  v1alpha1.StatusSucceeded,
	},
	{
		name: "failed release restored",
		prepare: func(b *bundle) {
			id := b.create(release("1", 0, canaryStage(), productionStage()))
			s := b.start("")
			b.waitStatus(id, v1alpha1.StatusSucceeded)
			s.stop()
			b.cluster.rolloutErr = func(ns string, objs []*unstructured.Unstructured) error {
				if ns == prodNS && b.cluster.imageOf(objs) == "web:2" {
					return errors.New("deployment web: 0 of 2 updated replicas are available")
				}
				return nil
			}
		},
		plan: func() *pipeline.Plan { return release("2", 0, canaryStage(), productionStage()) },
		steps: []pipeline.Step{
			pipeline.StepApplyCanary, pipeline.StepWaitCanary, pipeline.StepApplyProduction,
			pipeline.StepWaitProduction, pipeline.StepRestoreProduction, pipeline.StepResetWeight,
		},
		failing: pipeline.StepWaitProduction,
		status:  v1alpha1.StatusFailed,
	},
	{
		name: "canary steps with analyses and pauses",
		prepare: func(b *bundle) {
			b.releaseOne("1")
			ok := v1alpha1.AnalysisSuccessful
			b.analyzer = &scripted{phases: []v1alpha1.AnalysisPhase{ok, ok, ok}}
		},
		plan: func() *pipeline.Plan {
			st := stepsStage(weight(10), analyse("success-rate"), pauseFor(time.Minute), weight(40), pauseFor(0))
			st.CanarySteps.BackgroundAnalysis = &v1alpha1.AnalysisStep{Templates: []v1alpha1.AnalysisTemplateRef{{Name: "latency"}}}
			return release("2", 0, canaryStage(), st, productionStage())
		},
		steps: []pipeline.Step{
			pipeline.StepApplyCanary, pipeline.StepWaitCanary, pipeline.StepSetWeight, pipeline.StepAnalysis,
			pipeline.StepPause, pipeline.StepSetWeight, pipeline.StepPause, pipeline.StepBackgroundEnd, pipeline.StepApplyProduction,
			pipeline.StepWaitProduction, pipeline.StepResetWeight,
		},
		status: v1alpha1.StatusSucceeded,
	},
	{
		// Promoted at its first pause: the rest of the steps, the
		// background analysis and the approval stage are skipped.
		name: "promoted at a pause",
		prepare: func(b *bundle) {
			b.releaseOne("1")
			b.promoter = "carol"
			b.analyzer = &scripted{phases: []v1alpha1.AnalysisPhase{v1alpha1.AnalysisSuccessful}, delay: time.Hour}
		},
		plan: func() *pipeline.Plan {
			st := stepsStage(weight(10), pauseFor(0), weight(40), analyse("success-rate"))
			st.CanarySteps.BackgroundAnalysis = &v1alpha1.AnalysisStep{Templates: []v1alpha1.AnalysisTemplateRef{{Name: "latency"}}}
			return release("2", 0, canaryStage(), st, approvalStage(1, 0), productionStage())
		},
		steps: []pipeline.Step{
			pipeline.StepApplyCanary, pipeline.StepWaitCanary, pipeline.StepSetWeight, pipeline.StepPause,
			pipeline.StepApplyProduction, pipeline.StepWaitProduction, pipeline.StepResetWeight,
		},
		// The promotion ends the pause without completing it.
		failing: pipeline.StepPause,
		status:  v1alpha1.StatusSucceeded,
	},
}

// crashRun runs the scenario with a server killed at point ("" for none)
// and returns what it left and the boundaries the restarted server passed.
func crashRun(t *testing.T, sc crashScenario, point string) (outcome, []string) {
	b := setup(t)
	if sc.prepare != nil {
		sc.prepare(b)
	}
	id := b.create(sc.plan())
	first := b.start(point)
	last := b.drive(first, id)
	// The last step's after: point comes once its state is saved, so
	// the deployment can look final a moment before the server dies.
	for deadline := time.Now().Add(5 * time.Second); point != "" && !first.dead.Load(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the server was not killed at %s", point)
		}
	}
	b.waitStatus(id, sc.status)
	var resumed []string
	if last != first {
		resumed = last.Points()
	}
	return b.outcome(id), resumed
}

// The server is killed at every step boundary of a deployment in turn and
// another started once its lease expired: the deployment ends as it does
// without a crash, every object written as often (a repeated apply changes
// nothing), every event recorded once, and the new server resumes at the
// recorded step.
func TestKillAtEveryStepBoundary(t *testing.T) {
	t.Parallel()
	killAtEveryBoundary(t, crashScenarios)
}

// killAtEveryBoundary runs each scenario with a server killed at each of
// its step boundaries in turn (see TestKillAtEveryStepBoundary).
func killAtEveryBoundary(t *testing.T, scenarios []crashScenario) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			want, _ := crashRun(t, sc, "")
			for i, step := range sc.steps {
				if slices.Index(sc.steps, step) < i {
					continue
				}
				for _, when := range []string{"before", "done", "after"} {
					if step == sc.failing && when != "before" {
						continue
					}
					point := when + ":" + string(step)
					resume := "before:" + string(step)
					if when == "after" {
						resume = ""
						if i+1 < len(sc.steps) {
							resume = "before:" + string(sc.steps[i+1])
						}
					}
					t.Run(point, func(t *testing.T) {
						t.Parallel()
						got, points := crashRun(t, sc, point)
						if got.status != want.status || got.weight != want.weight || got.image != want.image {
							t.Errorf("ended %s, weight %d, production %s; want %s, %d, %s",
								got.status, got.weight, got.image, want.status, want.weight, want.image)
						}
						if !maps.Equal(got.generations, want.generations) {
							t.Errorf("object generations %v, want %v: an object was written again", got.generations, want.generations)
						}
						if !maps.Equal(got.events, want.events) {
							t.Errorf("events %v, want %v", got.events, want.events)
						}
						switch {
						case resume == "" && len(points) > 0:
							t.Errorf("the deployment had ended; the new server still passed %v", points)
						case resume != "" && (len(points) == 0 || points[0] != resume):
							t.Errorf("the new server resumed at %v, want %s", first(points), resume)
						}
					})
				}
			}
		})
	}
}

func first(points []string) string {
	if len(points) == 0 {
		return "(nothing)"
	}
	return points[0]
}

// A run that loses its lease to another server stops; the other finishes
// the deployment, without either writing twice.
func TestLeaseLostMidRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.releaseOne("1")
	id := b.create(walkthrough("2"))
	// The first server stalls at its batch delay, as a server cut off
	// from the store would, and its lease expires.
	b.start("")
	b.waitFor(id, "in its batch delay", func(d store.Deployment) bool { return b.state(d).NextBatchAt != nil })
	b.clock.Advance(leaseTTL + time.Second)
	b.drive(b.start(""), id)
	b.waitStatus(id, v1alpha1.StatusSucceeded)
	ev := b.eventCounts(id)
	for _, typ := range []string{"DeploymentStarted", "BatchDelay", "WeightSet50%", "ProductionReleased", "DeploymentSucceeded"} {
		if ev[typ] != 1 {
			t.Errorf("%s recorded %d times: %v", typ, ev[typ], ev)
		}
	}
}
