package service

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/auth"
	"fledge.dev/fledge/internal/store"
	"fledge.dev/fledge/internal/webhook"
)

// GitHubTriggerPrefix starts the identity of a run a GitHub webhook
// started: "github:" and the login of the event's sender.
const GitHubTriggerPrefix = "github:"

// Webhook kinds, as in the URL /api/v1/webhooks/{kind}/{pipeline}.
const (
	WebhookGitHub  = "github"
	WebhookGeneric = "generic"
)

// Delivery is one webhook request: the raw body and the headers that
// authenticate and describe it.
type Delivery struct {
	Kind      string
	Pipeline  string
	Body      []byte
	Signature string
	// Event and ID are GitHub's X-GitHub-Event and X-GitHub-Delivery.
	Event string
	ID    string
	// Timestamp is the generic webhook's X-Fledge-Timestamp.
	Timestamp string
}

var deliveryID = regexp.MustCompile(`^[A-Za-z0-9-]{1,100}$`)

func unauthorized(format string, args ...any) *Error {
	return Errorf(Unauthorized, format, args...)
}

// Trigger verifies a webhook delivery and, when it matches one of the
// pipeline's triggers, starts a run with the parameters mapped from its
// payload. A delivery is verified before anything of its payload is
// read, and each is accepted once.
func (s *Service) Trigger(ctx context.Context, d Delivery) (v1alpha1.WebhookResult, error) {
	p, _, err := s.loadPipeline(ctx, d.Pipeline)
	if err != nil {
		return v1alpha1.WebhookResult{}, err
	}
	var candidates []*v1alpha1.WebhookTrigger
	var events [][]string
	for _, tr := range p.Spec.Triggers {
		switch {
		case d.Kind == WebhookGitHub && tr.GitHub != nil:
			candidates, events = append(candidates, &tr.GitHub.WebhookTrigger), append(events, tr.GitHub.Events)
		case d.Kind == WebhookGeneric && tr.Webhook != nil:
			candidates, events = append(candidates, tr.Webhook), append(events, nil)
		}
	}
	if len(candidates) == 0 {
		return v1alpha1.WebhookResult{}, notFound("pipeline %q has no %s trigger (spec.triggers)", d.Pipeline, d.Kind)
	}

	// Authenticate: the first trigger whose secret verifies the signature.
	var verified []int
	var lastErr error
	secrets := map[string][]byte{}
	for i, c := range candidates {
		secret, ok := secrets[c.SecretRef]
		if !ok {
			if secret, err = s.secretValue(ctx, c.SecretRef); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					lastErr = fmt.Errorf("secret %q does not exist", c.SecretRef)
					continue
				}
				return v1alpha1.WebhookResult{}, err
			}
			secrets[c.SecretRef] = secret
		}
		if d.Kind == WebhookGitHub {
			err = webhook.VerifyGitHub(d.Body, d.Signature, secret)
		} else {
			_, err = webhook.VerifyGeneric(d.Body, d.Signature, d.Timestamp, secret, s.now())
		}
		if err != nil {
			lastErr = err
			continue
		}
		verified = append(verified, i)
	}
	if len(verified) == 0 {
		return v1alpha1.WebhookResult{}, unauthorized("webhook delivery refused: %v", lastErr)
	}

	// Which verified trigger wants this event.
	chosen := -1
	if d.Kind == WebhookGitHub {
		if d.Event == "ping" {
			return v1alpha1.WebhookResult{Message: "pong: the signature is valid"}, nil
		}
		for _, i := range verified {
			if slices.Contains(events[i], d.Event) {
				chosen = i
				break
			}
		}
		if chosen < 0 {
			return v1alpha1.WebhookResult{Message: fmt.Sprintf("event %q is not one of this pipeline's trigger events; ignored", d.Event)}, nil
		}
	} else {
		chosen = verified[0]
	}
	tr := candidates[chosen]

	payload, err := webhook.ParsePayload(d.Body)
	if err != nil {
		return v1alpha1.WebhookResult{}, badRequest("%v", err)
	}
	if ok, why := payload.Matches(tr.Match); !ok {
		return v1alpha1.WebhookResult{Message: "delivery does not match the trigger (" + why + "); ignored"}, nil
	}

	// Each delivery is accepted once. The signature (lower-cased: hex is
	// case-insensitive) is unique per body, and for the generic webhook per
	// timestamp too, whose window bounds how long it must be remembered.
	// GitHub's delivery id is remembered as well, but it is not signed, so
	// the body's signature is what stops a replay with a new id.
	sig := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(d.Signature), "sha256="))
	keys := []string{d.Kind + "/" + d.Pipeline + "/sig/" + sig}
	if d.Kind == WebhookGitHub {
		if !deliveryID.MatchString(d.ID) {
			return v1alpha1.WebhookResult{}, badRequest("header %s is missing or malformed", webhook.GitHubDeliveryHeader)
		}
		keys = append([]string{"github/" + d.Pipeline + "/id/" + d.ID}, keys...)
	}
	for _, key := range keys {
		if err := s.store.RecordDelivery(ctx, key, s.now()); errors.Is(err, store.ErrConflict) {
			return v1alpha1.WebhookResult{}, conflict("delivery already received (replay refused); send a new delivery to run again")
		} else if err != nil {
			return v1alpha1.WebhookResult{}, fmt.Errorf("record delivery: %w", err)
		}
	}

	params, err := payload.Parameters(tr.Parameters)
	if err != nil {
		var fes []v1alpha1.FieldError
		for _, e := range unjoin(err) {
			fes = append(fes, v1alpha1.FieldError{Field: "parameters", Message: e.Error()})
		}
		return v1alpha1.WebhookResult{}, invalid(fmt.Sprintf("cannot map the delivery to parameters of pipeline %q: %s", d.Pipeline, joinFields(fes)), fes...)
	}
	who := "webhook:" + tr.SecretRef
	if d.Kind == WebhookGitHub {
		who = "github"
		if login, err := payload.Lookup("sender.login"); err == nil && auth.CheckName(login) == nil {
			who = GitHubTriggerPrefix + auth.Canonical(login)
		}
	}
	dep, err := s.CreateRun(ctx, d.Pipeline, params, who)
	if err != nil {
		return v1alpha1.WebhookResult{}, err
	}
	msg := fmt.Sprintf("deployment %d of %s started by %s", dep.ID, d.Pipeline, who)
	if d.Kind == WebhookGitHub {
		msg += " (" + d.Event + " " + d.ID + ")"
	}
	return v1alpha1.WebhookResult{Triggered: true, Message: msg, Deployment: &dep}, nil
}
