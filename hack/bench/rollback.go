package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/testenv"
	"fledge.dev/fledge/test/dataplane"
)

// The analysis benchmark: a bad version (the test agent answers every
// tenth request 500) is released by each system with the same check, and
// the bench measures how fast each takes the canary's weight back to 0 and
// how many requests the bad version served meanwhile. Every system reads
// the same PromQL (Traefik's per-service request counter, through the same
// real Prometheus scraping Traefik every second), with the same interval,
// threshold and failure limit.
const (
	// rollbackInterval is every system's analysis interval: Flagger
	// forces at least 10 s, so all get 10 s. Fledge and Argo Rollouts
	// also wait one interval before their first measurement, as Flagger
	// does: a measurement right at the weight change reads a window with
	// no canary requests (0/0, NaN), which Argo Rollouts fails and Fledge
	// retries, so the verdict would not be about the bad version.
	rollbackInterval = 10 * time.Second
	// rollbackThreshold is the lowest passing success rate.
	rollbackThreshold = "0.99"
	// rollbackErrorRate is what the bad version answers with 500.
	rollbackErrorRate = "10%"
	// rollbackRate is the constant load, requests per second, through
	// Traefik to the system's path during a release.
	rollbackRate = 100
	// rollbackWeight is the canary's weight while it is analysed.
	rollbackWeight = "25"
)

// Namespaces of the analysis benchmark.
const (
	anaFledgeCanaryNS = "fa-canary"
	anaFledgeProdNS   = "fa-prod"
	anaArgoNS         = "aa-bench"
	anaFlaggerNS      = "fla-bench"
)

// successRateQuery is the check of every system: the share of the
// canary's requests through Traefik not answered 5xx over the last
// interval. ns is the namespace of the production Ingress (Traefik names
// the canary after it: <ns>-<ingress>-<service>-<port>-canary).
func successRateQuery(ns string) string {
	sel := fmt.Sprintf(`service=~"%s-webpage-ingress-.+-canary@kubernetesingressnginx"`, ns)
	w := fmt.Sprintf("%ds", int(rollbackInterval.Seconds()))
	return fmt.Sprintf(`sum(rate(traefik_service_requests_total{%s,code!~"5.."}[%s])) / sum(rate(traefik_service_requests_total{%s}[%s]))`, sel, w, sel, w)
}

// rollbackSample is one bad release of one system. Times are offsets.
type rollbackSample struct {
	// ToLive: trigger → the canary's weight is 25 on the API object.
	ToLive time.Duration
	// ToFirstFail: canary live → the first failing measurement: the time
	// Prometheus answered the system's query that failed.
	ToFirstFail time.Duration
	// ToSeen: first failing measurement → the system shows the failure on
	// its API.
	ToSeen time.Duration
	// ToWeight0: first failing measurement → weight 0 on the API object.
	ToWeight0 time.Duration
	// ToNotServed: first failing measurement → every request through the
	// data plane is answered by the good version.
	ToNotServed time.Duration
	// BadRequests: requests the bad version answered (any status) during
	// the whole release; BadAfterFail: those after the first failing
	// measurement was seen.
	BadRequests, BadAfterFail int
}

// rollbacker is one system under the analysis benchmark.
type rollbacker interface {
	name() string
	// setup creates what the system needs, with production on a good
	// version, the check's query reading prom.
	setup(ctx context.Context, prom string) error
	// path is where the load goes through Traefik.
	path() string
	// trigger starts the release of the bad version tag.
	trigger(ctx context.Context, tag string) error
	// weight reads the canary weight on the API object ("" when there is
	// no canary route).
	weight(ctx context.Context) (string, error)
	// failed reports whether the system has recorded a failing
	// measurement of the release.
	failed(ctx context.Context) (bool, error)
	// namespace is where its production Ingress is.
	namespace() string
	teardown()
}

// RollbackResult is the analysis benchmark for one system.
type RollbackResult struct {
	ToLive       Summary `json:"trigger_to_canary_live"`
	ToFirstFail  Summary `json:"live_to_first_failing_measurement"`
	ToSeen       Summary `json:"first_fail_to_failure_on_api"`
	ToWeight0    Summary `json:"first_fail_to_weight_0"`
	ToNotServed  Summary `json:"first_fail_to_bad_not_served"`
	BadRequests  Summary `json:"bad_version_requests"`
	BadAfterFail Summary `json:"bad_version_requests_after_first_fail"`
	Error        string  `json:"error,omitempty"`
}

