package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/clusters"
	"fledge.dev/fledge/internal/secretbox"
	"fledge.dev/fledge/internal/service"
	"fledge.dev/fledge/internal/store/sqlite"
)

// testAPI is an API server on a fresh SQLite store, with an admin token.
type testAPI struct {
	*httptest.Server
	st    *sqlite.Store
	svc   *service.Service
	box   *secretbox.Box
	dbDir string
	admin string
}

// setup returns an API server on a fresh SQLite store with a valid
// environment, artifact and pipeline applied. No cluster is needed: these
// requests are all refused or answered before anything touches one.
func setup(t testing.TB, opts ...Option) *testAPI {
	t.Helper()
	return setupAnalysis(t, false, opts...)
}

// setupAnalysis is setup on a server that runs analysis steps (or not).
func setupAnalysis(t testing.TB, analysis bool, opts ...Option) *testAPI {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(dir, "f.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key, err := secretbox.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	svc := service.New(service.Config{Store: st, Clusters: &clusters.StoreSource{Store: st, Secrets: box}, Secrets: box, Analysis: analysis})
	admin, created, err := svc.Bootstrap(context.Background(), "")
	if err != nil || !created {
		t.Fatalf("bootstrap: %v %v", created, err)
	}
	srv := httptest.NewServer(New(svc, nil, opts...))
	t.Cleanup(srv.Close)
	a := &testAPI{Server: srv, st: st, svc: svc, box: box, dbDir: dir, admin: admin}
	for _, r := range []struct{ path, body string }{
		{"/api/v1/environments/local", `{"apiVersion":"fledge.dev/v1alpha1","kind":"Environment","metadata":{"name":"local"},"spec":{"kubeconfig":{"path":"/nonexistent"}}}`},
		{"/api/v1/artifacts/web", `{"apiVersion":"fledge.dev/v1alpha1","kind":"Artifact","metadata":{"name":"web"},"spec":{"manifests":"apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: web\n  labels:\n    v: \"${TAG}\"\n"}}`},
		{"/api/v1/pipelines/p", pipelineJSON("p", 25, "canary", "prod")},
	} {
		code, body := do(t, a, "PUT", r.path, r.body)
		if code != http.StatusCreated {
			t.Fatalf("PUT %s: %d %s", r.path, code, body)
		}
	}
	return a
}

// token creates a token with roles and returns its secret.
func (a *testAPI) token(t testing.TB, name string, roles ...string) string {
	t.Helper()
	b, _ := json.Marshal(v1alpha1.TokenRequest{Name: name, Roles: roles})
	code, body := doAs(t, a, a.admin, "POST", "/api/v1/tokens", string(b))
	if code != http.StatusCreated {
		t.Fatalf("create token %s: %d %s", name, code, body)
	}
	var ct v1alpha1.CreatedToken
	if err := json.Unmarshal([]byte(body), &ct); err != nil || ct.Secret == "" {
		t.Fatalf("create token %s: %v %s", name, err, body)
	}
	return ct.Secret
}

func pipelineJSON(name string, ramp int, canaryNS, prodNS string) string {
	p := v1alpha1.Pipeline{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindPipeline},
		Metadata: v1alpha1.ObjectMeta{Name: name},
		Spec: v1alpha1.PipelineSpec{
			Parameters: []v1alpha1.Parameter{{Name: "TAG"}},
			Stages: []v1alpha1.Stage{
				{Name: "canary", CanaryDeployment: &v1alpha1.CanaryDeploymentStage{Environment: "local", Artifacts: []string{"web"}, Namespace: canaryNS, IngressName: "web"}},
				{Name: "shift", ShiftTraffic: &v1alpha1.ShiftTrafficStage{RampLimitPercent: ramp}},
				{Name: "approve", Approval: &v1alpha1.ApprovalStage{}},
				{Name: "release", ProductionRelease: &v1alpha1.ProductionReleaseStage{Namespace: prodNS}},
			},
		},
	}
	b, _ := json.Marshal(p)
	return string(b)
}

