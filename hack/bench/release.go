package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
	// Trigger, Approve and Done are when the release was triggered, was
	// approved, and was seen finished: the data-plane figures are read
	// from the probe's batches between them.
	Trigger, Approve, Done time.Time
	// ShareErr is set when the data plane never showed the canary's
	// share at the canary step.
	ShareErr error
}

// planeSample is what the data plane showed during one release.
type planeSample struct {
	// ToShare: trigger → 25% ± 3% of the requests answered by the
	// canary, two batches in a row (ShareSeen false when never).
	ToShare   time.Duration
	ShareSeen bool
	// ToAll: approve → every request answered by the new version, two
	// batches in a row (AllSeen false when never).
	ToAll   time.Duration
	AllSeen bool
	// Share: the canary's share of the requests while it waited at 25%.
	Share float64
	// Failed: failed requests from the trigger until every request was
	// answered by the new version (or the wait for it ended); Requests:
	// all of them.
	Failed, Requests int
	// Stale: answers by another version after a batch had been answered
	// by the new one alone (weighted round robin gives no such batch at a
	// share below 100%), until the probe
	// stopped afterTail after the release was done: a data plane sent
	// requests back to old pods, say when a canary's share is given back
	// before the data plane knows production's new endpoints.
	Stale int
}

// readPlane reads a release's data-plane figures from the probe's batches.
func readPlane(bs []batch, s releaseSample, version string) planeSample {
	var p planeSample
	at := firstSteady(bs, s.Trigger, shareWithin(version, 0.25, shareTolerance))
	if !at.IsZero() && at.Before(s.Approve) {
		p.ToShare, p.ShareSeen = at.Sub(s.Trigger), true
		p.Share, _ = shareBetween(bs, at, s.Approve, version)
	}
	if all := firstSteady(bs, s.Approve, onlyVersion(version)); !all.IsZero() {
		p.ToAll, p.AllSeen = all.Sub(s.Approve), true
	}
	// Once one batch was answered by the new version alone, the old one
	// has no reason to answer again.
	for i, b := range bs {
		if !b.start.Before(s.Approve) && onlyVersion(version)(b.res) {
			p.Stale = otherVersions(bs[i+1:], b.start, version)
			break
		}
	}
	// Failed requests are counted from the trigger until the probe
	// stopped: the release and the data plane's following it.
	if len(bs) > 0 {
		p.Failed = failedBetween(bs, s.Trigger, bs[len(bs)-1].start)
	}
	for _, b := range bs {
		p.Requests += b.res.Total
	}
	return p
}

// releaser is one system under the release benchmark.
type releaser interface {
	name() string
	// path is where the data plane routes to the system's release.
	path() string
	// setup creates what the system needs and makes a first, unmeasured
	// release so that production exists.
	setup(ctx context.Context) error
	// release makes one measured release of tag; p is the data-plane
	// probe running from just before the trigger (nil without a data
	// plane), which the release waits on at its canary step.
	release(ctx context.Context, tag string, p *probe) (releaseSample, error)
	teardown()
}

// Namespaces of the release benchmark.
const (
	fledgeCanaryNS  = "fr-canary"
	fledgeProdNS    = "fr-prod"
	fledge1CanaryNS = "fr1-canary"
	fledge1ProdNS   = "fr1-prod"
	argoNS          = "ar-bench"
	flaggerNS       = "fl-bench"
)

// releaseSettle is the pause between two releases of the release
// benchmark, so one system's clean-up does not load the next one's release.
const releaseSettle = 2 * time.Second

