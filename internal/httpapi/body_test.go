package httpapi

import (
	"encoding/json"
	"strings"
	"testing"

	"fledge.dev/fledge/api/v1alpha1"
)

// TestStrictBodies: every body the API reads goes through one strict
// decoder, for resources (decoded by the service) and for the API's own
// request bodies alike: trailing data, invalid UTF-8 and a body not
// declared as JSON are refused with a Status naming what is wrong, and
// nothing is stored.
func TestStrictBodies(t *testing.T) {
	t.Parallel()
	srv := setup(t)
	env := `{"apiVersion":"fledge.dev/v1alpha1","kind":"Environment","metadata":{"name":"e"},"spec":{"inCluster":true}}`
	cases := []struct {
		name, method, path, body string
		contentType              string // "-" sends none
		code                     int
		want                     string
	}{
		{"resource with trailing data", "PUT", "/api/v1/environments/e", env + ` {}`, "application/json", 400, "unexpected data after the JSON object"},
		{"run with trailing data", "POST", "/api/v1/pipelines/p/runs", `{"parameters":{"TAG":"1"}} {"parameters":{"TAG":"2"}}`, "application/json", 400, "unexpected data after the JSON object"},
		{"token with trailing data", "POST", "/api/v1/tokens", `{"name":"x","roles":["viewer"]}]`, "application/json", 400, "unexpected data after the JSON object"},
		{"rollback with trailing data", "POST", "/api/v1/pipelines/p/rollback", `{"to":1}x`, "application/json", 400, "unexpected data after the JSON object"},
		{"resource with invalid UTF-8", "PUT", "/api/v1/environments/e", strings.Replace(env, `"name":"e"`, `"name":"e","labels":{"a":"b`+"\xff"+`"}`, 1), "application/json", 400, "not valid UTF-8 at byte"},
		{"run with invalid UTF-8", "POST", "/api/v1/pipelines/p/runs", "{\"parameters\":{\"TAG\":\"1\xc3\"}}", "application/json", 400, "not valid UTF-8 at byte 23"},
		{"secret with invalid UTF-8", "PUT", "/api/v1/secrets/gh", "{\"value\":\"0123456789abcdef01\xff\"}", "application/json", 400, "not valid UTF-8"},
		{"resource as text", "PUT", "/api/v1/environments/e", env, "text/plain", 415, "Content-Type text/plain is not supported"},
		{"resource as a form", "PUT", "/api/v1/environments/e", env, "application/x-www-form-urlencoded", 415, "Content-Type application/x-www-form-urlencoded is not supported"},
		{"run without Content-Type", "POST", "/api/v1/pipelines/p/runs", `{"parameters":{"TAG":"1"}}`, "-", 415, "a request body needs Content-Type: application/json"},
		{"token in another charset", "POST", "/api/v1/tokens", `{"name":"x","roles":["viewer"]}`, "application/json; charset=latin1", 415, "charset latin1 is not supported"},
		{"malformed Content-Type", "POST", "/api/v1/tokens", `{"name":"x","roles":["viewer"]}`, "application/json; charset", 415, "want application/json"},
		{"webhook as a form", "POST", "/api/v1/webhooks/github/p", `payload=%7B%7D`, "application/x-www-form-urlencoded", 415, "the body must be JSON"},
	}
	for _, tc := range cases {
		headers := []string{"Content-Type", tc.contentType}
		if tc.contentType == "-" {
			headers = []string{"Content-Type", ""}
		}
		code, _, body := send(t, srv, srv.admin, tc.method, tc.path, tc.body, headers...)
		if code != tc.code {
			t.Errorf("%s: %s %s: status %d, want %d: %s", tc.name, tc.method, tc.path, code, tc.code, body)
			continue
		}
		var st v1alpha1.Status
		if err := json.Unmarshal([]byte(body), &st); err != nil || st.Code != code {
			t.Errorf("%s: body is not a Status: %s", tc.name, body)
		}
		if !strings.Contains(st.Message, tc.want) {
			t.Errorf("%s: message %q lacks %q", tc.name, st.Message, tc.want)
		}
	}
	// A JSON type with parameters, or a +json type, is JSON.
	for _, ct := range []string{"application/json; charset=utf-8", "application/json;charset=UTF-8", "application/merge-patch+json"} {
		if code, _, body := send(t, srv, srv.admin, "PUT", "/api/v1/environments/e", env, "Content-Type", ct); code != 201 && code != 200 {
			t.Errorf("PUT with Content-Type %q: %d %s", ct, code, body)
		}
	}
	// A request without a body needs no Content-Type.
	if code, _, body := send(t, srv, srv.admin, "POST", "/api/v1/pipelines/p/runs", "", "Content-Type", ""); code != 422 && code != 201 {
		t.Errorf("POST runs without a body: %d %s", code, body)
	}
	if code, body := do(t, srv, "GET", "/api/v1/deployments", ""); code != 200 || strings.Contains(body, `"TAG"`) {
		t.Fatalf("a refused run was stored: %d %s", code, body)
	}
}