// do sends a request as the admin.
func do(t testing.TB, a *testAPI, method, path, body string) (int, string) {
	t.Helper()
	return doAs(t, a, a.admin, method, path, body)
}

// doAs sends a request with a bearer token (none if empty).
func doAs(t testing.TB, a *testAPI, token, method, path, body string, headers ...string) (int, string) {
	t.Helper()
	code, _, b := send(t, a, token, method, path, body, headers...)
	return code, b
}

// send sends a request and returns the status, headers and body; headers
// are name, value pairs.
func send(t testing.TB, a *testAPI, token, method, path, body string, headers ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, a.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		// As every client does (apiclient, the console, curl -H in the docs).
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// Bad input gets a 4xx whose JSON body names what is wrong, never a 500,
// and changes nothing.
func TestBadInput(t *testing.T) {
	t.Parallel()
	srv := setup(t)
	cases := []struct {
		name, method, path, body string
		code                     int
		want                     []string
	}{
		{"unknown kind", "GET", "/api/v1/widgets", "", 404, []string{`unknown resource type \"widgets\"`}},
		{"unknown field", "PUT", "/api/v1/environments/e", `{"apiVersion":"fledge.dev/v1alpha1","kind":"Environment","metadata":{"name":"e"},"spec":{"kubeconfg":{}}}`, 400, []string{`unknown field \"kubeconfg\"`}},
		{"malformed JSON", "PUT", "/api/v1/environments/e", `{"apiVersion":`, 400, []string{"invalid body"}},
		{"trailing data", "PUT", "/api/v1/environments/e", `{"apiVersion":"fledge.dev/v1alpha1","kind":"Environment","metadata":{"name":"e"},"spec":{"inCluster":true}} {}`, 400, []string{"unexpected data"}},
		{"wrong type", "PUT", "/api/v1/pipelines/p", strings.Replace(pipelineJSON("p", 25, "c", "d"), `"rampLimitPercent":25`, `"rampLimitPercent":"25"`, 1), 400, []string{"rampLimitPercent"}},
		{"name mismatch", "PUT", "/api/v1/pipelines/other", pipelineJSON("p", 25, "c", "d"), 422, []string{"does not match the name in the URL"}},
		{"ramp 0", "PUT", "/api/v1/pipelines/q", pipelineJSON("q", 0, "c", "d"), 422, []string{"spec.stages[1].shiftTraffic.rampLimitPercent", "between 1 and 100, got 0"}},
		{"ramp 101", "PUT", "/api/v1/pipelines/q", pipelineJSON("q", 101, "c", "d"), 422, []string{"got 101"}},
		{"same namespaces and bad name, at once", "PUT", "/api/v1/pipelines/q", pipelineJSON("q", 25, "Same", "Same"), 422, []string{"spec.stages[0].canaryDeployment.namespace", "must differ from the canary namespace"}},
		{"undeclared placeholder", "PUT", "/api/v1/pipelines/q", strings.Replace(pipelineJSON("q", 25, "c", "d"), `"parameters":[{"name":"TAG"}],`, ``, 1), 422, []string{"uses ${TAG}, which is not a declared parameter"}},
		{"missing reference", "PUT", "/api/v1/pipelines/q", strings.Replace(pipelineJSON("q", 25, "c", "d"), `"environment":"local"`, `"environment":"nowhere"`, 1), 422, []string{`environment \"nowhere\" does not exist`}},
		{"run unknown pipeline", "POST", "/api/v1/pipelines/nope/runs", `{}`, 404, []string{`pipeline \"nope\" not found`}},
		{"run unknown parameter", "POST", "/api/v1/pipelines/p/runs", `{"parameters":{"TAG":"1","IMAGE":"x"}}`, 422, []string{`declares no parameter \"IMAGE\"`}},
		{"run unset parameter", "POST", "/api/v1/pipelines/p/runs", `{}`, 422, []string{`parameter \"TAG\"`, "not set and has no default"}},
		{"run unknown body field", "POST", "/api/v1/pipelines/p/runs", `{"params":{}}`, 400, []string{`unknown field \"params\"`}},
		{"bad id", "GET", "/api/v1/deployments/abc", "", 400, []string{`\"abc\" is not a deployment`, "PIPELINE#NUMBER"}},
		{"missing deployment", "GET", "/api/v1/deployments/99", "", 404, []string{"deployment 99 not found"}},
		{"approve missing", "POST", "/api/v1/deployments/99/approve", `{}`, 404, []string{"not found"}},
		{"reject without reason", "POST", "/api/v1/deployments/99/reject", `{}`, 422, []string{"reason is required"}},
		{"bad limit", "GET", "/api/v1/deployments?limit=x", "", 400, []string{"query limit"}},
		{"bad before", "GET", "/api/v1/deployments?before=0", "", 400, []string{`query before: \"0\" is not a positive integer`}},
		{"bad audit limit", "GET", "/api/v1/audit?limit=-3", "", 400, []string{`query limit: \"-3\" is not a positive integer`}},
		{"bad status", "GET", "/api/v1/deployments?status=Bogus", "", 400, []string{`unknown status \"Bogus\"`}},
		{"rollback without target", "POST", "/api/v1/pipelines/p/rollback", `{}`, 422, []string{"to: the id of the deployment"}},
		{"rollback to missing", "POST", "/api/v1/pipelines/p/rollback", `{"to":42,"dryRun":true}`, 404, []string{"deployment 42 not found"}},
		{"rollback reason too long", "POST", "/api/v1/pipelines/p/rollback", `{"to":42,"reason":"` + strings.Repeat("r", 2001) + `"}`, 422, []string{"reason", "at most 2000 characters, got 2001"}},
		{"diff of a missing deployment", "GET", "/api/v1/deployments/99/diff", "", 404, []string{"deployment 99 not found"}},
		{"overview of a missing pipeline", "GET", "/api/v1/overview?pipeline=nope", "", 404, []string{`pipeline \"nope\" not found`}},
		{"delete used environment", "DELETE", "/api/v1/environments/local", "", 409, []string{"used by pipeline(s) p"}},
		{"unknown route", "GET", "/api/v1/nothing/here/at/all", "", 404, []string{"no API route"}},
		{"huge body", "PUT", "/api/v1/artifacts/big", `{"x":"` + strings.Repeat("a", MaxBodyBytes+10) + `"}`, 413, []string{"request body over"}},
		// Hostile JSON: the server is a client's last line of defence.
		{"duplicate top-level key", "PUT", "/api/v1/pipelines/q", `{"kind":"Pipeline","kind":"Environment"}`, 400, []string{`duplicate key \"kind\" in the top-level object`}},
		{"duplicate nested key", "PUT", "/api/v1/pipelines/q", strings.Replace(pipelineJSON("q", 25, "c", "d"), `"rampLimitPercent":25`, `"rampLimitPercent":25,"rampLimitPercent":100`, 1), 400, []string{`duplicate key \"rampLimitPercent\" in spec.stages[].shiftTraffic`}},
		{"byte order mark", "PUT", "/api/v1/environments/e", "\ufeff" + `{"apiVersion":"fledge.dev/v1alpha1"}`, 400, []string{"malformed JSON"}},
		{"deep nesting", "PUT", "/api/v1/environments/e", `{"metadata":{"labels":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}}`, 400, []string{"exceeded max depth"}},
		{"number overflow", "PUT", "/api/v1/pipelines/q", strings.Replace(pipelineJSON("q", 25, "c", "d"), `"rampLimitPercent":25`, `"rampLimitPercent":1e400`, 1), 400, []string{"rampLimitPercent"}},
		{"null body", "PUT", "/api/v1/environments/e", `null`, 422, []string{"does not match the name in the URL"}},
		{"ramp -5", "PUT", "/api/v1/pipelines/q", pipelineJSON("q", -5, "c", "d"), 422, []string{"between 1 and 100, got -5"}},
		{"missing namespaces", "PUT", "/api/v1/pipelines/q", pipelineJSON("q", 25, "", ""), 422, []string{"spec.stages[0].canaryDeployment.namespace: is required", "spec.stages[3].productionRelease.namespace: is required"}},
		{"missing ingress", "PUT", "/api/v1/pipelines/q", strings.Replace(pipelineJSON("q", 25, "c", "d"), `"ingressName":"web"`, `"ingressName":""`, 1), 422, []string{"ingressName: is required"}},
		{"unknown stage type", "PUT", "/api/v1/pipelines/q", strings.Replace(pipelineJSON("q", 25, "c", "d"), `"approval":{}`, `"bakeTime":{"duration":"10m"}`, 1), 400, []string{`unknown field \"bakeTime\"`}},
		{"homoglyph name", "PUT", "/api/v1/pipelines/w%D0%B5b", pipelineJSON("w\u0435b", 25, "c", "d"), 422, []string{"must consist of lower case letters"}},
		{"RTL override name", "PUT", "/api/v1/pipelines/a%E2%80%AEb", pipelineJSON("a\u202eb", 25, "c", "d"), 422, []string{"must consist of lower case letters"}},
		{"zero-width name", "PUT", "/api/v1/pipelines/a%E2%80%8Bb", pipelineJSON("a\u200bb", 25, "c", "d"), 422, []string{"must consist of lower case letters"}},
		{"NUL in name", "PUT", "/api/v1/environments/a%00b", `{"apiVersion":"fledge.dev/v1alpha1","kind":"Environment","metadata":{"name":"a\u0000b"},"spec":{"inCluster":true}}`, 422, []string{"must consist of lower case letters"}},
		{"sealed-looking inline kubeconfig", "PUT", "/api/v1/environments/e", `{"apiVersion":"fledge.dev/v1alpha1","kind":"Environment","metadata":{"name":"e"},"spec":{"kubeconfig":{"inline":"fledge-sealed:v1:AAAA"}}}`, 422, []string{"not a sealed value"}},
		{"trigger template with a function", "PUT", "/api/v1/pipelines/q", strings.Replace(pipelineJSON("q", 25, "c", "d"), `"stages":`, `"triggers":[{"webhook":{"secretRef":"gh","parameters":{"TAG":"{{ .x | html }}"}}}],"stages":`, 1), 422, []string{"only {{ .dotted.path }} references are allowed"}},
		{"trigger with a missing secret", "PUT", "/api/v1/pipelines/q", strings.Replace(pipelineJSON("q", 25, "c", "d"), `"stages":`, `"triggers":[{"webhook":{"secretRef":"gh"}}],"stages":`, 1), 422, []string{`webhook secret \"gh\" does not exist`}},
		{"run with a bidi override", "POST", "/api/v1/pipelines/p/runs", `{"parameters":{"TAG":"1.0\u202e"}}`, 422, []string{"invisible formatting character U+202E"}},
		{"run with an escape sequence", "POST", "/api/v1/pipelines/p/runs", `{"parameters":{"TAG":"\u001b[2J"}}`, 422, []string{"control character U+001B"}},
		{"run with a carriage return", "POST", "/api/v1/pipelines/p/runs", `{"parameters":{"TAG":"1.0\r2.0"}}`, 422, []string{"control character U+000D"}},
		{"reject with a control character in the reason", "POST", "/api/v1/deployments/1/reject", `{"reason":"ok\rfine"}`, 422, []string{"reason", "control character U+000D"}},
		{"run with a placeholder name", "POST", "/api/v1/pipelines/p/runs", `{"parameters":{"TAG}":"1"}}`, 422, []string{`declares no parameter \"TAG}\"`}},
		{"run with a duplicate parameter", "POST", "/api/v1/pipelines/p/runs", `{"parameters":{"TAG":"1","TAG":"2"}}`, 400, []string{`duplicate key \"TAG\" in parameters`}},
		{"secret with a bad name", "PUT", "/api/v1/secrets/Bad_Name", `{"value":"0123456789abcdef0123"}`, 422, []string{"must consist of lower case letters"}},
		{"registry secret without a password", "PUT", "/api/v1/secrets/reg", `{"type":"registry","registry":{"server":"ghcr.io","username":"robot","password":""}}`, 422, []string{"registry.password: is required"}},
		{"registry secret with a value", "PUT", "/api/v1/secrets/reg", `{"type":"registry","value":"0123456789abcdef0123","registry":{"server":"ghcr.io","username":"robot","password":"p"}}`, 422, []string{"value: is only for secrets of type webhook"}},
		{"secret of an unknown type", "PUT", "/api/v1/secrets/reg", `{"type":"ssh","value":"0123456789abcdef0123"}`, 422, []string{`type: must be \"webhook\" or \"registry\", got \"ssh\"`}},
		{"environment naming a missing registry secret", "PUT", "/api/v1/environments/e", `{"apiVersion":"fledge.dev/v1alpha1","kind":"Environment","metadata":{"name":"e"},"spec":{"inCluster":true,"registryCredentials":[{"secretRef":"reg"}]}}`, 422, []string{`secret \"reg\" does not exist`}},
		{"token with an unknown field", "POST", "/api/v1/tokens", `{"name":"x","roles":["viewer"],"admin":true}`, 400, []string{`unknown field \"admin\"`}},
		{"webhook for a missing pipeline", "POST", "/api/v1/webhooks/github/nope", `{}`, 404, []string{`pipeline \"nope\" not found`}},
	}
	for _, tc := range cases {
		code, body := do(t, srv, tc.method, tc.path, tc.body)
		if code != tc.code {
			t.Errorf("%s: %s %s: status %d, want %d: %s", tc.name, tc.method, tc.path, code, tc.code, body)
			continue
		}
		var st v1alpha1.Status
		if err := json.Unmarshal([]byte(body), &st); err != nil || st.Code != code || st.Message == "" {
			t.Errorf("%s: body is not a Status: %s", tc.name, body)
		}
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: body lacks %q: %s", tc.name, w, body)
			}
		}
	}
	// Nothing of the refused requests was stored.
	code, body := do(t, srv, "GET", "/api/v1/pipelines", "")
	if code != 200 || strings.Contains(body, `"q"`) || strings.Contains(body, `"other"`) {
		t.Fatalf("refused pipelines were stored: %s", body)
	}
	if code, body := do(t, srv, "GET", "/api/v1/deployments", ""); code != 200 || !strings.Contains(body, `"total":0`) {
		t.Fatalf("refused runs were stored: %s", body)
	}
}

