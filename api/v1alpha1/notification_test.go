package v1alpha1_test

import (
	"errors"
	"reflect"
	"testing"

	"fledge.dev/fledge/api/v1alpha1"
)

func TestPipelineNotificationsValidate(t *testing.T) {
	t.Parallel()
	slack := &v1alpha1.SlackSink{WebhookURLSecret: "slack-url"}
	refs := walkthroughRefs()
	refs.Secrets = map[string]bool{"slack-url": true, "hook-key": true, "smtp-pass": true}
	tests := []struct {
		name string
		ns   []v1alpha1.Notification
		want []v1alpha1.FieldError
	}{
		{name: "one of each sink", ns: []v1alpha1.Notification{
			{Name: "chat", Events: []v1alpha1.NotificationEvent{v1alpha1.NotifyApprovalNeeded}, Slack: slack},
			{Name: "hook", Webhook: &v1alpha1.WebhookSink{URL: "https://hooks.example.com/fledge", SigningSecret: "hook-key"}},
			{Name: "mail", Email: &v1alpha1.EmailSink{SMTP: "smtp.example.com:587", Username: "u", PasswordSecret: "smtp-pass", From: "Fledge <f@example.com>", To: []string{"ops@example.com"}}},
		}},
		{name: "no sink or two", ns: []v1alpha1.Notification{
			{Name: "none"},
			{Name: "two", Slack: slack, Webhook: &v1alpha1.WebhookSink{URL: "https://x.example", SigningSecret: "hook-key"}},
		}, want: []v1alpha1.FieldError{
			{Field: "spec.notifications[0]", Message: "set exactly one of slack, webhook and email"},
			{Field: "spec.notifications[1]", Message: "set exactly one of slack, webhook and email"},
		}},
		{name: "unknown event, duplicate name, missing secret", ns: []v1alpha1.Notification{
			{Name: "chat", Events: []v1alpha1.NotificationEvent{"AnalysisFailed"}, Slack: slack},
			{Name: "chat", Slack: &v1alpha1.SlackSink{WebhookURLSecret: "nope"}},
		}, want: []v1alpha1.FieldError{
			{Field: "spec.notifications[0].events[0]", Message: `unknown event "AnalysisFailed" (want one of ApprovalNeeded, ApprovalTimedOut, Paused, Succeeded, Failed, Rejected, Cancelled, RolledBack)`},
			{Field: "spec.notifications[1].name", Message: `"chat" is used by another notification`},
			{Field: "spec.notifications[1]", Message: `secret "nope" does not exist (create it with: fledge secret set nope --value-file FILE)`},
		}},
		{name: "bad webhook and email", ns: []v1alpha1.Notification{
			{Name: "hook", Webhook: &v1alpha1.WebhookSink{URL: "ftp://x", SigningSecret: "hook-key"}},
			{Name: "mail", Email: &v1alpha1.EmailSink{SMTP: "smtp.example.com", Username: "u", From: "not an address", To: []string{"a@example.com", "b@"}}},
		}, want: []v1alpha1.FieldError{
			{Field: "spec.notifications[0].webhook.url", Message: `must be an http or https URL, got "ftp://x"`},
			{Field: "spec.notifications[1].email.smtp", Message: `must be host:port, got "smtp.example.com"`},
			{Field: "spec.notifications[1].email", Message: "username and passwordSecret go together"},
			{Field: "spec.notifications[1].email.from", Message: `"not an address" is not an email address`},
			{Field: "spec.notifications[1].email.to[1]", Message: `"b@" is not an email address`},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := walkthroughPipeline()
			p.Spec.Notifications = tt.ns
			err := p.Validate(refs)
			var got []v1alpha1.FieldError
			var ve *v1alpha1.ValidationError
			if errors.As(err, &ve) {
				got = ve.Errors
			} else if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestNotificationFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind v1alpha1.DeploymentKind
		typ  string
		want v1alpha1.NotificationEvent
	}{
		{v1alpha1.KindRelease, "WaitingForApproval", v1alpha1.NotifyApprovalNeeded},
		{v1alpha1.KindRelease, "ApprovalTimedOut", v1alpha1.NotifyApprovalTimedOut},
		{v1alpha1.KindRelease, "BatchDelay", v1alpha1.NotifyPaused},
		{v1alpha1.KindRelease, "DeploymentSucceeded", v1alpha1.NotifySucceeded},
		{v1alpha1.KindRollback, "DeploymentSucceeded", v1alpha1.NotifyRolledBack},
		{v1alpha1.KindRelease, "DeploymentFailed", v1alpha1.NotifyFailed},
		{v1alpha1.KindRelease, "DeploymentRejected", v1alpha1.NotifyRejected},
		{v1alpha1.KindRelease, "DeploymentCancelled", v1alpha1.NotifyCancelled},
		{v1alpha1.KindRelease, "WeightSet", ""},
	}
	for _, tt := range tests {
		if got := v1alpha1.NotificationFor(tt.kind, tt.typ); got != tt.want {
			t.Errorf("NotificationFor(%s, %s) = %q, want %q", tt.kind, tt.typ, got, tt.want)
		}
	}
}
