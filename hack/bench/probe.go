package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"fledge.dev/fledge/test/dataplane"
)

// probeBatch is the number of requests of one probe batch. Traefik's
// weighted round robin is deterministic, so 50 requests at weight 25 are
// 12 or 13 on the canary: a batch resolves the ±3% band of the goal.
const probeBatch = 50

// A probe sends requests through the data plane back to back, in batches
// of probeBatch, from a release's trigger until the release is done, and
// keeps every batch: the data-plane figures of the release benchmark are
// read from them afterwards, the same way for every system.
type probe struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	batches []batch
	err     error
}

// batch is one probe batch: when it was sent and what answered.
type batch struct {
	start, end time.Time
	res        dataplane.Result
}

// startProbe starts a probe of path (nil without a data plane).
func (b *bench) startProbe(ctx context.Context, path string) *probe {
	if b.plane == nil {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &probe{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for ctx.Err() == nil {
			start := time.Now()
			r, err := b.plane.Load(ctx, dataplane.Request{Path: path}, probeBatch)
			if err != nil {
				if ctx.Err() == nil {
					p.mu.Lock()
					p.err = fmt.Errorf("probe %s: %w", path, err)
					p.mu.Unlock()
				}
				return
			}
			p.mu.Lock()
			p.batches = append(p.batches, batch{start: start, end: time.Now(), res: r})
			p.mu.Unlock()
		}
	}()
	return p
}

// snapshot returns the batches so far.
func (p *probe) snapshot() []batch {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]batch(nil), p.batches...)
}

// stop ends the probe and returns its batches.
func (p *probe) stop() ([]batch, error) {
	p.cancel()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.batches, p.err
}

// shareWithin says a batch had no failed request and the version's share
// of it was within tol of want.
func shareWithin(version string, want, tol float64) func(dataplane.Result) bool {
	return func(r dataplane.Result) bool {
		s := r.Share(version)
		return r.Total > 0 && r.Errors == 0 && r.Non2xx == 0 && s >= want-tol-1e-9 && s <= want+tol+1e-9
	}
}

// onlyVersion says every request of a batch was answered by the version.
func onlyVersion(version string) func(dataplane.Result) bool {
	return func(r dataplane.Result) bool {
		return r.Total > 0 && r.Errors == 0 && r.Non2xx == 0 && r.Versions[version] == r.Total
	}
}

// firstSteady returns the start of the first batch sent at or after from
// that satisfies ok together with the batch after it (two in a row, so a
// lucky batch does not count), or the zero time.
func firstSteady(bs []batch, from time.Time, ok func(dataplane.Result) bool) time.Time {
	for i := 0; i+1 < len(bs); i++ {
		if bs[i].start.Before(from) {
			continue
		}
		if ok(bs[i].res) && ok(bs[i+1].res) {
			return bs[i].start
		}
	}
	return time.Time{}
}

// failedBetween counts the failed requests (transport errors and non-2xx
// answers) of the batches sent from from until to.
func failedBetween(bs []batch, from, to time.Time) int {
	n := 0
	for _, b := range bs {
		if !b.start.Before(from) && !b.start.After(to) {
			n += b.res.Errors + b.res.Non2xx
		}
	}
	return n
}

// otherVersions counts the answers of the batches sent at or after from
// that came from a version other than version.
func otherVersions(bs []batch, from time.Time, version string) int {
	n := 0
	for _, b := range bs {
		if b.start.Before(from) {
			continue
		}
		for v, c := range b.res.Versions {
			if v != version {
				n += c
			}
		}
	}
	return n
}

// shareBetween is the version's share of the requests of the batches sent
// from from until to, and how many requests that was.
func shareBetween(bs []batch, from, to time.Time, version string) (share float64, total int) {
	got := 0
	for _, b := range bs {
		if !b.start.Before(from) && !b.end.After(to) {
			got += b.res.Versions[version]
			total += b.res.Total
		}
	}
	if total == 0 {
		return 0, 0
	}
	return float64(got) / float64(total), total
}

// errShareNotReached is awaitShare's answer when the data plane never
// showed the canary's share.
var errShareNotReached = errors.New("the data plane never showed the canary's share")

// awaitShare waits, at a canary step, until the probe shows the version's
// 25% ± 3% share in two batches in a row, then lets it run shareHold more
// so the steady share is measured. It gives up after timeout and returns
// errShareNotReached, which the caller records and goes on from.
func (b *bench) awaitShare(ctx context.Context, p *probe, from time.Time, version string) error {
	if p == nil {
		return nil
	}
	deadline := time.Now().Add(shareTimeout)
	for firstSteady(p.snapshot(), from, shareWithin(version, 0.25, shareTolerance)).IsZero() {
		if time.Now().After(deadline) {
			last := "no batch"
			if bs := p.snapshot(); len(bs) > 0 {
				last = bs[len(bs)-1].res.String()
			}
			return fmt.Errorf("%w within %s (last batch: %s)", errShareNotReached, shareTimeout, last)
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	return sleepCtx(ctx, shareHold)
}

// awaitAll waits, after a release, until the probe shows the version
// answering every request in two batches in a row (measured from from),
// at most allTimeout: a system may report the release done a moment
// before the data plane follows.
func (b *bench) awaitAll(ctx context.Context, p *probe, from time.Time, version string) error {
	deadline := time.Now().Add(allTimeout)
	for firstSteady(p.snapshot(), from, onlyVersion(version)).IsZero() && time.Now().Before(deadline) {
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// Settings of the data-plane measures.
const (
	allTimeout = 30 * time.Second
	// afterTail is how long the probe goes on after a release is done
	// and the new version answered every request: several times the
	// benchmark Traefik's throttle (200 ms), the time it may take to
	// apply the release's last change.
	afterTail      = time.Second
	shareTolerance = 0.03
	shareTimeout   = 30 * time.Second
	shareHold      = time.Second
)

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}
