package localcluster

import (
	"context"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestGeneratePKI(t *testing.T) {
	t.Parallel()
	p, err := generatePKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(p.caPEM) {
		t.Fatal("CA PEM does not parse")
	}

	serving := loadPair(t, p.servingCert, p.servingKey)
	for _, host := range []string{
		"127.0.0.1", "10.0.0.1", "localhost", "kubernetes", "kubernetes.default",
		"kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
	} {
		if _, err := serving.Verify(x509.VerifyOptions{DNSName: host, Roots: roots}); err != nil {
			t.Errorf("serving certificate for %s: %v", host, err)
		}
	}

	admin := loadPair(t, p.adminCert, p.adminKey)
	if _, err := admin.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("admin certificate: %v", err)
	}
	if got := admin.Subject.Organization; len(got) != 1 || got[0] != "system:masters" {
		t.Errorf("admin organization = %v, want [system:masters]", got)
	}

	keyPEM, err := os.ReadFile(p.saKey)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		t.Fatal("service-account key is not PEM")
	}
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		t.Fatalf("service-account key: %v", err)
	}
	pubPEM, err := os.ReadFile(p.saPub)
	if err != nil {
		t.Fatal(err)
	}
	block, _ = pem.Decode(pubPEM)
	if block == nil {
		t.Fatal("service-account public key is not PEM")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatalf("service-account public key: %v", err)
	}
	if rsaPub, ok := pub.(*rsa.PublicKey); !ok || !rsaPub.Equal(&key.PublicKey) {
		t.Error("service-account public key does not match the private key")
	}
}

func loadPair(t *testing.T, certPath, keyPath string) *x509.Certificate {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		t.Fatalf("load %s: %v", certPath, err)
	}
	return pair.Leaf
}

func TestDefaultBinDir(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{
			name: "explicit bin dir wins",
			env:  map[string]string{EnvBinDir: "/opt/cp/bin", EnvCache: "/cache", "GOCACHE": "/gocache"},
			want: "/opt/cp/bin",
		},
		{
			name: "fledge cache",
			env:  map[string]string{EnvBinDir: "", EnvCache: "/cache", "GOCACHE": "/gocache"},
			want: "/cache/controlplane/" + BinaryVersionKey + "/bin",
		},
		{
			name: "go build cache",
			env:  map[string]string{EnvBinDir: "", EnvCache: "", "GOCACHE": "/gocache"},
			want: "/gocache/fledge/controlplane/" + BinaryVersionKey + "/bin",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			if got := DefaultBinDir(); got != tc.want {
				t.Errorf("DefaultBinDir() = %q, want %q", got, tc.want)
			}
		})
	}
}

// fakeBinDir makes a bin dir whose binaries are the given shell scripts
// (default: exit 0) and a stages file next to it.
func fakeBinDir(t *testing.T, scripts map[string]string) string {
	t.Helper()
	root := t.TempDir()
	bin := filepath.Join(root, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, b := range binaries {
		body, ok := scripts[b]
		if !ok {
			body = "exit 0"
		}
		if err := os.WriteFile(filepath.Join(bin, b), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "kwok-stages.yaml"), []byte("---\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return bin
}

func TestValidate(t *testing.T) {
	t.Parallel()
	complete := fakeBinDir(t, nil)
	noKubectl := fakeBinDir(t, nil)
	if err := os.Remove(filepath.Join(noKubectl, "kubectl")); err != nil {
		t.Fatal(err)
	}
	noStages := fakeBinDir(t, nil)
	if err := os.Remove(filepath.Join(filepath.Dir(noStages), "kwok-stages.yaml")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		binDir      string
		wantMissing bool
		wantText    string
	}{
		{name: "complete", binDir: complete},
		{name: "missing dir", binDir: filepath.Join(t.TempDir(), "nope"), wantMissing: true, wantText: "hack/build-controlplane.sh"},
		{name: "missing kubectl", binDir: noKubectl, wantMissing: true, wantText: "kubectl not found"},
		{name: "missing stages", binDir: noStages, wantMissing: true, wantText: "kwok-stages.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Options{BinDir: tc.binDir}.WithDefaults().Validate()
			if got := errors.Is(err, ErrBinariesMissing); got != tc.wantMissing {
				t.Fatalf("Validate() = %v, want ErrBinariesMissing %v", err, tc.wantMissing)
			}
			if tc.wantText != "" && !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("Validate() = %q, want it to mention %q", err, tc.wantText)
			}
		})
	}
}

// TestStartComponentFailure checks that a failing or hanging component
// fails Start with an error naming it, its log and the log's end, and that
// nothing is left running.
func TestStartComponentFailure(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		etcd     string
		wantText string
	}{
		{name: "exits", etcd: `echo "etcd: bad flag --boom" >&2; exit 3`, wantText: "process exited"},
		{name: "never ready", etcd: `echo "etcd: thinking"; exec sleep 60`, wantText: "not ready"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "cluster")
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			_, err := Start(ctx, Options{
				BinDir:       fakeBinDir(t, map[string]string{ComponentEtcd: tc.etcd}),
				Dir:          dir,
				StartTimeout: 2 * time.Second,
				StopGrace:    time.Second,
			})
			t.Logf("Start() error:\n%v", err)
			var ce *ComponentError
			if !errors.As(err, &ce) {
				t.Fatalf("Start() = %v, want a ComponentError", err)
			}
			logPath := filepath.Join(dir, "logs", "etcd.log")
			if ce.Component != ComponentEtcd || ce.LogPath != logPath {
				t.Errorf("component %q log %q, want etcd %q", ce.Component, ce.LogPath, logPath)
			}
			firstLine := strings.SplitN(tc.etcd, `"`, 3)[1]
			msg := err.Error()
			for _, want := range []string{"etcd", logPath, firstLine, tc.wantText} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not mention %q", msg, want)
				}
			}
			loaded, err := Load(dir, nil)
			if err != nil {
				t.Fatalf("Load after failed start: %v", err)
			}
			for _, p := range loaded.procs {
				if p.running() {
					t.Errorf("%s (pid %d) still running after failed start", p.Name, p.PID)
				}
			}
		})
	}
}

func TestTailFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "log")
	var b strings.Builder
	for i := range 100 {
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString("\n")
	}
	b.WriteString("last line\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		n         int
		wantLines int
	}{{1, 1}, {5, 5}, {1000, 101}} {
		got := tailFile(path, tc.n)
		lines := strings.Split(got, "\n")
		if len(lines) != tc.wantLines || lines[len(lines)-1] != "last line" {
			t.Errorf("tailFile(n=%d): %d lines ending %q, want %d ending \"last line\"",
				tc.n, len(lines), lines[len(lines)-1], tc.wantLines)
		}
	}
	if got := tailFile(filepath.Join(t.TempDir(), "missing"), 5); got != "" {
		t.Errorf("tailFile(missing) = %q, want empty", got)
	}
}

// TestStartRefusesForeignDir checks that Start never adopts, and so never
// later deletes from, a folder holding files of its own.
func TestStartRefusesForeignDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mine := filepath.Join(dir, "logs", "important.txt")
	if err := os.MkdirAll(filepath.Dir(mine), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mine, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Start(t.Context(), Options{BinDir: fakeBinDir(t, nil), Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("Start() = %v, want a not-empty error", err)
	}
	if _, err := os.Stat(mine); err != nil {
		t.Errorf("foreign file gone: %v", err)
	}
}
