package notify

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/store"
)

// Results of an attempt.
const (
	ResultSent   = "sent"
	ResultFailed = "failed"
	ResultGaveUp = "gave_up"
)

// Config configures a Sender.
type Config struct {
	Store store.Store
	// Secret opens a Fledge secret by name (the server's sealed secrets).
	Secret func(ctx context.Context, name string) ([]byte, error)
	Logger *slog.Logger
	// Clock returns the current time (default time.Now).
	Clock func() time.Time
	// Owner names this sender in leases (the executor's owner).
	Owner string
	// ConsoleURL is the console's base URL, for links to a deployment.
	ConsoleURL string
	// PollInterval is how often the outbox is looked at (default 1s);
	// Wake looks at once.
	PollInterval time.Duration
	// Timeout bounds one delivery (default 10s).
	Timeout time.Duration
	// MaxAttempts is how many rounds a receiver gets before it is given
	// up on (default 12, about 3 hours with the default backoff).
	MaxAttempts int
	// Backoff is the wait after the first failed round, doubled for each
	// next one up to MaxBackoff (defaults 5s and 30m).
	Backoff, MaxBackoff time.Duration
	// Client sends the HTTP sinks' requests (default: a client with
	// Timeout).
	Client *http.Client
	// TLS is the email sink's TLS configuration (default: system roots).
	TLS *tls.Config
	// Observe, when set, is told of every attempt (sink, result).
	Observe func(sink, result string)
}

// WithDefaults returns c with defaults filled in.
func (c Config) WithDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.PollInterval == 0 {
		c.PollInterval = time.Second
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 12
	}
	if c.Backoff == 0 {
		c.Backoff = 5 * time.Second
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 30 * time.Minute
	}
	if c.Client == nil {
		c.Client = &http.Client{Timeout: c.Timeout}
	}
	if c.Observe == nil {
		c.Observe = func(string, string) {}
	}
	return c
}

// Validate reports the first invalid setting.
func (c Config) Validate() error {
	switch {
	case c.Store == nil:
		return errors.New("notify: Store is required")
	case c.Secret == nil:
		return errors.New("notify: Secret is required")
	case c.Owner == "":
		return errors.New("notify: Owner is required")
	case c.MaxAttempts < 1:
		return fmt.Errorf("notify: MaxAttempts must be at least 1, got %d", c.MaxAttempts)
	}
	return nil
}

// batch is how many notifications one claim takes.
const batch = 16

// Sender delivers the outbox's notifications in the background.
type Sender struct {
	cfg    Config
	log    *slog.Logger
	wake   chan struct{}
	cancel context.CancelCauseFunc
	done   chan struct{}
}

var errStopped = errors.New("notification sender stopped")

// New validates cfg and returns a sender.
func New(cfg Config) (*Sender, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Sender{cfg: cfg, log: cfg.Logger.With("component", "notify"), wake: make(chan struct{}, 1)}, nil
}

// Start delivers until ctx ends or Stop.
func (s *Sender) Start(ctx context.Context) error {
	if s.cancel != nil {
		return errors.New("notify: already started")
	}
	ctx, s.cancel = context.WithCancelCause(ctx)
	s.done = make(chan struct{})
	go s.loop(ctx)
	return nil
}

// Stop ends delivery and waits for the round under way, whose attempts
// are recorded (an interrupted one as failed, retried by any replica).
func (s *Sender) Stop() {
	if s.cancel == nil {
		return
	}
	s.cancel(errStopped)
	<-s.done
}

// Wake looks at the outbox at once (an event just raised a notification).
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Sender) loop(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	for {
		for ctx.Err() == nil && s.round(ctx) {
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.wake:
		}
	}
}

// stopGrace is how long a request being sent may still take once the
// sender stops (sendOne).
const stopGrace = time.Second

// lease is how long a claimed notification is this sender's: a round
// delivers to every receiver at once, each within Timeout.
func (s *Sender) lease() time.Duration { return 3*s.cfg.Timeout + 30*time.Second }

