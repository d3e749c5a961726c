package executor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"fledge.dev/fledge/internal/clusters"
	"fledge.dev/fledge/internal/secretbox"
	"fledge.dev/fledge/internal/store"
)

// Config configures an Executor.
type Config struct {
	Store store.Store
	// Clusters connects to the environments deployments target.
	Clusters clusters.Source
	Logger   *slog.Logger
	// Clock returns the current time; tests inject their own.
	Clock func() time.Time
	// Owner names this executor in leases; default host-pid-random.
	Owner string
	// LeaseTTL is how long a claim lasts without renewal (default 15s).
	LeaseTTL time.Duration
	// PollInterval is how often the store is polled for runnable
	// deployments and for decisions (default 500ms).
	PollInterval time.Duration
	// MaxRunning caps deployments executed at once (default 64).
	MaxRunning int
	// StepTimeout bounds one Kubernetes step (apply, set weight), including
	// the retries of transient API errors (default 2m). Rollout waits are
	// bounded by the stage's rolloutTimeout instead.
	StepTimeout time.Duration
	// FinishTimeout bounds each finishing step, such as setting the canary
	// weight back to 0 (default 5m: it outlasts an API server restart).
	FinishTimeout time.Duration
	// Hook, when set, is called at every step boundary with a name like
	// "before:ApplyCanary" (about to act), "done:ApplyCanary" (acted, not
	// yet recorded) or "after:ApplyCanary" (recorded); fault-injection
	// tests use it to stop the process at an exact point.
	Hook func(point string)
	// Observer, when set, is told of claims, lease losses, steps and
	// recorded events (the server's metrics).
	Observer Observer
	// Secrets opens the sealed values of the Secrets in a deployment's
	// manifests just before they are applied (see redact.Open). Without
	// it, manifests holding a sealed value fail to apply.
	Secrets *secretbox.Box
	// Analyzer runs the analyses of canary steps; without it an analysis
	// step fails the deployment ("analysis is not available").
	Analyzer Analyzer
}

// Observer is told what the executor does. Its methods are called on the
// executor's goroutines and must not block.
type Observer interface {
	// Claimed: the executor took d's lease (d.StartedAt set: a resume).
	Claimed(d store.Deployment)
	// LeaseLost: a run stopped because another executor holds its lease.
	LeaseLost(id int64)
	// Step: one step ran for took and ended with result "ok", "error" or
	// "wait" (not done yet).
	Step(step, result string, took time.Duration)
	// Recorded: d's new state was stored with events, in one transaction.
	Recorded(d store.Deployment, events []store.Event)
}

type noObserver struct{}

func (noObserver) Claimed(store.Deployment)                 {}
func (noObserver) LeaseLost(int64)                          {}
func (noObserver) Step(string, string, time.Duration)       {}
func (noObserver) Recorded(store.Deployment, []store.Event) {}

// WithDefaults returns c with defaults filled in.
func (c Config) WithDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Observer == nil {
		c.Observer = noObserver{}
	}
	if c.Owner == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		c.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = 15 * time.Second
	}
	if c.PollInterval == 0 {
		c.PollInterval = 500 * time.Millisecond
	}
	if c.MaxRunning == 0 {
		c.MaxRunning = 64
	}
	if c.StepTimeout == 0 {
		c.StepTimeout = 2 * time.Minute
	}
	if c.FinishTimeout == 0 {
		c.FinishTimeout = 5 * time.Minute
	}
	return c
}

// Validate reports the first invalid setting.
func (c Config) Validate() error {
	switch {
	case c.Store == nil:
		return errors.New("executor: Store is required")
	case c.Clusters == nil:
		return errors.New("executor: Clusters is required")
	case c.LeaseTTL < time.Second:
		return fmt.Errorf("executor: LeaseTTL must be at least 1s, got %s", c.LeaseTTL)
	case c.PollInterval <= 0 || c.PollInterval > c.LeaseTTL/2:
		return fmt.Errorf("executor: PollInterval must be positive and at most half the LeaseTTL, got %s", c.PollInterval)
	case c.MaxRunning < 1:
		return fmt.Errorf("executor: MaxRunning must be at least 1, got %d", c.MaxRunning)
	}
	return nil
}

// Executor claims and runs deployments. Start it once; Stop waits for the
// running deployments to pause at a safe point (their leases are released
// so another server can take over at once).
type Executor struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	running map[int64]chan struct{} // wake channels of running deployments
	wake    chan struct{}
	cancel  context.CancelCauseFunc
	done    chan struct{}
	wg      sync.WaitGroup
}

// errStopped is the cancel cause of a deliberate Stop.
var errStopped = errors.New("executor stopped")

// New validates cfg and returns an executor.
func New(cfg Config) (*Executor, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Executor{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "executor", "owner", cfg.Owner),
		running: map[int64]chan struct{}{},
		wake:    make(chan struct{}, 1),
	}, nil
}

// Owner is the identity this executor holds leases under.
func (e *Executor) Owner() string { return e.cfg.Owner }

// Start begins claiming deployments in the background until ctx ends or
// Stop is called.
func (e *Executor) Start(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cancel != nil {
		return errors.New("executor: already started")
	}
	ctx, cancel := context.WithCancelCause(ctx)
	e.cancel = cancel
	e.done = make(chan struct{})
	go e.loop(ctx)
	return nil
}

// Stop ends the claim loop and waits for running deployments to pause.
func (e *Executor) Stop() {
	e.mu.Lock()
	cancel, done := e.cancel, e.done
	e.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel(errStopped)
	<-done
	e.wg.Wait()
}

// Notify wakes the executor: a deployment was created, decided or
// cancelled. id 0 only wakes the claim loop.
func (e *Executor) Notify(id int64) {
	select {
	case e.wake <- struct{}{}:
	default:
	}
	e.mu.Lock()
	ch := e.running[id]
	e.mu.Unlock()
	if ch != nil {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// notifyAt wakes the claim loop at until, when a deployment this
// executor parked becomes due: without it the next poll would take it, up
// to a poll interval late. Another replica may claim it first; that is
// fine.
func (e *Executor) notifyAt(until time.Time) {
	time.AfterFunc(max(until.Sub(e.cfg.Clock()), 0), func() { e.Notify(0) })
}

func (e *Executor) loop(ctx context.Context) {
	defer close(e.done)
	t := time.NewTicker(e.cfg.PollInterval)
	defer t.Stop()
	for {
		e.claimAll(ctx)
		select {
		case <-ctx.Done():
			if cause := context.Cause(ctx); !errors.Is(cause, errStopped) && !errors.Is(cause, context.Canceled) {
				e.log.Warn("executor loop ended", "error", cause)
			}
			return
		case <-t.C:
		case <-e.wake:
		}
	}
}

func (e *Executor) claimAll(ctx context.Context) {
	for ctx.Err() == nil {
		e.mu.Lock()
		full := len(e.running) >= e.cfg.MaxRunning
		e.mu.Unlock()
		if full {
			return
		}
		d, ok, err := e.cfg.Store.ClaimDeployment(ctx, e.cfg.Owner, e.cfg.LeaseTTL)
		if err != nil {
			if ctx.Err() == nil {
				e.log.Error("claim deployment", "error", err)
			}
			return
		}
		if !ok {
			return
		}
		e.cfg.Observer.Claimed(d)
		wake := make(chan struct{}, 1)
		e.mu.Lock()
		e.running[d.ID] = wake
		e.mu.Unlock()
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			defer func() {
				e.mu.Lock()
				delete(e.running, d.ID)
				e.mu.Unlock()
			}()
			e.execute(ctx, d, wake)
		}()
	}
}
