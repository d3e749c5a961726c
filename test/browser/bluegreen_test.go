package browser

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

// A blue/green pipeline in the console: the pipeline page shows its stage
// with the slots; the deployment page shows which slot serves and where
// the requests go while the second release waits for approval beside the
// first, after the switch, and after the switch back.
func TestConsoleBlueGreen(t *testing.T) {
	f := fixture{Pipeline: "bg-console", Environment: "local", Artifact: "webpage-manifest", DefaultTag: "1.0"}
	const ns = "bg-console"
	store, admin := newStore(t)
	s := startServer(t, store, admin)
	env, art, pl := f.resources(t)
	pl["spec"].(map[string]any)["stages"] = []any{map[string]any{"name": "blue-green", "blueGreen": map[string]any{
		"environment": f.Environment, "artifacts": []string{f.Artifact}, "namespace": ns, "ingressName": "webpage-ingress",
		"approval": map[string]any{}, "scaleDownDelay": "10m", "rolloutTimeout": "4m",
	}}}
	s.api(http.MethodPut, "/api/v1/environments/"+f.Environment, "ci", env, nil)
	s.api(http.MethodPut, "/api/v1/artifacts/"+f.Artifact, "ci", art, nil)
	s.api(http.MethodPut, "/api/v1/pipelines/"+f.Pipeline, "ci", pl, nil)
	alice := s.createToken("alice", "deployer", "approver")

	run := func(tag string) v1alpha1.Deployment {
		var d v1alpha1.Deployment
		s.api(http.MethodPost, "/api/v1/pipelines/"+f.Pipeline+"/runs", "", map[string]any{"parameters": map[string]string{"IMAGE_TAG": tag}}, &d)
		return d
	}
	wait := func(id int64, want v1alpha1.DeploymentStatus) {
		for deadline := time.Now().Add(2 * time.Minute); s.deployment(id).Status != want; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("deployment %d not %s: %+v", id, want, s.deployment(id))
			}
		}
	}
	approve := func(id int64) {
		s.api(http.MethodPost, fmt.Sprintf("/api/v1/deployments/%d/approve", id), "", map[string]any{"reason": "checked"}, nil)
	}
	d1 := run("1.0")
	wait(d1.ID, v1alpha1.StatusWaitingForApproval)
	approve(d1.ID)
	wait(d1.ID, v1alpha1.StatusSucceeded)
	d2 := run("2.0")
	wait(d2.ID, v1alpha1.StatusWaitingForApproval)

	// A second pipeline, never run: blue/green with an HTTPRoute and an
	// analysis on either side of the switch.
	s.api(http.MethodPut, "/api/v1/analysistemplates/web-rate", "ci", map[string]any{
		"apiVersion": v1alpha1.APIVersion, "kind": v1alpha1.KindAnalysisTemplate, "metadata": map[string]any{"name": "web-rate"},
		"spec": map[string]any{"metrics": []any{map[string]any{
			"name": "success-rate", "provider": map[string]any{"web": map[string]any{"url": "http://127.0.0.1:9/rate", "jsonPath": "$.rate"}},
			"successCondition": "result >= 0.99",
		}}},
	}, nil)
	analysis := map[string]any{"templates": []any{map[string]any{"name": "web-rate"}}}
	gw := map[string]any{
		"apiVersion": pl["apiVersion"], "kind": pl["kind"], "metadata": map[string]any{"name": "bg-console-gw"},
		"spec": map[string]any{"stages": []any{map[string]any{"name": "blue-green", "blueGreen": map[string]any{
			"environment": f.Environment, "artifacts": []string{f.Artifact}, "namespace": "bg-console-gw", "httpRouteName": "webpage",
			"prePromotionAnalysis": analysis, "postPromotionAnalysis": analysis,
		}}}},
	}
	s.api(http.MethodPut, "/api/v1/pipelines/bg-console-gw", "ci", gw, nil)

	b := newBrowser(t, s.url)
	b.open("/", "sign-in")
	b.signIn(alice, "alice", "pipelines")
	for card, wants := range map[string][]string{
		f.Pipeline: {"Blue/green", "bg-console-blue, bg-console-green", "ingress webpage-ingress", "10m"},
		"bg-console-gw": {
			"bg-console-gw (HTTPRoute webpage)", "a rule of HTTPRoute webpage",
			"analysis web-rate (gate blue-green/pre-promotion)", "analysis web-rate (gate blue-green/post-promotion); failed, it switches back",
		},
	} {
		stages := b.text(fmt.Sprintf(`[data-pipeline=%q] .stages`, card))
		for _, want := range wants {
			if !strings.Contains(stages, want) {
				t.Errorf("pipelines page: the stage graph of %s lacks %q:\n%s", card, want, stages)
			}
		}
	}

	b.open(fmt.Sprintf("/deployments/%d", d2.ID), "deployment")
	b.waitJS("the slot that serves", 30*time.Second, `(document.querySelector('.page-head .weight-value') || {}).textContent === 'blue'`)
	if why := b.text(".page-head .weight-reason"); !strings.Contains(why, "runs in slot green (bg-console-green) beside slot blue (bg-console-blue, #1)") {
		t.Errorf("while waiting: %q", why)
	}
	b.shot("20-blue-green-waiting")

	approve(d2.ID)
	b.waitJS("switched to green", time.Minute, `(document.querySelector('.page-head .weight-value') || {}).textContent === 'green'`)
	if why := b.text(".page-head .weight-reason"); !strings.Contains(why, "Every request goes to slot green (bg-console-green) since") || !strings.Contains(why, "stays scaled until") {
		t.Errorf("after the switch: %q", why)
	}
	b.shot("21-blue-green-switched")

	s.api(http.MethodPost, fmt.Sprintf("/api/v1/deployments/%d/cancel", d2.ID), "", map[string]any{"reason": "switch back"}, nil)
	wait(d2.ID, v1alpha1.StatusCancelled)
	b.waitJS("switched back to blue", time.Minute, `(document.querySelector('.page-head .weight-value') || {}).textContent === 'blue'`)
	if why := b.text(".page-head .weight-reason"); !strings.Contains(why, "Switched back: slot blue (bg-console-blue, #1) gets every request again") {
		t.Errorf("after the switch back: %q", why)
	}
}
