package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestVersion prints the client's build alone when no server is
// configured, and the server's too when one is.
func TestVersion(t *testing.T) {
	t.Setenv("FLEDGE_SERVER", "")
	t.Setenv("FLEDGE_TOKEN", "")
	a := startRealAPI(t)
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	run := func(args ...string) (string, error) {
		t.Helper()
		var out bytes.Buffer
		err := Run(context.Background(), append([]string{"--config", cfg}, args...), Streams{In: strings.NewReader(""), Out: &out, ErrOut: &out})
		return out.String(), err
	}
	platform := runtime.GOOS + "/" + runtime.GOARCH
	tests := []struct {
		name     string
		args     []string
		want     []string
		unwanted []string
		code     int
	}{
		{name: "no server configured", args: []string{"version"}, want: []string{"Client: fledge ", runtime.Version() + " " + platform}, unwanted: []string{"Server:"}},
		{name: "--version", args: []string{"--version"}, want: []string{"fledge ", platform}, unwanted: []string{"Client:"}},
		{name: "server", args: []string{"--server", a.url, "--token", a.admin, "version"}, want: []string{"Client: fledge ", "Server: fledge "}},
		{name: "--client", args: []string{"--server", a.url, "version", "--client"}, want: []string{"Client: fledge "}, unwanted: []string{"Server:"}},
		{name: "server without a token", args: []string{"--server", a.url, "version"}, want: []string{"Client: fledge "}, code: 1},
		{name: "bad output", args: []string{"version", "-o", "table"}, code: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run(tt.args...)
			if got := exitCodeOf(err); got != tt.code {
				t.Fatalf("exit code %d, want %d: %v\n%s", got, tt.code, err, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, u := range tt.unwanted {
				if strings.Contains(out, u) {
					t.Errorf("output has %q:\n%s", u, out)
				}
			}
		})
	}
	out, err := run("--server", a.url, "--token", a.admin, "version", "-o", "json")
	if err != nil {
		t.Fatalf("version -o json: %v\n%s", err, out)
	}
	var rep struct {
		Client, Server map[string]any
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("version -o json: %v\n%s", err, out)
	}
	for _, side := range []map[string]any{rep.Client, rep.Server} {
		if side["version"] == "" || side["goVersion"] != runtime.Version() || side["platform"] != platform {
			t.Fatalf("version -o json: %s", out)
		}
	}
}
