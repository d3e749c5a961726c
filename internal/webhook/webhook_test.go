package webhook

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

var secret = []byte("It's a Secret to Everybody")

// GitHub's documented example: secret "It's a Secret to Everybody" and
// payload "Hello, World!" give this signature.
const githubExample = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

func TestVerifyGitHub(t *testing.T) {
	t.Parallel()
	body := []byte("Hello, World!")
	if got := SignGitHub(secret, body); got != githubExample {
		t.Fatalf("SignGitHub = %s, want GitHub's example %s", got, githubExample)
	}
	if err := VerifyGitHub(body, githubExample, secret); err != nil {
		t.Fatalf("valid signature refused: %v", err)
	}
	for name, tc := range map[string]struct {
		body   string
		header string
		want   string
	}{
		"no header":       {"Hello, World!", "", "no signature header"},
		"sha1":            {"Hello, World!", "sha1=0123", "want sha256="},
		"short":           {"Hello, World!", "sha256=abcd", "64 hex digits"},
		"not hex":         {"Hello, World!", "sha256=" + strings.Repeat("zz", 32), "64 hex digits"},
		"other body":      {"Hello, World?", githubExample, "signature mismatch"},
		"upper case hex":  {"Hello, World?", strings.ToUpper(githubExample), "want sha256="},
		"empty body":      {"", githubExample, "signature mismatch"},
		"trailing spaces": {"Hello, World! ", githubExample, "signature mismatch"},
	} {
		err := VerifyGitHub([]byte(tc.body), tc.header, secret)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, tc.want)
		}
	}
}

func TestVerifyGeneric(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_900_000_000, 0)
	body := []byte(`{"version":"1.2"}`)
	ts := strconv.FormatInt(now.Unix(), 10)
	sig := Sign(secret, ts, body)
	if at, err := VerifyGeneric(body, sig, ts, secret, now); err != nil || !at.Equal(now) {
		t.Fatalf("valid delivery refused: %v %v", at, err)
	}
	if _, err := VerifyGeneric(body, sig, ts, secret, now.Add(Window)); err != nil {
		t.Fatalf("a delivery at the edge of the window refused: %v", err)
	}
	old := strconv.FormatInt(now.Add(-Window-time.Second).Unix(), 10)
	for name, tc := range map[string]struct {
		body, sig, ts string
		want          string
	}{
		"stale":               {string(body), Sign(secret, old, body), old, "outside the 5m0s window"},
		"timestamp swapped":   {string(body), sig, old, "signature mismatch"},
		"body changed":        {`{"version":"6.6"}`, sig, ts, "signature mismatch"},
		"no timestamp":        {string(body), Sign(secret, "", body), "", "must be Unix seconds"},
		"timestamp not a num": {string(body), Sign(secret, "yesterday", body), "yesterday", "must be Unix seconds"},
		"timestamp huge":      {string(body), Sign(secret, "99999999999999999", body), "99999999999999999", "must be Unix seconds"},
		"signature of body":   {string(body), SignGitHub(secret, body), ts, "signature mismatch"},
		"no signature":        {string(body), "", ts, "no signature header"},
	} {
		_, err := VerifyGeneric([]byte(tc.body), tc.sig, tc.ts, secret, now)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, tc.want)
		}
	}
	future := strconv.FormatInt(now.Add(Window+time.Minute).Unix(), 10)
	if _, err := VerifyGeneric(body, Sign(secret, future, body), future, secret, now); err == nil {
		t.Error("a delivery from the future was accepted")
	}
}

