package executor_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/pipeline"
	"fledge.dev/fledge/internal/store"
)

// bgNS is the blue/green tests' namespace; its slots are bgNS-blue and
// bgNS-green.
const bgNS = "web-bg"

// blueGreen is the plan of a blue/green release of web:tag, with an
// approval before the switch when approval is set.
func blueGreen(tag string, approval bool) *pipeline.Plan {
	st := &v1alpha1.BlueGreenStage{Environment: "local", Namespace: bgNS, IngressName: "web"}
	if approval {
		st.Approval = &v1alpha1.ApprovalStage{ApprovalsRequired: 1, Timeout: duration(time.Hour)}
	}
	return &pipeline.Plan{
		Pipeline: "web", Kind: v1alpha1.KindRelease, Environment: "local", Manifests: manifests(tag),
		IngressName: "web", ProductionNamespace: bgNS,
		Stages:                   []v1alpha1.Stage{{Name: "blue-green", BlueGreen: st}},
		ProductionRolloutTimeout: time.Minute,
		BlueGreen: &pipeline.BlueGreenPlan{
			Namespace: bgNS, Ingress: "web", ScaleDownDelay: time.Minute,
			TesterHeader: v1alpha1.TesterHeader{Name: "x-preview", Value: "yes"},
		},
	}
}

// releaseBlueGreen runs a blue/green release of web:tag to its success.
func (b *bundle) releaseBlueGreen(tag string) int64 {
	b.t.Helper()
	id := b.create(blueGreen(tag, false))
	s := b.drive(b.start(""), id)
	b.waitStatus(id, v1alpha1.StatusSucceeded)
	s.stop()
	return id
}

// servedSlot is the slot the fake cluster's Ingress in bgNS routes to.
func (c *fakeCluster) servedSlot() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.objects[bgNS+"/Ingress/web"]
	if o == nil {
		return ""
	}
	rules, _, _ := unstructured.NestedSlice(o.obj.Object, "spec", "rules")
	paths, _, _ := unstructured.NestedSlice(rules[0].(map[string]any), "http", "paths")
	name, _, _ := unstructured.NestedString(paths[0].(map[string]any), "backend", "service", "name")
	return strings.TrimPrefix(name, "web-")
}

// replicas is the replica count of Deployment web in slot's namespace, -1
// when there is none.
func (c *fakeCluster) replicas(slot string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.objects[v1alpha1.SlotNamespace(bgNS, slot)+"/Deployment/web"]
	if o == nil {
		return -1
	}
	n, _, _ := unstructured.NestedInt64(o.obj.Object, "spec", "replicas")
	return n
}

func (c *fakeCluster) has(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.objects[key] != nil
}

