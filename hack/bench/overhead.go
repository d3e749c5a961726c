package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/kube"
	"fledge.dev/fledge/internal/traffic/nginx"
	"fledge.dev/fledge/internal/traffic/routing"
)

const (
	overheadPipeline = "bench-full"
	fullCanaryNS     = "ff-canary"
	fullProdNS       = "ff-prod"
	floorCanaryNS    = "floor-canary"
	floorProdNS      = "floor-prod"
)

// overheadBench runs benchmark 3: a full release without approval through
// Fledge, against the floor program doing only the necessary API calls,
// alternating the two.
func (b *bench) overheadBench(ctx context.Context, res *Results) error {
	dir := filepath.Join(b.work, "overhead")
	s, err := b.startFledge(ctx, dir, "")
	if err != nil {
		return err
	}
	defer s.stop()
	manifests, err := b.walkthroughManifests(3)
	if err != nil {
		return err
	}
	if err := b.applyFledgeResources(ctx, s, filepath.Join(dir, "resources"), "", map[string]string{"webpage": manifests},
		[]pipelineFixture{{Name: overheadPipeline, Artifact: "webpage", CanaryNS: fullCanaryNS, ProdNS: fullProdNS}}); err != nil {
		return err
	}
	for _, ns := range []string{floorCanaryNS, floorProdNS} {
		if err := b.createNamespace(ctx, ns); err != nil {
			return err
		}
	}
	floor := &floorRelease{b: b, manifests: manifests}
	api := &fledgeReleaser{s: s, pipeline: overheadPipeline}

	// fledgeRelease runs one release, triggered by an API call or by the
	// CLI, and returns its time from just before the trigger until the
	// API reports it Succeeded.
	fledgeRelease := func(tag string, cli bool) (time.Duration, v1alpha1.Deployment, time.Time, error) {
		start := time.Now()
		var d v1alpha1.Deployment
		var err error
		if cli {
			d, err = s.run(ctx, overheadPipeline, tag)
		} else {
			d, err = api.trigger(ctx, tag)
		}
		if err != nil {
			return 0, d, start, err
		}
		at, err := s.waitStatus(ctx, d.ID, 3*time.Minute, v1alpha1.StatusSucceeded)
		return at.Sub(start), d, start, err
	}

	// Kubernetes' own time varies from release to release by more than
	// Fledge's overhead, so this cheap benchmark takes 2n repetitions.
	// Each runs Fledge triggered by an API call (the floor program's
	// clock starts at its first API call too), the floor program, and
	// Fledge triggered by `fledge run`, in turn.
	reps := 2 * b.o.n
	var fledgeTimes, floorTimes, cliTimes []time.Duration
	var timeline []string
	for i := 0; i <= reps; i++ { // i == 0 is the warm-up of each
		ft, d, start, err := fledgeRelease(fmt.Sprintf("2.%d", i), false)
		if err != nil {
			return err
		}
		if i == reps {
			if timeline, err = fledgeTimeline(ctx, s, d.ID, start); err != nil {
				return err
			}
		}
		lt, err := floor.release(ctx, fmt.Sprintf("2.%d", i))
		if err != nil {
			return fmt.Errorf("floor: %w", err)
		}
		ct, _, _, err := fledgeRelease(fmt.Sprintf("3.%d", i), true)
		if err != nil {
			return err
		}
		b.log.Info("overhead", "rep", i, "fledge", ft.Round(time.Millisecond).String(), "floor", lt.Round(time.Millisecond).String(),
			"fledge-cli", ct.Round(time.Millisecond).String())
		if i > 0 {
			fledgeTimes, floorTimes, cliTimes = append(fledgeTimes, ft), append(floorTimes, lt), append(cliTimes, ct)
		}
	}
	r := OverheadResult{
		Fledge:    Summarize(Millis(fledgeTimes), "ms"),
		Floor:     Summarize(Millis(floorTimes), "ms"),
		FledgeCLI: Summarize(Millis(cliTimes), "ms"),
	}
	var over, ratio, cliRatio []float64
	for i := range fledgeTimes {
		over = append(over, float64(fledgeTimes[i]-floorTimes[i])/float64(time.Millisecond))
		ratio = append(ratio, float64(fledgeTimes[i])/float64(floorTimes[i]))
		cliRatio = append(cliRatio, float64(cliTimes[i])/float64(floorTimes[i]))
	}
	r.Overhead = Summarize(over, "ms")
	r.Ratio = Summarize(ratio, "x")
	r.CLIRatio = Summarize(cliRatio, "x")
	r.FledgeTimeline = timeline
	r.FloorTimeline = floor.lastTimeline
	res.Overhead = &r
	return nil
}

// fledgeTimeline lists a deployment's events with their offset from start.
func fledgeTimeline(ctx context.Context, s *fledgeServer, id int64, start time.Time) ([]string, error) {
	var l v1alpha1.EventList
	if err := s.getJSON(ctx, fmt.Sprintf("/api/v1/deployments/%d/events", id), &l); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(l.Items))
	for _, e := range l.Items {
		msg := e.Message
		if len(msg) > 90 {
			msg = msg[:90] + "…"
		}
		out = append(out, fmt.Sprintf("%6.0f ms  %-18s %s", float64(e.Time.Sub(start))/float64(time.Millisecond), e.Type, msg))
	}
	return out, nil
}