// round claims due notifications and delivers them, each in its own
// goroutine; it reports whether it found a full batch (look again).
func (s *Sender) round(ctx context.Context) bool {
	ns, err := s.cfg.Store.ClaimNotifications(ctx, s.cfg.Owner, s.lease(), batch)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("claim notifications", "error", err)
		}
		return false
	}
	var wg sync.WaitGroup
	for _, n := range ns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.deliver(ctx, n)
		}()
	}
	wg.Wait()
	return len(ns) == batch
}

// deliver makes one round of n: every receiver not yet told (or given
// up on) gets the message; the attempts are recorded with the outcome.
func (s *Sender) deliver(ctx context.Context, n store.Notification) {
	log := s.log.With("notification_id", n.ID, "deployment_id", n.DeploymentID, "event", n.Event)
	m, receivers, finished, err := s.prepare(ctx, n)
	round := n.Attempts + 1
	var attempts []store.NotificationAttempt
	switch {
	case err != nil && ctx.Err() != nil:
		// Stopping: leave it due now for whoever runs next.
	case err != nil:
		log.Warn("prepare notification", "error", err)
		attempts = append(attempts, store.NotificationAttempt{NotificationID: n.ID, Attempt: round, At: s.now(), Result: ResultFailed, Detail: err.Error()})
	default:
		attempts = s.send(ctx, n, m, receivers, finished, round)
	}
	done := err == nil
	for _, a := range attempts {
		if a.Result == ResultFailed {
			done = false
		}
	}
	if err != nil && ctx.Err() == nil && round >= s.cfg.MaxAttempts {
		attempts[0].Result, done = ResultGaveUp, true
	}
	next := s.now()
	if !done && ctx.Err() == nil {
		next = next.Add(s.backoff(n.Attempts))
	}
	// Record even while stopping: what was sent must not be sent again.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.cfg.Store.FinishNotification(rctx, n.ID, s.cfg.Owner, attempts, done, next); err != nil {
		log.Warn("record notification attempts", "error", err)
	}
}