// Releases alternate between the slots: the first goes into blue and is
// switched to with nothing to scale down, the second into green beside it
// (previewed with the tester header, approved), switched to, and blue is
// scaled to 0 after the delay; the third goes into blue again.
func TestBlueGreenReleases(t *testing.T) {
	t.Parallel()
	b := setup(t)
	first := b.releaseBlueGreen("1")
	if got := b.eventTypes(first); strings.Join(got, " ") != strings.Join([]string{
		"DeploymentCreated", "DeploymentStarted", "StageStarted", "SlotChosen", "NamespaceCreated", "Applied",
		"RolloutComplete", "PreviewReady", "NamespaceCreated", "Applied", "TrafficSwitched", "StageSucceeded",
		"ScaleDownSkipped", "DeploymentSucceeded",
	}, " ") {
		t.Errorf("first release's events %v", got)
	}
	if slot := b.cluster.servedSlot(); slot != v1alpha1.SlotBlue || b.cluster.Image(bgNS+"-blue", "web") != "web:1" {
		t.Fatalf("after the first release the Ingress routes to %q running %s", slot, b.cluster.Image(bgNS+"-blue", "web"))
	}
	if d := b.get(first); d.ProductionAt == nil {
		t.Errorf("the first release is not live")
	}

	id := b.create(blueGreen("2", true))
	s := b.start("")
	b.waitParked(id)
	// Green runs beside blue, which still gets every request; testers
	// reach green through the preview Ingress.
	if slot := b.cluster.servedSlot(); slot != v1alpha1.SlotBlue || b.cluster.Image(bgNS+"-green", "web") != "web:2" {
		t.Fatalf("while waiting for approval the Ingress routes to %q, green runs %q", slot, b.cluster.Image(bgNS+"-green", "web"))
	}
	if !b.cluster.has(bgNS + "/Ingress/web-preview") {
		t.Error("no preview Ingress while waiting for approval")
	}
	if msg := b.message(id, "PreviewReady"); !strings.Contains(msg, "x-preview: yes") || !strings.Contains(msg, "web.web-bg-green.svc.cluster.local") {
		t.Errorf("preview event %q", msg)
	}
	b.decide(s, id, "alice", v1alpha1.DecisionApprove, "")
	d := b.waitFor(id, "switched", func(d store.Deployment) bool { return b.state(d).BlueGreen.Switched })
	if slot := b.cluster.servedSlot(); slot != v1alpha1.SlotGreen {
		t.Fatalf("after the switch the Ingress routes to %q", slot)
	}
	if b.cluster.replicas(v1alpha1.SlotBlue) != 2 || b.cluster.has(bgNS+"/Ingress/web-preview") {
		t.Errorf("within the delay blue has %d replicas, preview left: %v", b.cluster.replicas(v1alpha1.SlotBlue), b.cluster.has(bgNS+"/Ingress/web-preview"))
	}
	if st := b.state(d).BlueGreen; st.From != v1alpha1.SlotBlue || st.To != v1alpha1.SlotGreen || st.FromDeployment != first || st.ScaleDownAt == nil {
		t.Errorf("blue/green state %+v", st)
	}
	b.drive(s, id)
	d = b.waitStatus(id, v1alpha1.StatusSucceeded)
	if b.cluster.replicas(v1alpha1.SlotBlue) != 0 || b.cluster.replicas(v1alpha1.SlotGreen) != 2 {
		t.Errorf("after the delay blue has %d replicas, green %d", b.cluster.replicas(v1alpha1.SlotBlue), b.cluster.replicas(v1alpha1.SlotGreen))
	}
	if st := b.state(d).BlueGreen; !st.ScaledDown || !strings.Contains(b.message(id, "PreviousSlotScaledDown"), "deployment web scaled to 0") {
		t.Errorf("blue/green state %+v", st)
	}

	third := b.releaseBlueGreen("3")
	if slot := b.cluster.servedSlot(); slot != v1alpha1.SlotBlue || b.cluster.Image(bgNS+"-blue", "web") != "web:3" || b.cluster.replicas(v1alpha1.SlotGreen) != 0 {
		t.Errorf("third release: Ingress routes to %q running %s, green %d replicas", slot, b.cluster.Image(bgNS+"-blue", "web"), b.cluster.replicas(v1alpha1.SlotGreen))
	}
	if st := b.state(b.get(third)).BlueGreen; st.FromDeployment != id {
		t.Errorf("third release switched from deployment %d, want %d", st.FromDeployment, id)
	}
}

// What a blue/green release that does not succeed leaves: before the
// switch nothing users reach changed and the new slot is removed; within
// the scale down delay the Ingress switches back to the previous slot
// with nothing redeployed, and the previous release is live again.
func TestBlueGreenUndo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// act ends the release: before the switch when approval is set,
		// within the delay otherwise.
		approval bool
		act      func(b *bundle, s *server, id int64)
		status   v1alpha1.DeploymentStatus
		events   []string // finishing events in order
	}{
		{
			name: "rejected before the switch", approval: true,
			act:    func(b *bundle, s *server, id int64) { b.decide(s, id, "bob", v1alpha1.DecisionReject, "wrong colour") },
			status: v1alpha1.StatusRejected, events: []string{"TrafficUnchanged", "NewSlotRemoved", "DeploymentRejected"},
		},
		{
			name:   "aborted within the delay",
			act:    func(b *bundle, s *server, id int64) { b.cancelRun(s, id) },
			status: v1alpha1.StatusCancelled, events: []string{"TrafficSwitchedBack", "NewSlotRemoved", "DeploymentCancelled"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			first := b.releaseBlueGreen("1")
			before := b.cluster.Generations()[v1alpha1.SlotNamespace(bgNS, v1alpha1.SlotBlue)+"/Deployment/web"]
			id := b.create(blueGreen("2", tt.approval))
			s := b.start("")
			if tt.approval {
				b.waitParked(id)
			} else {
				b.waitFor(id, "in its scale down delay", func(d store.Deployment) bool { return b.state(d).NextBatchAt != nil })
			}
			tt.act(b, s, id)
			d := b.waitStatus(id, tt.status)
			if got := b.eventTypes(id); strings.Join(got[len(got)-len(tt.events):], " ") != strings.Join(tt.events, " ") {
				t.Errorf("events %v, want them to end with %v", got, tt.events)
			}
			if slot := b.cluster.servedSlot(); slot != v1alpha1.SlotBlue || b.cluster.replicas(v1alpha1.SlotBlue) != 2 {
				t.Errorf("the Ingress routes to %q, blue has %d replicas", slot, b.cluster.replicas(v1alpha1.SlotBlue))
			}
			if g := b.cluster.Generations()[v1alpha1.SlotNamespace(bgNS, v1alpha1.SlotBlue)+"/Deployment/web"]; g != before {
				t.Errorf("blue's Deployment was written again (generation %d, was %d)", g, before)
			}
			if b.cluster.has(v1alpha1.SlotNamespace(bgNS, v1alpha1.SlotGreen)+"/Deployment/web") || b.cluster.has(bgNS+"/Ingress/web-preview") {
				t.Error("green's Deployment or the preview Ingress is left")
			}
			if d.ProductionAt != nil {
				t.Errorf("the undone release is still production since %v", d.ProductionAt)
			}
			live, err := b.st.LiveDeployment(t.Context(), "web")
			if err != nil || live.ID != first {
				t.Errorf("live deployment %d (%v), want %d", live.ID, err, first)
			}
		})
	}
}

