package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"fledge.dev/fledge/internal/store"
)

// SeedWaiting fills s as a busy server's store is: pipelines pipelines of
// perPipeline deployments each, the first of each claimed and left
// waiting for a decision until a day from clock (WakeAt), the others
// queued behind it.
func SeedWaiting(ctx context.Context, tb testing.TB, s store.Store, clock func() time.Time, pipelines, perPipeline int) {
	tb.Helper()
	for round := range perPipeline {
		for p := range pipelines {
			if _, err := s.CreateDeployment(ctx, store.Deployment{
				Pipeline: fmt.Sprintf("p-%04d", p), Kind: "Deploy", Status: "Queued", Plan: []byte(`{}`),
			}, store.Event{Type: "DeploymentCreated"}); err != nil {
				tb.Fatalf("create deployment %d of pipeline %d: %v", round, p, err)
			}
		}
	}
	later := clock().Add(24 * time.Hour)
	for range pipelines {
		d, ok, err := s.ClaimDeployment(ctx, "seed", time.Minute)
		if err != nil || !ok {
			tb.Fatalf("claim a head: ok=%v err=%v", ok, err)
		}
		d.Status, d.WakeAt = store.StatusWaitingForApproval, &later
		if d, err = s.UpdateDeployment(ctx, d, "seed"); err != nil {
			tb.Fatalf("wait deployment %d: %v", d.ID, err)
		}
		if err := s.ReleaseLease(ctx, d.ID, "seed"); err != nil {
			tb.Fatalf("release deployment %d: %v", d.ID, err)
		}
	}
}

// BenchClaimIdle measures ClaimDeployment when nothing is runnable: every
// pipeline's head waits for a decision and the rest queue behind it, what
// an executor's poll finds most of the time on a busy server.
func BenchClaimIdle(b *testing.B, s store.Store, clock func() time.Time, pipelines, perPipeline int) {
	ctx := b.Context()
	SeedWaiting(ctx, b, s, clock, pipelines, perPipeline)
	b.ResetTimer()
	for b.Loop() {
		if d, ok, err := s.ClaimDeployment(ctx, "idle", time.Minute); err != nil || ok {
			b.Fatalf("claim: %v (claimed %v %d)", err, ok, d.ID)
		}
	}
}