// rollbackBench runs the analysis benchmark: the systems alternate rep by
// rep on one data plane and one Prometheus.
func (b *bench) rollbackBench(ctx context.Context, peers peerBins, res *Results) error {
	stop, err := b.startPlane(ctx, anaFledgeCanaryNS, anaFledgeProdNS, anaArgoNS, anaFlaggerNS)
	if err != nil {
		return fmt.Errorf("data plane: %w", err)
	}
	defer stop()
	bin, err := testenv.PrometheusBinary()
	if err != nil {
		return err
	}
	dir := filepath.Join(b.work, "prometheus")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b.queryLog = filepath.Join(dir, "queries.log")
	prom, err := testenv.StartPrometheus(ctx, testenv.PrometheusOptions{
		Bin: bin, Dir: dir, Job: "traefik", ScrapeInterval: time.Second, Targets: []string{b.plane.MetricsAddr()},
		QueryLog: b.queryLog,
	})
	if err != nil {
		return err
	}
	defer prom.Stop()
	res.Analysis = map[string]RollbackResult{}
	res.AnalysisSetup = fmt.Sprintf("Traefik %s (kubernetesIngressNGINX) in front of the kwok pods; Prometheus (%s) scraping Traefik every 1 s; "+
		"bad version: %s of its requests answered 500; check: `%s` ≥ %s every %s, first failure fails (failureLimit 0, Flagger threshold 1); "+
		"load: %d req/s through Traefik", dataplane.TraefikVersion, bin, rollbackErrorRate, successRateQuery("NS"), rollbackThreshold, rollbackInterval, rollbackRate)

	all := []rollbacker{
		&fledgeRollback{b: b},
		&argoRollback{b: b, bin: peers.ArgoBin, module: peers.ArgoModule},
		&flaggerRollback{flaggerReleaser: flaggerReleaser{b: b, bin: peers.FlaggerBin, module: peers.FlaggerModule}},
	}
	var systems []rollbacker
	var errs []error
	for _, sys := range all {
		if !b.o.systems[sys.name()] {
			continue
		}
		b.log.Info("analysis: set up", "system", sys.name())
		defer sys.teardown()
		if err := sys.setup(ctx, prom.URL); err != nil {
			if ctx.Err() != nil {
				return err
			}
			errs = append(errs, fmt.Errorf("%s: set up: %w", sys.name(), err))
			res.Analysis[sys.name()] = RollbackResult{Error: "set up: " + err.Error()}
			continue
		}
		systems = append(systems, sys)
	}
	samples := map[string][]rollbackSample{}
	failed := map[string]error{}
	for i := 1; i <= b.o.n; i++ {
		for _, sys := range systems {
			if failed[sys.name()] != nil {
				continue
			}
			s, err := b.rollbackOne(ctx, sys, fmt.Sprintf("2.%d", i))
			if err != nil {
				if ctx.Err() != nil {
					return err
				}
				b.log.Error("analysis benchmark failed", "system", sys.name(), "rep", i, "error", err)
				failed[sys.name()] = fmt.Errorf("release %d: %w", i, err)
				continue
			}
			b.log.Info("analysis", "system", sys.name(), "rep", i, "to_live", s.ToLive.Round(time.Millisecond).String(),
				"to_first_fail", s.ToFirstFail.Round(time.Millisecond).String(), "to_seen", s.ToSeen.Round(time.Millisecond).String(), "to_weight0", s.ToWeight0.Round(time.Millisecond).String(),
				"to_not_served", s.ToNotServed.Round(time.Millisecond).String(), "bad_requests", s.BadRequests, "bad_after_fail", s.BadAfterFail)
			samples[sys.name()] = append(samples[sys.name()], s)
		}
	}
	for _, sys := range systems {
		r := summarizeRollback(samples[sys.name()])
		if err := failed[sys.name()]; err != nil {
			r.Error = err.Error()
			errs = append(errs, fmt.Errorf("%s: %w", sys.name(), err))
		}
		res.Analysis[sys.name()] = r
	}
	return errors.Join(errs...)
}

