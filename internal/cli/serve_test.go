package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/auth"
)

// syncBuffer is a bytes.Buffer safe for the server goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// selfSigned writes a certificate and key for 127.0.0.1 and returns their
// paths and a pool trusting the certificate.
func selfSigned(t *testing.T, dir string) (string, string, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fledge test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return certPath, keyPath, pool
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// serveInProcess runs `fledge serve` with args until the test ends and
// returns its standard error and a function that waits for it to end.
func serveInProcess(t *testing.T, args ...string) (*syncBuffer, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errOut := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, append([]string{"serve", "--log-level", "error"}, args...), Streams{In: strings.NewReader(""), Out: errOut, ErrOut: errOut})
	}()
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				t.Error("fledge serve did not stop")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return errOut, stop
}

// TestServeTLSAndBootstrap starts the real server over TLS with a
// bootstrap token file: the key file and database are created private,
// every answer carries HSTS, and the bootstrap token is the admin.
func TestServeTLSAndBootstrap(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certPath, keyPath, pool := selfSigned(t, dir)
	tok, _ := auth.NewToken()
	tokenFile := filepath.Join(dir, "admin.token")
	if err := os.WriteFile(tokenFile, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	store := filepath.Join(dir, "data", "fledge.db")
	errOut, stop := serveInProcess(t, "--listen", addr, "--store", store, "--tls-cert-file", certPath, "--tls-key-file", keyPath, "--bootstrap-token-file", tokenFile)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	var resp *http.Response
	var err error
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err = hc.Get("https://" + addr + "/healthz"); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("the server never answered over TLS: %v\n%s", err, errOut.String())
	}
	resp.Body.Close()
	if got := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(got, "max-age=") {
		t.Errorf("HSTS over TLS: %q", got)
	}
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP on the TLS port: %s", resp.Status)
		}
	}
	req, _ := http.NewRequest("GET", "https://"+addr+"/api/v1/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var who v1alpha1.WhoAmI
	_ = json.NewDecoder(resp.Body).Decode(&who)
	resp.Body.Close()
	if who.Name != "admin" || len(who.Roles) != 1 || who.Roles[0] != "admin" {
		t.Fatalf("whoami with the bootstrap token: %+v", who)
	}
	out := errOut.String()
	if !strings.Contains(out, `created the admin token "admin" from `+tokenFile) || strings.Contains(out, tok) {
		t.Errorf("bootstrap message (must not print the token from a file):\n%s", out)
	}
	if !strings.Contains(out, "serving on https://") {
		t.Errorf("serving message:\n%s", out)
	}
	for _, f := range []string{store, filepath.Join(dir, "data", "fledge.key")} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; want 0600", f, fi.Mode(), err)
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}

	// Started again with another key, the server refuses: it could not
	// open the secrets this store holds.
	other := filepath.Join(dir, "other.key")
	if err := os.WriteFile(other, []byte(strings.Repeat("ab", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = serveFails(t, "--listen", freeAddr(t), "--store", store, "--secret-key-file", other)
	if err == nil || !strings.Contains(err.Error(), "does not open this store's secrets") || exitCodeOf(err) != 2 {
		t.Fatalf("a server with the wrong key: %v\n%s", err, out)
	}
}

func TestServeFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--auth", "maybe"}, "--auth: want token or none"},
		{[]string{"--tls-cert-file", "x.crt"}, "--tls-cert-file and --tls-key-file go together"},
		{[]string{"--bootstrap-token-file", filepath.Join(dir, "missing.token")}, "--bootstrap-token-file"},
	} {
		out, err := serveFails(t, append([]string{"--listen", freeAddr(t), "--store", filepath.Join(dir, "f.db")}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || exitCodeOf(err) != 2 {
			t.Errorf("serve %v: %v (exit %d), want %q\n%s", tc.args, err, exitCodeOf(err), tc.want, out)
		}
	}
	short := filepath.Join(dir, "short.token")
	if err := os.WriteFile(short, []byte("admin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := serveFails(t, "--listen", freeAddr(t), "--store", filepath.Join(dir, "short.db"), "--bootstrap-token-file", short); err == nil || !strings.Contains(err.Error(), "at least 32 are required") {
		t.Errorf("a short bootstrap token: %v", err)
	}
	// A fresh server without a token file writes its admin token to a
	// file (never to stderr) and says where; --auth=none warns loudly.
	addr := freeAddr(t)
	out := filepath.Join(dir, "out", "admin.token")
	errOut, stop := serveInProcess(t, "--listen", addr, "--store", filepath.Join(dir, "fresh.db"), "--bootstrap-token-out", out)
	waitFor(t, errOut, "serving on")
	if !strings.Contains(errOut.String(), "wrote it to "+out) || strings.Contains(errOut.String(), auth.TokenPrefix) {
		t.Errorf("bootstrap output:\n%s", errOut.String())
	}
	if b, err := os.ReadFile(out); err != nil || !strings.HasPrefix(string(b), auth.TokenPrefix) {
		t.Errorf("--bootstrap-token-out %s: %q %v", out, b, err)
	}
	_ = stop()
	errOut, stop = serveInProcess(t, "--listen", freeAddr(t), "--store", filepath.Join(dir, "none.db"), "--auth", "none")
	waitFor(t, errOut, "serving on")
	if !strings.Contains(errOut.String(), "WARNING: --auth=none: authentication is OFF") || strings.Contains(errOut.String(), auth.TokenPrefix) {
		t.Errorf("--auth=none output:\n%s", errOut.String())
	}
	_ = stop()
}

func waitFor(t *testing.T, b *syncBuffer, text string) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(b.String(), text) {
			return
		}
	}
	t.Fatalf("no %q in:\n%s", text, b.String())
}

// serveFails runs `fledge serve` that is expected to fail at start.
func serveFails(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out syncBuffer
	err := Run(ctx, append([]string{"serve", "--log-level", "error"}, args...), Streams{In: strings.NewReader(""), Out: &out, ErrOut: &out})
	if ctx.Err() != nil {
		t.Fatalf("serve %v did not fail at start", args)
	}
	return out.String(), err
}
