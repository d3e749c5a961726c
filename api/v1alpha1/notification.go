package v1alpha1

import (
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strings"
)

// NotificationEvent is something a pipeline's notifications may be sent
// for.
type NotificationEvent string

// Notification events. New ones (such as an analysis failing) are added
// here and raised by the events that cause them (NotificationFor); a
// notification without events listed receives every event.
const (
	// NotifyApprovalNeeded: a deployment waits for approval (the message
	// links to its page in the console).
	NotifyApprovalNeeded NotificationEvent = "ApprovalNeeded"
	// NotifyApprovalTimedOut: nobody decided before the approval timeout.
	NotifyApprovalTimedOut NotificationEvent = "ApprovalTimedOut"
	// NotifyPaused: a shift-traffic stage holds the canary's weight for
	// its batch delay.
	NotifyPaused     NotificationEvent = "Paused"
	NotifySucceeded  NotificationEvent = "Succeeded"
	NotifyFailed     NotificationEvent = "Failed"
	NotifyRejected   NotificationEvent = "Rejected"
	NotifyCancelled  NotificationEvent = "Cancelled"
	NotifyRolledBack NotificationEvent = "RolledBack"
)

// NotificationEvents lists every notification event.
var NotificationEvents = []NotificationEvent{
	NotifyApprovalNeeded, NotifyApprovalTimedOut, NotifyPaused,
	NotifySucceeded, NotifyFailed, NotifyRejected, NotifyCancelled, NotifyRolledBack,
}

// NotificationFor returns the notification a deployment event of type
// eventType raises in a deployment of kind, or "" for none. A rollback
// that succeeds is RolledBack.
func NotificationFor(kind DeploymentKind, eventType string) NotificationEvent {
	switch eventType {
	case "WaitingForApproval":
		return NotifyApprovalNeeded
	case "ApprovalTimedOut":
		return NotifyApprovalTimedOut
	case "BatchDelay":
		return NotifyPaused
	case "DeploymentSucceeded":
		if kind == KindRollback {
			return NotifyRolledBack
		}
		return NotifySucceeded
	case "DeploymentFailed":
		return NotifyFailed
	case "DeploymentRejected":
		return NotifyRejected
	case "DeploymentCancelled":
		return NotifyCancelled
	}
	return ""
}

// Notification sends a pipeline's deployment events to one sink: exactly
// one of Slack, Webhook and Email is set. Every secret it needs is a
// Fledge secret (fledge secret set), encrypted at rest and never shown.
type Notification struct {
	// Name identifies the receiver in delivery records.
	Name string `json:"name" yaml:"name"`
	// Events it receives; empty means all of them.
	Events  []NotificationEvent `json:"events,omitempty" yaml:"events,omitempty"`
	Slack   *SlackSink          `json:"slack,omitempty" yaml:"slack,omitempty"`
	Webhook *WebhookSink        `json:"webhook,omitempty" yaml:"webhook,omitempty"`
	Email   *EmailSink          `json:"email,omitempty" yaml:"email,omitempty"`
}

// Sink names the notification's sink type: slack, webhook or email.
func (n Notification) Sink() string {
	switch {
	case n.Slack != nil:
		return "slack"
	case n.Webhook != nil:
		return "webhook"
	case n.Email != nil:
		return "email"
	}
	return ""
}

// Wants reports whether the notification receives event.
func (n Notification) Wants(event NotificationEvent) bool {
	return len(n.Events) == 0 || slices.Contains(n.Events, event)
}

// SlackSink posts a Block Kit message to a Slack incoming webhook.
type SlackSink struct {
	// WebhookURLSecret names the secret holding the incoming webhook's URL.
	WebhookURLSecret string `json:"webhookURLSecret" yaml:"webhookURLSecret"`
}

// WebhookSink posts a JSON body signed with HMAC-SHA256 (see
// docs/operations.md for the header and how a receiver verifies it).
type WebhookSink struct {
	// URL receives the POST (http or https).
	URL string `json:"url" yaml:"url"`
	// SigningSecret names the secret whose value is the HMAC key.
	SigningSecret string `json:"signingSecret" yaml:"signingSecret"`
}

