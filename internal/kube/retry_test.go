package kube

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"fledge.dev/fledge/api/v1alpha1"
)

func TestTransient(t *testing.T) {
	t.Parallel()
	gr := schema.GroupResource{Group: "apps", Resource: "deployments"}
	refused := &url.Error{Op: "Get", URL: "https://127.0.0.1:1", Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"internal", apierrors.NewInternalError(errors.New("boom")), true},
		{"unavailable", apierrors.NewServiceUnavailable("later"), true},
		{"too many requests", apierrors.NewTooManyRequests("slow down", 1), true},
		{"server timeout", apierrors.NewServerTimeout(gr, "get", 1), true},
		{"timeout", apierrors.NewTimeoutError("slow", 1), true},
		{"conflict", apierrors.NewConflict(gr, "web", errors.New("modified")), true},
		{"connection refused", fmt.Errorf("apply: %w", refused), true},
		{"request timeout", &url.Error{Op: "Get", URL: "x", Err: context.DeadlineExceeded}, true},
		{"invalid", apierrors.NewInvalid(schema.GroupKind{Group: "apps", Kind: "Deployment"}, "web", field.ErrorList{field.Invalid(field.NewPath("spec", "replicas"), -1, "must be greater than or equal to 0")}), false},
		{"bad request", apierrors.NewBadRequest("no"), false},
		{"not found", apierrors.NewNotFound(gr, "web"), false},
		{"forbidden", apierrors.NewForbidden(gr, "web", errors.New("rbac")), false},
		{"already exists", apierrors.NewAlreadyExists(gr, "web"), false},
		{"unknown kind", &UnknownKindError{}, false},
		{"canceled", context.Canceled, false},
		{"500 without a reason", &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: 500, Message: "failed to create typed patch object: .spec.prots: field not declared in schema"}}, false},
		{"not implemented", &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: 501}}, false},
		{"bad gateway", &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: 502}}, true},
		{"rate limiter", errors.New("client rate limiter Wait returned an error: rate: Wait(n=1) would exceed context deadline"), true},
		{"tls", &url.Error{Op: "Get", URL: "x", Err: errors.New("x509: certificate signed by unknown authority")}, false},
	}
	for _, tt := range tests {
		if got := Transient(tt.err); got != tt.want {
			t.Errorf("Transient(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestRetry(t *testing.T) {
	t.Parallel()
	t.Run("retries transient errors until success", func(t *testing.T) {
		t.Parallel()
		calls := 0
		err := retry(t.Context(), func(context.Context) error {
			calls++
			if calls < 3 {
				return apierrors.NewServiceUnavailable("later")
			}
			return nil
		})
		if err != nil || calls != 3 {
			t.Errorf("retry = %v after %d calls, want success after 3", err, calls)
		}
	})
	t.Run("returns a permanent error at once", func(t *testing.T) {
		t.Parallel()
		calls := 0
		want := apierrors.NewBadRequest("no")
		err := retry(t.Context(), func(context.Context) error { calls++; return want })
		if !errors.Is(err, want) || calls != 1 {
			t.Errorf("retry = %v after %d calls, want the error after 1", err, calls)
		}
	})
	t.Run("retries a 500 without a reason three times", func(t *testing.T) {
		t.Parallel()
		calls := 0
		err := retry(t.Context(), func(context.Context) error {
			calls++
			return &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: 500, Message: "odd"}}
		})
		if err == nil || calls != uncertainAttempts {
			t.Errorf("retry = %v after %d calls, want the error after %d", err, calls, uncertainAttempts)
		}
	})
	t.Run("gives up when the context ends", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		last := apierrors.NewInternalError(errors.New("boom"))
		err := retry(ctx, func(context.Context) error { return last })
		if !errors.Is(err, context.DeadlineExceeded) || !apierrors.IsInternalError(err) {
			t.Errorf("retry = %v, want both the last error and the deadline", err)
		}
	})
}

func TestNewClientInlineKubeconfig(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-t0ken-value"
	base := `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://127.0.0.1:6443
contexts:
- name: ctx
  context: {cluster: c, user: u}
- name: other
  context: {cluster: c, user: u}
current-context: ctx
users:
- name: u
  user:
`
	tests := []struct {
		name    string
		inline  string
		context string
		wantErr string
	}{
		{"token", base + "    token: " + secret + "\n", "", ""},
		{"named context", base + "    token: " + secret + "\n", "other", ""},
		{"unknown context", base + "    token: " + secret + "\n", "nope", `inline kubeconfig has no context "nope" (it has: ctx, other)`},
		{"exec plugin", base + "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: /bin/sh\n      args: [-c, " + secret + "]\n", "", "exec credential plugin"},
		{"token file", base + "    tokenFile: /var/run/secrets/token\n", "", "tokenFile"},
		{"client cert file", base + "    client-certificate: /etc/cert.pem\n    client-key: /etc/key.pem\n", "", "client-certificate or client-key file paths"},
		{"not YAML", "users: [" + secret + ": {", "", "not a valid kubeconfig"},
		{"wrong type", base + "    token: [" + secret + "]\n", "", "not a valid kubeconfig"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spec := v1alpha1EnvInline(tt.inline, tt.context)
			c, err := NewClient(t.Context(), spec)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := c.RESTConfig().BearerToken; got != secret {
					t.Errorf("token = %q", got)
				}
				return
			}
			if err == nil {
				t.Fatalf("NewClient succeeded, want an error containing %q", tt.wantErr)
			}
			if !containsAll(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			if containsAll(err.Error(), secret) {
				t.Errorf("error quotes the kubeconfig's secret: %q", err)
			}
		})
	}
}

func TestNewClientChoices(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	kc := "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: https://127.0.0.1:6443}\ncontexts:\n- name: ctx\n  context: {cluster: c, user: u}\ncurrent-context: ctx\nusers:\n- name: u\n  user: {token: abc}\n"
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		spec    v1alpha1.EnvironmentSpec
		wantErr string
	}{
		{"path", v1alpha1.EnvironmentSpec{Kubeconfig: &v1alpha1.KubeconfigSource{Path: path}}, ""},
		{"missing path", v1alpha1.EnvironmentSpec{Kubeconfig: &v1alpha1.KubeconfigSource{Path: path + "-missing"}}, "kubeconfig-missing"},
		{"nothing", v1alpha1.EnvironmentSpec{}, "no kubeconfig"},
		{"path and inline", v1alpha1.EnvironmentSpec{Kubeconfig: &v1alpha1.KubeconfigSource{Path: path, Inline: kc}}, "choose one"},
		{"in-cluster and path", v1alpha1.EnvironmentSpec{InCluster: true, Kubeconfig: &v1alpha1.KubeconfigSource{Path: path}}, "choose one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := NewClient(t.Context(), tt.spec)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				cfg := c.RESTConfig()
				if cfg.Host != "https://127.0.0.1:6443" || cfg.Timeout != DefaultRequestTimeout {
					t.Errorf("config host %q timeout %v", cfg.Host, cfg.Timeout)
				}
				return
			}
			if err == nil || !containsAll(err.Error(), tt.wantErr) {
				t.Errorf("NewClient error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// v1alpha1EnvInline is an environment with an inline kubeconfig.
func v1alpha1EnvInline(inline, context string) v1alpha1.EnvironmentSpec {
	return v1alpha1.EnvironmentSpec{Kubeconfig: &v1alpha1.KubeconfigSource{Inline: inline}, Context: context}
}

// containsAll reports whether s contains every one of subs.
func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
