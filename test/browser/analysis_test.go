package browser

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

// hostile is what a metric source answers once: it reaches the
// measurement's message, and the console must show it as text.
const hostile = `<img src=x onerror="window.__pwned=1">`

// The console draws a canary's analysis as it runs: a real release whose
// analysis step reads a web metric source (the test's server, answering a
// healthy rate, then an error quoting hostile markup, then a failing
// rate) fails by itself; its page charts the metric with the threshold of
// the template's successCondition, each measurement marked by its verdict,
// and the provider's text shown as text.
func TestConsoleAnalysisChart(t *testing.T) {
	var (
		mu      sync.Mutex
		answers = []func(w http.ResponseWriter){
			func(w http.ResponseWriter) { fmt.Fprint(w, `{"rate": 0.999}`) },
			func(w http.ResponseWriter) { http.Error(w, hostile, http.StatusInternalServerError) },
			func(w http.ResponseWriter) { fmt.Fprint(w, `{"rate": 0.91}`) },
		}
		served int
	)
	source := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		answers[min(served, len(answers)-1)](w)
		served++
	}))
	defer source.Close()

	f := fixture{
		Pipeline: "analysed", Environment: "local", Artifact: "webpage-manifest",
		CanaryNS: "chart-canary", ProdNS: "chart-prod", DefaultTag: "1.0",
	}
	s, admin := startWithSteps(t, f, []any{map[string]any{"setWeight": 25}, map[string]any{"analysis": map[string]any{"templates": []any{map[string]any{"name": "web-rate"}}}}}, map[string]any{
		"apiVersion": v1alpha1.APIVersion, "kind": v1alpha1.KindAnalysisTemplate,
		"metadata": map[string]any{"name": "web-rate"},
		"spec": map[string]any{
			"args": []any{map[string]any{"name": "min", "default": "0.95"}},
			"metrics": []any{map[string]any{
				"name":             "success-rate",
				"provider":         map[string]any{"web": map[string]any{"url": source.URL, "jsonPath": "$.rate"}},
				"successCondition": "result >= double(args.min)",
				"interval":         "1s", "count": 3,
			}},
		},
	})

	// The first release has nothing to analyse; the second is measured.
	run := func(tag string) v1alpha1.Deployment {
		var d v1alpha1.Deployment
		s.api(http.MethodPost, "/api/v1/pipelines/"+f.Pipeline+"/runs", "", map[string]any{"parameters": map[string]string{"IMAGE_TAG": tag}}, &d)
		return d
	}
	waitFor := func(id int64, want v1alpha1.DeploymentStatus) {
		for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
			d := s.deployment(id)
			if d.Status == want {
				return
			}
			if d.Status.Final() || time.Now().After(deadline) {
				t.Fatalf("deployment %d is %s (%s), want %s", id, d.Status, d.Message, want)
			}
		}
	}
	waitFor(run("1.0").ID, v1alpha1.StatusSucceeded)
	d := run("1.1")

	b := newBrowser(t, s.url)
	b.open("/", "sign-in")
	b.signIn(admin, "admin", "pipelines")
	b.open(fmt.Sprintf("/deployments/%d", d.ID), "deployment")
	// Drawn live, measurement by measurement, until the verdict.
	b.waitJS("three measurements charted", time.Minute, `document.querySelectorAll('svg.metric-chart .point').length === 3`)
	waitFor(d.ID, v1alpha1.StatusFailed)

	phases := eval[[]string](b, `[...document.querySelectorAll('svg.metric-chart .point')].map((p) => p.dataset.phase)`)
	if strings.Join(phases, ",") != "Successful,Error,Failed" {
		t.Errorf("points %v, want Successful,Error,Failed in order", phases)
	}
	// The threshold of "result >= double(args.min)" with min's default.
	if got := eval[string](b, `(document.querySelector('svg.metric-chart .threshold') || {dataset: {}}).dataset.threshold`); got != "0.95" {
		t.Errorf("threshold line at %q, want 0.95", got)
	}
	// The passing point is above the line, the failing one below it, a
	// square; the error has no value and sits on the time axis as a cross.
	geo := eval[map[string]float64](b, `(() => {
		const svg = document.querySelector('svg.metric-chart');
		const line = Number(svg.querySelector('.threshold').dataset.y);
		const ok = svg.querySelector('.point[data-phase="Successful"] circle');
		const bad = svg.querySelector('.point[data-phase="Failed"] rect');
		const err = svg.querySelector('.point[data-phase="Error"] path');
		return {line, ok: ok ? Number(ok.getAttribute('cy')) : -1, bad: bad ? Number(bad.getAttribute('y')) + 4.5 : -1, err: err ? 1 : 0};
	})()`)
	if !(geo["ok"] >= 0 && geo["ok"] < geo["line"] && geo["bad"] > geo["line"] && geo["err"] == 1) {
		t.Errorf("chart geometry %v: want the passing circle above the threshold, the failed square below, the error a cross", geo)
	}
	// The provider's text is text.
	if eval[bool](b, `window.__pwned === 1 || !!document.querySelector('.metric img')`) {
		t.Fatal("a measurement's message was rendered as markup")
	}
	b.click(".metric details summary")
	if got := b.text(".metric table.measurements"); !strings.Contains(got, hostile) || !strings.Contains(got, "0.91") {
		t.Errorf("measurements table lacks the message as text or the failing value:\n%s", got)
	}
	if cond := b.text(".metric .conditions"); !strings.Contains(cond, "passes when result >= double(args.min)") {
		t.Errorf("conditions shown: %q", cond)
	}
	b.checkA11y("analysis chart")
	b.shot("08-analysis-chart")
}

