package server

import (
	"context"

	"fledge.dev/fledge/internal/metrics"
	"fledge.dev/fledge/internal/notify"
	"fledge.dev/fledge/internal/store"
)

// buildSender wires the notification sender: it delivers the outbox the
// executor's events fill, under the executor's owner name, with links to
// this server's console.
func (s *server) buildSender() error {
	console := s.cfg.ExternalURL
	if console == "" {
		scheme := "http"
		if s.cfg.TLSCertFile != "" {
			scheme = "https"
		}
		console = scheme + "://" + s.listener.Addr().String()
	}
	sender, err := notify.New(notify.Config{
		Store: s.store, Secret: s.service.SecretValue, Logger: s.log,
		Owner: s.executor.Owner(), ConsoleURL: console, Observe: s.metrics.ObserveNotification,
		Backoff: s.cfg.NotificationBackoff, MaxBackoff: s.cfg.NotificationMaxBackoff,
	})
	if err != nil {
		return configErr(err)
	}
	s.sender = sender
	s.components = append(s.components, component{
		name:  "notification sender",
		start: func(ctx context.Context, _ func(error)) error { return sender.Start(ctx) },
		stop:  func(context.Context) { sender.Stop() },
	})
	return nil
}

// wakeSender has the sender look at the outbox at once.
func (s *server) wakeSender() {
	if s.sender != nil {
		s.sender.Wake()
	}
}

// executorObserver is what the executor tells: the metrics, and the
// sender when a recorded event raised a notification.
type executorObserver struct {
	*metrics.Metrics
	wake func()
}

func (o *executorObserver) Recorded(d store.Deployment, events []store.Event) {
	o.Metrics.Recorded(d, events)
	for _, e := range events {
		if e.Notify != "" {
			o.wake()
			return
		}
	}
}