// A first release that fails before the switch removes its slot; with no
// previous slot, one aborted after its switch keeps serving.
func TestBlueGreenFirstReleaseUndo(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.create(blueGreen("1", true))
	s := b.start("")
	b.waitParked(id)
	b.decide(s, id, "bob", v1alpha1.DecisionReject, "")
	b.waitStatus(id, v1alpha1.StatusRejected)
	if b.cluster.has(v1alpha1.SlotNamespace(bgNS, v1alpha1.SlotBlue)+"/Deployment/web") || b.cluster.has(bgNS+"/Ingress/web") {
		t.Errorf("a rejected first release left objects: %v", b.cluster.Calls())
	}
	if msg := b.message(id, "TrafficUnchanged"); !strings.Contains(msg, "there is no ingress yet") {
		t.Errorf("TrafficUnchanged %q", msg)
	}
}

// The server is killed at every step boundary of blue/green releases.
func TestBlueGreenKillAtEveryStepBoundary(t *testing.T) {
	t.Parallel()
	steps := []pipeline.Step{
		pipeline.StepChooseSlot, pipeline.StepApplyNew, pipeline.StepWaitNew, pipeline.StepOpenApproval,
		pipeline.StepAwaitApproval, pipeline.StepSwitchTraffic, pipeline.StepKeepPrevious, pipeline.StepScaleDownPrevious,
	}
	killAtEveryBoundary(t, []crashScenario{
		{
			name:   "first release",
			plan:   func() *pipeline.Plan { return blueGreen("1", true) },
			steps:  steps,
			status: v1alpha1.StatusSucceeded,
		},
		{
			name:    "second release",
			prepare: func(b *bundle) { b.releaseBlueGreen("1") },
			plan:    func() *pipeline.Plan { return blueGreen("2", true) },
			steps:   steps,
			status:  v1alpha1.StatusSucceeded,
		},
		{
			name: "second release failing its rollout",
			prepare: func(b *bundle) {
				b.releaseBlueGreen("1")
				b.cluster.rolloutErr = func(ns string, objs []*unstructured.Unstructured) error {
					if b.cluster.imageOf(objs) == "web:2" {
						return errors.New("deployment web: 0 of 2 updated replicas are available")
					}
					return nil
				}
			},
			plan: func() *pipeline.Plan { return blueGreen("2", true) },
			steps: []pipeline.Step{
				pipeline.StepChooseSlot, pipeline.StepApplyNew, pipeline.StepWaitNew, pipeline.StepSwitchBack, pipeline.StepRemoveNew,
			},
			failing: pipeline.StepWaitNew,
			status:  v1alpha1.StatusFailed,
		},
	})
}

