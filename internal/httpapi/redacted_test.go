package httpapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/clusters"
)

// Get then apply keeps a secret: the placeholder the API shows instead of
// it stands for the stored value and is never stored itself.
func TestRedactedRoundTrip(t *testing.T) {
	t.Parallel()
	a := setup(t)
	kubeconfig := "apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    token: s3cr3t-token\n"
	b, _ := json.Marshal(v1alpha1.Environment{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindEnvironment},
		Metadata: v1alpha1.ObjectMeta{Name: "inline"},
		Spec:     v1alpha1.EnvironmentSpec{Kubeconfig: &v1alpha1.KubeconfigSource{Inline: kubeconfig}},
	})
	if code, body := do(t, a, "PUT", "/api/v1/environments/inline", string(b)); code != 201 {
		t.Fatalf("apply: %d %s", code, body)
	}
	_, got := do(t, a, "GET", "/api/v1/environments/inline", "")
	if !strings.Contains(got, `"inline":"(redacted)"`) {
		t.Fatalf("GET shows: %s", got)
	}
	code, body := do(t, a, "PUT", "/api/v1/environments/inline", got)
	if code != 200 || !strings.Contains(body, `"action":"unchanged"`) {
		t.Fatalf("applying what GET returned: %d %s", code, body)
	}
	// A changed setting beside the placeholder is applied, and the
	// kubeconfig is kept.
	changed := strings.Replace(got, `"spec":{`, `"spec":{"ingressLayout":"beside-production",`, 1)
	if code, body := do(t, a, "PUT", "/api/v1/environments/inline", changed); code != 200 || !strings.Contains(body, `"action":"configured"`) {
		t.Fatalf("applying a change beside the placeholder: %d %s", code, body)
	}
	res, err := a.st.GetResource(t.Context(), v1alpha1.KindEnvironment, "inline")
	if err != nil {
		t.Fatal(err)
	}
	var env v1alpha1.Environment
	if err := json.Unmarshal(res.Spec, &env); err != nil {
		t.Fatal(err)
	}
	plain, err := a.box.Open(env.Spec.Kubeconfig.Inline, clusters.KubeconfigContext("inline"))
	if err != nil || string(plain) != kubeconfig {
		t.Fatalf("the stored kubeconfig after two round trips: %q, %v", plain, err)
	}
	// With nothing stored to keep, the placeholder is refused.
	fresh := strings.ReplaceAll(got, `"inline"`, `"fresh"`)
	fresh = strings.Replace(fresh, `"fresh":"(redacted)"`, `"inline":"(redacted)"`, 1)
	code, body = do(t, a, "PUT", "/api/v1/environments/fresh", fresh)
	if code != 422 || !strings.Contains(body, "spec.kubeconfig.inline") || !strings.Contains(body, "no inline kubeconfig to keep") {
		t.Fatalf("a new environment with the placeholder: %d %s", code, body)
	}
	if _, err := a.st.GetResource(t.Context(), v1alpha1.KindEnvironment, "fresh"); err == nil {
		t.Fatal("the refused environment was stored")
	}
}

// The data of a Kubernetes Secret inside an artifact is never shown: not
// through the artifact, not through a deployment's manifests. A get then
// apply keeps the stored values; a placeholder with none is refused.
func TestArtifactSecretsRedacted(t *testing.T) {
	t.Parallel()
	a := setup(t)
	manifests := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: hunter2-${TAG}\n---\n" +
		"apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: web\n  labels:\n    v: \"${TAG}\"\n"
	art := func(name, m string) string {
		b, _ := json.Marshal(v1alpha1.Artifact{
			TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindArtifact},
			Metadata: v1alpha1.ObjectMeta{Name: name},
			Spec:     v1alpha1.ArtifactSpec{Manifests: m},
		})
		return string(b)
	}
	if code, body := do(t, a, "PUT", "/api/v1/artifacts/web", art("web", manifests)); code != 200 {
		t.Fatalf("apply: %d %s", code, body)
	}
	viewer := a.token(t, "vera", "viewer")
	for _, path := range []string{"/api/v1/artifacts/web", "/api/v1/artifacts"} {
		code, body := doAs(t, a, viewer, "GET", path, "")
		if code != 200 || strings.Contains(body, "hunter2") || !strings.Contains(body, "password: (redacted)") {
			t.Fatalf("GET %s: %d %s", path, code, body)
		}
	}
	code, body := do(t, a, "POST", "/api/v1/pipelines/p/runs", `{"parameters":{"TAG":"1"}}`)
	var d v1alpha1.Deployment
	if err := json.Unmarshal([]byte(body), &d); code != 201 || err != nil {
		t.Fatalf("run: %d %s", code, body)
	}
	code, body = doAs(t, a, viewer, "GET", fmt.Sprintf("/api/v1/deployments/%d/manifests", d.ID), "")
	if code != 200 || strings.Contains(body, "hunter2") || !strings.Contains(body, "password: (redacted)") || !strings.Contains(body, "kind: Ingress") {
		t.Fatalf("manifests: %d %s", code, body)
	}
	// Get then apply keeps the stored value.
	_, got := do(t, a, "GET", "/api/v1/artifacts/web", "")
	if code, body := do(t, a, "PUT", "/api/v1/artifacts/web", got); code != 200 {
		t.Fatalf("applying what GET returned: %d %s", code, body)
	}
	res, err := a.st.GetResource(t.Context(), v1alpha1.KindArtifact, "web")
	if err != nil || !strings.Contains(string(res.Spec), "hunter2-${TAG}") || strings.Contains(string(res.Spec), "(redacted)") {
		t.Fatalf("stored after the round trip: %s %v", res.Spec, err)
	}
	code, body = do(t, a, "PUT", "/api/v1/artifacts/other", art("other", strings.Replace(manifests, "hunter2-${TAG}", "(redacted)", 1)))
	if code != 422 || !strings.Contains(body, "no stored value to keep") {
		t.Fatalf("a placeholder with nothing stored: %d %s", code, body)
	}
}
