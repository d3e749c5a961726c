package analysis

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

type secretMap map[string]string

func (s secretMap) SecretValue(_ context.Context, name string) ([]byte, error) {
	v, ok := s[name]
	if !ok {
		return nil, errors.New("not found")
	}
	return []byte(v), nil
}

// fakePrometheus answers /api/v1/query with a fixed status and body and
// remembers the last request.
type fakePrometheus struct {
	mu     sync.Mutex
	status int
	body   string
	delay  time.Duration
	last   *http.Request
}

func (f *fakePrometheus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.last = r.Clone(context.Background())
	status, body, delay := f.status, f.body, f.delay
	f.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

func vector(values ...string) string {
	var items []string
	for i, v := range values {
		items = append(items, fmt.Sprintf(`{"metric":{"pod":"p%d"},"value":[1700000000.1,%q]}`, i, v))
	}
	return `{"status":"success","data":{"resultType":"vector","result":[` + strings.Join(items, ",") + `]}}`
}

// The Prometheus provider's answers and failures, each worded for the
// person reading the measurement.
func TestPrometheusProvider(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		body   string
		delay  time.Duration
		want   float64
		err    string
		noData bool
	}{
		{name: "one sample", status: 200, body: vector("0.995"), want: 0.995},
		{name: "scalar", status: 200, body: `{"status":"success","data":{"resultType":"scalar","result":[1700000000,"42"]}}`, want: 42},
		{name: "+Inf", status: 200, body: vector("+Inf"), want: 0, err: ""},
		{name: "empty vector", status: 200, body: vector(), err: "empty vector", noData: true},
		{name: "NaN", status: 200, body: vector("NaN"), err: "NaN", noData: true},
		{name: "several series", status: 200, body: vector("1", "2"), err: `answered 2 series ({pod="p0"}, ...); it must answer one number`},
		{name: "matrix", status: 200, body: `{"status":"success","data":{"resultType":"matrix","result":[]}}`, err: "answered a matrix"},
		{name: "bad query", status: 400, body: `{"status":"error","errorType":"bad_data","error":"parse error at char 5"}`, err: "bad_data: parse error at char 5"},
		{name: "not the API", status: 502, body: "<html>bad gateway</html>", err: "502 Bad Gateway: <html>bad gateway</html>"},
		{name: "not JSON", status: 200, body: "hello", err: "not the API's JSON: hello"},
		{name: "timeout", status: 200, body: vector("1"), delay: 2 * time.Second, err: "no answer within 200ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakePrometheus{status: tt.status, body: tt.body, delay: tt.delay}
			srv := httptest.NewServer(f)
			defer srv.Close()
			p, err := NewProvider(context.Background(), v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusProvider{
				Address: srv.URL + "/", Query: "up", Timeout: &v1alpha1.Duration{Duration: 200 * time.Millisecond},
			}}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Measure(context.Background())
			if tt.err != "" || tt.noData {
				if err == nil || !strings.Contains(err.Error(), tt.err) || errors.Is(err, ErrNoData) != tt.noData {
					t.Fatalf("err = %v, want one with %q (no data: %v)", err, tt.err, tt.noData)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.name == "+Inf" {
				if jsonValue(got) != `"+Inf"` {
					t.Fatalf("+Inf encodes as %s", jsonValue(got))
				}
				return
			}
			if got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// Arguments fill the query and URL; the secrets authenticate.
func TestProviderRequests(t *testing.T) {
	t.Parallel()
	secrets := secretMap{"tok": "s3cret\n", "pw": "hunter2"}
	args := map[string]string{"service": "web-canary", "tag": "2.1"}
	tests := []struct {
		name  string
		spec  func(url string) v1alpha1.MetricProvider
		check func(r *http.Request) string
	}{
		{"prometheus bearer", func(u string) v1alpha1.MetricProvider {
			return v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusProvider{
				Address: u, Query: `sum(up{service="{{args.service}}"})`, Auth: &v1alpha1.MetricAuth{BearerSecretRef: "tok"},
			}}
		}, func(r *http.Request) string {
			if r.URL.Path != "/api/v1/query" || r.URL.Query().Get("query") != `sum(up{service="web-canary"})` {
				return "query " + r.URL.String()
			}
			if r.Header.Get("Authorization") != "Bearer s3cret" {
				return "authorization " + r.Header.Get("Authorization")
			}
			return ""
		}},
		{"web basic and headers", func(u string) v1alpha1.MetricProvider {
			return v1alpha1.MetricProvider{Web: &v1alpha1.WebProvider{
				URL: u + "/status/{{args.service}}", JSONPath: "$.data[0].rate",
				Headers: []v1alpha1.WebHeader{{Name: "X-Tag", Value: "v{{args.tag}}"}},
				Auth:    &v1alpha1.MetricAuth{Basic: &v1alpha1.BasicAuth{Username: "fledge", PasswordSecretRef: "pw"}},
			}}
		}, func(r *http.Request) string {
			if r.URL.Path != "/status/web-canary" || r.Header.Get("X-Tag") != "v2.1" {
				return "request " + r.URL.Path + " " + r.Header.Get("X-Tag")
			}
			if u, p, ok := r.BasicAuth(); !ok || u != "fledge" || p != "hunter2" {
				return "basic auth " + u + ":" + p
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakePrometheus{status: 200, body: vector("1")}
			if strings.HasPrefix(tt.name, "web") {
				f.body = `{"data":[{"rate":0.5}]}`
			}
			srv := httptest.NewServer(f)
			defer srv.Close()
			p, err := NewProvider(context.Background(), tt.spec(srv.URL), args, secrets)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Measure(context.Background()); err != nil {
				t.Fatal(err)
			}
			if msg := tt.check(f.last); msg != "" {
				t.Fatal(msg)
			}
		})
	}
	_, err := NewProvider(context.Background(), v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusProvider{
		Address: "http://127.0.0.1:1", Query: "up", Auth: &v1alpha1.MetricAuth{BearerSecretRef: "gone"},
	}}, nil, secrets)
	if err == nil || !strings.Contains(err.Error(), `secret "gone"`) {
		t.Fatalf("missing secret: %v", err)
	}
}

// The web provider selects with JSONPath: one node, several, none.
func TestWebProvider(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path, body string
		status     int
		want       string
		err        string
	}{
		{"$.ok", `{"ok":true}`, 200, "true", ""},
		{"$.items[*].v", `{"items":[{"v":1},{"v":2}]}`, 200, "[1,2]", ""},
		{"$.missing", `{"ok":true}`, 200, "", "selects nothing"},
		{"$.ok", `not json`, 200, "", "not JSON"},
		{"$.ok", `{"ok":true}`, 500, "", "500 Internal Server Error"},
	}
	for _, tt := range tests {
		f := &fakePrometheus{status: tt.status, body: tt.body}
		srv := httptest.NewServer(f)
		p, err := NewProvider(context.Background(), v1alpha1.MetricProvider{Web: &v1alpha1.WebProvider{URL: srv.URL, JSONPath: tt.path}}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.Measure(context.Background())
		srv.Close()
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s on %s: %v, want %q", tt.path, tt.body, err, tt.err)
			}
			continue
		}
		if err != nil || jsonValue(got) != tt.want {
			t.Errorf("%s on %s: %s %v, want %s", tt.path, tt.body, jsonValue(got), err, tt.want)
		}
	}
}