func summarizeRollback(ss []rollbackSample) RollbackResult {
	var live, fail, seen, w0, served []time.Duration
	var bad, after []float64
	for _, s := range ss {
		live, fail, w0, served = append(live, s.ToLive), append(fail, s.ToFirstFail), append(w0, s.ToWeight0), append(served, s.ToNotServed)
		seen = append(seen, s.ToSeen)
		bad, after = append(bad, float64(s.BadRequests)), append(after, float64(s.BadAfterFail))
	}
	return RollbackResult{
		ToLive: Summarize(Millis(live), "ms"), ToFirstFail: Summarize(Millis(fail), "ms"), ToSeen: Summarize(Millis(seen), "ms"),
		ToWeight0: Summarize(Millis(w0), "ms"), ToNotServed: Summarize(Millis(served), "ms"),
		BadRequests: Summarize(bad, "requests"), BadAfterFail: Summarize(after, "requests"),
	}
}

// rollbackOne releases the bad version tag with sys under constant load.
func (b *bench) rollbackOne(ctx context.Context, sys rollbacker, tag string) (rollbackSample, error) {
	var s rollbackSample
	req := dataplane.Request{Path: sys.path()}
	before, err := b.plane.StartSteady(req, rollbackRate)
	if err != nil {
		return s, err
	}
	var after *dataplane.Steady
	afterStarted := make(chan error, 1)
	defer func() {
		_, _ = before.Stop()
		if after != nil {
			_, _ = after.Stop()
		}
	}()
	start := time.Now()
	if err := sys.trigger(ctx, tag); err != nil {
		return s, err
	}
	live, err := waitUntil(ctx, 3*time.Minute, sys.name()+" canary at "+rollbackWeight, func(ctx context.Context) (bool, error) {
		w, err := sys.weight(ctx)
		return w == rollbackWeight, err
	})
	if err != nil {
		return s, err
	}
	s.ToLive = live.Sub(start)
	// Watch the failure and the weight in one loop: whichever the system
	// records first, both are seen.
	var seen, weight0 time.Time
	var served *servedWatch
	outer := ctx
	_, err = waitUntil(ctx, 3*time.Minute, sys.name()+" weight 0 after a failing measurement", func(ctx context.Context) (bool, error) {
		now := time.Now()
		if seen.IsZero() {
			if ok, err := sys.failed(ctx); err != nil || !ok {
				return false, err
			}
			seen = now
			served = b.watchServed(outer, sys.path(), "1.0")
			// The load from now on is counted apart.
			go func() {
				var err error
				after, err = b.plane.StartSteady(req, rollbackRate)
				afterStarted <- err
			}()
		}
		w, err := sys.weight(ctx)
		if err != nil {
			return false, err
		}
		if w == "0" || w == "" {
			weight0 = now
			return true, nil
		}
		return false, nil
	})
	if seen.IsZero() {
		return s, err
	}
	if err := <-afterStarted; err != nil {
		after = nil
		return s, err
	}
	if err != nil {
		return s, err
	}
	r1, err := before.Stop()
	if err != nil {
		return s, err
	}
	// The failing measurement is the system's last query of Prometheus
	// before the failure was seen.
	failAt, err := b.lastQuery(successRateQuery(sys.namespace()), seen)
	if err != nil {
		return s, err
	}
	s.ToFirstFail = failAt.Sub(live)
	s.ToSeen = seen.Sub(failAt)
	s.ToWeight0 = weight0.Sub(failAt)
	notServed, err := served.wait(failAt)
	// A few more seconds of load, so that requests the bad version still
	// got are counted.
	time.Sleep(2 * time.Second)
	r2, err2 := after.Stop()
	after = nil
	if err := errors.Join(err, err2); err != nil {
		return s, err
	}
	s.ToNotServed = notServed
	s.BadAfterFail = r2.Versions[tag] + r2.Failed[tag]
	s.BadRequests = r1.Versions[tag] + r1.Failed[tag] + s.BadAfterFail
	b.log.Debug("analysis load", "system", sys.name(), "before", r1.String(), "after", r2.String())
	return s, nil
}

// queryLogEntry is a line of Prometheus' query log.
type queryLogEntry struct {
	Params struct {
		Query string `json:"query"`
	} `json:"params"`
	TS time.Time `json:"ts"`
}

