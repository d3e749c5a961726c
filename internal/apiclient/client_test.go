package apiclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

// recorded is what the test server saw of one request.
type recorded struct {
	method, path, query, user, accept, body string
}

// setup starts a server that records each request and answers with
// handler, and returns a client of it.
func setup(t *testing.T, handler http.HandlerFunc) (*Client, *[]recorded) {
	t.Helper()
	var mu sync.Mutex
	var reqs []recorded
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, recorded{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get(v1alpha1.UserHeader), r.Header.Get("Accept"), string(b)})
		mu.Unlock()
		handler(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, WithUser("alice"), WithTimeout(5*time.Second), WithReconnectDelay(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	return c, &reqs
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want, err string
	}{
		{in: "http://127.0.0.1:8080", want: "http://127.0.0.1:8080"},
		{in: "127.0.0.1:8080", want: "http://127.0.0.1:8080"},
		{in: "https://fledge.example/prefix/", want: "https://fledge.example/prefix"},
		{in: "", err: "server URL is empty"},
		{in: "ftp://host", err: `server URL "ftp://host": scheme must be http or https`},
		{in: "http://", err: `server URL "http://": no host`},
	}
	for _, tt := range tests {
		c, err := New(tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("New(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || c.Server() != tt.want {
			t.Errorf("New(%q) = %v, %v; want %q", tt.in, c, err, tt.want)
		}
	}
}

func TestRequests(t *testing.T) {
	t.Parallel()
	dep := v1alpha1.Deployment{ID: 7, Pipeline: "web", Number: 3, Status: v1alpha1.StatusQueued}
	tests := []struct {
		name   string
		code   int
		answer any
		call   func(context.Context, *Client) (any, error)
		want   recorded
		result any
	}{
		{
			name: "apply", code: 201,
			answer: v1alpha1.ApplyResponse{Kind: "Pipeline", Name: "web", Action: v1alpha1.ActionCreated, Generation: 1},
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.ApplyResource(ctx, "Pipeline", "web", map[string]string{"kind": "Pipeline"})
			},
			want:   recorded{method: "PUT", path: "/api/v1/pipelines/web", body: `{"kind":"Pipeline"}`},
			result: v1alpha1.ApplyResponse{Kind: "Pipeline", Name: "web", Action: v1alpha1.ActionCreated, Generation: 1},
		},
		{
			name: "get resource by plural", code: 200,
			answer: map[string]any{"metadata": map[string]any{"name": "e"}},
			call: func(ctx context.Context, c *Client) (any, error) {
				var e v1alpha1.Environment
				err := c.GetResource(ctx, "environments", "e", &e)
				return e.Metadata.Name, err
			},
			want:   recorded{method: "GET", path: "/api/v1/environments/e"},
			result: "e",
		},
		{
			name: "list", code: 200,
			answer: map[string]any{"items": []any{map[string]any{"a": 1}, map[string]any{"b": 2}}},
			call: func(ctx context.Context, c *Client) (any, error) {
				items, err := c.ListResources(ctx, "Artifact")
				return len(items), err
			},
			want:   recorded{method: "GET", path: "/api/v1/artifacts"},
			result: 2,
		},
		{
			name: "delete", code: 200,
			call: func(ctx context.Context, c *Client) (any, error) {
				return nil, c.DeleteResource(ctx, "Environment", "e")
			},
			want: recorded{method: "DELETE", path: "/api/v1/environments/e"},
		},
		{
			name: "run", code: 201, answer: dep,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.Run(ctx, "web", map[string]string{"IMAGE_TAG": "2.1"})
			},
			want:   recorded{method: "POST", path: "/api/v1/pipelines/web/runs", body: `{"parameters":{"IMAGE_TAG":"2.1"}}`},
			result: dep,
		},
		{
			name: "get deployment", code: 200, answer: dep,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.GetDeployment(ctx, 7)
			},
			want:   recorded{method: "GET", path: "/api/v1/deployments/7"},
			result: dep,
		},
		{
			name: "list deployments", code: 200,
			answer: v1alpha1.DeploymentList{Items: []v1alpha1.Deployment{dep}, Total: 9, NextBefore: 7},
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.ListDeployments(ctx, ListOptions{
					Pipeline: "web", Limit: 1, Before: 8,
					Statuses: []v1alpha1.DeploymentStatus{v1alpha1.StatusSucceeded, v1alpha1.StatusFailed},
				})
			},
			want:   recorded{method: "GET", path: "/api/v1/deployments", query: "before=8&limit=1&pipeline=web&status=Succeeded%2CFailed"},
			result: v1alpha1.DeploymentList{Items: []v1alpha1.Deployment{dep}, Total: 9, NextBefore: 7},
		},
		{
			name: "events", code: 200,
			answer: v1alpha1.EventList{Items: []v1alpha1.Event{{DeploymentID: 7, Seq: 4, Type: "StageStarted"}}},
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.Events(ctx, 7, 3)
			},
			want:   recorded{method: "GET", path: "/api/v1/deployments/7/events", query: "after=3"},
			result: []v1alpha1.Event{{DeploymentID: 7, Seq: 4, Type: "StageStarted"}},
		},
		{
			name: "manifests", code: 200, answer: "kind: Service\n",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.Manifests(ctx, 7)
			},
			want:   recorded{method: "GET", path: "/api/v1/deployments/7/manifests", accept: "application/yaml"},
			result: "kind: Service\n",
		},
		{
			name: "approve", code: 200, answer: dep,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.Approve(ctx, 7, "looks good")
			},
			want:   recorded{method: "POST", path: "/api/v1/deployments/7/approve", body: `{"reason":"looks good"}`},
			result: dep,
		},
		{
			name: "reject", code: 200, answer: dep,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.Reject(ctx, 7, "red is wrong")
			},
			want:   recorded{method: "POST", path: "/api/v1/deployments/7/reject", body: `{"reason":"red is wrong"}`},
			result: dep,
		},
		{
			name: "cancel", code: 200, answer: dep,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.Cancel(ctx, 7, "error rate rising")
			},
			want:   recorded{method: "POST", path: "/api/v1/deployments/7/cancel", body: `{"reason":"error rate rising"}`},
			result: dep,
		},
		{
			name: "resume", code: 200, answer: dep,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.Resume(ctx, 7, "")
			},
			want:   recorded{method: "POST", path: "/api/v1/deployments/7/resume", body: `{}`},
			result: dep,
		},
		{
			name: "promote", code: 200, answer: dep,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.Promote(ctx, 7, "hotfix")
			},
			want:   recorded{method: "POST", path: "/api/v1/deployments/7/promote", body: `{"reason":"hotfix"}`},
			result: dep,
		},
		{
			name: "retry", code: 201, answer: dep,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.Retry(ctx, 7)
			},
			want:   recorded{method: "POST", path: "/api/v1/deployments/7/retry"},
			result: dep,
		},
		{
			name: "rollback preview", code: 200,
			answer: v1alpha1.RollbackPreview{Target: dep, Diff: "-a\n+b\n", Changed: 1},
			call: func(ctx context.Context, c *Client) (any, error) {
				r, err := c.Rollback(ctx, "web", v1alpha1.RollbackRequest{To: 7, DryRun: true})
				return *r.Preview, err
			},
			want:   recorded{method: "POST", path: "/api/v1/pipelines/web/rollback", body: `{"to":7,"dryRun":true}`},
			result: v1alpha1.RollbackPreview{Target: dep, Diff: "-a\n+b\n", Changed: 1},
		},
		{
			name: "rollback", code: 201, answer: dep,
			call: func(ctx context.Context, c *Client) (any, error) {
				r, err := c.Rollback(ctx, "web", v1alpha1.RollbackRequest{To: 7, Reason: "2.1 breaks checkout"})
				return *r.Deployment, err
			},
			want:   recorded{method: "POST", path: "/api/v1/pipelines/web/rollback", body: `{"to":7,"reason":"2.1 breaks checkout"}`},
			result: dep,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, reqs := setup(t, func(w http.ResponseWriter, r *http.Request) {
				if s, ok := tt.answer.(string); ok {
					w.Header().Set("Content-Type", "application/yaml")
					_, _ = io.WriteString(w, s)
					return
				}
				writeJSON(w, tt.code, tt.answer)
			})
			got, err := tt.call(context.Background(), c)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if tt.result != nil && !reflect.DeepEqual(got, tt.result) {
				t.Errorf("result = %#v\nwant %#v", got, tt.result)
			}
			if len(*reqs) != 1 {
				t.Fatalf("%d requests", len(*reqs))
			}
			r := (*reqs)[0]
			want := tt.want
			want.user = "alice"
			if want.accept == "" {
				want.accept = "application/json"
			}
			r.body = strings.TrimSpace(r.body)
			if r != want {
				t.Errorf("request = %+v\nwant      %+v", r, want)
			}
		})
	}
}