// A server killed after switching back but before recording it: the next
// server finds the Ingress on the previous slot already, and records the
// switch back as the first would have, the previous release live again.
func TestBlueGreenSwitchBackRepeated(t *testing.T) {
	t.Parallel()
	for _, point := range []string{"before:SwitchBack", "done:SwitchBack", "after:SwitchBack", "done:RemoveNewSlot"} {
		t.Run(point, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			first := b.releaseBlueGreen("1")
			id := b.create(blueGreen("2", false))
			s := b.start(point)
			b.waitFor(id, "in its scale down delay", func(d store.Deployment) bool { return b.state(d).NextBatchAt != nil })
			b.cancelRun(s, id)
			for deadline := time.Now().Add(10 * time.Second); !s.dead.Load(); time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the server was not killed at %s", point)
				}
			}
			s.stop()
			b.clock.Advance(leaseTTL + time.Second)
			b.start("")
			d := b.waitStatus(id, v1alpha1.StatusCancelled)
			if ev := b.eventCounts(id); ev["TrafficSwitchedBack"] != 1 || ev["NewSlotRemoved"] != 1 || ev["TrafficUnchanged"] != 0 {
				t.Errorf("events %v", ev)
			}
			if d.ProductionAt != nil || b.cluster.servedSlot() != v1alpha1.SlotBlue {
				t.Errorf("production since %v, Ingress on %q", d.ProductionAt, b.cluster.servedSlot())
			}
			if live, err := b.st.LiveDeployment(t.Context(), "web"); err != nil || live.ID != first {
				t.Errorf("live deployment %d (%v), want %d", live.ID, err, first)
			}
		})
	}
}

// A blue/green release's analyses: before the switch a failure fails the
// release with nothing switched and the new slot removed; after it a
// failure switches back at once (the previous slot was kept scaled) and
// the previous release is live again; an inconclusive verdict waits for a
// person at the analysis's gate, with the previous slot scaled.
func TestBlueGreenAnalyses(t *testing.T) {
	t.Parallel()
	ok, bad, unsure := v1alpha1.AnalysisSuccessful, v1alpha1.AnalysisFailed, v1alpha1.AnalysisInconclusive
	tests := []struct {
		name      string
		pre, post []v1alpha1.AnalysisPhase
		decide    v1alpha1.DecisionKind // at the gate of an inconclusive verdict
		status    v1alpha1.DeploymentStatus
		message   string
		served    string // the slot that serves at the end
		events    []string
	}{
		{
			name: "both pass", pre: []v1alpha1.AnalysisPhase{ok, ok}, post: []v1alpha1.AnalysisPhase{ok},
			status: v1alpha1.StatusSucceeded, served: v1alpha1.SlotGreen,
			events: []string{"PreviewReady", "AnalysisStarted", "AnalysisSuccessful", "TrafficSwitched", "AnalysisStarted", "AnalysisSuccessful", "PreviousSlotScaledDown"},
		},
		{
			name: "pre-promotion fails", pre: []v1alpha1.AnalysisPhase{ok, bad}, post: []v1alpha1.AnalysisPhase{ok},
			status: v1alpha1.StatusFailed, message: "analysis blue-green/pre-promotion failed", served: v1alpha1.SlotBlue,
			events: []string{"PreviewReady", "AnalysisStarted", "AnalysisFailed", "TrafficUnchanged", "NewSlotRemoved"},
		},
		{
			name: "post-promotion fails", pre: []v1alpha1.AnalysisPhase{ok}, post: []v1alpha1.AnalysisPhase{bad},
			status: v1alpha1.StatusFailed, message: "analysis blue-green/post-promotion failed", served: v1alpha1.SlotBlue,
			events: []string{"AnalysisSuccessful", "TrafficSwitched", "AnalysisStarted", "AnalysisFailed", "TrafficSwitchedBack", "NewSlotRemoved"},
		},
		{
			name: "post-promotion inconclusive, rejected", post: []v1alpha1.AnalysisPhase{unsure}, decide: v1alpha1.DecisionReject,
			status: v1alpha1.StatusRejected, message: "rejected by bob at blue-green/post-promotion", served: v1alpha1.SlotBlue,
			events: []string{"TrafficSwitched", "AnalysisInconclusive", "Rejected", "TrafficSwitchedBack"},
		},
		{
			name: "pre-promotion inconclusive, approved", pre: []v1alpha1.AnalysisPhase{unsure}, decide: v1alpha1.DecisionApprove,
			status: v1alpha1.StatusSucceeded, served: v1alpha1.SlotGreen,
			events: []string{"PreviewReady", "AnalysisInconclusive", "TrafficSwitched", "PreviousSlotScaledDown"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			first := b.releaseBlueGreen("1")
			plan := blueGreen("2", false)
			bg := plan.Stages[0].BlueGreen
			step := func(phases []v1alpha1.AnalysisPhase) *v1alpha1.AnalysisStep {
				if phases == nil {
					return nil
				}
				return &v1alpha1.AnalysisStep{Templates: []v1alpha1.AnalysisTemplateRef{{Name: "success-rate"}}}
			}
			bg.PrePromotionAnalysis, bg.PostPromotionAnalysis = step(tt.pre), step(tt.post)
			// One script for both: the pre-promotion verdicts, then the
			// post-promotion ones, each analysis counting from its start.
			b.analyzer = &phased{pre: tt.pre, post: tt.post, canaryNS: bgNS + "-green", productionNS: bgNS}
			id := b.create(plan)
			s := b.start("")
			if tt.decide == v1alpha1.DecisionReject {
				b.waitParked(id)
				if b.cluster.replicas(v1alpha1.SlotBlue) != 2 {
					t.Errorf("waiting at the gate, blue has %d replicas", b.cluster.replicas(v1alpha1.SlotBlue))
				}
				b.decide(s, id, "bob", tt.decide, "")
			} else {
				b.drive(s, id) // approves at any gate
			}
			d := b.waitStatus(id, tt.status)
			if got := b.finalMessage(d); !strings.Contains(got, tt.message) || (tt.message == "") != (got == "") {
				t.Errorf("outcome %q, want %q", got, tt.message)
			}
			if got := b.eventTypes(id); !inOrder(got, tt.events...) {
				t.Errorf("events %v, want in order %v", got, tt.events)
			}
			if slot := b.cluster.servedSlot(); slot != tt.served {
				t.Errorf("the Ingress routes to %q, want %q", slot, tt.served)
			}
			// The release that serves at the end is the live one.
			if served := b.get(id).ProductionAt != nil; served != (tt.served == v1alpha1.SlotGreen) || b.get(first).ProductionAt == nil {
				t.Errorf("deployment %d released: %v (first: %v), serving slot %s", id, served, b.get(first).ProductionAt, tt.served)
			}
		})
	}
}

