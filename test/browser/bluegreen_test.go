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

	b := newBrowser(t, s.url)
	b.open("/", "sign-in")
	b.signIn(alice, "alice", "pipelines")
	card := fmt.Sprintf(`[data-pipeline=%q]`, f.Pipeline)
	stages := b.text(card + " .stages")
	for _, want := range []string{"Blue/green", "bg-console-blue, bg-console-green", "ingress webpage-ingress", "10m"} {
		if !strings.Contains(stages, want) {
			t.Errorf("pipelines page: stage graph lacks %q:\n%s", want, stages)
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