// Apply reports created, unchanged and configured like kubectl.
func TestApplyActions(t *testing.T) {
	t.Parallel()
	srv := setup(t)
	for _, tc := range []struct {
		body string
		code int
		want v1alpha1.ApplyAction
		gen  int64
	}{
		{pipelineJSON("p", 25, "canary", "prod"), 200, v1alpha1.ActionUnchanged, 1},
		{pipelineJSON("p", 50, "canary", "prod"), 200, v1alpha1.ActionConfigured, 2},
		{pipelineJSON("p2", 50, "canary", "prod"), 201, v1alpha1.ActionCreated, 1},
	} {
		var name struct {
			Metadata v1alpha1.ObjectMeta `json:"metadata"`
		}
		_ = json.Unmarshal([]byte(tc.body), &name)
		code, body := do(t, srv, "PUT", "/api/v1/pipelines/"+name.Metadata.Name, tc.body)
		var res v1alpha1.ApplyResponse
		_ = json.Unmarshal([]byte(body), &res)
		if code != tc.code || res.Action != tc.want || res.Generation != tc.gen {
			t.Errorf("apply %s: %d %+v, want %d %s generation %d", name.Metadata.Name, code, res, tc.code, tc.want, tc.gen)
		}
	}
}

// An environment's inline kubeconfig is never returned.
func TestInlineKubeconfigRedacted(t *testing.T) {
	t.Parallel()
	srv := setup(t)
	secret := "apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    token: s3cr3t-token\n"
	b, _ := json.Marshal(v1alpha1.Environment{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindEnvironment},
		Metadata: v1alpha1.ObjectMeta{Name: "inline"},
		Spec:     v1alpha1.EnvironmentSpec{Kubeconfig: &v1alpha1.KubeconfigSource{Inline: secret}},
	})
	if code, body := do(t, srv, "PUT", "/api/v1/environments/inline", string(b)); code != 201 {
		t.Fatalf("apply: %d %s", code, body)
	}
	for _, path := range []string{"/api/v1/environments/inline", "/api/v1/environments"} {
		if _, body := do(t, srv, "GET", path, ""); strings.Contains(body, "s3cr3t-token") {
			t.Fatalf("GET %s returned the kubeconfig: %s", path, body)
		}
	}
}

