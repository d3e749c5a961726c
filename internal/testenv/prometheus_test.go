package testenv

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// The answers of Prometheus' query API decoded into samples, and its
// errors reported with the query.
func TestPrometheusQueryDecode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, answer string
		want         []Sample
		err          string
	}{
		{
			name:   "vector",
			answer: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"service":"a"},"value":[1.5,"0.9"]},{"metric":{"service":"b"},"value":[1.5,"NaN"]}]}}`,
			want:   []Sample{{Labels: map[string]string{"service": "a"}, Value: 0.9}, {Labels: map[string]string{"service": "b"}, Value: 0}},
		},
		{name: "empty vector", answer: `{"status":"success","data":{"resultType":"vector","result":[]}}`, want: []Sample{}},
		{name: "scalar", answer: `{"status":"success","data":{"resultType":"scalar","result":[1.5,"+Inf"]}}`, want: []Sample{{Value: 0}}},
		{name: "error", answer: `{"status":"error","errorType":"bad_data","error":"parse error at char 3"}`, err: "parse error at char 3"},
		{name: "matrix", answer: `{"status":"success","data":{"resultType":"matrix","result":[]}}`, err: `result type "matrix"`},
		{name: "not JSON", answer: `<html>`, err: "decode"},
		{name: "value not a string", answer: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1.5,0.9]}]}}`, err: "want a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/api/v1/query" || r.URL.Query().Get("query") != "up" {
					http.Error(w, "unexpected "+r.URL.String(), http.StatusBadRequest)
					return
				}
				_, _ = fmt.Fprint(w, tc.answer)
			}))
			defer srv.Close()
			p := &Prometheus{URL: srv.URL}
			got, err := p.Query(context.Background(), "up")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "query up") {
					t.Fatalf("Query error = %v, want one naming the query and %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("Query = %v, want %v", got, tc.want)
			}
			for i := range got {
				w := tc.want[i]
				if fmt.Sprint(got[i].Labels) != fmt.Sprint(w.Labels) || (got[i].Value != w.Value && w.Value != 0) {
					t.Errorf("sample %d = %+v, want %+v", i, got[i], w)
				}
			}
		})
	}
}

// The real Prometheus scrapes a target, is stopped (queries fail, never
// answer empty) and started again on the same address with its data.
func TestPrometheusStartStop(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts the real Prometheus")
	}
	bin, err := PrometheusBinary()
	if errors.Is(err, ErrPrometheusMissing) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = fmt.Fprint(w, "# TYPE fledge_test_answers_total counter\nfledge_test_answers_total{version=\"2.1\"} 42\n")
	}))
	defer target.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := StartPrometheus(ctx, PrometheusOptions{
		Bin: bin, Dir: t.TempDir(), Job: "agent", ScrapeInterval: 500 * time.Millisecond,
		Targets: []string{strings.TrimPrefix(target.URL, "http://")},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	const q = `fledge_test_answers_total{job="agent",version="2.1"}`
	s, err := p.WaitSeries(ctx, q, 30*time.Second)
	if err != nil {
		t.Fatalf("%v\n%s", err, p.Tail(20))
	}
	if len(s) != 1 || s[0].Value != 42 {
		t.Fatalf("%s = %+v, want one sample of 42", q, s)
	}
	p.Stop()
	if _, err := p.Query(ctx, q); err == nil {
		t.Fatal("a stopped Prometheus answered")
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.WaitSeries(ctx, q, 30*time.Second); err != nil {
		t.Fatalf("after a restart: %v\n%s", err, p.Tail(20))
	}
	if err := p.Start(ctx); err == nil {
		t.Error("a second Start of a running server succeeded")
	}
}

func TestStartPrometheusRefusesNoTarget(t *testing.T) {
	t.Parallel()
	_, err := StartPrometheus(context.Background(), PrometheusOptions{Bin: "/bin/true", Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "no target") {
		t.Fatalf("StartPrometheus without targets: %v, want an error naming the targets", err)
	}
}