func TestAPIError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		code   int
		body   string
		want   string
		isNF   bool
		isConf bool
	}{
		{
			name: "status with details", code: 422,
			body: `{"code":422,"reason":"Invalid","message":"invalid Pipeline \"web\"","details":[{"field":"spec.stages[1].shiftTraffic.rampLimitPercent","message":"must be between 1 and 100, got 0"},{"field":"spec.stages","message":"a canaryDeployment stage is required"}]}`,
			want: "apply pipeline/web: invalid Pipeline \"web\"\n  spec.stages[1].shiftTraffic.rampLimitPercent: must be between 1 and 100, got 0\n  spec.stages: a canaryDeployment stage is required",
		},
		{
			name: "details already in the message", code: 422,
			body: `{"code":422,"reason":"Invalid","message":"invalid Pipeline \"web\": spec.stages: at least one stage is required","details":[{"field":"spec.stages","message":"at least one stage is required"}]}`,
			want: `apply pipeline/web: invalid Pipeline "web": spec.stages: at least one stage is required`,
		},
		{
			name: "not found", code: 404,
			body: `{"code":404,"reason":"NotFound","message":"pipeline \"web\" not found"}`,
			want: `apply pipeline/web: pipeline "web" not found`, isNF: true,
		},
		{
			name: "conflict reason only", code: 409, body: `{"code":409,"reason":"Conflict"}`,
			want: `apply pipeline/web: Conflict`, isConf: true,
		},
		{
			name: "proxy page", code: 502, body: "<html>bad gateway</html>",
			want: "apply pipeline/web: server answered 502 Bad Gateway: <html>bad gateway</html>",
		},
		{
			name: "empty body", code: 500,
			want: "apply pipeline/web: server answered 500 Internal Server Error",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, _ := setup(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.code)
				_, _ = io.WriteString(w, tt.body)
			})
			_, err := c.ApplyResource(context.Background(), "Pipeline", "web", struct{}{})
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err = %v\nwant %s", err, tt.want)
			}
			var ae *APIError
			if !errors.As(err, &ae) || ae.StatusCode != tt.code {
				t.Errorf("not an *APIError with code %d: %#v", tt.code, err)
			}
			if IsNotFound(err) != tt.isNF || IsConflict(err) != tt.isConf {
				t.Errorf("IsNotFound=%v IsConflict=%v", IsNotFound(err), IsConflict(err))
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	c, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetDeployment(context.Background(), 1)
	if err == nil || !strings.Contains(err.Error(), "cannot reach the Fledge server at "+srv.URL) {
		t.Fatalf("err = %v", err)
	}
}

