package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/clusters"
	"fledge.dev/fledge/internal/webhook"
)

// TestRouteRoles calls every route of the API with a token of every role
// and checks who gets through: the table below is the access policy, and
// a route missing from it fails the test.
func TestRouteRoles(t *testing.T) {
	t.Parallel()
	a := setup(t)
	// Deployment 1 belongs to pipeline p; it stays Queued (no executor).
	if code, body := do(t, a, "POST", "/api/v1/pipelines/p/runs", `{"parameters":{"TAG":"1"}}`); code != 201 {
		t.Fatalf("run: %d %s", code, body)
	}
	tokens := map[string]string{"none": ""}
	for _, roles := range []string{"viewer", "deployer", "deployer:p", "deployer:other", "approver", "approver:p", "approver:other", "admin"} {
		name := "t-" + strings.ReplaceAll(roles, ":", "-")
		tokens[roles] = a.token(t, name, roles)
	}
	// who: the least a caller needs. public: anyone, even without a token;
	// viewer: any token; deployer/approver: that role globally or on
	// pipeline p; admin: admin only.
	type row struct {
		path, body string
		who        string
	}
	table := map[string]row{
		"GET /healthz":                              {"/healthz", "", "public"},
		"GET /readyz":                               {"/readyz", "", "public"},
		"GET /api/v1/openapi.yaml":                  {"/api/v1/openapi.yaml", "", "viewer"},
		"GET /api/v1/whoami":                        {"/api/v1/whoami", "", "viewer"},
		"GET /api/v1/version":                       {"/api/v1/version", "", "viewer"},
		"GET /api/v1/{plural}":                      {"/api/v1/pipelines", "", "viewer"},
		"GET /api/v1/{plural}/{name}":               {"/api/v1/pipelines/p", "", "viewer"},
		"PUT /api/v1/{plural}/{name}":               {"/api/v1/pipelines/p", `{}`, "admin"},
		"DELETE /api/v1/{plural}/{name}":            {"/api/v1/artifacts/nothing", "", "admin"},
		"POST /api/v1/pipelines/{name}/runs":        {"/api/v1/pipelines/p/runs", `{}`, "deployer"},
		"POST /api/v1/pipelines/{name}/rollback":    {"/api/v1/pipelines/p/rollback", `{}`, "deployer"},
		"GET /api/v1/deployments":                   {"/api/v1/deployments", "", "viewer"},
		"GET /api/v1/deployments/{id}":              {"/api/v1/deployments/1", "", "viewer"},
		"GET /api/v1/deployments/{id}/events":       {"/api/v1/deployments/1/events", "", "viewer"},
		"GET /api/v1/deployments/{id}/manifests":    {"/api/v1/deployments/1/manifests", "", "viewer"},
		"GET /api/v1/deployments/{id}/measurements": {"/api/v1/deployments/1/measurements", "", "viewer"},
		"GET /api/v1/deployments/{id}/diff":         {"/api/v1/deployments/999/diff", "", "viewer"},
		"GET /api/v1/overview":                      {"/api/v1/overview", "", "viewer"},
		"POST /api/v1/deployments/{id}/approve":     {"/api/v1/deployments/1/approve", `{}`, "approver"},
		"POST /api/v1/deployments/{id}/reject":      {"/api/v1/deployments/1/reject", `{}`, "approver"},
		"POST /api/v1/deployments/{id}/cancel":      {"/api/v1/deployments/1/cancel", "", "deployer"},
		"POST /api/v1/deployments/{id}/resume":      {"/api/v1/deployments/1/resume", `{}`, "approver"},
		"POST /api/v1/deployments/{id}/promote":     {"/api/v1/deployments/1/promote", `{}`, "approver"},
		"POST /api/v1/deployments/{id}/retry":       {"/api/v1/deployments/1/retry", "", "deployer"},
		"GET /api/v1/tokens":                        {"/api/v1/tokens", "", "admin"},
		"POST /api/v1/tokens":                       {"/api/v1/tokens", `{}`, "admin"},
		"DELETE /api/v1/tokens/{name}":              {"/api/v1/tokens/nobody", "", "admin"},
		"GET /api/v1/secrets":                       {"/api/v1/secrets", "", "admin"},
		"PUT /api/v1/secrets/{name}":                {"/api/v1/secrets/s", `{}`, "admin"},
		"DELETE /api/v1/secrets/{name}":             {"/api/v1/secrets/nothing", "", "admin"},
		"GET /api/v1/audit":                         {"/api/v1/audit", "", "admin"},
		"POST /api/v1/audit/prune":                  {"/api/v1/audit/prune", `{}`, "admin"},
		"POST /api/v1/webhooks/github/{pipeline}":   {"/api/v1/webhooks/github/p", `{}`, "public"},
		"POST /api/v1/webhooks/generic/{pipeline}":  {"/api/v1/webhooks/generic/p", `{}`, "public"},
	}
	allowed := func(who, roles string) bool {
		switch who {
		case "public":
			return true
		case "viewer":
			return roles != "none"
		case "deployer", "approver":
			return roles == "admin" || roles == who || roles == who+":p"
		}
		return roles == "admin"
	}
	h := New(nil, nil)
	for _, route := range h.Routes() {
		r, ok := table[route]
		if !ok {
			t.Errorf("route %s has no row in the role table: add one", route)
			continue
		}
		method, _, _ := strings.Cut(route, " ")
		for _, roles := range slices.Sorted(func(yield func(string) bool) {
			for k := range tokens {
				if !yield(k) {
					return
				}
			}
		}) {
			code, body := doAs(t, a, tokens[roles], method, r.path, r.body)
			denied := code == http.StatusUnauthorized || code == http.StatusForbidden
			switch {
			case allowed(r.who, roles) && denied && r.who != "public":
				t.Errorf("%s as %s: %d, want it allowed: %s", route, roles, code, body)
			case allowed(r.who, roles) && code == http.StatusForbidden:
				t.Errorf("%s as %s: 403 on a public route: %s", route, roles, body)
			case !allowed(r.who, roles) && roles == "none" && code != http.StatusUnauthorized:
				t.Errorf("%s without a token: %d, want 401: %s", route, code, body)
			case !allowed(r.who, roles) && roles != "none":
				if code != http.StatusForbidden {
					t.Errorf("%s as %s: %d, want 403: %s", route, roles, code, body)
					continue
				}
				if !strings.Contains(body, "lacks role "+r.who) {
					t.Errorf("%s as %s: the 403 does not name role %s: %s", route, roles, r.who, body)
				}
				if (r.who == "deployer" || r.who == "approver") && !strings.Contains(body, r.who+":p") {
					t.Errorf("%s as %s: the 403 does not name the scoped role %s:p: %s", route, roles, r.who, body)
				}
			}
		}
	}
	// Every refusal is in the audit log.
	code, body := do(t, a, "GET", "/api/v1/audit?action=auth.forbidden&limit=1000", "")
	var list v1alpha1.AuditList
	if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil || len(list.Items) == 0 {
		t.Fatalf("audit of 403s: %d %v %s", code, err, body)
	}
	e := list.Items[0]
	if e.Outcome != "denied" || e.Actor == "" || e.RemoteAddr != "127.0.0.1" || !strings.Contains(e.Detail, "lacks role") {
		t.Fatalf("403 audit entry: %+v", e)
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	a := setup(t)
	viewer := a.token(t, "vera", "viewer")
	for _, tc := range []struct {
		name    string
		headers []string
		path    string
		code    int
		want    string
	}{
		{"no token", nil, "/api/v1/pipelines", 401, "authentication required"},
		{"unknown token", []string{"Authorization", "Bearer fledge_notatokenatallnotatokenatallnotatoken"}, "/api/v1/pipelines", 401, "invalid or expired token"},
		{"basic auth", []string{"Authorization", "Basic YWRtaW46YWRtaW4="}, "/api/v1/pipelines", 401, "want Bearer TOKEN"},
		{"empty bearer", []string{"Authorization", "Bearer "}, "/api/v1/pipelines", 401, "want Bearer TOKEN"},
		{"identity header is not trusted", []string{v1alpha1.UserHeader, "admin"}, "/api/v1/pipelines", 401, "authentication required"},
		{"token in query off the watch route", nil, "/api/v1/pipelines?access_token=" + viewer, 401, "only on the events watch stream"},
		{"token in query of a plain events list", nil, "/api/v1/deployments/1/events?access_token=" + viewer, 401, "only on the events watch stream"},
		{"unknown route still needs a token", nil, "/api/v1/nothing", 401, "authentication required"},
	} {
		code, body := doAs(t, a, "", "GET", tc.path, "", tc.headers...)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, code, body, tc.code, tc.want)
		}
	}
	// The query token works on the watch stream (a browser's EventSource).
	if code, body := do(t, a, "POST", "/api/v1/pipelines/p/runs", `{"parameters":{"TAG":"1"}}`); code != 201 {
		t.Fatalf("run: %d %s", code, body)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	req, _ := http.NewRequestWithContext(ctx, "GET", a.URL+"/api/v1/deployments/1/events?watch=true&access_token="+viewer, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("watch with access_token: %s %v", resp.Status, resp.Header)
	}
	cancel()
	resp.Body.Close()
	// The identity is the token's name, whatever header is sent.
	_, body := doAs(t, a, viewer, "GET", "/api/v1/whoami", "", v1alpha1.UserHeader, "admin")
	var who v1alpha1.WhoAmI
	if err := json.Unmarshal([]byte(body), &who); err != nil || who.Name != "vera" || !slices.Equal(who.Roles, []string{"viewer"}) || who.AuthDisabled {
		t.Fatalf("whoami: %+v %v", who, err)
	}
	// The last admin token cannot be revoked.
	if code, body := do(t, a, "DELETE", "/api/v1/tokens/admin", ""); code != 409 || !strings.Contains(body, "last admin token") {
		t.Fatalf("revoking the last admin: %d %s", code, body)
	}
	// A revoked token stops working at once; its refusal is audited.
	if code, body := do(t, a, "DELETE", "/api/v1/tokens/vera", ""); code != 200 {
		t.Fatalf("revoke: %d %s", code, body)
	}
	if code, _ := doAs(t, a, viewer, "GET", "/api/v1/pipelines", ""); code != 401 {
		t.Fatalf("revoked token: %d, want 401", code)
	}
	_, body = do(t, a, "GET", "/api/v1/audit?action=auth.unauthenticated", "")
	if !strings.Contains(body, "unknown token") || !strings.Contains(body, `"outcome":"denied"`) {
		t.Fatalf("audit of 401s: %s", body)
	}
	// An expired token is refused.
	b, _ := json.Marshal(v1alpha1.TokenRequest{Name: "brief", Roles: []string{"viewer"}, ExpiresIn: &v1alpha1.Duration{Duration: time.Millisecond}})
	code, body := do(t, a, "POST", "/api/v1/tokens", string(b))
	var ct v1alpha1.CreatedToken
	if err := json.Unmarshal([]byte(body), &ct); code != 201 || err != nil || ct.ExpiresAt == nil {
		t.Fatalf("create expiring token: %d %s", code, body)
	}
	time.Sleep(5 * time.Millisecond)
	if code, _ := doAs(t, a, ct.Secret, "GET", "/api/v1/pipelines", ""); code != 401 {
		t.Fatalf("expired token: %d, want 401", code)
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	a := setup(t)
	for _, tc := range []struct {
		body string
		code int
		want string
	}{
		{`{"name":"ci","roles":["deployer"]}`, 201, `"token":"fledge_`},
		{`{"name":"ci","roles":["deployer"]}`, 409, "revoke it first"},
		{`{"name":"bad name","roles":["viewer"]}`, 422, "must be 1 to 63 ASCII letters"},
		{`{"name":"аdmin","roles":["viewer"]}`, 422, "must be 1 to 63 ASCII letters"},
		{`{"name":"x","roles":["root"]}`, 422, `unknown role \"root\"`},
		{`{"name":"x","roles":["admin:p"]}`, 422, "cannot be scoped"},
		{`{"name":"x","roles":["approver:Not_A_Pipeline"]}`, 422, "is not a pipeline name"},
		{`{"name":"x","roles":[]}`, 422, "at least one role"},
		{`{"name":"x","roles":["viewer"],"expiresIn":"-1h"}`, 422, "expiresIn"},
		{`{"name":"x","roles":["viewer"],"secret":"mine"}`, 400, `unknown field \"secret\"`},
	} {
		code, body := do(t, a, "POST", "/api/v1/tokens", tc.body)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("POST /api/v1/tokens %s: %d %s, want %d with %q", tc.body, code, body, tc.code, tc.want)
		}
	}
	_, body := do(t, a, "GET", "/api/v1/tokens", "")
	var list v1alpha1.TokenList
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list.Items) != 2 || list.Items[0].Name != "admin" || list.Items[1].Name != "ci" || list.Items[1].CreatedBy != "admin" {
		t.Fatalf("token list: %s", body)
	}
	if strings.Contains(body, "fledge_") || strings.Contains(body, `"token"`) {
		t.Fatalf("the token list shows secrets: %s", body)
	}
	// Only hashes are stored.
	raw, err := os.ReadFile(filepath.Join(a.dbDir, "f.db"))
	if err != nil {
		t.Fatal(err)
	}
	wal, _ := os.ReadFile(filepath.Join(a.dbDir, "f.db-wal"))
	if strings.Contains(string(raw)+string(wal), a.admin) {
		t.Fatal("the store holds a token in clear text")
	}
}