// releaseBench runs benchmarks 1 and 2: trigger → 25% on the canary, and
// approve → only the new version served and the release done, for Fledge
// (its walkthrough's full-size canary, and a 1-pod canary like Argo
// Rollouts' at 25%), Argo Rollouts and Flagger on the same control plane
// and the same data plane. The systems alternate release by release, the
// first of each round rotating, so the machine's load falls on all of them
// alike.
func (b *bench) releaseBench(ctx context.Context, peers peerBins, res *Results) error {
	if b.o.dataplane {
		stop, err := b.startPlane(ctx, fledgeCanaryNS, fledgeProdNS, fledge1CanaryNS, fledge1ProdNS, argoNS, flaggerNS)
		if err != nil {
			return fmt.Errorf("release: start the data plane (-dataplane=false measures the API objects only): %w", err)
		}
		defer stop()
		res.DataPlane = "Traefik " + dataplane.TraefikVersion + " (kubernetesIngressNGINX provider), test/dataplane"
	}
	all := []releaser{
		&fledgeReleaser{b: b, variant: "fledge", canaryNS: fledgeCanaryNS, prodNS: fledgeProdNS, urlPath: "/webpage/"},
		&fledgeReleaser{b: b, variant: "fledge-1pod", canaryNS: fledge1CanaryNS, prodNS: fledge1ProdNS, urlPath: "/webpage1/", onePod: true},
		&argoReleaser{b: b, bin: peers.ArgoBin, module: peers.ArgoModule},
		&flaggerReleaser{b: b, bin: peers.FlaggerBin, module: peers.FlaggerModule},
	}
	if res.Release == nil {
		res.Release = map[string]ReleaseResult{}
	}
	var systems []releaser
	var errs []error
	for _, sys := range all {
		if !b.o.systems[sys.name()] && !(sys.name() == "fledge-1pod" && b.o.systems["fledge"]) {
			continue
		}
		b.log.Info("release: set up", "system", sys.name())
		defer sys.teardown()
		if err := sys.setup(ctx); err != nil {
			if ctx.Err() != nil {
				return err
			}
			b.log.Error("release benchmark set-up failed", "system", sys.name(), "error", err)
			errs = append(errs, fmt.Errorf("%s: set up: %w", sys.name(), err))
			res.Release[sys.name()] = ReleaseResult{Error: "set up: " + err.Error()}
			continue
		}
		systems = append(systems, sys)
	}
	samples := map[string]*releaseSamples{}
	for _, sys := range systems {
		samples[sys.name()] = &releaseSamples{}
	}
	failed := map[string]bool{}
	for i := 1; i <= b.o.n; i++ {
		for k := range systems {
			sys := systems[(i-1+k)%len(systems)]
			if failed[sys.name()] {
				continue
			}
			if err := sleepCtx(ctx, releaseSettle); err != nil {
				return err
			}
			tag := fmt.Sprintf("1.%d", i)
			s, plane, err := b.measureRelease(ctx, sys, tag)
			if err != nil {
				if ctx.Err() != nil {
					return err
				}
				b.log.Error("release benchmark failed", "system", sys.name(), "rep", i, "error", err)
				errs = append(errs, fmt.Errorf("%s: release %d: %w", sys.name(), i, err))
				failed[sys.name()] = true
				samples[sys.name()].err = fmt.Errorf("release %d: %w", i, err)
				continue
			}
			samples[sys.name()].add(s, plane)
			b.log.Info("release", "system", sys.name(), "rep", i, "to_canary", s.ToCanary.Round(time.Millisecond).String(),
				"to_production", s.ToProduction.Round(time.Millisecond).String(), "to_done", s.ToDone.Round(time.Millisecond).String(),
				"to_share", plane.ToShare.Round(time.Millisecond).String(), "share", plane.Share, "to_all", plane.ToAll.Round(time.Millisecond).String(),
				"failed", plane.Failed, "requests", plane.Requests)
		}
	}
	for _, sys := range systems {
		x := samples[sys.name()].result(b.plane != nil)
		if f, ok := sys.(*fledgeReleaser); ok {
			x.CLI = Summarize(Millis(f.cliTimes), "ms")
		}
		res.Release[sys.name()] = x
	}
	return errors.Join(errs...)
}

// measureRelease makes one release of sys with the probe running around
// it.
func (b *bench) measureRelease(ctx context.Context, sys releaser, tag string) (releaseSample, planeSample, error) {
	p := b.startProbe(ctx, sys.path())
	s, err := sys.release(ctx, tag, p)
	if p == nil {
		return s, planeSample{}, err
	}
	if err == nil {
		err = b.awaitAll(ctx, p, s.Approve, tag)
	}
	if err == nil {
		// The probe goes on a while after done, so a data plane that
		// sends requests back to old pods once the release has ended is
		// seen (Stale).
		err = sleepCtx(ctx, afterTail)
	}
	bs, perr := p.stop()
	if err == nil {
		err = perr
	}
	if err != nil {
		return s, planeSample{}, err
	}
	plane := readPlane(bs, s, tag)
	if s.ShareErr != nil {
		b.log.Warn("release: the canary's share was not seen", "system", sys.name(), "error", s.ShareErr)
	}
	return s, plane, nil
}