func TestReadBodyBounded(t *testing.T) {
	t.Parallel()
	if _, err := readBody(strings.NewReader("12345"), 4); err == nil || err.Error() != "response is larger than 4 bytes" {
		t.Errorf("err = %v", err)
	}
	if b, err := readBody(strings.NewReader("1234"), 4); err != nil || string(b) != "1234" {
		t.Errorf("= %q, %v", b, err)
	}
}

func sse(w http.ResponseWriter, events ...v1alpha1.Event) {
	for _, e := range events {
		b, _ := json.Marshal(e)
		fmt.Fprintf(w, "id: %d\nevent: event\ndata: %s\n\n", e.Seq, b)
	}
}

func TestWatchEventsReconnects(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	conn := 0
	c, reqs := setup(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		conn++
		n := conn
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		switch n {
		case 1:
			// Two events, then the connection drops without "end".
			sse(w, v1alpha1.Event{Seq: 1, Type: "a"}, v1alpha1.Event{Seq: 2, Type: "b"})
		case 2:
			// The server repeats event 2; the client skips it.
			fmt.Fprint(w, ": keepalive\n\n")
			sse(w, v1alpha1.Event{Seq: 2, Type: "b"}, v1alpha1.Event{Seq: 3, Type: "c", Message: "done"})
			fmt.Fprint(w, "event: end\ndata: {\"id\":7,\"status\":\"Succeeded\"}\n\n")
			// Anything after "end" is not read.
			sse(w, v1alpha1.Event{Seq: 4, Type: "late"})
		}
	})
	var got []string
	err := c.WatchEvents(context.Background(), 7, 0, func(e v1alpha1.Event) error {
		got = append(got, fmt.Sprintf("%d:%s", e.Seq, e.Type))
		return nil
	})
	if err != nil {
		t.Fatalf("WatchEvents: %v", err)
	}
	if strings.Join(got, " ") != "1:a 2:b 3:c" {
		t.Errorf("events = %v", got)
	}
	if len(*reqs) != 2 || (*reqs)[0].query != "watch=true" || (*reqs)[1].query != "after=2&watch=true" || (*reqs)[1].accept != "text/event-stream" {
		t.Errorf("requests = %+v", *reqs)
	}
}

