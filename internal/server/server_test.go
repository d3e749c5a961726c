package server

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{name: "defaults", cfg: Config{Store: "fledge.db"}},
		{name: "auth", cfg: Config{Store: "fledge.db", Auth: "basic"}, want: `--auth: want token or none, got "basic"`},
		{name: "tls cert alone", cfg: Config{Store: "fledge.db", TLSCertFile: "c.pem"}, want: "--tls-cert-file and --tls-key-file go together"},
		{name: "tls key alone", cfg: Config{Store: "fledge.db", TLSKeyFile: "k.pem"}, want: "--tls-cert-file and --tls-key-file go together"},
		{name: "no store", cfg: Config{}, want: "--store: empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.WithDefaults().Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || err.Error() != tt.want {
				t.Fatalf("Validate = %v, want ConfigError %q", err, tt.want)
			}
		})
	}
}

// lockedBuffer is a bytes.Buffer safe for the server and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// running is a server started by startRun.
type running struct {
	stderr *lockedBuffer
	done   chan error
	cancel context.CancelFunc
}

// startRun runs Run(cfg) in the background (its stderr captured) until
// stop or the end of the test.
func startRun(t *testing.T, cfg Config) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	r := &running{stderr: &lockedBuffer{}, done: make(chan error, 1), cancel: cancel}
	cfg.Stderr = r.stderr
	go func() { r.done <- Run(ctx, cfg) }()
	t.Cleanup(cancel)
	return r
}

// waitFor waits until re matches what the server said and returns the
// submatches; it fails the test if Run ends first or 20 s pass.
func (r *running) waitFor(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; {
		if m := re.FindStringSubmatch(r.stderr.String()); m != nil {
			return m
		}
		select {
		case err := <-r.done:
			t.Fatalf("Run ended at start: %v\n%s", err, r.stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not seen after 20s:\n%s", re, r.stderr)
		}
	}
}

// servingRe finds the API's base URL in what the server said.
var servingRe = regexp.MustCompile(`serving on (http://\S+) `)

// stop cancels the server and returns what Run returned (failing the test
// if it does not return within 20 s).
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not stop")
		return nil
	}
}

// TestRunServesAndStops runs the whole server on SQLite: the API and the
// console answer, and cancelling the context stops every part and
// returns nil.
func TestRunServesAndStops(t *testing.T) {
	t.Parallel()
	r := startRun(t, Config{Listen: "127.0.0.1:0", Store: filepath.Join(t.TempDir(), "fledge.db")})
	base := r.waitFor(t, servingRe)[1]
	if !strings.Contains(r.stderr.String(), "created the admin token") {
		t.Errorf("a fresh store got no admin token:\n%s", r.stderr)
	}
	for path, want := range map[string]int{"/readyz": 200, "/": 200, "/api/v1/pipelines": 401} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, want)
		}
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}
	if _, err := http.Get(base + "/readyz"); err == nil {
		t.Error("the API still answers after Run returned")
	}
}

// TestRunRefusesBusyAddress: a listen failure is returned before any part
// starts, and the store is closed again.
func TestRunRefusesBusyAddress(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := startRun(t, Config{Listen: "127.0.0.1:0", Store: filepath.Join(dir, "a.db")})
	addr := strings.TrimPrefix(first.waitFor(t, servingRe)[1], "http://")
	err := Run(context.Background(), Config{Listen: addr, Store: filepath.Join(dir, "b.db")})
	if err == nil || !strings.Contains(err.Error(), "listen on "+addr) {
		t.Fatalf("second Run on %s = %v, want a listen error", addr, err)
	}
	if err := first.stop(t); err != nil {
		t.Fatalf("first Run = %v", err)
	}
}