// A run whose manifests cannot be prepared for the canary (a Deployment
// with a malformed rollout strategy) is refused before it exists.
func TestRunRefusesMalformedStrategy(t *testing.T) {
	t.Parallel()
	a := setup(t)
	manifests := "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  strategy:\n    type: 5\n" +
		"---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: web\n  labels:\n    v: \"${TAG}\"\n"
	art, _ := json.Marshal(map[string]any{
		"apiVersion": v1alpha1.APIVersion, "kind": "Artifact", "metadata": map[string]string{"name": "web"},
		"spec": map[string]string{"manifests": manifests},
	})
	if code, body := do(t, a, "PUT", "/api/v1/artifacts/web", string(art)); code != http.StatusOK && code != http.StatusCreated {
		t.Fatalf("PUT artifact: %d %s", code, body)
	}
	code, body := do(t, a, "POST", "/api/v1/pipelines/p/runs", `{"parameters":{"TAG":"1"}}`)
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "deployment web: spec.strategy.type") {
		t.Fatalf("run with a malformed strategy: %d %s, want 422 naming deployment web's spec.strategy.type", code, body)
	}
	code, body = do(t, a, "GET", "/api/v1/deployments?pipeline=p", "")
	var list v1alpha1.DeploymentList
	if err := json.Unmarshal([]byte(body), &list); code != http.StatusOK || err != nil || list.Total != 0 {
		t.Fatalf("a refused run must leave no deployment: %d %v %s", code, err, body)
	}
}

