package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"fledge.dev/fledge/internal/webhook"
)

// Headers of a generic webhook notification. The signature is the same as
// Fledge's incoming generic webhooks: "sha256=" and the hex HMAC-SHA256,
// under the signing secret, of the timestamp (Unix seconds), '.', and the
// raw body.
const (
	SignatureHeader = webhook.SignatureHeader
	TimestampHeader = webhook.TimestampHeader
	DeliveryHeader  = "X-Fledge-Delivery"
	EventHeader     = "X-Fledge-Event"
)

// Sink delivers one message.
type Sink interface {
	Send(ctx context.Context, m Message) error
}

// WebhookSink posts the message as signed JSON.
type WebhookSink struct {
	URL    string
	Secret []byte
	Client *http.Client
	// Now is the clock of the timestamp (default time.Now).
	Now func() time.Time
}

// Send implements Sink.
func (s *WebhookSink) Send(ctx context.Context, m Message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode message: %w", err)
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	ts := strconv.FormatInt(now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "fledge-notifications")
	req.Header.Set(TimestampHeader, ts)
	req.Header.Set(SignatureHeader, webhook.Sign(s.Secret, ts, body))
	req.Header.Set(DeliveryHeader, m.DeliveryID)
	req.Header.Set(EventHeader, string(m.Event))
	return post(s.Client, req)
}

// post sends req and turns any answer but 2xx into an error that quotes
// the start of the answer.
func post(c *http.Client, req *http.Request) error {
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", redactURL(req), err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("POST %s: %s: %s", redactURL(req), resp.Status, bytes.TrimSpace(snippet))
	}
	return nil
}

// redactURL names where a request went without its path and query, which
// for a Slack webhook are the secret.
func redactURL(req *http.Request) string {
	return req.URL.Scheme + "://" + req.URL.Host
}