// lastQuery returns the time Prometheus logged the last query q answered
// at or before t.
func (b *bench) lastQuery(q string, t time.Time) (time.Time, error) {
	data, err := os.ReadFile(b.queryLog)
	if err != nil {
		return time.Time{}, fmt.Errorf("prometheus query log: %w", err)
	}
	return lastQueryIn(data, q, t)
}

func lastQueryIn(log []byte, q string, t time.Time) (time.Time, error) {
	var last time.Time
	for _, line := range strings.Split(string(log), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var e queryLogEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			return last, fmt.Errorf("prometheus query log line %q: %w", line, err)
		}
		if strings.TrimSpace(e.Params.Query) == q && !e.TS.After(t) && e.TS.After(last) {
			last = e.TS
		}
	}
	if last.IsZero() {
		return last, fmt.Errorf("prometheus query log: no query %q before %s", q, t.Format(time.RFC3339Nano))
	}
	return last, nil
}

// faultyManifests are the walkthrough's with the agent's fault variable
// taken from the parameter ERROR_RATE.
func (b *bench) faultyManifests() (string, error) {
	m, err := b.walkthroughManifests(3)
	if err != nil {
		return "", err
	}
	const version = "            - name: VERSION\n              value: \"${IMAGE_TAG}\"\n"
	out := strings.Replace(m, version, version+"            - name: FAULT_ERROR_RATE\n              value: \"${ERROR_RATE}\"\n", 1)
	if out == m {
		return "", errors.New("examples/webpage/manifests.yaml: the VERSION variable not found")
	}
	return out, nil
}

// Fledge

// fledgeRollback releases through a Fledge server: a canarySteps stage
// with setWeight 25, a pause, and a background analysis.
type fledgeRollback struct {
	b  *bench
	s  *fledgeServer
	id int64
}

func (f *fledgeRollback) name() string { return "fledge" }
func (f *fledgeRollback) path() string { return "/webpage/" }

func (f *fledgeRollback) setup(ctx context.Context, prom string) error {
	b := f.b
	dir := filepath.Join(b.work, "analysis-fledge")
	s, err := b.startFledge(ctx, dir, "")
	if err != nil {
		return err
	}
	f.s = s
	m, err := b.faultyManifests()
	if err != nil {
		return err
	}
	res := filepath.Join(dir, "resources")
	if err := os.MkdirAll(res, 0o700); err != nil {
		return err
	}
	files := map[string]string{
		"environment.yaml": fmt.Sprintf("apiVersion: fledge.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: local\nspec:\n  kubeconfig:\n    path: %s\n  ingressLayout: %s\n",
			b.cluster.Kubeconfig(), v1alpha1.IngressLayoutBesideProduction),
		"webpage.manifests": m,
		"artifact.yaml":     "apiVersion: fledge.dev/v1alpha1\nkind: Artifact\nmetadata:\n  name: webpage\nspec:\n  file: webpage.manifests\n",
		"template.yaml": fmt.Sprintf(`apiVersion: fledge.dev/v1alpha1
kind: AnalysisTemplate
metadata:
  name: bench-success-rate
spec:
  metrics:
  - name: success-rate
    provider:
      prometheus:
        address: %[1]s
        query: '%[2]s'
    successCondition: result >= %[3]s
    interval: %[4]s
    initialDelay: %[4]s
    count: 60
    failureLimit: 0
`, prom, successRateQuery(anaFledgeProdNS), rollbackThreshold, rollbackInterval),
		"pipelines.yaml": fledgeRollbackPipeline("bench-first", "") + "---\n" + fledgeRollbackPipeline("bench-bad", fmt.Sprintf(`    - name: progressive
      canarySteps:
        backgroundAnalysis:
          templates: [{name: bench-success-rate}]
        steps:
          - setWeight: %s
          - pause: {duration: 10m}
`, rollbackWeight)),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(res, name), []byte(body), 0o600); err != nil {
			return err
		}
	}
	if _, err := s.cli(ctx, "ci", "apply", "-f", res); err != nil {
		return err
	}
	// Production on the good version 1.0, without analysis.
	d, err := s.run(ctx, "bench-first", "1.0")
	if err != nil {
		return err
	}
	_, err = s.waitStatus(ctx, d.ID, 3*time.Minute, v1alpha1.StatusSucceeded)
	return err
}