// Four eyes: with requireDistinctFromTrigger, whoever started a run cannot
// approve it, and approvalsRequired counts distinct people.
func TestFourEyes(t *testing.T) {
	t.Parallel()
	a := setup(t)
	pj := strings.Replace(pipelineJSON("four", 25, "c4", "p4"), `"approval":{}`, `"approval":{"approvalsRequired":2,"requireDistinctFromTrigger":true}`, 1)
	if code, body := do(t, a, "PUT", "/api/v1/pipelines/four", pj); code != 201 {
		t.Fatalf("apply: %d %s", code, body)
	}
	_, body := do(t, a, "GET", "/api/v1/pipelines/four", "")
	if !strings.Contains(body, `"requireDistinctFromTrigger":true`) {
		t.Fatalf("the option was not stored: %s", body)
	}
	ci := a.token(t, "ci", "deployer", "approver")
	alice := a.token(t, "alice", "approver")
	code, body := doAs(t, a, ci, "POST", "/api/v1/pipelines/four/runs", `{"parameters":{"TAG":"1"}}`)
	var d v1alpha1.Deployment
	if err := json.Unmarshal([]byte(body), &d); code != 201 || err != nil || d.TriggeredBy != "ci" {
		t.Fatalf("run: %d %s", code, body)
	}
	waitForApproval(t, a, d.ID)
	path := fmt.Sprintf("/api/v1/deployments/%d/approve", d.ID)
	code, body = doAs(t, a, ci, "POST", path, `{}`)
	if code != 403 || !strings.Contains(body, "ci triggered deployment") || !strings.Contains(body, "four eyes") {
		t.Fatalf("the trigger approving: %d %s", code, body)
	}
	if code, body := doAs(t, a, alice, "POST", path, `{}`); code != 200 {
		t.Fatalf("alice approving: %d %s", code, body)
	}
	if code, body := doAs(t, a, alice, "POST", path, `{}`); code != 409 || !strings.Contains(body, "already decided") {
		t.Fatalf("alice approving twice: %d %s", code, body)
	}
	_, body = do(t, a, "GET", fmt.Sprintf("/api/v1/deployments/%d", d.ID), "")
	if err := json.Unmarshal([]byte(body), &d); err != nil || len(d.Decisions) != 1 || d.Decisions[0].User != "alice" {
		t.Fatalf("decisions: %s", body)
	}
	// The trigger may still reject (stopping one's own release is fine).
	if code, body := doAs(t, a, ci, "POST", fmt.Sprintf("/api/v1/deployments/%d/reject", d.ID), `{"reason":"changed my mind"}`); code != 200 {
		t.Fatalf("the trigger rejecting: %d %s", code, body)
	}
	// Without the option the trigger may approve, as before.
	b := setup(t)
	ci = b.token(t, "ci", "deployer", "approver")
	code, body = doAs(t, b, ci, "POST", "/api/v1/pipelines/p/runs", `{"parameters":{"TAG":"1"}}`)
	if err := json.Unmarshal([]byte(body), &d); code != 201 || err != nil {
		t.Fatalf("run p: %d %s", code, body)
	}
	waitForApproval(t, b, d.ID)
	if code, body := doAs(t, b, ci, "POST", fmt.Sprintf("/api/v1/deployments/%d/approve", d.ID), `{}`); code != 200 {
		t.Fatalf("approving without the option: %d %s", code, body)
	}
}

