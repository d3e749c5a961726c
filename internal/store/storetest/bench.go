package storetest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"fledge.dev/fledge/internal/store"
)

// SeedWaiting fills s as a busy server's store is: pipelines pipelines of
// perPipeline deployments each, the first of each claimed and left
// waiting for a decision until a day from now (WakeAt), the others queued
// behind it. The plans are empty: nothing runs them.
func SeedWaiting(ctx context.Context, s store.Store, now time.Time, pipelines, perPipeline int) error {
	for round := range perPipeline {
		for p := range pipelines {
			if _, err := s.CreateDeployment(ctx, store.Deployment{
				Pipeline: fmt.Sprintf("p-%04d", p), Kind: "Deploy", Status: "Queued", Plan: []byte(`{}`),
			}, store.Event{Type: "DeploymentCreated"}); err != nil {
				return fmt.Errorf("create deployment %d of pipeline %d: %w", round, p, err)
			}
		}
	}
	later := now.Add(24 * time.Hour)
	for range pipelines {
		d, ok, err := s.ClaimDeployment(ctx, "seed", time.Minute)
		if err != nil {
			return fmt.Errorf("claim a head: %w", err)
		}
		if !ok {
			return errors.New("claim a head: none claimable")
		}
		d.Status, d.WakeAt = store.StatusWaitingForApproval, &later
		if d, err = s.UpdateDeployment(ctx, d, "seed"); err != nil {
			return fmt.Errorf("wait deployment %d: %w", d.ID, err)
		}
		if err := s.ReleaseLease(ctx, d.ID, "seed"); err != nil {
			return fmt.Errorf("release deployment %d: %w", d.ID, err)
		}
	}
	return nil
}

// BenchClaimIdle measures ClaimDeployment when nothing is runnable: every
// pipeline's head waits for a decision and the rest queue behind it, what
// an executor's poll finds most of the time on a busy server.
func BenchClaimIdle(b *testing.B, s store.Store, clock func() time.Time, pipelines, perPipeline int) {
	ctx := b.Context()
	if err := SeedWaiting(ctx, s, clock(), pipelines, perPipeline); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if d, ok, err := s.ClaimDeployment(ctx, "idle", time.Minute); err != nil || ok {
			b.Fatalf("claim: %v (claimed %v %d)", err, ok, d.ID)
		}
	}
}

// BenchActiveOfLongHistory measures the unfinished deployments of a
// pipeline with finished deployments in its history and none under way,
// what the overview asks of every pipeline.
func BenchActiveOfLongHistory(b *testing.B, s store.Store, finished int) {
	ctx := b.Context()
	for range finished {
		if _, err := s.CreateDeployment(ctx, store.Deployment{Pipeline: "web", Kind: "Deploy", Status: "Cancelled"}); err != nil {
			b.Fatal(err)
		}
	}
	f := store.DeploymentFilter{Pipeline: "web", Statuses: []string{"Queued", "Running", "WaitingForApproval"}, Limit: 5}
	b.ResetTimer()
	for b.Loop() {
		if ds, err := s.ListDeployments(ctx, f); err != nil || len(ds) != 0 {
			b.Fatalf("list: %d deployments, %v", len(ds), err)
		}
	}
}

// BenchLatency runs op from callers goroutines at once for b.N calls in
// all and reports the median and 99th percentile of one call's time
// (p50-us, p99-us): what each waits for a connection shows in the tail.
func BenchLatency(b *testing.B, callers int, op func() error) {
	var mu sync.Mutex
	var took []time.Duration
	b.SetParallelism(max(1, callers/runtime.GOMAXPROCS(0)))
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			start := time.Now()
			if err := op(); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(start))
		}
		mu.Lock()
		took = append(took, mine...)
		mu.Unlock()
	})
	if len(took) == 0 {
		return
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-us")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-us")
}