// fledgeRollbackPipeline is a pipeline of the analysis benchmark, with the
// given stages between the canary and production (none: a direct ramp to
// 25 and on).
func fledgeRollbackPipeline(name, steps string) string {
	if steps == "" {
		steps = "    - name: shift-traffic-stage\n      shiftTraffic:\n        rampLimitPercent: 25\n        batchCount: 1\n"
	}
	return fmt.Sprintf(`apiVersion: fledge.dev/v1alpha1
kind: Pipeline
metadata:
  name: %s
spec:
  parameters:
    - name: IMAGE_TAG
    - name: ERROR_RATE
      default: ""
  stages:
    - name: canary-deploy-stage
      canaryDeployment:
        environment: local
        artifacts: [webpage]
        namespace: %s
        ingressName: webpage-ingress
        rolloutTimeout: 5m
%s    - name: switch-to-production-stage
      productionRelease:
        namespace: %s
        rolloutTimeout: 5m
`, name, anaFledgeCanaryNS, steps, anaFledgeProdNS)
}

func (f *fledgeRollback) trigger(ctx context.Context, tag string) error {
	out, err := f.s.cli(ctx, "ci", "run", "bench-bad", "-o", "json", "--param", "IMAGE_TAG="+tag, "--param", "ERROR_RATE="+rollbackErrorRate)
	if err != nil {
		return err
	}
	var d v1alpha1.Deployment
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		return fmt.Errorf("fledge run -o json: %w: %s", err, out)
	}
	f.id = d.ID
	return nil
}

func (f *fledgeRollback) weight(ctx context.Context) (string, error) {
	return f.b.ingressWeight(ctx, anaFledgeProdNS, "webpage-ingress-canary")
}

// failed reports a Failed measurement in the deployment's analyses, or
// the deployment Failed.
func (f *fledgeRollback) failed(ctx context.Context) (bool, error) {
	d, err := f.s.deployment(ctx, f.id)
	if err != nil {
		return false, err
	}
	bad := d.Status == v1alpha1.StatusFailed
	for _, a := range d.Analyses {
		for _, m := range a.Metrics {
			bad = bad || m.Failed > 0
		}
	}
	if !bad && d.Status.Final() {
		return false, permanent(fmt.Errorf("deployment %d ended %s without a failing measurement: %s", f.id, d.Status, d.Message))
	}
	return bad, nil
}

func (f *fledgeRollback) namespace() string { return anaFledgeProdNS }

func (f *fledgeRollback) teardown() {
	if f.s != nil {
		f.s.stop()
	}
}

// Argo Rollouts

var analysisRunsGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "analysisruns"}

// argoRollback releases a Rollout with NGINX traffic routing, steps
// setWeight 25 and a long pause, and a background analysis from the
// pause on.
type argoRollback struct {
	b           *bench
	bin, module string
	proc        *process
	// known lists the AnalysisRuns of earlier releases.
	known map[string]bool
}

func (a *argoRollback) name() string { return "argo-rollouts" }
func (a *argoRollback) path() string { return "/argo/" }

func (a *argoRollback) manifests(prom string) string {
	ar := &argoReleaser{}
	m := ar.manifests("1.0")
	m = strings.Replace(m, "      steps:\n        - setWeight: 25\n        - pause: {}\n", fmt.Sprintf(`      analysis:
        templates: [{templateName: bench-success-rate}]
        startingStep: 1
      steps:
        - setWeight: %s
        - pause: {duration: 10m}
`, rollbackWeight), 1)
	return m + fmt.Sprintf(`---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: bench-success-rate
spec:
  metrics:
    - name: success-rate
      interval: %[1]s
      initialDelay: %[1]s
      count: 60
      failureLimit: 0
      successCondition: result[0] >= %[2]s
      provider:
        prometheus:
          address: %[3]s
          query: '%[4]s'
`, rollbackInterval, rollbackThreshold, prom, successRateQuery(anaArgoNS))
}