// EmailSink sends a plain-text mail over SMTP. The connection is upgraded
// with STARTTLS, which is required unless the server is on a loopback
// address.
type EmailSink struct {
	// SMTP is the server as host:port (port 587 is the submission port).
	SMTP string `json:"smtp" yaml:"smtp"`
	// Username and PasswordSecret authenticate (PLAIN); both or neither.
	Username       string   `json:"username,omitempty" yaml:"username,omitempty"`
	PasswordSecret string   `json:"passwordSecret,omitempty" yaml:"passwordSecret,omitempty"`
	From           string   `json:"from" yaml:"from"`
	To             []string `json:"to" yaml:"to"`
}

// MaxNotifications bounds a pipeline's notifications.
const MaxNotifications = 20

// Secrets lists the secrets the notification uses.
func (n Notification) Secrets() []string {
	switch {
	case n.Slack != nil:
		return []string{n.Slack.WebhookURLSecret}
	case n.Webhook != nil:
		return []string{n.Webhook.SigningSecret}
	case n.Email != nil && n.Email.PasswordSecret != "":
		return []string{n.Email.PasswordSecret}
	}
	return nil
}

func checkNotifications(l *errs, ns []Notification, refs *References) {
	if len(ns) > MaxNotifications {
		l.add("spec.notifications", "at most %d notifications, got %d", MaxNotifications, len(ns))
	}
	names := map[string]bool{}
	for i, n := range ns {
		f := fmt.Sprintf("spec.notifications[%d]", i)
		checkName(l, f+".name", n.Name)
		if names[n.Name] {
			l.add(f+".name", "%q is used by another notification", n.Name)
		}
		names[n.Name] = true
		for j, ev := range n.Events {
			if !slices.Contains(NotificationEvents, ev) {
				l.add(fmt.Sprintf("%s.events[%d]", f, j), "unknown event %q (want one of %s)", ev, joinEvents(NotificationEvents))
			}
		}
		set := 0
		for _, p := range []bool{n.Slack != nil, n.Webhook != nil, n.Email != nil} {
			if p {
				set++
			}
		}
		if set != 1 {
			l.add(f, "set exactly one of slack, webhook and email")
			continue
		}
		switch {
		case n.Slack != nil:
			checkName(l, f+".slack.webhookURLSecret", n.Slack.WebhookURLSecret)
		case n.Webhook != nil:
			checkName(l, f+".webhook.signingSecret", n.Webhook.SigningSecret)
			if u, err := url.Parse(n.Webhook.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				l.add(f+".webhook.url", "must be an http or https URL, got %q", n.Webhook.URL)
			}
		case n.Email != nil:
			e := n.Email
			if host, port, ok := strings.Cut(e.SMTP, ":"); !ok || host == "" || port == "" {
				l.add(f+".email.smtp", "must be host:port, got %q", e.SMTP)
			}
			if (e.Username == "") != (e.PasswordSecret == "") {
				l.add(f+".email", "username and passwordSecret go together")
			}
			if e.PasswordSecret != "" {
				checkName(l, f+".email.passwordSecret", e.PasswordSecret)
			}
			if _, err := mail.ParseAddress(e.From); err != nil {
				l.add(f+".email.from", "%q is not an email address", e.From)
			}
			if len(e.To) == 0 {
				l.add(f+".email.to", "at least one recipient is required")
			}
			for j, to := range e.To {
				if _, err := mail.ParseAddress(to); err != nil {
					l.add(fmt.Sprintf("%s.email.to[%d]", f, j), "%q is not an email address", to)
				}
			}
		}
		if refs != nil && refs.Secrets != nil {
			for _, s := range n.Secrets() {
				if s != "" && !refs.Secrets[s] {
					l.add(f, "secret %q does not exist (create it with: fledge secret set %s --value-file FILE)", s, s)
				}
			}
		}
	}
}

func joinEvents(evs []NotificationEvent) string {
	s := make([]string, len(evs))
	for i, e := range evs {
		s[i] = string(e)
	}
	return strings.Join(s, ", ")
}