// Every deployment route takes PIPELINE#NUMBER as well as the id.
func TestDeploymentByPipelineAndNumber(t *testing.T) {
	a := setup(t)
	var ids []int64
	for range 2 {
		code, body := do(t, a, "POST", "/api/v1/pipelines/p/runs", `{"parameters":{"TAG":"1"}}`)
		if code != http.StatusCreated {
			t.Fatalf("run: %d %s", code, body)
		}
		var d v1alpha1.Deployment
		if err := json.Unmarshal([]byte(body), &d); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.ID)
	}
	for _, tc := range []struct {
		path   string
		code   int
		wantID int64
	}{
		{"/api/v1/deployments/p%232", http.StatusOK, ids[1]},
		{"/api/v1/deployments/p%231", http.StatusOK, ids[0]},
		{"/api/v1/deployments/p%233", http.StatusNotFound, 0},
		{"/api/v1/deployments/nope%231", http.StatusNotFound, 0},
		{"/api/v1/deployments/p%23x", http.StatusBadRequest, 0},
	} {
		code, body := do(t, a, "GET", tc.path, "")
		if code != tc.code {
			t.Errorf("GET %s: %d %s, want %d", tc.path, code, body, tc.code)
			continue
		}
		if tc.wantID == 0 {
			if !strings.Contains(body, "p#") && !strings.Contains(body, "PIPELINE#NUMBER") && !strings.Contains(body, "nope#1") {
				t.Errorf("GET %s: error %s names neither the reference nor its form", tc.path, body)
			}
			continue
		}
		var d v1alpha1.Deployment
		if err := json.Unmarshal([]byte(body), &d); err != nil || d.ID != tc.wantID {
			t.Errorf("GET %s = id %d (%v), want %d", tc.path, d.ID, err, tc.wantID)
		}
	}
	code, body := do(t, a, "POST", "/api/v1/deployments/p%232/cancel", "")
	if code != http.StatusOK || !strings.Contains(body, `"cancelRequested":true`) && !strings.Contains(body, `"Cancelled"`) {
		t.Errorf("cancel p#2: %d %s", code, body)
	}
}