// A first blue/green release has no route to send testers to its slot:
// its pre-promotion analysis is skipped, its post-promotion one runs.
func TestBlueGreenFirstReleaseAnalyses(t *testing.T) {
	t.Parallel()
	b := setup(t)
	plan := blueGreen("1", false)
	step := &v1alpha1.AnalysisStep{Templates: []v1alpha1.AnalysisTemplateRef{{Name: "success-rate"}}}
	plan.Stages[0].BlueGreen.PrePromotionAnalysis, plan.Stages[0].BlueGreen.PostPromotionAnalysis = step, step
	b.analyzer = &phased{post: []v1alpha1.AnalysisPhase{v1alpha1.AnalysisSuccessful}, canaryNS: bgNS + "-blue", productionNS: bgNS}
	id := b.create(plan)
	b.drive(b.start(""), id)
	b.waitStatus(id, v1alpha1.StatusSucceeded)
	if got := b.eventTypes(id); !inOrder(got, "PreviewReady", "AnalysisSkipped", "TrafficSwitched", "AnalysisStarted", "AnalysisSuccessful") {
		t.Errorf("events %v", got)
	}
	if msg := b.message(id, "AnalysisSkipped"); !strings.Contains(msg, "blue-green/pre-promotion did not run: this is the first release") {
		t.Errorf("AnalysisSkipped %q", msg)
	}
}

// phased scripts a blue/green release's two analyses: Begin tells them
// apart by name.
type phased struct {
	pre, post              []v1alpha1.AnalysisPhase
	canaryNS, productionNS string
}

func (p *phased) script(name string) *scripted {
	phases := p.pre
	if strings.HasSuffix(name, "/post-promotion") {
		phases = p.post
	}
	return &scripted{phases: phases, canaryNS: p.canaryNS, productionNS: p.productionNS}
}

func (p *phased) Begin(ctx context.Context, plan *pipeline.Plan, name string, step v1alpha1.AnalysisStep, args map[string]string, now time.Time) (*v1alpha1.AnalysisRun, error) {
	return p.script(name).Begin(ctx, plan, name, step, args, now)
}

