package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// SlackSink posts a Block Kit message to an incoming webhook. The URL is a
// secret: it is never logged or recorded.
type SlackSink struct {
	URL    string
	Client *http.Client
}

// Send implements Sink.
func (s *SlackSink) Send(ctx context.Context, m Message) error {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false) // the text is already escaped for mrkdwn
	if err := enc.Encode(SlackPayload(m)); err != nil {
		return fmt.Errorf("encode Slack message: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, &body)
	if err != nil {
		return fmt.Errorf("slack request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	return post(s.Client, req)
}

// Slack's limits on the blocks used (api.slack.com/reference/block-kit).
const (
	slackHeaderMax  = 150
	slackSectionMax = 3000
	slackFieldMax   = 2000
)

// SlackPayload is the incoming-webhook body of m: a fallback text, a
// header, the event's message, the release's facts and a button to its
// page.
func SlackPayload(m Message) map[string]any {
	fields := []map[string]any{
		mrkdwn("*Pipeline*\n" + m.Pipeline),
		mrkdwn(fmt.Sprintf("*Deployment*\n#%d (%s)", m.Number, m.Kind)),
		mrkdwn("*Version*\n" + m.Version()),
		mrkdwn("*Triggered by*\n" + m.TriggeredBy),
	}
	for _, f := range fields {
		f["text"] = clip(f["text"].(string), slackFieldMax)
	}
	blocks := []map[string]any{
		{"type": "header", "text": map[string]any{"type": "plain_text", "text": clip(m.Title(), slackHeaderMax)}},
		{"type": "section", "text": mrkdwn(clip(escapeMrkdwn(m.Message), slackSectionMax)), "fields": fields},
	}
	if m.URL != "" {
		label := "Open in Fledge"
		if m.Event == "ApprovalNeeded" {
			label = "Approve or reject"
		}
		blocks = append(blocks, map[string]any{"type": "actions", "elements": []map[string]any{{
			"type": "button", "text": map[string]any{"type": "plain_text", "text": label}, "url": m.URL,
		}}})
	}
	return map[string]any{"text": clip(m.Title(), slackSectionMax), "blocks": blocks}
}

func mrkdwn(s string) map[string]any { return map[string]any{"type": "mrkdwn", "text": s} }

// escapeMrkdwn escapes the three characters Slack's mrkdwn gives meaning.
func escapeMrkdwn(s string) string {
	var b bytes.Buffer
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// clip shortens s to at most n runes, marking the cut.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
