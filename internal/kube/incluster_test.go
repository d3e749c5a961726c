package kube

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

func TestInClusterConfig(t *testing.T) {
	ca := generateCA(t)
	tests := []struct {
		name    string
		host    string
		files   map[string]string
		wantErr string
	}{
		{name: "not in a pod", files: map[string]string{"token": "t", "ca.crt": ca}, wantErr: "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set"},
		{name: "no token mounted", host: "10.0.0.1", files: map[string]string{"ca.crt": ca}, wantErr: "read the service account token"},
		{name: "no CA", host: "10.0.0.1", files: map[string]string{"token": "t"}, wantErr: "the cluster's CA certificate"},
		{name: "bad CA", host: "10.0.0.1", files: map[string]string{"token": "t", "ca.crt": "-----BEGIN CERTIFICATE-----\nnot one\n-----END CERTIFICATE-----\n"}, wantErr: "the cluster's CA certificate"},
		{name: "IPv6 service address", host: "fd00::1", files: map[string]string{"token": "secret-token\n", "ca.crt": ca}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("KUBERNETES_SERVICE_HOST", tt.host)
			t.Setenv("KUBERNETES_SERVICE_PORT", "6443")
			dir := t.TempDir()
			for name, body := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := NewClient(context.Background(), v1alpha1.EnvironmentSpec{InCluster: true}, ServiceAccountDir(dir))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := inClusterConfig(dir)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Host != "https://[fd00::1]:6443" || cfg.BearerTokenFile != filepath.Join(dir, "token") || cfg.CAFile != filepath.Join(dir, "ca.crt") {
				t.Fatalf("config: host %s, token file %s, CA file %s", cfg.Host, cfg.BearerTokenFile, cfg.CAFile)
			}
		})
	}
}

// generateCA returns a fresh self-signed CA certificate in PEM.
func generateCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