// releaseSamples collects one system's releases.
type releaseSamples struct {
	toCanary, toProd, toDone, toNewOnly, toShare, toAll []time.Duration
	lag                                                 []float64
	shares, failed, stale                               []float64
	noShare, noAll, requests                            int
	err                                                 error
}

func (r *releaseSamples) add(s releaseSample, p planeSample) {
	r.toCanary, r.toProd, r.toDone = append(r.toCanary, s.ToCanary), append(r.toProd, s.ToProduction), append(r.toDone, s.ToDone)
	r.toNewOnly = append(r.toNewOnly, s.ToNewOnly)
	if p.Requests == 0 {
		return
	}
	r.requests += p.Requests
	r.failed = append(r.failed, float64(p.Failed))
	r.stale = append(r.stale, float64(p.Stale))
	if p.ShareSeen {
		r.toShare, r.shares = append(r.toShare, p.ToShare), append(r.shares, p.Share*100)
		r.lag = append(r.lag, float64(p.ToShare-s.ToCanary)/float64(time.Millisecond))
	} else {
		r.noShare++
	}
	if p.AllSeen {
		r.toAll = append(r.toAll, p.ToAll)
	} else {
		r.noAll++
	}
}

func (r *releaseSamples) result(plane bool) ReleaseResult {
	x := ReleaseResult{
		ToCanary:     Summarize(Millis(r.toCanary), "ms"),
		ToProduction: Summarize(Millis(r.toProd), "ms"),
		ToDone:       Summarize(Millis(r.toDone), "ms"),
		ToNewOnly:    Summarize(Millis(r.toNewOnly), "ms"),
	}
	if plane {
		x.ToShare = Summarize(Millis(r.toShare), "ms")
		x.ToAll = Summarize(Millis(r.toAll), "ms")
		x.CanaryShare = Summarize(r.shares, "%")
		x.Lag = Summarize(r.lag, "ms")
		x.Failed = Summarize(r.failed, "requests")
		x.Stale = Summarize(r.stale, "requests")
		x.ShareNotSeen, x.AllNotSeen, x.Requests = r.noShare, r.noAll, r.requests
	}
	if r.err != nil {
		x.Error = r.err.Error()
	}
	return x
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

// fledgeReleaser releases the walkthrough through a Fledge server's API:
// a run, then an approval, each one POST like the peers' patches (the CLI's
// own cost is measured apart). With a data plane, the environment uses the
// beside-production layout (the canary Ingress next to production's, which
// Traefik and ingress-nginx both follow); else the walkthrough's
// canary-namespace layout. The "fledge-1pod" variant sizes the canary to
// one pod (canaryDeployment.scale.replicas: 1).
type fledgeReleaser struct {
	b                      *bench
	variant                string
	canaryNS, prodNS       string
	urlPath                string
	onePod                 bool
	s                      *fledgeServer
	ingressNS, ingressName string
	pipeline               string
	cliTimes               []time.Duration
}

func (f *fledgeReleaser) name() string { return f.variant }
func (f *fledgeReleaser) path() string { return f.urlPath }

func (f *fledgeReleaser) setup(ctx context.Context) error {
	dir := filepath.Join(f.b.work, "release-"+f.variant)
	s, err := f.b.startFledge(ctx, dir, "")
	if err != nil {
		return err
	}
	f.s = s
	m, err := f.b.walkthroughManifests(3)
	if err != nil {
		return err
	}
	// Each variant has its own path on the data plane.
	m = strings.ReplaceAll(m, "/webpage(", strings.TrimSuffix(f.urlPath, "/")+"(")
	layout := ""
	f.ingressNS, f.ingressName = f.canaryNS, "webpage-ingress"
	if f.b.plane != nil {
		layout = v1alpha1.IngressLayoutBesideProduction
		f.ingressNS, f.ingressName = f.prodNS, "webpage-ingress-canary"
	}
	f.pipeline = "bench-" + f.variant
	if err := f.b.applyFledgeResources(ctx, s, filepath.Join(dir, "resources"), layout, map[string]string{"webpage": m},
		[]pipelineFixture{{Name: f.pipeline, Artifact: "webpage", CanaryNS: f.canaryNS, ProdNS: f.prodNS, Approval: true, OnePod: f.onePod}}); err != nil {
		return err
	}
	// The first release makes production; it is not measured (with no
	// production to split with, the canary keeps weight 0).
	d, err := f.trigger(ctx, "1.0")
	if err != nil {
		return err
	}
	if _, err := s.waitStatus(ctx, d.ID, 2*time.Minute, v1alpha1.StatusWaitingForApproval); err != nil {
		return err
	}
	if err := f.approve(ctx, d.ID); err != nil {
		return err
	}
	_, err = s.waitStatus(ctx, d.ID, 2*time.Minute, v1alpha1.StatusSucceeded)
	return err
}

// trigger starts a run with one API call.
func (f *fledgeReleaser) trigger(ctx context.Context, tag string) (v1alpha1.Deployment, error) {
	var d v1alpha1.Deployment
	_, err := f.s.post(ctx, "/api/v1/pipelines/"+f.pipeline+"/runs", "ci",
		v1alpha1.RunRequest{Parameters: map[string]string{"IMAGE_TAG": tag}}, &d)
	return d, err
}

// approve approves a deployment with one API call.
func (f *fledgeReleaser) approve(ctx context.Context, id int64) error {
	_, err := f.s.post(ctx, fmt.Sprintf("/api/v1/deployments/%d/approve", id), "alice", v1alpha1.DecisionRequest{}, nil)
	return err
}

func (f *fledgeReleaser) release(ctx context.Context, tag string, p *probe) (releaseSample, error) {
	var s releaseSample
	img := image + tag
	s.Trigger = time.Now()
	d, err := f.trigger(ctx, tag)
	if err != nil {
		return s, err
	}
	at, err := waitUntil(ctx, 2*time.Minute, f.variant+" canary at 25%", func(ctx context.Context) (bool, error) {
		if w, err := f.b.ingressWeight(ctx, f.ingressNS, f.ingressName); err != nil || w != "25" {
			return false, err
		}
		return f.b.deploymentReady(ctx, f.canaryNS, "webpage-deployment", img)
	})
	if err != nil {
		return s, err
	}
	s.ToCanary = at.Sub(s.Trigger)
	if _, err := f.s.waitStatus(ctx, d.ID, time.Minute, v1alpha1.StatusWaitingForApproval); err != nil {
		return s, err
	}
	if err := f.b.awaitShare(ctx, p, s.Trigger, tag); err != nil {
		if !errors.Is(err, errShareNotReached) {
			return s, err
		}
		s.ShareErr = err
	}
	// The CLI's own cost, apart from the figures: one read of the
	// deployment through the fledge binary, which the CLI's run and
	// approve each pay once.
	t0 := time.Now()
	if _, err := f.s.cli(ctx, "alice", "get", "deployment", fmt.Sprint(d.ID), "-o", "json"); err != nil {
		return s, err
	}
	f.cliTimes = append(f.cliTimes, time.Since(t0))
	s.Approve = time.Now()
	if err := f.approve(ctx, d.ID); err != nil {
		return s, err
	}
	var newOnly newOnlyClock
	at, err = waitUntil(ctx, 2*time.Minute, f.variant+" production on "+tag, func(ctx context.Context) (bool, error) {
		w, err := f.b.ingressWeight(ctx, f.ingressNS, f.ingressName)
		if err != nil {
			return false, err
		}
		if !f.onePod {
			if err := newOnly.check(w, func() (bool, error) {
				return f.b.deploymentReady(ctx, f.canaryNS, "webpage-deployment", img)
			}); err != nil {
				return false, err
			}
		}
		if ok, err := f.b.deploymentReady(ctx, f.prodNS, "webpage-deployment", img); !ok || err != nil {
			return false, err
		}
		return w == "0" || w == "", nil
	})
	if err != nil {
		return s, err
	}
	s.ToProduction = at.Sub(s.Approve)
	s.ToNewOnly = newOnly.since(s.Approve, at)
	s.Done, err = f.s.waitStatus(ctx, d.ID, time.Minute, v1alpha1.StatusSucceeded)
	if err != nil {
		return s, err
	}
	s.ToDone = s.Done.Sub(s.Approve)
	return s, nil
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
