package analysis

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

// Provider reads one metric. A provider is built from a metric's spec with
// its arguments filled in; more kinds (Datadog, CloudWatch) implement the
// same interface and get a field in v1alpha1.MetricProvider.
type Provider interface {
	// Kind names the provider ("prometheus", "web").
	Kind() string
	// Numeric reports whether the result is always a float64 (conditions
	// see a double) rather than any JSON value.
	Numeric() bool
	// Measure reads the metric once. An error means the provider could not
	// answer: the measurement is an Error, never a pass.
	Measure(ctx context.Context) (any, error)
}

// Secrets opens Fledge secrets by name (the service's SecretValue).
type Secrets interface {
	SecretValue(ctx context.Context, name string) ([]byte, error)
}

// ErrNoData is a provider's answer with nothing in it: an empty vector, a
// NaN, a JSONPath that selects nothing. It is an Error measurement.
var ErrNoData = errors.New("no data")

// maxResponse bounds a provider's response body.
const maxResponse = 8 << 20

// NewProvider builds the provider of a metric with args filled in.
func NewProvider(ctx context.Context, p v1alpha1.MetricProvider, args map[string]string, secrets Secrets) (Provider, error) {
	switch {
	case p.Prometheus != nil:
		c, err := newHTTPClient(ctx, p.Prometheus.Auth, p.Prometheus.TLS, p.Prometheus.Timeout, secrets)
		if err != nil {
			return nil, err
		}
		return &Prometheus{client: c, Address: fill(p.Prometheus.Address, args), Query: fill(p.Prometheus.Query, args)}, nil
	case p.Web != nil:
		return newWeb(ctx, p.Web, args, secrets)
	}
	return nil, errors.New("the metric has no provider")
}

// fill replaces {{args.NAME}} by the argument's value.
func fill(s string, args map[string]string) string {
	return v1alpha1.ArgRef.ReplaceAllStringFunc(s, func(m string) string {
		return args[v1alpha1.ArgRef.FindStringSubmatch(m)[1]]
	})
}

// httpClient sends a provider's requests: its authentication, TLS and
// timeout.
type httpClient struct {
	client  *http.Client
	timeout time.Duration
	auth    func(*http.Request)
}

func newHTTPClient(ctx context.Context, auth *v1alpha1.MetricAuth, tlsSpec *v1alpha1.MetricTLS, timeout *v1alpha1.Duration, secrets Secrets) (*httpClient, error) {
	c := &httpClient{timeout: timeout.Or(v1alpha1.DefaultProviderTimeout), auth: func(*http.Request) {}}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// A measurement is seconds apart at least; no connection is kept for
	// the next one, so a provider built per measurement leaks nothing.
	tr.DisableKeepAlives = true
	if t := tlsSpec; t != nil {
		cfg := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify, MinVersion: tls.VersionTLS12} //nolint:gosec // the template asks for it (tests only)
		if t.CA != "" {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM([]byte(t.CA)) {
				return nil, errors.New("tls.ca holds no PEM certificate")
			}
			cfg.RootCAs = pool
		}
		tr.TLSClientConfig = cfg
	}
	c.client = &http.Client{Transport: tr}
	if auth != nil {
		secret := func(name string) (string, error) {
			if secrets == nil {
				return "", fmt.Errorf("secret %q: no secret store", name)
			}
			v, err := secrets.SecretValue(ctx, name)
			if err != nil {
				return "", fmt.Errorf("secret %q: %w", name, err)
			}
			return strings.TrimSpace(string(v)), nil
		}
		switch {
		case auth.BearerSecretRef != "":
			tok, err := secret(auth.BearerSecretRef)
			if err != nil {
				return nil, err
			}
			c.auth = func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
		case auth.Basic != nil:
			pw, err := secret(auth.Basic.PasswordSecretRef)
			if err != nil {
				return nil, err
			}
			user := auth.Basic.Username
			c.auth = func(r *http.Request) { r.SetBasicAuth(user, pw) }
		}
	}
	return c, nil
}

// get sends a GET with the client's authentication and timeout and returns
// the body of a 2xx answer; other answers are errors quoting the start of
// the body.
func (c *httpClient) get(ctx context.Context, url string, header http.Header, accept func(status int) bool) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("request %s: %w", redactURL(url), err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "application/json")
	c.auth(req)
	resp, err := c.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, nil, fmt.Errorf("GET %s: no answer within %s", redactURL(url), c.timeout)
		}
		return 0, nil, fmt.Errorf("GET %s: %w", redactURL(url), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return 0, nil, fmt.Errorf("GET %s: read body: %w", redactURL(url), err)
	}
	if len(body) > maxResponse {
		return 0, nil, fmt.Errorf("GET %s: answer over %d bytes", redactURL(url), maxResponse)
	}
	if !accept(resp.StatusCode) {
		return 0, nil, fmt.Errorf("GET %s: %s: %s", redactURL(url), resp.Status, snippet(body))
	}
	return resp.StatusCode, body, nil
}

// redactURL drops a URL's query (it may carry a long PromQL query or a
// token) from error messages.
func redactURL(u string) string {
	base, _, _ := strings.Cut(u, "?")
	return base
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// jsonValue encodes a result for Measurement.Value; numbers JSON cannot
// hold (infinities) become strings.
func jsonValue(v any) string {
	if f, ok := v.(float64); ok && math.IsInf(f, 0) {
		v = fmt.Sprint(f)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%q", fmt.Sprint(v))
	}
	return string(b)
}