// A manifest naming a namespace other than the stages' is refused when
// the run is created, naming the object and the namespace; no deployment
// is created.
func TestRunRefusesForeignNamespace(t *testing.T) {
	a := setup(t)
	art := `{"apiVersion":"fledge.dev/v1alpha1","kind":"Artifact","metadata":{"name":"web"},"spec":{"manifests":"apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: web\n  labels:\n    v: \"${TAG}\"\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: kube-system\n"}}`
	if code, body := do(t, a, "PUT", "/api/v1/artifacts/web", art); code != http.StatusOK {
		t.Fatalf("PUT artifact: %d %s", code, body)
	}
	code, body := do(t, a, "POST", "/api/v1/pipelines/p/runs", `{"parameters":{"TAG":"1"}}`)
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("run: %d %s, want 422", code, body)
	}
	for _, want := range []string{"ConfigMap/settings", `names namespace \"kube-system\"`, `\"canary\" and \"prod\"`} {
		if !strings.Contains(body, want) {
			t.Errorf("error %s lacks %s", body, want)
		}
	}
	if code, body := do(t, a, "GET", "/api/v1/deployments", ""); code != http.StatusOK || !strings.Contains(body, `"total":0`) {
		t.Errorf("deployments after the refused run: %d %s", code, body)
	}
}

