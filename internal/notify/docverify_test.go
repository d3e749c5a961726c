package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The receiver's verification as docs/operations.md shows it, verbatim
// between the markers (TestDocumentedVerification checks that).

// doc:begin
func verify(r *http.Request, body, key []byte, seen func(id string) bool) error {
	ts := r.Header.Get("X-Fledge-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return errors.New("stale or missing timestamp")
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(r.Header.Get("X-Fledge-Signature"))) {
		return errors.New("bad signature")
	}
	if seen(r.Header.Get("X-Fledge-Delivery")) {
		return errors.New("duplicate delivery")
	}
	return nil
}

// doc:end

// TestDocumentedVerification: the documented snippet is this file's
// verify, and it accepts a delivery of WebhookSink, refuses another key, a
// stale timestamp and a replayed delivery id.
func TestDocumentedVerification(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("docverify_test.go")
	if err != nil {
		t.Fatal(err)
	}
	code := string(src)
	code = code[strings.Index(code, "// doc:begin\n")+len("// doc:begin\n") : strings.Index(code, "\n// doc:end")]
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "```go\n"+code+"```\n") {
		t.Errorf("docs/operations.md does not show verify as it is here:\n%s", code)
	}

	key := []byte("documented-key-0123456789abcdef")
	ids := map[string]bool{}
	seen := func(id string) bool { dup := ids[id]; ids[id] = true; return dup }
	var results []string
	now := time.Now()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := verify(r, body, key, seen); err != nil {
			results = append(results, err.Error())
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		results = append(results, "ok")
	}))
	defer srv.Close()
	send := func(k []byte, at time.Time, id string) {
		s := &WebhookSink{URL: srv.URL, Secret: k, Client: srv.Client(), Now: func() time.Time { return at }}
		m := testMessage
		m.DeliveryID = id
		_ = s.Send(t.Context(), m)
	}
	send(key, now, "1.a")
	send([]byte("another-key-0123456789abcdef...."), now, "2.a")
	send(key, now.Add(-10*time.Minute), "3.a")
	send(key, now, "1.a")
	want := "ok|bad signature|stale or missing timestamp|duplicate delivery"
	if got := strings.Join(results, "|"); got != want {
		t.Errorf("results %s, want %s", got, want)
	}
}