// waitForApproval puts a queued deployment at its approval stage by
// writing its state as the executor would (no cluster here).
func waitForApproval(t *testing.T, a *testAPI, id int64) {
	t.Helper()
	forceWaiting(t, a.st, id)
}

func TestWebhooks(t *testing.T) {
	t.Parallel()
	a := setup(t)
	secret := "s3cret-webhook-value-0123456789"
	if code, body := do(t, a, "PUT", "/api/v1/secrets/gh", `{"value":"`+secret+`"}`); code != 201 {
		t.Fatalf("set secret: %d %s", code, body)
	}
	if code, body := do(t, a, "PUT", "/api/v1/secrets/short", `{"value":"tiny"}`); code != 422 || !strings.Contains(body, "at least 16 bytes") {
		t.Fatalf("short secret: %d %s", code, body)
	}
	_, body := do(t, a, "GET", "/api/v1/secrets", "")
	if strings.Contains(body, secret) || !strings.Contains(body, `"name":"gh"`) {
		t.Fatalf("secret list: %s", body)
	}
	var p v1alpha1.Pipeline
	if err := json.Unmarshal([]byte(pipelineJSON("hooked", 25, "hc", "hp")), &p); err != nil {
		t.Fatal(err)
	}
	p.Spec.Triggers = []v1alpha1.Trigger{
		{GitHub: &v1alpha1.GitHubTrigger{
			Events: []string{"registry_package"},
			WebhookTrigger: v1alpha1.WebhookTrigger{
				SecretRef:  "gh",
				Match:      map[string]string{"action": "published"},
				Parameters: map[string]string{"TAG": "{{ .registry_package.package_version.container_metadata.tag.name }}"},
			},
		}},
		{Webhook: &v1alpha1.WebhookTrigger{SecretRef: "gh", Parameters: map[string]string{"TAG": "v{{ .version }}"}}},
	}
	pj, _ := json.Marshal(p)
	if code, body := do(t, a, "PUT", "/api/v1/pipelines/hooked", string(pj)); code != 201 {
		t.Fatalf("apply: %d %s", code, body)
	}
	if code, body := do(t, a, "DELETE", "/api/v1/secrets/gh", ""); code != 409 || !strings.Contains(body, "hooked") {
		t.Fatalf("deleting a used secret: %d %s", code, body)
	}

	payload := `{"action":"published","registry_package":{"package_version":{"container_metadata":{"tag":{"name":"2.1"}}}},"sender":{"login":"octocat"}}`
	gh := func(event, id, body, sig string) (int, string) {
		return doAs(t, a, "", "POST", "/api/v1/webhooks/github/hooked", body,
			webhook.GitHubEventHeader, event, webhook.GitHubDeliveryHeader, id, webhook.GitHubSignatureHeader, sig)
	}
	sign := func(body string) string { return webhook.SignGitHub([]byte(secret), []byte(body)) }

	code, body := gh("registry_package", "d-1", payload, sign(payload))
	var res v1alpha1.WebhookResult
	if err := json.Unmarshal([]byte(body), &res); code != 201 || err != nil || !res.Triggered || res.Deployment.Parameters["TAG"] != "2.1" || res.Deployment.TriggeredBy != "github:octocat" {
		t.Fatalf("GitHub delivery: %d %s", code, body)
	}
	for _, tc := range []struct {
		name, event, id, body, sig string
		code                       int
		want                       string
	}{
		{"replay", "registry_package", "d-1", payload, sign(payload), 409, "replay refused"},
		{"replay with a new delivery id", "registry_package", "d-1b", payload, sign(payload), 409, "replay refused"},
		{"replay with upper-case hex", "registry_package", "d-1c", payload, "sha256=" + strings.ToUpper(strings.TrimPrefix(sign(payload), "sha256=")), 409, "replay refused"},
		{"no signature", "registry_package", "d-2", payload, "", 401, "no signature header"},
		{"wrong secret", "registry_package", "d-2", payload, webhook.SignGitHub([]byte("another-secret-0123456789"), []byte(payload)), 401, "signature mismatch"},
		{"tampered body", "registry_package", "d-2", strings.Replace(payload, "2.1", "6.6", 1), sign(payload), 401, "signature mismatch"},
		{"sha1 signature", "registry_package", "d-2", payload, "sha1=" + strings.Repeat("0", 40), 401, "want sha256="},
		{"ping", "ping", "d-3", `{"zen":"x"}`, sign(`{"zen":"x"}`), 200, "pong"},
		{"other event", "push", "d-4", payload, sign(payload), 200, "not one of this pipeline's trigger events"},
		{"match differs", "registry_package", "d-5", strings.Replace(payload, "published", "updated", 1), sign(strings.Replace(payload, "published", "updated", 1)), 200, `action is \"updated\", not \"published\"`},
		{"missing path", "registry_package", "d-6", `{"action":"published"}`, sign(`{"action":"published"}`), 422, `no field \"registry_package\"`},
		{"object where a scalar is needed", "registry_package", "d-7", `{"action":"published","registry_package":{"package_version":{"container_metadata":{"tag":{"name":{"x":1}}}}}}`, sign(`{"action":"published","registry_package":{"package_version":{"container_metadata":{"tag":{"name":{"x":1}}}}}}`), 422, "is an object, not a scalar"},
		{"injection in the mapped value", "registry_package", "d-8", strings.Replace(payload, `"2.1"`, `"2.1\u202e\nkind: Secret"`, 1), sign(strings.Replace(payload, `"2.1"`, `"2.1\u202e\nkind: Secret"`, 1)), 422, "invisible formatting character"},
		{"not JSON", "registry_package", "d-9", `action=published`, sign(`action=published`), 400, "payload is not JSON"},
		{"no delivery id", "registry_package", "", payload, sign(payload), 400, "X-GitHub-Delivery"},
	} {
		code, body := gh(tc.event, tc.id, tc.body, tc.sig)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, code, body, tc.code, tc.want)
		}
	}

	// The generic webhook: timestamp and body signed together.
	gen := func(ts, body, sig string) (int, string) {
		return doAs(t, a, "", "POST", "/api/v1/webhooks/generic/hooked", body, webhook.TimestampHeader, ts, webhook.SignatureHeader, sig)
	}
	now := strconv.FormatInt(time.Now().Unix(), 10)
	genBody := `{"version":"3.0"}`
	code, body = gen(now, genBody, webhook.Sign([]byte(secret), now, []byte(genBody)))
	if err := json.Unmarshal([]byte(body), &res); code != 201 || err != nil || res.Deployment.Parameters["TAG"] != "v3.0" || res.Deployment.TriggeredBy != "webhook:gh" {
		t.Fatalf("generic delivery: %d %s", code, body)
	}
	old := strconv.FormatInt(time.Now().Add(-10*time.Minute).Unix(), 10)
	future := strconv.FormatInt(time.Now().Add(10*time.Minute).Unix(), 10)
	for _, tc := range []struct {
		name, ts, body, sig string
		code                int
		want                string
	}{
		{"replay", now, genBody, webhook.Sign([]byte(secret), now, []byte(genBody)), 409, "replay refused"},
		{"replay with upper-case hex", now, genBody, "sha256=" + strings.ToUpper(strings.TrimPrefix(webhook.Sign([]byte(secret), now, []byte(genBody)), "sha256=")), 409, "replay refused"},
		{"replay with spaces", now, genBody, " " + webhook.Sign([]byte(secret), now, []byte(genBody)) + " ", 409, "replay refused"},
		{"stale", old, genBody, webhook.Sign([]byte(secret), old, []byte(genBody)), 401, "outside the 5m0s window"},
		{"future", future, genBody, webhook.Sign([]byte(secret), future, []byte(genBody)), 401, "outside the 5m0s window"},
		{"timestamp changed", old, genBody, webhook.Sign([]byte(secret), now, []byte(genBody)), 401, "signature mismatch"},
		{"no timestamp", "", genBody, webhook.Sign([]byte(secret), "", []byte(genBody)), 401, "must be Unix seconds"},
		{"GitHub-style signature", now, genBody, webhook.SignGitHub([]byte(secret), []byte(genBody)), 401, "signature mismatch"},
	} {
		code, body := gen(tc.ts, tc.body, tc.sig)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("generic %s: %d %s, want %d with %q", tc.name, code, body, tc.code, tc.want)
		}
	}
	if code, body := doAs(t, a, "", "POST", "/api/v1/webhooks/github/p", payload, webhook.GitHubSignatureHeader, sign(payload)); code != 404 || !strings.Contains(body, "no github trigger") {
		t.Fatalf("pipeline without triggers: %d %s", code, body)
	}
	// Two runs started, each audited with who and what; refusals too.
	_, body = do(t, a, "GET", "/api/v1/audit?action=webhook.trigger", "")
	var list v1alpha1.AuditList
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	var ok, denied int
	for _, e := range list.Items {
		switch e.Outcome {
		case "ok":
			ok++
		case "denied":
			denied++
		}
	}
	if ok != 2 || denied < 5 {
		t.Fatalf("webhook audit: %d ok, %d denied: %s", ok, denied, body)
	}
}