func (a *argoRollback) setup(ctx context.Context, prom string) error {
	b := a.b
	if err := b.installCRDs(ctx, filepath.Join(a.module, "manifests", "crds", "rollout-crd.yaml"),
		filepath.Join(a.module, "manifests", "crds", "analysis-run-crd.yaml"),
		filepath.Join(a.module, "manifests", "crds", "analysis-template-crd.yaml"),
		filepath.Join(a.module, "manifests", "crds", "cluster-analysis-template-crd.yaml"),
		filepath.Join(a.module, "manifests", "crds", "experiment-crd.yaml")); err != nil {
		return err
	}
	if err := b.createNamespace(ctx, anaArgoNS); err != nil {
		return err
	}
	p1, err := freePort()
	if err != nil {
		return err
	}
	p2, err := freePort()
	if err != nil {
		return err
	}
	a.proc, err = startProcess(a.bin, filepath.Join(b.work, "argo-rollouts-analysis.log"),
		"--kubeconfig", b.cluster.Kubeconfig(), "--leader-elect=false",
		"--metricsPort", fmt.Sprint(p1), "--healthzPort", fmt.Sprint(p2), "--loglevel", "info")
	if err != nil {
		return err
	}
	file, err := b.writeFile("argo-analysis/manifests.yaml", a.manifests(prom))
	if err != nil {
		return err
	}
	if err := b.kubectlApply(ctx, anaArgoNS, file); err != nil {
		return err
	}
	_, err = waitUntil(ctx, 2*time.Minute, "argo rollout Healthy", func(ctx context.Context) (bool, error) {
		if err := a.proc.alive(); err != nil {
			return false, err
		}
		u, err := b.dyn.Resource(rolloutsGVR).Namespace(anaArgoNS).Get(ctx, "webpage", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
		return phase == "Healthy", nil
	})
	return err
}

func (a *argoRollback) trigger(ctx context.Context, tag string) error {
	list, err := a.b.dyn.Resource(analysisRunsGVR).Namespace(anaArgoNS).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	a.known = map[string]bool{}
	for _, u := range list.Items {
		a.known[u.GetName()] = true
	}
	patch := fmt.Sprintf(`[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":%q},`+
		`{"op":"replace","path":"/spec/template/spec/containers/0/env","value":[{"name":"VERSION","value":%q},{"name":"FAULT_ERROR_RATE","value":%q}]}]`,
		image+tag, tag, rollbackErrorRate)
	if _, err := a.b.dyn.Resource(rolloutsGVR).Namespace(anaArgoNS).Patch(ctx, "webpage", types.JSONPatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("set rollout image: %w", err)
	}
	return nil
}

func (a *argoRollback) weight(ctx context.Context) (string, error) {
	if err := a.proc.alive(); err != nil {
		return "", err
	}
	return a.b.ingressWeight(ctx, anaArgoNS, argoCanaryIngress)
}

// failed reports a Failed measurement in the release's AnalysisRun.
func (a *argoRollback) failed(ctx context.Context) (bool, error) {
	list, err := a.b.dyn.Resource(analysisRunsGVR).Namespace(anaArgoNS).List(ctx, metav1.ListOptions{})
	if err != nil {
		return false, err
	}
	for _, u := range list.Items {
		if a.known[u.GetName()] {
			continue
		}
		results, _, _ := unstructured.NestedSlice(u.Object, "status", "metricResults")
		for _, r := range results {
			m, _ := r.(map[string]any)
			if n, _, _ := unstructured.NestedInt64(m, "failed"); n > 0 {
				return true, nil
			}
		}
	}
	return false, nil
}

func (a *argoRollback) namespace() string { return anaArgoNS }

func (a *argoRollback) teardown() {
	a.proc.stop()
	if err := a.b.deleteNamespace(context.Background(), anaArgoNS); err != nil {
		a.b.log.Warn("delete namespace", "namespace", anaArgoNS, "error", err)
	}
}

// Flagger

// flaggerRollback releases with Flagger's NGINX provider, stepWeight 25 up
// to maxWeight 25, held there by a closed confirm-promotion gate, with a
// MetricTemplate of the same query.
type flaggerRollback struct {
	flaggerReleaser
}

func (f *flaggerRollback) path() string { return "/flagger/" }

func (f *flaggerRollback) manifests(gateURL, prom string) string {
	m := f.flaggerReleaser.manifests("1.0", gateURL)
	m = strings.Replace(m, "    interval: 1s\n    threshold: 5\n", fmt.Sprintf("    interval: %s\n    threshold: 1\n", rollbackInterval), 1)
	m = strings.Replace(m, "    maxWeight: 25\n    stepWeight: 25\n    metrics: []\n", fmt.Sprintf(`    maxWeight: %s
    stepWeight: %s
    metrics:
      - name: success-rate
        templateRef: {name: bench-success-rate}
        thresholdRange: {min: %s}
        interval: %s
`, rollbackWeight, rollbackWeight, rollbackThreshold, rollbackInterval), 1)
	return m + fmt.Sprintf(`---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata:
  name: bench-success-rate
spec:
  provider:
    type: prometheus
    address: %s
  query: '%s'
`, prom, successRateQuery(anaFlaggerNS))
}

func (f *flaggerRollback) setup(ctx context.Context, prom string) error {
	b := f.b
	if err := b.installCRDs(ctx, filepath.Join(f.module, "artifacts", "flagger", "crd.yaml")); err != nil {
		return err
	}
	if err := b.createNamespace(ctx, anaFlaggerNS); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	// The gate stays closed: the release stays at 25% until analysis
	// rolls it back.
	f.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusForbidden)
	})}
	go func() { _ = f.srv.Serve(ln) }()
	port, err := freePort()
	if err != nil {
		return err
	}
	f.proc, err = startProcess(f.bin, filepath.Join(b.work, "flagger-analysis.log"),
		"-kubeconfig", b.cluster.Kubeconfig(), "-mesh-provider", "nginx", "-control-loop-interval", "1s",
		"-port", fmt.Sprint(port), "-metrics-server", prom, "-log-level", "info")
	if err != nil {
		return err
	}
	file, err := b.writeFile("flagger-analysis/manifests.yaml", f.manifests("http://"+ln.Addr().String()+"/gate", prom))
	if err != nil {
		return err
	}
	if err := b.kubectlApply(ctx, anaFlaggerNS, file); err != nil {
		return err
	}
	_, err = waitUntil(ctx, 3*time.Minute, "flagger canary Initialized", func(ctx context.Context) (bool, error) {
		if err := f.proc.alive(); err != nil {
			return false, err
		}
		phase, err := f.canaryPhase(ctx)
		return err == nil && phase == "Initialized", nil
	})
	return err
}

