package browser

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"fledge.dev/fledge/api/v1alpha1"
)

// TestConsoleWaves shows a release in waves: the pipeline's stage graph
// names the wave's targets, and the deployment page lists each production
// target with its status and whether it runs the deployment, which the
// history's badge says too.
func TestConsoleWaves(t *testing.T) {
	f := fixture{
		Pipeline: "waves", Environment: "local", Artifact: "webpage-manifest",
		CanaryNS: "waves-canary", ProdNS: "waves-prod", DefaultTag: "1.0",
	}
	store, admin := newStore(t)
	s := startServer(t, store, admin)
	t.Cleanup(func() {
		for _, ns := range []string{f.CanaryNS, f.ProdNS, "waves-second"} {
			_ = cluster.Clientset().CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
		}
	})
	env, art, pl := f.resources(t)
	s.api(http.MethodPut, "/api/v1/environments/"+f.Environment, "", env, nil)
	s.api(http.MethodPut, "/api/v1/artifacts/"+f.Artifact, "", art, nil)
	spec := pl["spec"].(map[string]any)
	stages := spec["stages"].([]any)
	spec["stages"] = []any{stages[0], stages[3], map[string]any{"name": "second-wave", "productionWave": map[string]any{
		"targets": []any{map[string]any{"environment": "local", "namespace": "waves-second"}},
	}}}
	s.api(http.MethodPut, "/api/v1/pipelines/"+f.Pipeline, "", pl, nil)
	alice := s.createToken("alice", "deployer", "approver")

	var d v1alpha1.Deployment
	s.api(http.MethodPost, "/api/v1/pipelines/"+f.Pipeline+"/runs", "", map[string]any{"parameters": map[string]string{"IMAGE_TAG": "1.0"}}, &d)
	for deadline := time.Now().Add(2 * time.Minute); s.deployment(d.ID).Status != v1alpha1.StatusSucceeded; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("deployment %d not Succeeded: %+v", d.ID, s.deployment(d.ID))
		}
	}
	waitImage(t, "waves-second", "registry.example.com/webpage:1.0")

	b := newBrowser(t, s.url)
	b.open("/", "sign-in")
	b.signIn(alice, "alice", "pipelines")
	b.open(fmt.Sprintf("/deployments/%d", d.ID), "deployment")
	b.waitJS("targets", time.Minute, `!!document.querySelector('tr[data-target="local/waves-second"]')`)
	row := b.text(`tr[data-target="local/waves-second"]`)
	for _, want := range []string{"second-wave", "Released", "★ yes"} {
		if !strings.Contains(row, want) {
			t.Errorf("target row %q should say %q", row, want)
		}
	}
	if badge := b.text(".badge.targets"); !strings.HasSuffix(badge, "Live in 1 wave target") {
		t.Errorf("live badge %q, want Live in 1 wave target", badge)
	}
	b.shot("13-waves")
	b.open("/pipelines/"+f.Pipeline, "pipeline")
	b.waitJS("wave stage", time.Minute, `document.body.textContent.includes('local/waves-second')`)
	if !strings.Contains(b.text("main"), "Production wave") {
		t.Error("the pipeline's stage graph does not name the production wave")
	}
}