func TestAuditLog(t *testing.T) {
	t.Parallel()
	a := setup(t)
	ci := a.token(t, "ci", "deployer")
	if code, body := doAs(t, a, ci, "POST", "/api/v1/pipelines/p/runs", `{"parameters":{"TAG":"7"}}`); code != 201 {
		t.Fatalf("run: %d %s", code, body)
	}
	doAs(t, a, ci, "POST", "/api/v1/pipelines/p/runs", `{"parameters":{"NOPE":"7"}}`)
	doAs(t, a, ci, "POST", "/api/v1/deployments/1/cancel", "")
	do(t, a, "DELETE", "/api/v1/tokens/ci", "")
	_, body := do(t, a, "GET", "/api/v1/audit", "")
	var list v1alpha1.AuditList
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range list.Items {
		got = append(got, fmt.Sprintf("%s %s %s %s", e.Actor, e.Action, e.Target, e.Outcome))
		if e.RemoteAddr != "127.0.0.1" || e.At.IsZero() {
			t.Errorf("entry without where or when: %+v", e)
		}
	}
	want := []string{
		"admin token.revoke token/ci ok",
		"ci deployment.cancel pipeline/p/deployment/1 ok",
		"ci run.create pipeline/p failed",
		"ci run.create pipeline/p ok",
		"admin token.create token/ci ok",
		"admin resource.apply pipeline/p ok",
		"admin resource.apply artifact/web ok",
		"admin resource.apply environment/local ok",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("audit log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(list.Items[2].Detail, "422") || !strings.Contains(list.Items[3].Detail, "TAG=7") {
		t.Fatalf("details: %+v", list.Items[2:4])
	}
	for _, tc := range []struct{ query, want string }{
		{"?actor=ci", "3"},
		{"?action=resource.apply", "3"},
		{"?actor=ci&action=run.create", "2"},
		{"?since=1h", "8"},
		{"?since=2000-01-01T00:00:00Z", "8"},
		{"?since=2999-01-01T00:00:00Z", "0"},
		{"?limit=2", "2"},
	} {
		_, body := do(t, a, "GET", "/api/v1/audit"+tc.query, "")
		var l v1alpha1.AuditList
		if err := json.Unmarshal([]byte(body), &l); err != nil || strconv.Itoa(len(l.Items)) != tc.want {
			t.Errorf("audit %s: %d entries, want %s: %s", tc.query, len(l.Items), tc.want, body)
		}
	}
	if code, _ := do(t, a, "GET", "/api/v1/audit?since=yesterday", ""); code != 400 {
		t.Errorf("bad since: %d", code)
	}
	// No route edits the log.
	for _, m := range []string{"PUT", "DELETE", "POST", "PATCH"} {
		if code, _ := do(t, a, m, "/api/v1/audit", `{}`); code != 404 && code != 405 {
			t.Errorf("%s /api/v1/audit: %d, want 404 or 405", m, code)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	a := setup(t)
	for _, path := range []string{"/healthz", "/api/v1/pipelines", "/api/v1/nothing"} {
		_, hdr, _ := send(t, a, a.admin, "GET", path, "")
		for k, v := range map[string]string{
			"X-Content-Type-Options":  "nosniff",
			"X-Frame-Options":         "DENY",
			"Content-Security-Policy": "frame-ancestors 'none'",
			"Cache-Control":           "no-store",
		} {
			if hdr.Get(k) != v {
				t.Errorf("%s: %s = %q, want %q", path, k, hdr.Get(k), v)
			}
		}
		if hdr.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS on plain HTTP", path)
		}
	}
}

// With --auth=none the identity header is trusted and everyone is admin.
func TestAuthDisabled(t *testing.T) {
	t.Parallel()
	a := setup(t, WithoutAuth())
	_, body := doAs(t, a, "", "GET", "/api/v1/whoami", "", v1alpha1.UserHeader, "carol")
	var who v1alpha1.WhoAmI
	if err := json.Unmarshal([]byte(body), &who); err != nil || who.Name != "carol" || !who.AuthDisabled {
		t.Fatalf("whoami: %s", body)
	}
	code, body := doAs(t, a, "", "POST", "/api/v1/pipelines/p/runs", `{"parameters":{"TAG":"1"}}`, v1alpha1.UserHeader, "carol")
	if code != 201 || !strings.Contains(body, `"triggeredBy":"carol"`) {
		t.Fatalf("run: %d %s", code, body)
	}
}

// An inline kubeconfig is sealed before it is stored: the database file
// never holds its text, an identical apply is "unchanged", and the
// executor's cluster source opens it again.
func TestInlineKubeconfigEncryptedAtRest(t *testing.T) {
	t.Parallel()
	a := setup(t)
	const marker = "MARKER-7f3a9c-kubeconfig-secret"
	kc := "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\nusers:\n- name: u\n  user:\n    token: " + marker + "\n"
	env := func(inline string) string {
		b, _ := json.Marshal(v1alpha1.Environment{
			TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindEnvironment},
			Metadata: v1alpha1.ObjectMeta{Name: "inline"},
			Spec:     v1alpha1.EnvironmentSpec{Kubeconfig: &v1alpha1.KubeconfigSource{Inline: inline}},
		})
		return string(b)
	}
	for i, want := range []string{`"action":"created"`, `"action":"unchanged"`} {
		if code, body := do(t, a, "PUT", "/api/v1/environments/inline", env(kc)); code/100 != 2 || !strings.Contains(body, want) {
			t.Fatalf("apply %d: %d %s, want %s", i, code, body, want)
		}
	}
	if code, body := do(t, a, "PUT", "/api/v1/environments/inline", env(kc+"# changed\n")); code != 200 || !strings.Contains(body, `"action":"configured"`) {
		t.Fatalf("apply a change: %d %s", code, body)
	}
	for _, path := range []string{"/api/v1/environments/inline", "/api/v1/environments"} {
		if _, body := do(t, a, "GET", path, ""); strings.Contains(body, marker) || strings.Contains(body, "fledge-sealed") || !strings.Contains(body, "(redacted)") {
			t.Fatalf("GET %s shows the kubeconfig or its ciphertext: %s", path, body)
		}
	}
	for _, f := range []string{"f.db", "f.db-wal"} {
		raw, err := os.ReadFile(filepath.Join(a.dbDir, f))
		if err != nil && f == "f.db" {
			t.Fatal(err)
		}
		if strings.Contains(string(raw), marker) || strings.Contains(string(raw), "users:") {
			t.Fatalf("%s holds the inline kubeconfig in clear text", f)
		}
	}
	res, err := a.st.GetResource(t.Context(), v1alpha1.KindEnvironment, "inline")
	if err != nil || !strings.Contains(string(res.Spec), `"inline":"fledge-sealed:v1:`) {
		t.Fatalf("stored environment: %s %v", res.Spec, err)
	}
	var stored v1alpha1.Environment
	if err := json.Unmarshal(res.Spec, &stored); err != nil {
		t.Fatal(err)
	}
	if err := clusters.OpenEnvironment(nil, &stored); err == nil {
		t.Fatal("opened a sealed kubeconfig without a key")
	}
	// Moved to another environment, the ciphertext does not open.
	moved := stored
	moved.Metadata.Name = "other"
	k := *stored.Spec.Kubeconfig
	moved.Spec.Kubeconfig = &k
	source := &clusters.StoreSource{Store: a.st, Secrets: a.box}
	if err := clusters.OpenEnvironment(a.box, &moved); err == nil {
		t.Fatal("a sealed kubeconfig opened under another environment's name")
	}
	_, spec, err := source.Cluster(t.Context(), "inline")
	if err != nil {
		t.Fatalf("the cluster source cannot open the kubeconfig: %v", err)
	}
	if spec.Kubeconfig == nil || strings.Contains(spec.Kubeconfig.Inline, marker) {
		t.Fatalf("the cluster source hands out the credentials: %+v", spec.Kubeconfig)
	}
}
