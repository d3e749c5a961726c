package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/test/dataplane"
)

// releaseSample is one measured release of one system.
type releaseSample struct {
	// ToCanary: trigger → canary pods ready and weight 25 on the API
	// object.
	ToCanary time.Duration
	// ToProduction: approve → production runs the new version, available,
	// with canary weight 0.
	ToProduction time.Duration
	// ToNewOnly: approve → every route sends requests only to ready pods
	// of the new version, read on the API objects: the canary at weight
	// 100 and ready, or production on the new version with weight 0,
	// whichever comes first.
	ToNewOnly time.Duration
	// ToDone: approve → the system reports the release finished
	// (Fledge Succeeded, Argo Healthy, Flagger Succeeded).
	ToDone time.Duration
	// ToServed: approve → every request through the data plane is
	// answered by the new version (0 without a data plane).
	ToServed time.Duration
	// CanaryShare: the share of requests the new version answered at the
	// 25% step (-1 without a data plane).
	CanaryShare float64
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

// Namespaces of the release benchmark.
const (
	fledgeCanaryNS = "fr-canary"
	fledgeProdNS   = "fr-prod"
	argoNS         = "ar-bench"
	flaggerNS      = "fl-bench"
)

// releaseBench runs benchmarks 1 and 2: trigger → 25% canary live, and
// approve → production runs the new version, for Fledge, Argo Rollouts and
// Flagger, one system after the other on the same control plane. With a
// data plane (test/dataplane: Traefik reading the NGINX annotations, in
// front of the kwok pods), it also measures approve → only the new version
// served, and the share the canary gets at 25%.
func (b *bench) releaseBench(ctx context.Context, peers peerBins, res *Results) error {
	if b.o.dataplane {
		stop, err := b.startPlane(ctx, fledgeCanaryNS, fledgeProdNS, argoNS, flaggerNS)
		if err != nil {
			b.log.Warn("release: no data plane; measuring at the API-object level only", "error", err)
			res.DataPlane = "not used: " + err.Error()
		} else {
			defer stop()
			res.DataPlane = "Traefik " + dataplane.TraefikVersion + " (kubernetesIngressNGINX provider), test/dataplane"
		}
	}
	systems := []releaser{
		&fledgeReleaser{b: b},
		&argoReleaser{b: b, bin: peers.ArgoBin, module: peers.ArgoModule},
		&flaggerReleaser{b: b, bin: peers.FlaggerBin, module: peers.FlaggerModule},
	}
	if res.Release == nil {
		res.Release = map[string]ReleaseResult{}
	}
	var errs []error
	for _, sys := range systems {
		if !b.o.systems[sys.name()] {
			continue
		}
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
	return errors.Join(errs...)
}

// startPlane starts the data plane in front of the given namespaces.
func (b *bench) startPlane(ctx context.Context, namespaces ...string) (stop func(), err error) {
	if err := dataplane.Check(); err != nil {
		return nil, err
	}
	dir := filepath.Join(b.work, "dataplane")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	agent := filepath.Join(dir, "agent")
	if err := goBuild(ctx, b.root, agent, "./test/dataplane/agent"); err != nil {
		return nil, err
	}
	// Traefik's Gateway API provider is on; it wants its CRDs and Gateway.
	if err := dataplane.InstallGatewayAPI(ctx, b.cluster.KubectlPath(), b.cluster.Kubeconfig()); err != nil {
		return nil, err
	}
	p, err := dataplane.Start(ctx, dataplane.Options{
		Kubeconfig: b.cluster.Kubeconfig(),
		Namespaces: namespaces,
		AgentBin:   agent,
		Dir:        dir,
		Logf:       func(format string, args ...any) { b.log.Info(fmt.Sprintf(format, args...)) },
	})
	if err != nil {
		return nil, err
	}
	if err := dataplane.WaitGateway(ctx, b.cluster.KubectlPath(), b.cluster.Kubeconfig()); err != nil {
		p.Stop()
		return nil, err
	}
	b.plane = p
	return func() { p.Stop(); b.plane = nil }, nil
}

// canaryShare sends requests through the data plane and returns the share
// the version answered (-1 without a data plane).
func (b *bench) canaryShare(ctx context.Context, path, version string) (float64, error) {
	if b.plane == nil {
		return -1, nil
	}
	// Traefik applies a change of the Ingresses after its provider
	// throttle (200 ms) and a reload: let the 25% step reach it.
	time.Sleep(1500 * time.Millisecond)
	r, err := b.plane.Load(ctx, dataplane.Request{Path: path}, 400)
	if err != nil {
		return 0, err
	}
	if r.Errors > 0 || r.Non2xx > 0 {
		return 0, fmt.Errorf("load through the data plane at the canary step: %s", r)
	}
	b.log.Debug("canary step through the data plane", "path", path, "result", r.String())
	return r.Share(version), nil
}

// servedWatch measures, from start, when every request through the data
// plane is answered by version: batches of 40 requests, back to back; the
// time is the start of the first of two consecutive batches answered by
// version alone, without errors.
type servedWatch struct {
	done chan struct{}
	at   time.Time
	err  error
}

func (b *bench) watchServed(ctx context.Context, path, version string) *servedWatch {
	w := &servedWatch{done: make(chan struct{})}
	if b.plane == nil {
		close(w.done)
		return w
	}
	go func() {
		defer close(w.done)
		ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		var first time.Time
		var last dataplane.Result
		for ctx.Err() == nil {
			t0 := time.Now()
			r, err := b.plane.Load(ctx, dataplane.Request{Path: path}, 40)
			if err != nil {
				w.err = fmt.Errorf("%w (last load: %s)", err, last)
				return
			}
			last = r
			if r.Total > 0 && r.Versions[version] == r.Total && r.Errors == 0 && r.Non2xx == 0 {
				if !first.IsZero() {
					w.at = first
					return
				}
				first = t0
			} else {
				first = time.Time{}
			}
		}
		w.err = fmt.Errorf("version %s never served alone: %w (last load: %s)", version, context.Cause(ctx), last)
	}()
	return w
}

// wait returns the duration from start until only the version was served
// (0 without a data plane).
func (w *servedWatch) wait(start time.Time) (time.Duration, error) {
	<-w.done
	if w.err != nil || w.at.IsZero() {
		return 0, w.err
	}
	return w.at.Sub(start), nil
}

func (b *bench) releaseOne(ctx context.Context, sys releaser) (r ReleaseResult, err error) {
	b.log.Info("release: set up", "system", sys.name())
	defer sys.teardown()
	if err := sys.setup(ctx); err != nil {
		return r, fmt.Errorf("set up: %w", err)
	}
	var toCanary, toProd, toDone, toNewOnly, toServed []time.Duration
	var shares []float64
	// What was measured is kept when a later repetition fails.
	defer func() {
		r.ToCanary = Summarize(Millis(toCanary), "ms")
		r.ToProduction = Summarize(Millis(toProd), "ms")
		r.ToDone = Summarize(Millis(toDone), "ms")
		r.ToNewOnly = Summarize(Millis(toNewOnly), "ms")
		r.ToServed = Summarize(Millis(toServed), "ms")
		r.CanaryShare = Summarize(shares, "%")
	}()
	for i := 1; i <= b.o.n; i++ {
		s, err := sys.release(ctx, fmt.Sprintf("1.%d", i))
		if err != nil {
			return r, fmt.Errorf("release %d: %w", i, err)
		}
		b.log.Info("release", "system", sys.name(), "rep", i, "to_canary", s.ToCanary.Round(time.Millisecond).String(),
			"to_production", s.ToProduction.Round(time.Millisecond).String(), "to_new_only", s.ToNewOnly.Round(time.Millisecond).String(), "to_done", s.ToDone.Round(time.Millisecond).String(),
			"to_served", s.ToServed.Round(time.Millisecond).String(), "canary_share", s.CanaryShare)
		toCanary, toProd, toDone = append(toCanary, s.ToCanary), append(toProd, s.ToProduction), append(toDone, s.ToDone)
		toNewOnly = append(toNewOnly, s.ToNewOnly)
		if s.CanaryShare >= 0 {
			toServed, shares = append(toServed, s.ToServed), append(shares, s.CanaryShare*100)
		}
	}
	return r, nil
}

// fledgeReleaser releases the walkthrough through a Fledge server: fledge
// run, then fledge approve. With a data plane, the environment uses the
// beside-production layout (the canary Ingress next to production's, which
// Traefik and ingress-nginx both follow); else the walkthrough's
// canary-namespace layout.
type fledgeReleaser struct {
	b *bench
	s *fledgeServer
	// where the canary Ingress is
	ingressNS, ingressName string
}

const fledgeReleasePipeline = "bench-release"

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
	layout := ""
	f.ingressNS, f.ingressName = fledgeCanaryNS, "webpage-ingress"
	if f.b.plane != nil {
		layout = v1alpha1.IngressLayoutBesideProduction
		f.ingressNS, f.ingressName = fledgeProdNS, "webpage-ingress-canary"
	}
	if err := f.b.applyFledgeResources(ctx, s, filepath.Join(dir, "resources"), layout, map[string]string{"webpage": m},
		[]pipelineFixture{{Name: fledgeReleasePipeline, Artifact: "webpage", CanaryNS: fledgeCanaryNS, ProdNS: fledgeProdNS, Approval: true}}); err != nil {
		return err
	}
	// The first release makes production; it is not measured (with no
	// production to split with, the canary may keep weight 0).
	d, err := s.run(ctx, fledgeReleasePipeline, "1.0")
	if err != nil {
		return err
	}
	if _, err := s.waitStatus(ctx, d.ID, 2*time.Minute, v1alpha1.StatusWaitingForApproval); err != nil {
		return err
	}
	if _, err := s.cli(ctx, "alice", "approve", fmt.Sprint(d.ID)); err != nil {
		return err
	}
	_, err = s.waitStatus(ctx, d.ID, 2*time.Minute, v1alpha1.StatusSucceeded)
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
		if w, err := f.b.ingressWeight(ctx, f.ingressNS, f.ingressName); err != nil || w != "25" {
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
	if s.CanaryShare, err = f.b.canaryShare(ctx, "/webpage/", tag); err != nil {
		return s, err
	}
	approve := time.Now()
	served := f.b.watchServed(ctx, "/webpage/", tag)
	if _, err := f.s.cli(ctx, "alice", "approve", fmt.Sprint(d.ID)); err != nil {
		return s, err
	}
	var newOnly newOnlyClock
	at, err = waitUntil(ctx, 2*time.Minute, "fledge production on "+tag, func(ctx context.Context) (bool, error) {
		w, err := f.b.ingressWeight(ctx, f.ingressNS, f.ingressName)
		if err != nil {
			return false, err
		}
		if err := newOnly.check(w, func() (bool, error) {
			return f.b.deploymentReady(ctx, fledgeCanaryNS, "webpage-deployment", img)
		}); err != nil {
			return false, err
		}
		if ok, err := f.b.deploymentReady(ctx, fledgeProdNS, "webpage-deployment", img); !ok || err != nil {
			return false, err
		}
		return w == "0" || w == "", nil
	})
	if err != nil {
		return s, err
	}
	s.ToProduction = at.Sub(approve)
	s.ToNewOnly = newOnly.since(approve, at)
	at, err = f.s.waitStatus(ctx, d.ID, time.Minute, v1alpha1.StatusSucceeded)
	if err != nil {
		return s, err
	}
	s.ToDone = at.Sub(approve)
	s.ToServed, err = served.wait(approve)
	return s, err
}

// newOnlyClock notes the first moment a canary took every request while
// ready on the new version.
type newOnlyClock struct{ at time.Time }

// check records now when weight is "100" and canaryReady says so; it reads
// the canary only until the moment is found.
func (c *newOnlyClock) check(weight string, canaryReady func() (bool, error)) error {
	if !c.at.IsZero() || weight != "100" {
		return nil
	}
	ok, err := canaryReady()
	if ok {
		c.at = time.Now()
	}
	return err
}

// since is the time from start to the first moment only the new version
// was served: the canary's promotion, or else production's (at).
func (c *newOnlyClock) since(start, production time.Time) time.Duration {
	if c.at.IsZero() || c.at.After(production) {
		return production.Sub(start)
	}
	return c.at.Sub(start)
}

func (f *fledgeReleaser) teardown() {
	if f.s != nil {
		f.s.stop()
	}
}
