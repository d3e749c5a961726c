package server

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"fledge.dev/fledge/internal/auth"
)

// TestMetricsEndpoints: /metrics on the API's address needs a token; on
// --metrics-listen it needs none; both serve Fledge's, Go's and the
// process's metrics, and API requests are measured by route.
func TestMetricsEndpoints(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	token, err := auth.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "admin.token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	r := startRun(t, Config{
		Listen: "127.0.0.1:0", MetricsListen: "127.0.0.1:0", BootstrapTokenFile: tokenFile,
		Store: filepath.Join(dir, "fledge.db"),
	})
	plain := r.waitFor(t, regexp.MustCompile(`serving metrics on (http://\S+)\n`))[1]
	api := r.waitFor(t, servingRe)[1] + "/metrics"
	get := func(url, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// One measured API request before the scrapes.
	if code, _ := get(strings.TrimSuffix(api, "/metrics")+"/api/v1/pipelines", token); code != 200 {
		t.Fatalf("GET /api/v1/pipelines = %d", code)
	}
	tests := []struct {
		name, url, token string
		want             int
	}{
		{"api without token", api, "", 401},
		{"api with a wrong token", api, "fl_wrong", 401},
		{"api with token", api, token, 200},
		{"metrics listener", plain, "", 200},
	}
	for _, tt := range tests {
		code, body := get(tt.url, tt.token)
		if code != tt.want {
			t.Errorf("%s: GET %s = %d, want %d\n%s", tt.name, tt.url, code, tt.want, body)
			continue
		}
		if code != 200 {
			continue
		}
		for _, want := range []string{
			`fledge_http_request_duration_seconds_count{code="200",route="GET /api/v1/{plural}"} 1`,
			"fledge_store_operation_duration_seconds_bucket",
			"fledge_store_scrape_error 0",
			"go_goroutines ",
			"process_resident_memory_bytes ",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("%s: /metrics lacks %q", tt.name, want)
			}
		}
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v", err)
	}
}
