// Package notify delivers the notifications the store's outbox holds: a
// Sender claims due rows under a lease (so each is sent by one replica),
// resolves the receivers the deployment's pipeline declares, delivers to
// each sink (Slack, a signed webhook, email) with a bounded timeout, and
// records every attempt; failures are retried with exponential backoff
// until MaxAttempts. Nothing here runs on the executor's path: a dead
// endpoint delays only its own notifications.
//
// Delivery is at least once: a sender that dies after sending and before
// recording sends again, with the same delivery id, which receivers use to
// drop duplicates.
package notify

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

// Message is what every sink tells, and the JSON body of the generic
// webhook.
type Message struct {
	// DeliveryID is the same for every attempt of one notification to one
	// receiver: receivers de-duplicate on it.
	DeliveryID   string                     `json:"deliveryId"`
	Event        v1alpha1.NotificationEvent `json:"event"`
	Pipeline     string                     `json:"pipeline"`
	DeploymentID int64                      `json:"deploymentId"`
	Number       int64                      `json:"number"`
	Kind         string                     `json:"kind"`
	Status       string                     `json:"status"`
	Parameters   map[string]string          `json:"parameters"`
	TriggeredBy  string                     `json:"triggeredBy"`
	Stage        string                     `json:"stage,omitempty"`
	// Message is the event that raised the notification, as the
	// deployment's event log shows it.
	Message string    `json:"message"`
	Time    time.Time `json:"time"`
	// URL is the deployment's page in the console (approve or reject
	// there).
	URL string `json:"url,omitempty"`
}

// Title is a one-line summary: "web #3: approval needed".
func (m Message) Title() string {
	return fmt.Sprintf("%s #%d: %s", m.Pipeline, m.Number, eventWords[m.Event])
}

// Version is the run's parameters as text ("IMAGE_TAG=2.1").
func (m Message) Version() string {
	if len(m.Parameters) == 0 {
		return "no parameters"
	}
	keys := make([]string, 0, len(m.Parameters))
	for k := range m.Parameters {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m.Parameters[k]
	}
	return strings.Join(parts, ", ")
}

// Text is the plain-text body (email, Slack's fallback).
func (m Message) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n%s\n\n", m.Title(), m.Message)
	fmt.Fprintf(&b, "Pipeline:     %s\nDeployment:   #%d (%s, id %d)\nVersion:      %s\nTriggered by: %s\nStatus:       %s\n",
		m.Pipeline, m.Number, m.Kind, m.DeploymentID, m.Version(), m.TriggeredBy, m.Status)
	if m.URL != "" {
		fmt.Fprintf(&b, "\n%s %s\n", actionWords(m.Event), m.URL)
	}
	return b.String()
}

var eventWords = map[v1alpha1.NotificationEvent]string{
	v1alpha1.NotifyApprovalNeeded:   "approval needed",
	v1alpha1.NotifyApprovalTimedOut: "approval timed out",
	v1alpha1.NotifyPaused:           "canary paused",
	v1alpha1.NotifySucceeded:        "released",
	v1alpha1.NotifyFailed:           "failed",
	v1alpha1.NotifyRejected:         "rejected",
	v1alpha1.NotifyCancelled:        "cancelled",
	v1alpha1.NotifyRolledBack:       "rolled back",
}

func actionWords(e v1alpha1.NotificationEvent) string {
	if e == v1alpha1.NotifyApprovalNeeded {
		return "Approve or reject:"
	}
	return "Details:"
}
