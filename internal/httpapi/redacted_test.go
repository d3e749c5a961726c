package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/clusters"
	"fledge.dev/fledge/internal/pipeline"
	"fledge.dev/fledge/internal/redact"
	"fledge.dev/fledge/internal/secretbox"
	"fledge.dev/fledge/internal/store"
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
	// Get then apply keeps the stored value, unchanged.
	_, got := do(t, a, "GET", "/api/v1/artifacts/web", "")
	if code, body := do(t, a, "PUT", "/api/v1/artifacts/web", got); code != 200 || !strings.Contains(body, `"action":"unchanged"`) {
		t.Fatalf("applying what GET returned: %d %s", code, body)
	}
	if code, body := do(t, a, "PUT", "/api/v1/artifacts/web", art("web", manifests)); code != 200 || !strings.Contains(body, `"action":"unchanged"`) {
		t.Fatalf("applying the same text again: %d %s", code, body)
	}
	res, err := a.st.GetResource(t.Context(), v1alpha1.KindArtifact, "web")
	if err != nil || strings.Contains(string(res.Spec), "hunter2") || strings.Contains(string(res.Spec), "(redacted)") {
		t.Fatalf("stored after the round trip: %s %v", res.Spec, err)
	}
	var stored v1alpha1.Artifact
	if err := json.Unmarshal(res.Spec, &stored); err != nil {
		t.Fatal(err)
	}
	if m, err := redact.Open(a.box, stored.Spec.Manifests); err != nil || !strings.Contains(m, "password: hunter2-${TAG}") {
		t.Fatalf("the stored artifact opens to: %v\n%s", err, m)
	}
	code, body = do(t, a, "PUT", "/api/v1/artifacts/other", art("other", strings.Replace(manifests, "hunter2-${TAG}", "(redacted)", 1)))
	if code != 422 || !strings.Contains(body, "no stored value to keep") {
		t.Fatalf("a placeholder with nothing stored: %d %s", code, body)
	}
}

// The values of a Kubernetes Secret inside an artifact are sealed in the
// store like Fledge's own secrets: neither the artifact's row nor a
// deployment's plan holds them in clear, the database files do not, and a
// deployment's manifests open to the rendered value. An artifact stored
// before values were sealed still runs, and its deployment's plan is
// sealed; a sealed value that does not open stops a run with an error
// naming the artifact, the Secret and the key.
func TestArtifactSecretsSealedAtRest(t *testing.T) {
	t.Parallel()
	a := setup(t)
	const marker = "MARKER-5ea1ed-db-password"
	manifests := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: " + marker + "-${TAG}\n" +
		"data:\n  token: " + base64.StdEncoding.EncodeToString([]byte(marker+"-token")) + "\n---\n" +
		"apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: web\n  labels:\n    v: \"${TAG}\"\n"
	b, _ := json.Marshal(v1alpha1.Artifact{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindArtifact},
		Metadata: v1alpha1.ObjectMeta{Name: "web"},
		Spec:     v1alpha1.ArtifactSpec{Manifests: manifests},
	})
	if code, body := do(t, a, "PUT", "/api/v1/artifacts/web", string(b)); code != 200 {
		t.Fatalf("apply: %d %s", code, body)
	}
	run := func() (int, string, v1alpha1.Deployment) {
		t.Helper()
		code, body := do(t, a, "POST", "/api/v1/pipelines/p/runs", `{"parameters":{"TAG":"7"}}`)
		var d v1alpha1.Deployment
		_ = json.Unmarshal([]byte(body), &d)
		return code, body, d
	}
	code, body, d := run()
	if code != 201 {
		t.Fatalf("run: %d %s", code, body)
	}
	row, err := a.st.GetDeployment(t.Context(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	var plan pipeline.Plan
	if err := json.Unmarshal(row.Plan, &plan); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(row.Plan), marker) || !strings.Contains(plan.Manifests, secretbox.Marker) {
		t.Fatalf("the stored plan holds a Secret value in clear or nothing sealed:\n%s", plan.Manifests)
	}
	if m, err := redact.Open(a.box, plan.Manifests); err != nil || !strings.Contains(m, "password: "+marker+"-7") {
		t.Fatalf("the plan opens to: %v\n%s", err, m)
	}
	checkNoClearText(t, a, marker, base64.StdEncoding.EncodeToString([]byte(marker+"-token")))

	// An artifact stored before values were sealed still runs; its
	// deployment's plan is sealed.
	legacy, _ := json.Marshal(v1alpha1.Artifact{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindArtifact},
		Metadata: v1alpha1.ObjectMeta{Name: "web"},
		Spec:     v1alpha1.ArtifactSpec{Manifests: strings.ReplaceAll(manifests, marker, "legacy-value")},
	})
	if _, _, err := a.st.PutResource(t.Context(), store.Resource{Kind: v1alpha1.KindArtifact, Name: "web", Spec: legacy}); err != nil {
		t.Fatal(err)
	}
	code, body, d = run()
	if code != 201 {
		t.Fatalf("run of a legacy artifact: %d %s", code, body)
	}
	if row, err = a.st.GetDeployment(t.Context(), d.ID); err != nil || strings.Contains(string(row.Plan), "legacy-value") {
		t.Fatalf("the plan of a legacy artifact's run holds its value in clear: %v\n%s", err, row.Plan)
	}

	// A tampered ciphertext stops the run before it exists.
	sealed, err := redact.Seal(a.box, manifests, "")
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(sealed, secretbox.Marker) + len(secretbox.Marker)
	flip := "A"
	if sealed[i] == 'A' {
		flip = "B"
	}
	tampered, _ := json.Marshal(v1alpha1.Artifact{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindArtifact},
		Metadata: v1alpha1.ObjectMeta{Name: "web"},
		Spec:     v1alpha1.ArtifactSpec{Manifests: sealed[:i] + flip + sealed[i+1:]},
	})
	if _, _, err := a.st.PutResource(t.Context(), store.Resource{Kind: v1alpha1.KindArtifact, Name: "web", Spec: tampered}); err != nil {
		t.Fatal(err)
	}
	before, _ := a.st.CountDeployments(t.Context(), store.DeploymentFilter{Pipeline: "p"})
	code, body, _ = run()
	if code != 500 || !strings.Contains(body, "artifact web: the Secret db: stringData.password: cannot decrypt") {
		t.Fatalf("run of a tampered artifact: %d %s", code, body)
	}
	if after, _ := a.st.CountDeployments(t.Context(), store.DeploymentFilter{Pipeline: "p"}); after != before {
		t.Fatalf("a run of a tampered artifact was stored (%d deployments, was %d)", after, before)
	}
}

// checkNoClearText fails when the API's SQLite files hold any of texts.
func checkNoClearText(t *testing.T, a *testAPI, texts ...string) {
	t.Helper()
	for _, f := range []string{"f.db", "f.db-wal"} {
		raw, err := os.ReadFile(filepath.Join(a.dbDir, f))
		if err != nil && f == "f.db" {
			t.Fatal(err)
		}
		for _, text := range texts {
			if bytes.Contains(raw, []byte(text)) {
				t.Fatalf("%s holds %q in clear", f, text)
			}
		}
	}
}
