package httpapi

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"fledge.dev/fledge/internal/store"
)

// Revoking a token ends its open watch streams, with an error event, and
// no event recorded after the revocation reaches them. The check reads the
// shared store, so a revocation on another replica ends them too.
func TestRevocationEndsWatch(t *testing.T) {
	t.Parallel()
	a := setup(t)
	if code, body := do(t, a, "POST", "/api/v1/pipelines/p/runs", `{"parameters":{"TAG":"1"}}`); code != 201 {
		t.Fatalf("run: %d %s", code, body)
	}
	viewer := a.token(t, "vera", "viewer")
	for _, how := range []string{"header", "query"} {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		url := a.URL + "/api/v1/deployments/1/events?watch=true"
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		if how == "query" {
			req, _ = http.NewRequestWithContext(ctx, "GET", url+"&access_token="+viewer, nil)
		} else {
			req.Header.Set("Authorization", "Bearer "+viewer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: watch: %s", how, resp.Status)
		}
		lines := make(chan string)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		next := func() (string, bool) {
			select {
			case l, ok := <-lines:
				return l, ok
			case <-ctx.Done():
				t.Fatalf("%s: the stream neither ended nor sent anything", how)
			}
			return "", false
		}
		// The run's first events arrive while the token is valid.
		for l, ok := next(); !strings.HasPrefix(l, "data:"); l, ok = next() {
			if !ok {
				t.Fatalf("%s: the stream ended before the first event", how)
			}
		}
		if how == "header" {
			if code, body := do(t, a, "DELETE", "/api/v1/tokens/vera", ""); code != 200 {
				t.Fatalf("revoke: %d %s", code, body)
			}
		} else {
			// Revoked behind this server's back, as another replica would.
			if err := a.st.DeleteToken(t.Context(), "vera"); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.st.AppendEvents(t.Context(), store.Event{DeploymentID: 1, Type: "AfterRevocation-" + how, Message: "secret progress"}); err != nil {
			t.Fatal(err)
		}
		var rest []string
		for l, ok := next(); ok; l, ok = next() {
			rest = append(rest, l)
		}
		got := strings.Join(rest, "\n")
		if strings.Contains(got, "AfterRevocation-"+how) {
			t.Fatalf("%s: an event recorded after the revocation was sent:\n%s", how, got)
		}
		if !strings.Contains(got, "event: error") || !strings.Contains(got, `"code":401`) || !strings.Contains(got, "revoked") {
			t.Fatalf("%s: the stream did not end with a 401 error event:\n%s", how, got)
		}
		viewer = a.token(t, "vera", "viewer")
	}
}