// A deployment paused at a canary step says so and offers to resume it,
// not to promote it: the effect names the next step, no production diff is
// shown, and the button resumes the pause (POST .../resume).
func TestConsolePauseResume(t *testing.T) {
	f := fixture{
		Pipeline: "paused", Environment: "local", Artifact: "webpage-manifest",
		CanaryNS: "pause-canary", ProdNS: "pause-prod", DefaultTag: "1.0",
	}
	s, _ := startWithSteps(t, f, []any{map[string]any{"setWeight": 25}, map[string]any{"pause": map[string]any{}}, map[string]any{"setWeight": 50}}, nil)
	alice := s.createToken("alice", "deployer", "approver")

	var d v1alpha1.Deployment
	s.api(http.MethodPost, "/api/v1/pipelines/"+f.Pipeline+"/runs", "", map[string]any{"parameters": map[string]string{"IMAGE_TAG": "1.0"}}, &d)
	b := newBrowser(t, s.url)
	b.open("/", "sign-in")
	b.signIn(alice, "alice", "pipelines")
	b.open(fmt.Sprintf("/deployments/%d", d.ID), "deployment")
	b.waitJS("paused", time.Minute, `!!document.querySelector('.approval-form button.approve')`)
	head := b.text(".attention h2")
	effect := b.text(".attention .effect")
	if head != "Paused" || !strings.Contains(effect, "Resume: next, step 3 of progressive: setWeight 50%") || strings.Contains(effect, "Promote") {
		t.Errorf("pause section %q with effect %q, want Paused and the next step", head, effect)
	}
	if btn := b.text(".approval-form button.approve"); btn != "Resume…" {
		t.Errorf("button %q, want Resume…", btn)
	}
	if eval[bool](b, `!!document.querySelector('.attention .approval-diff .changed')`) {
		t.Error("a pause shows a production diff: resuming does not release production")
	}
	b.shot("09-paused")
	b.click(".approval-form button.approve")
	if got := b.text(".approval-form button.confirm-approve"); got != "Yes, resume" {
		t.Errorf("confirm button %q, want Yes, resume", got)
	}
	b.click(".approval-form button.confirm-approve")
	for deadline := time.Now().Add(time.Minute); s.deployment(d.ID).Status != v1alpha1.StatusSucceeded; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("deployment %d not Succeeded after resuming: %+v", d.ID, s.deployment(d.ID))
		}
	}
	var evs v1alpha1.EventList
	s.api(http.MethodGet, fmt.Sprintf("/api/v1/deployments/%d/events", d.ID), "", nil, &evs)
	found := false
	for _, e := range evs.Items {
		found = found || (e.Type == "ResumeRequested" && strings.Contains(e.Message, "alice"))
	}
	if !found {
		t.Error("no ResumeRequested event by alice: the console did not resume")
	}
}

// startWithSteps starts a server with f's resources, its pipeline's ramp
// and approval replaced by a canarySteps stage "progressive" of steps, and
// the AnalysisTemplate web-rate when given; it returns the server and its
// admin token.
func startWithSteps(t *testing.T, f fixture, steps []any, template map[string]any) (*server, string) {
	t.Helper()
	store, admin := newStore(t)
	s := startServer(t, store, admin)
	env, art, pl := f.resources(t)
	s.api(http.MethodPut, "/api/v1/environments/"+f.Environment, "", env, nil)
	s.api(http.MethodPut, "/api/v1/artifacts/"+f.Artifact, "", art, nil)
	if template != nil {
		s.api(http.MethodPut, "/api/v1/analysistemplates/web-rate", "", template, nil)
	}
	spec := pl["spec"].(map[string]any)
	stages := spec["stages"].([]any)
	spec["stages"] = []any{stages[0], map[string]any{"name": "progressive", "canarySteps": map[string]any{"steps": steps}}, stages[3]}
	s.api(http.MethodPut, "/api/v1/pipelines/"+f.Pipeline, "", pl, nil)
	return s, admin
}