// send delivers m to each receiver concurrently and returns the attempts.
func (s *Sender) send(ctx context.Context, n store.Notification, m Message, receivers []v1alpha1.Notification, finished map[string]bool, round int) []store.NotificationAttempt {
	var (
		mu       sync.Mutex
		attempts []store.NotificationAttempt
		wg       sync.WaitGroup
	)
	for _, r := range receivers {
		if finished[r.Name] {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := m
			msg.DeliveryID = strconv.FormatInt(n.ID, 10) + "." + r.Name
			a := store.NotificationAttempt{NotificationID: n.ID, Receiver: r.Name, Sink: r.Sink(), Attempt: round, Result: ResultSent}
			if err := s.sendOne(ctx, r, msg); err != nil {
				a.Result, a.Detail = ResultFailed, err.Error()
				if ctx.Err() != nil {
					a.Detail = "interrupted by shutdown: " + a.Detail
				} else if round >= s.cfg.MaxAttempts {
					a.Result = ResultGaveUp
				}
				s.log.Warn("notification not delivered", "notification_id", n.ID, "receiver", r.Name, "sink", r.Sink(), "attempt", round, "result", a.Result, "error", err)
			} else {
				s.log.Info("notification delivered", "notification_id", n.ID, "receiver", r.Name, "sink", r.Sink(), "event", n.Event, "attempt", round)
			}
			a.At = s.now()
			s.cfg.Observe(a.Sink, a.Result)
			mu.Lock()
			attempts = append(attempts, a)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return attempts
}

func (s *Sender) sendOne(ctx context.Context, r v1alpha1.Notification, m Message) error {
	// A stop does not cut off a request on its way at once: the receiver
	// may already have it, and a request cut off is recorded as failed and
	// sent again by the next server, a second delivery. It gets stopGrace
	// to be answered.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Timeout)
	defer cancel()
	defer context.AfterFunc(ctx, func() { time.AfterFunc(stopGrace, cancel) })()
	ctx = sctx
	sink, err := s.sink(ctx, r)
	if err != nil {
		return err
	}
	return sink.Send(ctx, m)
}

// sink builds the sink of receiver r with its secrets opened.
func (s *Sender) sink(ctx context.Context, r v1alpha1.Notification) (Sink, error) {
	secret := func(name string) ([]byte, error) {
		v, err := s.cfg.Secret(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("secret %q: %w", name, err)
		}
		return v, nil
	}
	switch {
	case r.Slack != nil:
		u, err := secret(r.Slack.WebhookURLSecret)
		if err != nil {
			return nil, err
		}
		return &SlackSink{URL: strings.TrimSpace(string(u)), Client: s.cfg.Client}, nil
	case r.Webhook != nil:
		key, err := secret(r.Webhook.SigningSecret)
		if err != nil {
			return nil, err
		}
		return &WebhookSink{URL: r.Webhook.URL, Secret: key, Client: s.cfg.Client, Now: s.cfg.Clock}, nil
	case r.Email != nil:
		e := &EmailSink{Addr: r.Email.SMTP, Username: r.Email.Username, From: r.Email.From, To: r.Email.To, TLS: s.cfg.TLS, Now: s.cfg.Clock}
		if r.Email.PasswordSecret != "" {
			p, err := secret(r.Email.PasswordSecret)
			if err != nil {
				return nil, err
			}
			e.Password = string(p)
		}
		return e, nil
	}
	return nil, fmt.Errorf("notification %q has no sink", r.Name)
}

// prepare builds the message of n and finds its receivers: the pipeline's
// notifications that want the event, as the pipeline is now, and which
// of them earlier rounds finished.
func (s *Sender) prepare(ctx context.Context, n store.Notification) (Message, []v1alpha1.Notification, map[string]bool, error) {
	d, err := s.cfg.Store.GetDeployment(ctx, n.DeploymentID)
	if err != nil {
		return Message{}, nil, nil, fmt.Errorf("deployment %d: %w", n.DeploymentID, err)
	}
	evs, err := s.cfg.Store.ListEvents(ctx, d.ID, n.EventSeq-1)
	if err != nil || len(evs) == 0 || evs[0].Seq != n.EventSeq {
		return Message{}, nil, nil, fmt.Errorf("event %d of deployment %d: %w", n.EventSeq, d.ID, errors.Join(err, store.ErrNotFound))
	}
	ev := evs[0]
	m := Message{
		Event: v1alpha1.NotificationEvent(n.Event), Pipeline: d.Pipeline, DeploymentID: d.ID, Number: d.Number,
		Kind: d.Kind, Status: d.Status, Parameters: d.Parameters, TriggeredBy: d.TriggeredBy,
		Stage: ev.Stage, Message: ev.Message, Time: ev.Time,
	}
	if m.Parameters == nil {
		m.Parameters = map[string]string{}
	}
	if s.cfg.ConsoleURL != "" {
		m.URL = strings.TrimSuffix(s.cfg.ConsoleURL, "/") + "/deployments/" + strconv.FormatInt(d.ID, 10)
	}
	res, err := s.cfg.Store.GetResource(ctx, v1alpha1.KindPipeline, d.Pipeline)
	if errors.Is(err, store.ErrNotFound) {
		return m, nil, nil, nil // the pipeline is gone: nobody to tell
	}
	if err != nil {
		return Message{}, nil, nil, fmt.Errorf("pipeline %s: %w", d.Pipeline, err)
	}
	var p v1alpha1.Pipeline
	if err := json.Unmarshal(res.Spec, &p); err != nil {
		return Message{}, nil, nil, fmt.Errorf("decode pipeline %s: %w", d.Pipeline, err)
	}
	var receivers []v1alpha1.Notification
	for _, r := range p.Spec.Notifications {
		if r.Wants(m.Event) {
			receivers = append(receivers, r)
		}
	}
	finished := map[string]bool{}
	if n.Attempts > 0 {
		_, as, err := s.cfg.Store.ListNotifications(ctx, d.ID)
		if err != nil {
			return Message{}, nil, nil, err
		}
		for _, a := range as {
			if a.NotificationID == n.ID && (a.Result == ResultSent || a.Result == ResultGaveUp) {
				finished[a.Receiver] = true
			}
		}
	}
	return m, receivers, finished, nil
}

func (s *Sender) now() time.Time { return s.cfg.Clock().UTC() }

// backoff is the wait after round attempts failed rounds: Backoff doubled
// per round, at most MaxBackoff, with jitter so replicas spread out.
func (s *Sender) backoff(rounds int) time.Duration {
	d := s.cfg.Backoff
	for i := 0; i < rounds && d < s.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.cfg.MaxBackoff)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}
