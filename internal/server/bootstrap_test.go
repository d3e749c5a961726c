package server

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"fledge.dev/fledge/internal/secretbox"
)

// serveOnce runs a server on cfg until it serves, then stops it, and
// returns its base URL and what it said on stderr.
func serveOnce(t *testing.T, cfg Config, check func(base string)) string {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	r := startRun(t, cfg)
	check(r.waitFor(t, servingRe)[1])
	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v", err)
	}
	return r.stderr.String()
}

// A generated admin token goes to a file only its owner can read, never
// to stderr (where a log collector would keep it), and works.
func TestBootstrapTokenWrittenToFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tokenPath := filepath.Join(dir, "admin.token")
	out := serveOnce(t, Config{Store: filepath.Join(dir, "fledge.db")}, func(base string) {
		b, err := os.ReadFile(tokenPath)
		if err != nil {
			t.Fatalf("the admin token file: %v", err)
		}
		req, _ := http.NewRequest("GET", base+"/api/v1/whoami", nil)
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(b)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("the token from %s: %s", tokenPath, resp.Status)
		}
	})
	fi, err := os.Stat(tokenPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin token file: %v %v, want mode 0600", fi, err)
	}
	b, _ := os.ReadFile(tokenPath)
	if strings.Contains(out, strings.TrimSpace(string(b))) {
		t.Fatalf("the admin token is on stderr:\n%s", out)
	}
	if !strings.Contains(out, "wrote it to "+tokenPath+" (mode 0600)") {
		t.Fatalf("stderr does not say where the token is:\n%s", out)
	}
	// An explicit place is used instead, and a started store writes none.
	other := filepath.Join(t.TempDir(), "tok")
	serveOnce(t, Config{Store: filepath.Join(dir, "fledge.db"), BootstrapTokenOut: other}, func(string) {})
	if _, err := os.Stat(other); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a store with tokens wrote a token file: %v", err)
	}
	fresh := t.TempDir()
	serveOnce(t, Config{Store: filepath.Join(fresh, "fledge.db"), BootstrapTokenOut: other}, func(string) {})
	if fi, err := os.Stat(other); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("--bootstrap-token-out: %v %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(fresh, "admin.token")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the default token file was written beside --bootstrap-token-out: %v", err)
	}
}

// A wrong or missing key refuses to start and creates nothing.
func TestWrongKeyCreatesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "fledge.db")
	serveOnce(t, Config{Store: db}, func(string) {})
	keyPath := filepath.Join(dir, "fledge.key")
	if _, err := os.Stat(keyPath); err != nil {
		t.Fatalf("the first start created no key file: %v", err)
	}
	wrong := filepath.Join(t.TempDir(), "wrong.key")
	if _, err := secretbox.CreateKeyFile(wrong); err != nil {
		t.Fatal(err)
	}
	listing := func() []string {
		es, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range es {
			if !strings.HasPrefix(e.Name(), "fledge.db-") { // SQLite's own WAL files
				names = append(names, e.Name())
			}
		}
		return names
	}
	if err := os.Remove(keyPath); err != nil {
		t.Fatal(err)
	}
	before := listing()
	for name, cfg := range map[string]Config{
		"key file lost": {Store: db},
		"wrong key":     {Store: db, SecretKeyFile: wrong},
	} {
		cfg.Listen = "127.0.0.1:0"
		err := Run(t.Context(), cfg)
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Fatalf("%s: Run = %v, want a ConfigError", name, err)
		}
		if name == "key file lost" && !strings.Contains(err.Error(), keyPath+" is missing") {
			t.Errorf("%s: %v, want it to name the missing key file", name, err)
		}
		if after := listing(); !slices.Equal(before, after) {
			t.Fatalf("%s: refusing to start changed %s: %v -> %v", name, dir, before, after)
		}
	}
}
