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

// TestRunServesAndStops runs the whole server on SQLite: the API and the
// console answer, and cancelling the context stops every part and
// returns nil.
func TestRunServesAndStops(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &lockedBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Listen: "127.0.0.1:0", Store: filepath.Join(t.TempDir(), "fledge.db"), Stderr: stderr})
	}()
	serving := regexp.MustCompile(`serving on (http://\S+) `)
	var base string
	for deadline := time.Now().Add(20 * time.Second); base == ""; {
		if m := serving.FindStringSubmatch(stderr.String()); m != nil {
			base = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("Run ended at start: %v\n%s", err, stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("not serving after 20s:\n%s", stderr)
		}
	}
	if !strings.Contains(stderr.String(), "created the admin token") {
		t.Errorf("a fresh store got no admin token:\n%s", stderr)
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
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not stop")
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
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &lockedBuffer{}
	first := make(chan error, 1)
	go func() {
		first <- Run(ctx, Config{Listen: "127.0.0.1:0", Store: filepath.Join(dir, "a.db"), Stderr: stderr})
	}()
	serving := regexp.MustCompile(`serving on http://(\S+) `)
	var addr string
	for deadline := time.Now().Add(20 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := serving.FindStringSubmatch(stderr.String()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		t.Fatalf("first server not serving:\n%s", stderr)
	}
	err := Run(context.Background(), Config{Listen: addr, Store: filepath.Join(dir, "b.db")})
	if err == nil || !strings.Contains(err.Error(), "listen on "+addr) {
		t.Fatalf("second Run on %s = %v, want a listen error", addr, err)
	}
	cancel()
	if err := <-first; err != nil {
		t.Fatalf("first Run = %v", err)
	}
}