// The overview names, per pipeline, what runs in production (nothing yet
// here) and the unfinished deployments, newest first.
func TestOverview(t *testing.T) {
	t.Parallel()
	srv := setup(t)
	for _, tag := range []string{"1", "2"} {
		if code, body := do(t, srv, "POST", "/api/v1/pipelines/p/runs", `{"parameters":{"TAG":"`+tag+`"}}`); code != 201 {
			t.Fatalf("run: %d %s", code, body)
		}
	}
	for _, path := range []string{"/api/v1/overview", "/api/v1/overview?pipeline=p"} {
		code, body := do(t, srv, "GET", path, "")
		if code != 200 {
			t.Fatalf("GET %s: %d %s", path, code, body)
		}
		var o v1alpha1.Overview
		if err := json.Unmarshal([]byte(body), &o); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		if len(o.Items) != 1 || o.Items[0].Pipeline != "p" {
			t.Fatalf("GET %s: items %+v, want pipeline p only", path, o.Items)
		}
		po := o.Items[0]
		if po.Live != nil || po.ActiveTotal != 2 || len(po.Active) != 2 || po.Active[0].Number != 2 || po.Active[1].Number != 1 {
			t.Fatalf("GET %s: live %v, %d active (total %d), want none live and #2, #1 active", path, po.Live, len(po.Active), po.ActiveTotal)
		}
	}
}

// A page of pipelines: the overview of those named, in that order; a
// name that is not a pipeline is a 404.
func TestOverviewOfSome(t *testing.T) {
	t.Parallel()
	srv := setup(t)
	for _, name := range []string{"q", "r"} {
		if code, body := do(t, srv, "PUT", "/api/v1/pipelines/"+name, pipelineJSON(name, 25, name+"-canary", name+"-prod")); code != 200 && code != 201 {
			t.Fatalf("put pipeline %s: %d %s", name, code, body)
		}
	}
	code, body := do(t, srv, "GET", "/api/v1/overview?pipelines=r,p", "")
	if code != 200 {
		t.Fatalf("GET: %d %s", code, body)
	}
	var o v1alpha1.Overview
	if err := json.Unmarshal([]byte(body), &o); err != nil {
		t.Fatal(err)
	}
	if len(o.Items) != 2 || o.Items[0].Pipeline != "r" || o.Items[1].Pipeline != "p" {
		t.Fatalf("items %+v, want r then p", o.Items)
	}
	if code, body := do(t, srv, "GET", "/api/v1/overview?pipelines=p,nope", ""); code != 404 {
		t.Fatalf("a name that is not a pipeline: %d %s, want 404", code, body)
	}
}