func TestWatchEventsStops(t *testing.T) {
	t.Parallel()
	stop := errors.New("stop")
	tests := []struct {
		name    string
		handler http.HandlerFunc
		fn      func(v1alpha1.Event) error
		want    func(error) bool
		reqs    int
	}{
		{
			name: "callback error is returned as is",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				sse(w, v1alpha1.Event{Seq: 1}, v1alpha1.Event{Seq: 2})
			},
			fn:   func(v1alpha1.Event) error { return stop },
			want: func(err error) bool { return err == stop },
			reqs: 1,
		},
		{
			name: "not found is not retried",
			handler: func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 404, v1alpha1.Status{Code: 404, Reason: "NotFound", Message: "deployment 7 not found"})
			},
			want: func(err error) bool {
				return IsNotFound(err) && err.Error() == "watch events of deployment 7: deployment 7 not found"
			},
			reqs: 1,
		},
		{
			name: "gives up on a failing server",
			handler: func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 503, v1alpha1.Status{Code: 503, Message: "store unavailable"})
			},
			want: func(err error) bool {
				return err != nil && err.Error() == "watch events of deployment 7: gave up after 5 attempts: store unavailable"
			},
			reqs: 5,
		},
		{
			name: "error event",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				fmt.Fprint(w, "event: error\ndata: {\"code\":403,\"message\":\"forbidden\"}\n\n")
			},
			want: func(err error) bool { return err != nil && err.Error() == "watch events of deployment 7: forbidden" },
			reqs: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, reqs := setup(t, tt.handler)
			fn := tt.fn
			if fn == nil {
				fn = func(v1alpha1.Event) error { return nil }
			}
			err := c.WatchEvents(context.Background(), 7, 0, fn)
			if !tt.want(err) {
				t.Errorf("err = %v", err)
			}
			if len(*reqs) != tt.reqs {
				t.Errorf("%d requests, want %d", len(*reqs), tt.reqs)
			}
		})
	}
}

func TestWatchEventsContextCancel(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		sse(w, v1alpha1.Event{Seq: 1})
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	ctx, cancel := context.WithCancel(context.Background())
	err := c.WatchEvents(ctx, 7, 0, func(v1alpha1.Event) error { cancel(); return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v", err)
	}
}

func TestWatchEventsWithoutStreaming(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	polls := 0
	c, _ := setup(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.URL.Path == "/api/v1/deployments/7":
			polls++
			st := v1alpha1.StatusRunning
			if polls > 1 {
				st = v1alpha1.StatusSucceeded
			}
			writeJSON(w, 200, v1alpha1.Deployment{ID: 7, Status: st})
		case r.URL.Query().Get("after") == "":
			writeJSON(w, 200, v1alpha1.EventList{Items: []v1alpha1.Event{{Seq: 1}}})
		default:
			writeJSON(w, 200, v1alpha1.EventList{Items: []v1alpha1.Event{{Seq: 2}}})
		}
	})
	var seqs []int64
	err := c.WatchEvents(context.Background(), 7, 0, func(e v1alpha1.Event) error {
		seqs = append(seqs, e.Seq)
		return nil
	})
	if err != nil || !reflect.DeepEqual(seqs, []int64{1, 2}) {
		t.Errorf("seqs = %v, err = %v", seqs, err)
	}
}
