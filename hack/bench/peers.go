package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"fledge.dev/fledge/internal/localcluster"
)

// process is a peer controller run as a child process, logging to a file.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

func startProcess(bin, logPath string, args ...string) (*process, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	p := &process{cmd: exec.Command(bin, args...), done: make(chan struct{}), log: logPath} //nolint:gosec // peers we built
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := localcluster.StartProcess(p.cmd); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { _ = p.cmd.Wait(); f.Close(); close(p.done) }()
	return p, nil
}

func (p *process) alive() error {
	select {
	case <-p.done:
		return permanent(fmt.Errorf("%s exited; log %s", filepath.Base(p.cmd.Path), p.log))
	default:
		return nil
	}
}

func (p *process) stop() {
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// installCRDs applies the CRD files of a peer's module folder.
func (b *bench) installCRDs(ctx context.Context, files ...string) error {
	for _, f := range files {
		if err := b.kubectlApply(ctx, "", f); err != nil {
			return fmt.Errorf("install CRDs %s: %w", f, err)
		}
	}
	_, err := b.cluster.Kubectl(ctx, "wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
	return err
}

// setImage changes the image of the first container of a Deployment.
func (b *bench) setImage(ctx context.Context, ns, name, img string) error {
	patch := fmt.Sprintf(`[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":%q}]`, img)
	_, err := b.cs.AppsV1().Deployments(ns).Patch(ctx, name, types.JSONPatchType, []byte(patch), metav1.PatchOptions{})
	return err
}

// Argo Rollouts

var rolloutsGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "rollouts"}

// argoReleaser releases the walkthrough's web page as an Argo Rollout with
// NGINX traffic routing: steps setWeight 25 then pause{}; promotion clears
// the pause as `kubectl argo rollouts promote` does.
type argoReleaser struct {
	b           *bench
	bin, module string
	proc        *process
}

func (a *argoReleaser) name() string { return "argo-rollouts" }

func (a *argoReleaser) manifests(tag string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: webpage-stable
spec:
  selector: {app: webpage}
  ports: [{port: 8080, targetPort: 8080, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata:
  name: webpage-canary
spec:
  selector: {app: webpage}
  ports: [{port: 8080, targetPort: 8080, protocol: TCP}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: webpage-ingress
  annotations:
    kubernetes.io/ingress.class: nginx
    nginx.ingress.kubernetes.io/rewrite-target: /$2
spec:
  rules:
    - http:
        paths:
          - path: /argo(/|$)(.*)
            pathType: ImplementationSpecific
            backend:
              service: {name: webpage-stable, port: {number: 8080}}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: webpage
spec:
  replicas: 3
  selector:
    matchLabels: {app: webpage}
  template:
    metadata:
      labels: {app: webpage}
    spec:
      containers:
        - name: webpage
          image: %s
          ports: [{containerPort: 8080}]
  strategy:
    canary:
      canaryService: webpage-canary
      stableService: webpage-stable
      trafficRouting:
        nginx:
          stableIngress: webpage-ingress
      steps:
        - setWeight: 25
        - pause: {}
`, image+tag)
}

func (a *argoReleaser) setup(ctx context.Context) error {
	b := a.b
	if err := b.installCRDs(ctx, filepath.Join(a.module, "manifests", "crds", "rollout-crd.yaml"),
		filepath.Join(a.module, "manifests", "crds", "analysis-run-crd.yaml"),
		filepath.Join(a.module, "manifests", "crds", "analysis-template-crd.yaml"),
		filepath.Join(a.module, "manifests", "crds", "cluster-analysis-template-crd.yaml"),
		filepath.Join(a.module, "manifests", "crds", "experiment-crd.yaml")); err != nil {
		return err
	}
	for _, ns := range []string{"argo-rollouts", argoNS} {
		if err := b.createNamespace(ctx, ns); err != nil {
			return err
		}
	}
	p1, err := freePort()
	if err != nil {
		return err
	}
	p2, err := freePort()
	if err != nil {
		return err
	}
	a.proc, err = startProcess(a.bin, filepath.Join(b.work, "argo-rollouts.log"),
		"--kubeconfig", b.cluster.Kubeconfig(), "--leader-elect=false",
		"--metricsPort", fmt.Sprint(p1), "--healthzPort", fmt.Sprint(p2), "--loglevel", "info")
	if err != nil {
		return err
	}
	file, err := b.writeFile("argo/manifests.yaml", a.manifests("0.9"))
	if err != nil {
		return err
	}
	if err := b.kubectlApply(ctx, argoNS, file); err != nil {
		return err
	}
	if _, err := waitUntil(ctx, 2*time.Minute, "argo rollout Healthy", func(ctx context.Context) (bool, error) {
		if err := a.proc.alive(); err != nil {
			return false, err
		}
		ro, err := a.rollout(ctx)
		return err == nil && ro.phase == "Healthy", nil
	}); err != nil {
		return err
	}
	// A first canary release, unmeasured, like Fledge's first release.
	_, err = a.release(ctx, "1.0", nil)
	return err
}

// rolloutState is what the bench reads of a Rollout's status.
type rolloutState struct {
	phase, currentPodHash, stableRS string
	paused                          bool
}

func (a *argoReleaser) rollout(ctx context.Context) (rolloutState, error) {
	u, err := a.b.dyn.Resource(rolloutsGVR).Namespace(argoNS).Get(ctx, "webpage", metav1.GetOptions{})
	if err != nil {
		return rolloutState{}, err
	}
	var s rolloutState
	s.phase, _, _ = unstructured.NestedString(u.Object, "status", "phase")
	s.currentPodHash, _, _ = unstructured.NestedString(u.Object, "status", "currentPodHash")
	s.stableRS, _, _ = unstructured.NestedString(u.Object, "status", "stableRS")
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "pauseConditions")
	s.paused = len(conds) > 0
	gen, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	if ogs, ok, _ := unstructured.NestedString(u.Object, "status", "observedGeneration"); ok {
		_, _ = fmt.Sscan(ogs, &gen)
	}
	if gen < u.GetGeneration() {
		s.phase = "NotObserved"
	}
	return s, nil
}

// replicaSetReady reports whether the ReplicaSet of pod hash runs img with
// every replica available (and at least one).
func (a *argoReleaser) replicaSetReady(ctx context.Context, hash, img string, replicas int32) (bool, error) {
	list, err := a.b.cs.AppsV1().ReplicaSets(argoNS).List(ctx, metav1.ListOptions{LabelSelector: "rollouts-pod-template-hash=" + hash})
	if err != nil || len(list.Items) != 1 {
		return false, err
	}
	return rsReady(&list.Items[0], img, replicas), nil
}

func rsReady(rs *appsv1.ReplicaSet, img string, replicas int32) bool {
	want := int32(0)
	if rs.Spec.Replicas != nil {
		want = *rs.Spec.Replicas
	}
	if replicas > 0 && want != replicas {
		return false
	}
	return rs.Spec.Template.Spec.Containers[0].Image == img && want > 0 &&
		rs.Status.AvailableReplicas == want && rs.Status.ReadyReplicas == want
}

const argoCanaryIngress = "webpage-webpage-ingress-canary"

func (a *argoReleaser) path() string { return "/argo/" }

func (a *argoReleaser) release(ctx context.Context, tag string, p *probe) (releaseSample, error) {
	var s releaseSample
	b := a.b
	img := image + tag
	patch := fmt.Sprintf(`[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":%q}]`, img)
	start := time.Now()
	s.Trigger = start
	if _, err := b.dyn.Resource(rolloutsGVR).Namespace(argoNS).Patch(ctx, "webpage", types.JSONPatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return s, fmt.Errorf("set rollout image: %w", err)
	}
	at, err := waitUntil(ctx, 2*time.Minute, "argo canary at 25%", func(ctx context.Context) (bool, error) {
		if err := a.proc.alive(); err != nil {
			return false, err
		}
		if w, err := b.ingressWeight(ctx, argoNS, argoCanaryIngress); err != nil || w != "25" {
			return false, err
		}
		ro, err := a.rollout(ctx)
		if err != nil || ro.currentPodHash == ro.stableRS {
			return false, err
		}
		return a.replicaSetReady(ctx, ro.currentPodHash, img, 0)
	})
	if err != nil {
		return s, err
	}
	s.ToCanary = at.Sub(start)
	if _, err := waitUntil(ctx, time.Minute, "argo rollout Paused", func(ctx context.Context) (bool, error) {
		ro, err := a.rollout(ctx)
		return err == nil && ro.paused && ro.phase == "Paused", nil
	}); err != nil {
		return s, err
	}
	if err := b.awaitShare(ctx, p, start, tag); err != nil {
		if !errors.Is(err, errShareNotReached) {
			return s, err
		}
		s.ShareErr = err
	}
	promote := time.Now()
	s.Approve = promote
	if _, err := b.dyn.Resource(rolloutsGVR).Namespace(argoNS).Patch(ctx, "webpage", types.MergePatchType,
		[]byte(`{"status":{"pauseConditions":null}}`), metav1.PatchOptions{}, "status"); err != nil {
		return s, fmt.Errorf("promote: %w", err)
	}
	var newOnly newOnlyClock
	at, err = waitUntil(ctx, 2*time.Minute, "argo stable on "+tag, func(ctx context.Context) (bool, error) {
		if err := a.proc.alive(); err != nil {
			return false, err
		}
		ro, err := a.rollout(ctx)
		if err != nil {
			return false, err
		}
		w, err := b.ingressWeight(ctx, argoNS, argoCanaryIngress)
		if err != nil {
			return false, err
		}
		if err := newOnly.check(w, func() (bool, error) { return a.replicaSetReady(ctx, ro.currentPodHash, img, 3) }); err != nil {
			return false, err
		}
		if ro.stableRS != ro.currentPodHash {
			return false, nil
		}
		if ok, err := a.replicaSetReady(ctx, ro.stableRS, img, 3); !ok || err != nil {
			return false, err
		}
		return w == "0" || w == "", nil
	})
	if err != nil {
		return s, err
	}
	s.ToProduction = at.Sub(promote)
	s.ToNewOnly = newOnly.since(promote, at)
	at, err = waitUntil(ctx, time.Minute, "argo rollout Healthy", func(ctx context.Context) (bool, error) {
		ro, err := a.rollout(ctx)
		return err == nil && ro.phase == "Healthy", nil
	})
	if err != nil {
		return s, err
	}
	s.ToDone, s.Done = at.Sub(promote), at
	return s, nil
}

func (a *argoReleaser) teardown() {
	a.proc.stop()
	if err := a.b.deleteNamespace(context.Background(), argoNS); err != nil {
		a.b.log.Warn("delete namespace", "namespace", argoNS, "error", err)
	}
}

// Flagger

var canariesGVR = schema.GroupVersionResource{Group: "flagger.app", Version: "v1beta1", Resource: "canaries"}

// flaggerReleaser releases the web page with Flagger's NGINX provider,
// stepWeight 25 up to maxWeight 25, held by a confirm-promotion webhook
// that the bench serves: the gate is Flagger's manual approval.
type flaggerReleaser struct {
	b           *bench
	bin, module string
	proc        *process
	gate        atomic.Bool
	srv         *http.Server
}

func (f *flaggerReleaser) name() string { return "flagger" }

func (f *flaggerReleaser) manifests(tag, gateURL string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: webpage
  labels: {app: webpage}
spec:
  replicas: 3
  selector:
    matchLabels: {app: webpage}
  template:
    metadata:
      labels: {app: webpage}
    spec:
      containers:
        - name: webpage
          image: %s
          ports: [{containerPort: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: webpage-ingress
  annotations:
    kubernetes.io/ingress.class: nginx
    nginx.ingress.kubernetes.io/rewrite-target: /$2
spec:
  rules:
    - http:
        paths:
          - path: /flagger(/|$)(.*)
            pathType: ImplementationSpecific
            backend:
              service: {name: webpage, port: {number: 8080}}
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: webpage
spec:
  provider: nginx
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: webpage}
  ingressRef: {apiVersion: networking.k8s.io/v1, kind: Ingress, name: webpage-ingress}
  progressDeadlineSeconds: 120
  service:
    port: 8080
    targetPort: 8080
  analysis:
    interval: 1s
    threshold: 5
    maxWeight: 25
    stepWeight: 25
    metrics: []
    webhooks:
      - name: approval-gate
        type: confirm-promotion
        url: %s
        timeout: 5s
`, image+tag, gateURL)
}

func (f *flaggerReleaser) setup(ctx context.Context) error {
	b := f.b
	if err := b.installCRDs(ctx, filepath.Join(f.module, "artifacts", "flagger", "crd.yaml")); err != nil {
		return err
	}
	if err := b.createNamespace(ctx, flaggerNS); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	f.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if f.gate.Load() {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusForbidden)
	})}
	go func() { _ = f.srv.Serve(ln) }()
	gateURL := "http://" + ln.Addr().String() + "/gate"

	port, err := freePort()
	if err != nil {
		return err
	}
	f.proc, err = startProcess(f.bin, filepath.Join(b.work, "flagger.log"),
		"-kubeconfig", b.cluster.Kubeconfig(), "-mesh-provider", "nginx", "-control-loop-interval", "1s",
		"-port", fmt.Sprint(port), "-metrics-server", "http://127.0.0.1:1", "-log-level", "info")
	if err != nil {
		return err
	}
	file, err := b.writeFile("flagger/manifests.yaml", f.manifests("0.9", gateURL))
	if err != nil {
		return err
	}
	if err := b.kubectlApply(ctx, flaggerNS, file); err != nil {
		return err
	}
	if _, err := waitUntil(ctx, 3*time.Minute, "flagger canary Initialized", func(ctx context.Context) (bool, error) {
		if err := f.proc.alive(); err != nil {
			return false, err
		}
		phase, err := f.phase(ctx)
		return err == nil && phase == "Initialized", nil
	}); err != nil {
		return err
	}
	_, err = f.release(ctx, "1.0", nil)
	return err
}

func (f *flaggerReleaser) phase(ctx context.Context) (string, error) {
	u, err := f.b.dyn.Resource(canariesGVR).Namespace(flaggerNS).Get(ctx, "webpage", metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	p, _, _ := unstructured.NestedString(u.Object, "status", "phase")
	return p, nil
}

func (f *flaggerReleaser) path() string { return "/flagger/" }

func (f *flaggerReleaser) release(ctx context.Context, tag string, p *probe) (releaseSample, error) {
	var s releaseSample
	b := f.b
	img := image + tag
	f.gate.Store(false)
	start := time.Now()
	s.Trigger = start
	if err := b.setImage(ctx, flaggerNS, "webpage", img); err != nil {
		return s, fmt.Errorf("set image: %w", err)
	}
	at, err := waitUntil(ctx, 3*time.Minute, "flagger canary at 25%", func(ctx context.Context) (bool, error) {
		if err := f.proc.alive(); err != nil {
			return false, err
		}
		if w, err := b.ingressWeight(ctx, flaggerNS, "webpage-ingress-canary"); err != nil || w != "25" {
			return false, err
		}
		return b.deploymentReady(ctx, flaggerNS, "webpage", img)
	})
	if err != nil {
		return s, err
	}
	s.ToCanary = at.Sub(start)
	if _, err := waitUntil(ctx, 2*time.Minute, "flagger WaitingPromotion", func(ctx context.Context) (bool, error) {
		p, err := f.phase(ctx)
		return err == nil && p == "WaitingPromotion", nil
	}); err != nil {
		return s, err
	}
	if err := b.awaitShare(ctx, p, start, tag); err != nil {
		if !errors.Is(err, errShareNotReached) {
			return s, err
		}
		s.ShareErr = err
	}
	open := time.Now()
	s.Approve = open
	f.gate.Store(true)
	var newOnly newOnlyClock
	at, err = waitUntil(ctx, 3*time.Minute, "flagger primary on "+tag, func(ctx context.Context) (bool, error) {
		if err := f.proc.alive(); err != nil {
			return false, err
		}
		w, err := b.ingressWeight(ctx, flaggerNS, "webpage-ingress-canary")
		if err != nil {
			return false, err
		}
		if err := newOnly.check(w, func() (bool, error) { return b.deploymentReady(ctx, flaggerNS, "webpage", img) }); err != nil {
			return false, err
		}
		if ok, err := b.deploymentReady(ctx, flaggerNS, "webpage-primary", img); !ok || err != nil {
			return false, err
		}
		return w == "0", nil
	})
	if err != nil {
		return s, err
	}
	s.ToProduction = at.Sub(open)
	s.ToNewOnly = newOnly.since(open, at)
	at, err = waitUntil(ctx, 3*time.Minute, "flagger Succeeded", func(ctx context.Context) (bool, error) {
		p, err := f.phase(ctx)
		return err == nil && p == "Succeeded", nil
	})
	if err != nil {
		return s, err
	}
	s.ToDone, s.Done = at.Sub(open), at
	f.gate.Store(false)
	return s, nil
}

func (f *flaggerReleaser) teardown() {
	f.proc.stop()
	if f.srv != nil {
		_ = f.srv.Close()
	}
	if err := f.b.deleteNamespace(context.Background(), flaggerNS); err != nil {
		f.b.log.Warn("delete namespace", "namespace", flaggerNS, "error", err)
	}
}