func (p *phased) Measure(ctx context.Context, plan *pipeline.Plan, run *v1alpha1.AnalysisRun, now time.Time) (*v1alpha1.AnalysisRun, []v1alpha1.Measurement, error) {
	return p.script(run.Name).Measure(ctx, plan, run, now)
}

// blueGreenRoute is blueGreen with the manifests' Ingress replaced by an
// HTTPRoute that users reach.
func blueGreenRoute(tag string, approval bool) *pipeline.Plan {
	p := blueGreen(tag, approval)
	p.Manifests = withRoute(p.Manifests)
	p.IngressName = ""
	bg := p.Stages[0].BlueGreen
	bg.IngressName, bg.HTTPRouteName = "", "web"
	p.BlueGreen.Ingress, p.BlueGreen.HTTPRoute = "", "web"
	p.Traffic = &v1alpha1.TrafficRouting{Provider: v1alpha1.TrafficProviderGatewayAPI, HTTPRoute: "web"}
	return p
}

// routeSlot is the namespace the fake cluster's HTTPRoute in bgNS sends
// its first rule to, and the number of its rules.
func (c *fakeCluster) routeSlot() (string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.objects[bgNS+"/HTTPRoute/web"]
	if o == nil {
		return "", 0
	}
	rules, _, _ := unstructured.NestedSlice(o.obj.Object, "spec", "rules")
	refs, _, _ := unstructured.NestedSlice(rules[0].(map[string]any), "backendRefs")
	ns, _, _ := unstructured.NestedString(refs[0].(map[string]any), "namespace")
	return ns, len(rules)
}

// With an HTTPRoute: each slot gets a ReferenceGrant, the route's backend
// moves to the new slot's namespace at the switch, the preview is a
// second rule of the route while the release waits, and a release
// rejected before its switch puts the route back as it was and removes
// the new slot's grant with its other objects.
func TestBlueGreenHTTPRoute(t *testing.T) {
	t.Parallel()
	b := setup(t)
	first := b.create(blueGreenRoute("1", false))
	b.drive(b.start(""), first)
	b.waitStatus(first, v1alpha1.StatusSucceeded)
	blue, green := bgNS+"-blue", bgNS+"-green"
	if ns, rules := b.cluster.routeSlot(); ns != blue || rules != 1 {
		t.Fatalf("after the first release the route sends to %q with %d rules", ns, rules)
	}
	grant := "/ReferenceGrant/fledge-" + bgNS + "-web"
	if !b.cluster.has(blue + grant) {
		t.Errorf("no ReferenceGrant in %s: %v", blue, b.cluster.Calls())
	}

	second := b.create(blueGreenRoute("2", true))
	s := b.start("")
	b.waitParked(second)
	if ns, rules := b.cluster.routeSlot(); ns != blue || rules != 2 || !b.cluster.has(green+grant) {
		t.Errorf("while green waits the route sends to %q with %d rules (want the preview's second), grant in green: %v", ns, rules, b.cluster.has(green+grant))
	}
	if msg := b.message(second, "PreviewReady"); !strings.Contains(msg, "through HTTPRoute web-bg/web") {
		t.Errorf("PreviewReady %q", msg)
	}
	b.decide(s, second, "bob", v1alpha1.DecisionReject, "")
	b.waitStatus(second, v1alpha1.StatusRejected)
	if ns, rules := b.cluster.routeSlot(); ns != blue || rules != 1 || b.cluster.has(green+grant) || b.cluster.has(green+"/Deployment/web") {
		t.Errorf("after the rejection the route sends to %q with %d rules; grant in green %v", ns, rules, b.cluster.has(green+grant))
	}
	if !b.cluster.has(blue + grant) {
		t.Error("the serving slot's grant was removed")
	}

	third := b.create(blueGreenRoute("3", false))
	b.drive(b.start(""), third)
	b.waitStatus(third, v1alpha1.StatusSucceeded)
	if ns, rules := b.cluster.routeSlot(); ns != green || rules != 1 || b.cluster.replicas(v1alpha1.SlotBlue) != 0 {
		t.Errorf("after the third release the route sends to %q with %d rules, blue has %d replicas", ns, rules, b.cluster.replicas(v1alpha1.SlotBlue))
	}
	if msg := b.message(third, "TrafficSwitched"); !strings.Contains(msg, "every request to HTTPRoute web-bg/web now goes to slot green") {
		t.Errorf("TrafficSwitched %q", msg)
	}
}
