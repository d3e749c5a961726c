package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

// releaseSample is one measured release of one system.
type releaseSample struct {
	// ToCanary: trigger → canary pods ready and weight 25 on the API
	// object.
	ToCanary time.Duration
	// ToProduction: approve → production runs the new version, available,
	// with canary weight 0.
	ToProduction time.Duration
	// ToDone: approve → the system reports the release finished
	// (Fledge Succeeded, Argo Healthy, Flagger Succeeded).
	ToDone time.Duration
}

// releaser is one system under the release benchmark.
type releaser interface {
	name() string
	// setup creates what the system needs and makes a first, unmeasured
	// release so that production exists.
	setup(ctx context.Context) error
	// release makes one measured release of tag.
	release(ctx context.Context, tag string) (releaseSample, error)
	teardown()
}

// releaseBench runs benchmarks 1 and 2: trigger → 25% canary live, and
// approve → production runs the new version, for Fledge, Argo Rollouts and
// Flagger, one system after the other on the same control plane.
func (b *bench) releaseBench(ctx context.Context, peers peerBins, res *Results) error {
	systems := []releaser{
		&fledgeReleaser{b: b},
		&argoReleaser{b: b, bin: peers.ArgoBin, module: peers.ArgoModule},
		&flaggerReleaser{b: b, bin: peers.FlaggerBin, module: peers.FlaggerModule},
	}
	res.Release = map[string]ReleaseResult{}
	var errs []error
	for _, sys := range systems {
		r, err := b.releaseOne(ctx, sys)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			b.log.Error("release benchmark failed", "system", sys.name(), "error", err)
			errs = append(errs, fmt.Errorf("%s: %w", sys.name(), err))
			r.Error = err.Error()
		}
		res.Release[sys.name()] = r
	}
	if len(errs) > 0 {
		return fmt.Errorf("%v", errs)
	}
	return nil
}

func (b *bench) releaseOne(ctx context.Context, sys releaser) (ReleaseResult, error) {
	var r ReleaseResult
	b.log.Info("release: set up", "system", sys.name())
	defer sys.teardown()
	if err := sys.setup(ctx); err != nil {
		return r, fmt.Errorf("set up: %w", err)
	}
	var toCanary, toProd, toDone []time.Duration
	for i := 1; i <= b.o.n; i++ {
		s, err := sys.release(ctx, fmt.Sprintf("1.%d", i))
		if err != nil {
			return r, fmt.Errorf("release %d: %w", i, err)
		}
		b.log.Info("release", "system", sys.name(), "rep", i, "to_canary", s.ToCanary.Round(time.Millisecond).String(),
			"to_production", s.ToProduction.Round(time.Millisecond).String(), "to_done", s.ToDone.Round(time.Millisecond).String())
		toCanary, toProd, toDone = append(toCanary, s.ToCanary), append(toProd, s.ToProduction), append(toDone, s.ToDone)
	}
	r.ToCanary = Summarize(Millis(toCanary), "ms")
	r.ToProduction = Summarize(Millis(toProd), "ms")
	r.ToDone = Summarize(Millis(toDone), "ms")
	return r, nil
}

// fledgeReleaser releases the walkthrough through a Fledge server: fledge
// run, then fledge approve.
type fledgeReleaser struct {
	b *bench
	s *fledgeServer
}

const (
	fledgeReleasePipeline = "bench-release"
	fledgeCanaryNS        = "fr-canary"
	fledgeProdNS          = "fr-prod"
)

func (f *fledgeReleaser) name() string { return "fledge" }

func (f *fledgeReleaser) setup(ctx context.Context) error {
	dir := filepath.Join(f.b.work, "release-fledge")
	s, err := f.b.startFledge(ctx, dir, "")
	if err != nil {
		return err
	}
	f.s = s
	m, err := f.b.walkthroughManifests(3)
	if err != nil {
		return err
	}
	if err := f.b.applyFledgeResources(ctx, s, filepath.Join(dir, "resources"), map[string]string{"webpage": m},
		[]pipelineFixture{{Name: fledgeReleasePipeline, Artifact: "webpage", CanaryNS: fledgeCanaryNS, ProdNS: fledgeProdNS, Approval: true}}); err != nil {
		return err
	}
	_, err = f.release(ctx, "1.0")
	return err
}

func (f *fledgeReleaser) release(ctx context.Context, tag string) (releaseSample, error) {
	var s releaseSample
	img := image + tag
	start := time.Now()
	d, err := f.s.run(ctx, fledgeReleasePipeline, tag)
	if err != nil {
		return s, err
	}
	at, err := waitUntil(ctx, 2*time.Minute, "fledge canary at 25%", func(ctx context.Context) (bool, error) {
		if w, err := f.b.ingressWeight(ctx, fledgeCanaryNS, "webpage-ingress"); err != nil || w != "25" {
			return false, err
		}
		return f.b.deploymentReady(ctx, fledgeCanaryNS, "webpage-deployment", img)
	})
	if err != nil {
		return s, err
	}
	s.ToCanary = at.Sub(start)
	if _, err := f.s.waitStatus(ctx, d.ID, time.Minute, v1alpha1.StatusWaitingForApproval); err != nil {
		return s, err
	}
	approve := time.Now()
	if _, err := f.s.cli(ctx, "alice", "approve", fmt.Sprint(d.ID)); err != nil {
		return s, err
	}
	at, err = waitUntil(ctx, 2*time.Minute, "fledge production on "+tag, func(ctx context.Context) (bool, error) {
		if ok, err := f.b.deploymentReady(ctx, fledgeProdNS, "webpage-deployment", img); !ok || err != nil {
			return false, err
		}
		w, err := f.b.ingressWeight(ctx, fledgeCanaryNS, "webpage-ingress")
		return w == "0", err
	})
	if err != nil {
		return s, err
	}
	s.ToProduction = at.Sub(approve)
	at, err = f.s.waitStatus(ctx, d.ID, time.Minute, v1alpha1.StatusSucceeded)
	if err != nil {
		return s, err
	}
	s.ToDone = at.Sub(approve)
	return s, nil
}

func (f *fledgeReleaser) teardown() {
	if f.s != nil {
		f.s.stop()
	}
}