func (f *flaggerRollback) canaryPhase(ctx context.Context) (string, error) {
	u, err := f.b.dyn.Resource(canariesGVR).Namespace(anaFlaggerNS).Get(ctx, "webpage", metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	p, _, _ := unstructured.NestedString(u.Object, "status", "phase")
	return p, nil
}

func (f *flaggerRollback) trigger(ctx context.Context, tag string) error {
	patch := fmt.Sprintf(`[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":%q},`+
		`{"op":"replace","path":"/spec/template/spec/containers/0/env","value":[{"name":"VERSION","value":%q},{"name":"FAULT_ERROR_RATE","value":%q}]}]`,
		image+tag, tag, rollbackErrorRate)
	_, err := f.b.cs.AppsV1().Deployments(anaFlaggerNS).Patch(ctx, "webpage", types.JSONPatchType, []byte(patch), metav1.PatchOptions{})
	return err
}

func (f *flaggerRollback) weight(ctx context.Context) (string, error) {
	if err := f.proc.alive(); err != nil {
		return "", err
	}
	return f.b.ingressWeight(ctx, anaFlaggerNS, "webpage-ingress-canary")
}

// failed reports a failed check: status.failedChecks above 0 (reset to 0
// when a release starts) or the phase Failed.
func (f *flaggerRollback) failed(ctx context.Context) (bool, error) {
	u, err := f.b.dyn.Resource(canariesGVR).Namespace(anaFlaggerNS).Get(ctx, "webpage", metav1.GetOptions{})
	if err != nil {
		return false, err
	}
	n, _, _ := unstructured.NestedInt64(u.Object, "status", "failedChecks")
	p, _, _ := unstructured.NestedString(u.Object, "status", "phase")
	return n > 0 || p == "Failed", nil
}

func (f *flaggerRollback) namespace() string { return anaFlaggerNS }

func (f *flaggerRollback) teardown() {
	f.proc.stop()
	if f.srv != nil {
		_ = f.srv.Close()
	}
	if err := f.b.deleteNamespace(context.Background(), anaFlaggerNS); err != nil {
		f.b.log.Warn("delete namespace", "namespace", anaFlaggerNS, "error", err)
	}
}