func TestPayload(t *testing.T) {
	t.Parallel()
	p, err := ParsePayload([]byte(`{
		"action": "published",
		"registry_package": {"package_version": {"container_metadata": {"tag": {"name": "2.1"}}}},
		"workflow_run": {"run_number": 42, "conclusion": "success", "head_sha": "abc123", "draft": false, "pull_requests": [{"number": 7}]},
		"nothing": null
	}`))
	if err != nil {
		t.Fatal(err)
	}
	for expr, want := range map[string]string{
		"{{ .registry_package.package_version.container_metadata.tag.name }}": "2.1",
		"v{{.workflow_run.run_number}}-{{ .workflow_run.head_sha }}":          "v42-abc123",
		"{{ .workflow_run.draft }}":                                           "false",
		"{{ .workflow_run.pull_requests.0.number }}":                          "7",
		"literal": "literal",
		"":        "",
	} {
		got, err := p.Expand(expr)
		if err != nil || got != want {
			t.Errorf("Expand(%q) = %q, %v; want %q", expr, got, err, want)
		}
	}
	for expr, want := range map[string]string{
		"{{ .missing }}":                         `no field "missing"`,
		"{{ .registry_package }}":                "is an object, not a scalar",
		"{{ .workflow_run.pull_requests }}":      "is an array, not a scalar",
		"{{ .workflow_run.pull_requests.5 }}":    "not an index of an array of 1",
		"{{ .workflow_run.pull_requests.x }}":    "not an index",
		"{{ .action.deeper }}":                   "below a scalar",
		"{{ .nothing }}":                         "is null",
		"{{ .missing }} and {{ .also_missing }}": `no field "also_missing"`,
	} {
		if _, err := p.Expand(expr); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Expand(%q) error %v, want %q", expr, err, want)
		}
	}
	if ok, why := p.Matches(map[string]string{"action": "published", "workflow_run.conclusion": "success"}); !ok {
		t.Errorf("Matches: %s", why)
	}
	if ok, why := p.Matches(map[string]string{"workflow_run.conclusion": "failure"}); ok || !strings.Contains(why, `is "success", not "failure"`) {
		t.Errorf("Matches a different value: %v %s", ok, why)
	}
	params, err := p.Parameters(map[string]string{"TAG": "{{ .registry_package.package_version.container_metadata.tag.name }}", "RUN": "{{ .workflow_run.run_number }}"})
	if err != nil || params["TAG"] != "2.1" || params["RUN"] != "42" {
		t.Errorf("Parameters = %v, %v", params, err)
	}
	if _, err := p.Parameters(map[string]string{"A": "{{ .x }}", "B": "{{ .y }}"}); err == nil || !strings.Contains(err.Error(), "parameter A") || !strings.Contains(err.Error(), "parameter B") {
		t.Errorf("Parameters reports every failure: %v", err)
	}
	long, _ := ParsePayload([]byte(`{"v":"` + strings.Repeat("x", MaxValueBytes+1) + `"}`))
	if _, err := long.Expand("{{ .v }}"); err == nil {
		t.Error("a value over the limit was accepted")
	}
	for _, bad := range []string{`[1,2]`, `"x"`, `{"a":1} {}`, `{`, "{\"ref\":\"v\xff\"}", strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1)} {
		if _, err := ParsePayload([]byte(bad)); err == nil {
			t.Errorf("ParsePayload(%.40q) accepted", bad)
		}
	}
}

// FuzzVerify: verification never panics, and accepts only what was signed
// with the secret.
func FuzzVerify(f *testing.F) {
	f.Add([]byte("Hello, World!"), githubExample, "1900000000")
	f.Add([]byte(`{"action":"published"}`), "sha256=", "")
	f.Add([]byte{}, "sha256="+strings.Repeat("0", 64), "-1")
	f.Fuzz(func(t *testing.T, body []byte, sig, ts string) {
		if VerifyGitHub(body, sig, secret) == nil && !strings.EqualFold(strings.TrimSpace(sig), SignGitHub(secret, body)) {
			t.Fatalf("VerifyGitHub accepted %q for %q", sig, body)
		}
		now := time.Unix(1_900_000_000, 0)
		if _, err := VerifyGeneric(body, sig, ts, secret, now); err == nil && !strings.EqualFold(strings.TrimSpace(sig), Sign(secret, strings.TrimSpace(ts), body)) {
			t.Fatalf("VerifyGeneric accepted %q at %q for %q", sig, ts, body)
		}
	})
}

// FuzzPayload: parsing a delivery and mapping it never panics, and a
// mapped value is bounded.
func FuzzPayload(f *testing.F) {
	f.Add([]byte(`{"a":{"b":[{"c":"d"}]}}`), "{{ .a.b.0.c }}")
	f.Add([]byte(`{"registry_package":{"package_version":{"container_metadata":{"tag":{"name":"2.1"}}}}}`), "{{ .registry_package.package_version.container_metadata.tag.name }}")
	f.Add([]byte(`{"x":1e999}`), "v{{.x}}")
	f.Add([]byte(`{"a":"\u202e"}`), "{{ .a }}{{ .a }}")
	f.Fuzz(func(t *testing.T, body []byte, expr string) {
		p, err := ParsePayload(body)
		if err != nil {
			return
		}
		v, err := p.Expand(expr)
		if err == nil && len(v) > MaxValueBytes {
			t.Fatalf("value of %d bytes", len(v))
		}
		p.Matches(map[string]string{expr: v})
	})
}