// floorRelease is the floor program: the API calls a canary release needs
// and nothing else, made with client-go as fast as they can follow each
// other (waits use a watch, not polling).
type floorRelease struct {
	b            *bench
	manifests    string
	lastTimeline []string
}

var (
	gvrDeployments = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	gvrServices    = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	gvrIngresses   = schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"}
)

func gvrOf(u *unstructured.Unstructured) (schema.GroupVersionResource, error) {
	switch u.GetKind() {
	case "Deployment":
		return gvrDeployments, nil
	case "Service":
		return gvrServices, nil
	case "Ingress":
		return gvrIngresses, nil
	}
	return schema.GroupVersionResource{}, fmt.Errorf("floor: unexpected kind %s", u.GetKind())
}

// release applies the canary, waits for it, sets weight 25, applies
// production, waits for it and sets weight 0; it returns the wall time.
func (f *floorRelease) release(ctx context.Context, tag string) (time.Duration, error) {
	objs, err := kube.Decode(strings.ReplaceAll(f.manifests, "${IMAGE_TAG}", tag))
	if err != nil {
		return 0, err
	}
	canary, err := nginx.MarkCanary(objs, "webpage-ingress")
	if err != nil {
		return 0, err
	}
	// The same canary objects Fledge applies (its full-surge rollout
	// included), so that the floor's Kubernetes time is Fledge's too.
	if err := routing.SurgeCanary(canary); err != nil {
		return 0, err
	}
	prod, err := nginx.StripCanary(objs, "webpage-ingress")
	if err != nil {
		return 0, err
	}
	img := image + tag
	var tl []string
	start := time.Now()
	mark := func(what string) {
		tl = append(tl, fmt.Sprintf("%6.0f ms  %s", float64(time.Since(start))/float64(time.Millisecond), what))
	}
	if err := f.applyAll(ctx, floorCanaryNS, canary); err != nil {
		return 0, err
	}
	mark("canary applied (3 server-side applies)")
	if err := f.b.watchAvailable(ctx, floorCanaryNS, "webpage-deployment", img); err != nil {
		return 0, err
	}
	mark("canary available (watch)")
	if err := f.setWeight(ctx, 25); err != nil {
		return 0, err
	}
	mark("weight 25 (1 server-side apply)")
	if err := f.applyAll(ctx, floorProdNS, prod); err != nil {
		return 0, err
	}
	mark("production applied (3 server-side applies)")
	if err := f.b.watchAvailable(ctx, floorProdNS, "webpage-deployment", img); err != nil {
		return 0, err
	}
	mark("production available (watch)")
	if err := f.setWeight(ctx, 0); err != nil {
		return 0, err
	}
	d := time.Since(start)
	mark("weight 0 (1 server-side apply)")
	f.lastTimeline = tl
	return d, nil
}

func (f *floorRelease) applyAll(ctx context.Context, ns string, objs []*unstructured.Unstructured) error {
	for _, o := range objs {
		gvr, err := gvrOf(o)
		if err != nil {
			return err
		}
		o.SetNamespace(ns)
		if _, err := f.b.dyn.Resource(gvr).Namespace(ns).Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: "floor", Force: true}); err != nil {
			return fmt.Errorf("apply %s/%s: %w", o.GetKind(), o.GetName(), err)
		}
	}
	return nil
}

func (f *floorRelease) setWeight(ctx context.Context, w int) error {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("networking.k8s.io/v1")
	u.SetKind("Ingress")
	u.SetName("webpage-ingress")
	u.SetNamespace(floorCanaryNS)
	u.SetAnnotations(map[string]string{nginx.AnnotationCanaryWeight: fmt.Sprint(w)})
	_, err := f.b.dyn.Resource(gvrIngresses).Namespace(floorCanaryNS).Apply(ctx, "webpage-ingress", u,
		metav1.ApplyOptions{FieldManager: "floor-traffic", Force: true})
	return err
}

// watchAvailable waits, with a watch, until the Deployment runs img with
// every replica available.
func (b *bench) watchAvailable(ctx context.Context, ns, name, img string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	for {
		d, err := b.cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if deploymentAvailable(d, img) {
			return nil
		}
		w, err := b.cs.AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{
			FieldSelector: "metadata.name=" + name, ResourceVersion: d.ResourceVersion,
		})
		if err != nil {
			return err
		}
		done, err := waitWatch(ctx, w, func(obj runtime.Object) bool {
			d, ok := obj.(*appsv1.Deployment)
			return ok && deploymentAvailable(d, img)
		})
		w.Stop()
		if done || err != nil {
			return err
		}
		// The watch ended early: read again and watch anew.
	}
}

func waitWatch(ctx context.Context, w watch.Interface, cond func(runtime.Object) bool) (bool, error) {
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return false, nil
			}
			if ev.Type == watch.Error {
				return false, nil
			}
			if cond(ev.Object) {
				return true, nil
			}
		}
	}
}
