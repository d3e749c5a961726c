package kube

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"fledge.dev/fledge/api/v1alpha1"
)

func TestIntegrationNewClient(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	inline, err := os.ReadFile(s.cluster.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	for name, spec := range map[string]v1alpha1.EnvironmentSpec{
		"path":   {Kubeconfig: &v1alpha1.KubeconfigSource{Path: s.cluster.Kubeconfig()}},
		"inline": {Kubeconfig: &v1alpha1.KubeconfigSource{Inline: string(inline)}},
	} {
		c, err := NewClient(s.ctx, spec)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		v, err := c.Ping(s.ctx)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !strings.HasPrefix(v, "v1.") {
			t.Errorf("%s: server version %q", name, v)
		}
	}
}

func TestIntegrationEnsureNamespace(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	_, err := s.client.EnsureNamespace(s.ctx, s.ns, false)
	if !errors.Is(err, ErrNamespaceMissing) || !strings.Contains(err.Error(), s.ns) {
		t.Errorf("EnsureNamespace(create=false) = %v, want ErrNamespaceMissing naming %s", err, s.ns)
	}
	created, err := s.client.EnsureNamespace(s.ctx, s.ns, true)
	if err != nil || !created {
		t.Fatalf("EnsureNamespace(create=true) = %v, %v; want created", created, err)
	}
	sa := &unstructured.Unstructured{}
	sa.SetAPIVersion("v1")
	sa.SetKind("ServiceAccount")
	sa.SetName("default")
	if _, err := s.client.Get(s.ctx, s.ns, sa); err != nil {
		t.Errorf("default service account: %v", err)
	}
	created, err = s.client.EnsureNamespace(s.ctx, s.ns, false)
	if err != nil || created {
		t.Errorf("EnsureNamespace(existing) = %v, %v; want not created, no error", created, err)
	}
}

func TestIntegrationApply(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	s.createNamespace(t)

	res, err := s.client.Apply(s.ctx, s.ns, webpageObjects(t, "2.0"), ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := actions(res), "Deployment/webpage-deployment created, Service/webpage-service created, Ingress/webpage-ingress created"; got != want {
		t.Errorf("first apply: %s, want %s", got, want)
	}
	for _, r := range res {
		if r.Namespace != s.ns {
			t.Errorf("%s applied into %q, want %q", r, r.Namespace, s.ns)
		}
	}

	res, err = s.client.Apply(s.ctx, s.ns, webpageObjects(t, "2.0"), ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := actions(res), "Deployment/webpage-deployment unchanged, Service/webpage-service unchanged, Ingress/webpage-ingress unchanged"; got != want {
		t.Errorf("same apply again: %s, want %s", got, want)
	}

	res, err = s.client.Apply(s.ctx, s.ns, webpageObjects(t, "2.1"), ApplyOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := actions(res), "Deployment/webpage-deployment configured, Service/webpage-service unchanged, Ingress/webpage-ingress unchanged"; got != want {
		t.Errorf("dry run of a new image: %s, want %s", got, want)
	}
	if img := liveImage(t, s); img != "registry.example/webpage:2.0" {
		t.Errorf("after dry run the image is %s, want it unchanged", img)
	}

	res, err = s.client.Apply(s.ctx, s.ns, webpageObjects(t, "2.1"), ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := actions(res), "Deployment/webpage-deployment configured, Service/webpage-service unchanged, Ingress/webpage-ingress unchanged"; got != want {
		t.Errorf("apply of a new image: %s, want %s", got, want)
	}
	if img := liveImage(t, s); img != "registry.example/webpage:2.1" {
		t.Errorf("image is %s, want 2.1", img)
	}

	// The objects belong to field manager "fledge".
	dep, err := s.client.Get(s.ctx, s.ns, webpageObjects(t, "2.1")[0])
	if err != nil {
		t.Fatal(err)
	}
	var managers []string
	for _, mf := range dep.GetManagedFields() {
		if mf.Operation == "Apply" {
			managers = append(managers, mf.Manager)
		}
	}
	if strings.Join(managers, ",") != FieldManager {
		t.Errorf("apply managers = %v, want [%s]", managers, FieldManager)
	}
}

// Objects whose dry-run shows no change are not sent again: a release
// that changes one Deployment writes that Deployment alone. A field
// another manager changed is a change, and is sent.
func TestIntegrationApplySkipsNoops(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	s.createNamespace(t)
	var writes atomic.Int64
	cfg := s.cluster.RESTConfig()
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
			if req.Method == http.MethodPatch && req.URL.Query().Get("dryRun") == "" {
				writes.Add(1)
			}
			return rt.RoundTrip(req)
		})
	}
	client, err := NewClientFromConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	apply := func(tag, want string, wantWrites int64) {
		t.Helper()
		writes.Store(0)
		res, err := client.Apply(s.ctx, s.ns, webpageObjects(t, tag), ApplyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := actions(res); got != want {
			t.Errorf("apply %s: %s, want %s", tag, got, want)
		}
		if got := writes.Load(); got != wantWrites {
			t.Errorf("apply %s: %d applies sent, want %d", tag, got, wantWrites)
		}
	}
	apply("2.0", "Deployment/webpage-deployment created, Service/webpage-service created, Ingress/webpage-ingress created", 3)
	apply("2.0", "Deployment/webpage-deployment unchanged, Service/webpage-service unchanged, Ingress/webpage-ingress unchanged", 0)
	apply("2.1", "Deployment/webpage-deployment configured, Service/webpage-service unchanged, Ingress/webpage-ingress unchanged", 1)
	if img := liveImage(t, s); img != "registry.example/webpage:2.1" {
		t.Errorf("image is %s, want 2.1", img)
	}

	// Another manager changes a field the manifests set: the next apply
	// sends that object and sets the field back.
	svc := webpageObjects(t, "2.1")[1]
	live, err := s.client.Get(s.ctx, s.ns, svc)
	if err != nil {
		t.Fatal(err)
	}
	ports, _, _ := unstructured.NestedSlice(live.Object, "spec", "ports")
	ports[0].(map[string]any)["targetPort"] = int64(81)
	if err := unstructured.SetNestedSlice(live.Object, ports, "spec", "ports"); err != nil {
		t.Fatal(err)
	}
	ri, _, err := s.client.resource(s.ctx, s.ns, live.GroupVersionKind())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ri.Update(s.ctx, live, metav1.UpdateOptions{FieldManager: "someone-else"}); err != nil {
		t.Fatal(err)
	}
	apply("2.1", "Deployment/webpage-deployment unchanged, Service/webpage-service configured, Ingress/webpage-ingress unchanged", 1)
	live, err = s.client.Get(s.ctx, s.ns, svc)
	if err != nil {
		t.Fatal(err)
	}
	ports, _, _ = unstructured.NestedSlice(live.Object, "spec", "ports")
	if got := ports[0].(map[string]any)["targetPort"]; got != int64(80) {
		t.Errorf("the service's targetPort is %v after the apply, want 80 again", got)
	}
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A manifest with many objects of one kind: their live state is read by
// listing the kind, the objects are sent concurrently, and each is still
// reported for itself, in manifest order.
func TestIntegrationApplyMany(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	s.createNamespace(t)
	manifest := func(changed int, value string) []*unstructured.Unstructured {
		var b strings.Builder
		for i := range 30 {
			v := "1"
			if i == changed {
				v = value
			}
			fmt.Fprintf(&b, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%02d\ndata:\n  v: %q\n", i, v)
		}
		b.WriteString(readTestdata(t, "webpage.yaml"))
		return decode(t, b.String())
	}
	count := func(res []Result) map[string]int {
		n := map[string]int{}
		for i, r := range res {
			n[r.Action]++
			if i < 30 && r.Name != fmt.Sprintf("cm-%02d", i) {
				t.Errorf("result %d is %s, want cm-%02d (manifest order)", i, r, i)
			}
		}
		return n
	}
	for _, step := range []struct {
		name    string
		changed int
		want    map[string]int
	}{
		{"create", -1, map[string]int{ActionCreated: 33}},
		{"again", -1, map[string]int{ActionUnchanged: 33}},
		{"one changed", 17, map[string]int{ActionUnchanged: 32, ActionConfigured: 1}},
	} {
		res, err := s.client.Apply(s.ctx, s.ns, manifest(step.changed, "2"), ApplyOptions{Concurrency: 4})
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got := count(res); fmt.Sprint(got) != fmt.Sprint(step.want) {
			t.Errorf("%s: actions %v, want %v", step.name, got, step.want)
		}
		if step.changed >= 0 && res[step.changed].Action != ActionConfigured {
			t.Errorf("%s: %s, want cm-%02d configured", step.name, res[step.changed], step.changed)
		}
	}
}

func TestIntegrationApplyWarnings(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	s.createNamespace(t)
	res, err := s.client.Apply(s.ctx, s.ns, decode(t, `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: legacy
  annotations:
    kubernetes.io/ingress.class: nginx
spec:
  defaultBackend:
    service:
      name: web
      port: {number: 80}
`), ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(res[0].Warnings, "\n"); !strings.Contains(w, `annotation "kubernetes.io/ingress.class" is deprecated`) {
		t.Errorf("warnings = %q, want the server's deprecation warning", w)
	}
}

// liveImage reads the image of the live webpage deployment.
func liveImage(t *testing.T, s setup) string {
	t.Helper()
	dep, err := s.client.Get(s.ctx, s.ns, webpageObjects(t, "x")[0])
	if err != nil {
		t.Fatal(err)
	}
	containers, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	if len(containers) == 0 {
		t.Fatal("no containers")
	}
	img, _, _ := unstructured.NestedString(containers[0].(map[string]any), "image")
	return img
}

func TestIntegrationApplyRejectedAppliesNothing(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	s.createNamespace(t)
	objs := decode(t, `apiVersion: v1
kind: ConfigMap
metadata:
  name: fine
data:
  k: v
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: negative
spec:
  replicas: -1
  selector:
    matchLabels: {app: negative}
  template:
    metadata:
      labels: {app: negative}
    spec:
      containers:
        - name: c
          image: registry.example/c:1
---
apiVersion: v1
kind: Service
metadata:
  name: typo
spec:
  prots:
    - port: 80
`)
	_, err := s.client.Apply(s.ctx, s.ns, objs, ApplyOptions{})
	var rejected *RejectedError
	if !errors.As(err, &rejected) || !errors.Is(err, ErrRejected) {
		t.Fatalf("Apply = %v, want a *RejectedError", err)
	}
	if len(rejected.Objects) != 2 || rejected.Total != 3 {
		t.Errorf("rejected %d of %d objects, want 2 of 3", len(rejected.Objects), rejected.Total)
	}
	msg := err.Error()
	t.Log(msg)
	for _, want := range []string{"nothing was applied", "Deployment/negative:", "spec.replicas", "Service/typo:", "prots"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	if strings.Contains(msg, "ConfigMap/fine") {
		t.Errorf("error names the valid object: %q", msg)
	}
	if !apierrors.IsInvalid(err) && !apierrors.IsBadRequest(err) {
		t.Errorf("the server's status is not reachable with errors.As: %v", err)
	}
	if _, err := s.client.Get(s.ctx, s.ns, objs[0]); !apierrors.IsNotFound(err) {
		t.Errorf("the valid ConfigMap was applied: Get = %v", err)
	}
}

func TestIntegrationApplyRefusals(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	s.createNamespace(t)
	_, err := s.client.Apply(s.ctx, s.ns, decode(t, `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: reader
rules: []
`), ApplyOptions{})
	if !errors.Is(err, ErrClusterScoped) || !strings.Contains(err.Error(), "ClusterRole/reader") {
		t.Errorf("cluster-scoped object: %v", err)
	}
	_, err = s.client.Apply(s.ctx, s.ns, decode(t, `apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
`), ApplyOptions{})
	var unknown *UnknownKindError
	if !errors.As(err, &unknown) || !strings.Contains(err.Error(), "Widget/w") || !strings.Contains(err.Error(), "CRD") {
		t.Errorf("unknown kind: %v", err)
	}
	objs := webpageObjects(t, "2.0")
	_, err = s.client.Apply(s.ctx, s.ns, append(objs, objs[1]), ApplyOptions{})
	if err == nil || !strings.Contains(err.Error(), "Service/webpage-service: appears more than once") {
		t.Errorf("duplicate object: %v", err)
	}
}

func TestIntegrationWaitRollout(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	s.createNamespace(t)
	objs := append(webpageObjects(t, "2.0"), decode(t, `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: cache
spec:
  replicas: 2
  serviceName: cache
  selector:
    matchLabels: {app: cache}
  template:
    metadata:
      labels: {app: cache}
    spec:
      containers:
        - name: cache
          image: registry.example/cache:1
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      containers:
        - name: agent
          image: registry.example/agent:1
`)...)
	if _, err := s.client.Apply(s.ctx, s.ns, objs, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		lines []string
	)
	ctx, cancel := context.WithTimeout(s.ctx, time.Minute)
	defer cancel()
	err := s.client.WaitRollout(ctx, s.ns, objs, func(msg string) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, msg)
	})
	if err != nil {
		t.Fatalf("WaitRollout: %v\nprogress:\n%s", err, strings.Join(lines, "\n"))
	}
	progress := strings.Join(lines, "\n")
	for _, want := range []string{
		"deployment/webpage-deployment: successfully rolled out (3 of 3 updated replicas are available)",
		"statefulset/cache: successfully rolled out",
		"daemonset/agent: successfully rolled out (1 of 1 pods are available)",
	} {
		if !strings.Contains(progress, want) {
			t.Errorf("progress has no line %q:\n%s", want, progress)
		}
	}

	summary, err := s.client.Summary(s.ctx, s.ns)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"deployment.apps/webpage-deployment   3/3     3            3           registry.example/webpage:2.0",
		"replicaset.apps/webpage-deployment-",
		"pod/webpage-deployment-",
		"1/1     Running",
		"service/webpage-service   ClusterIP",
		"8080/TCP",
		"ingress.networking.k8s.io/webpage-ingress   nginx   *       /webpage(/|$)(.*)",
		"ingress.networking.k8s.io/webpage-ingress annotations:\n  kubernetes.io/ingress.class: nginx\n  nginx.ingress.kubernetes.io/rewrite-target: /$2\n",
	} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary does not contain %q:\n%s", want, summary)
		}
	}
	t.Log("\n" + summary)
	if n := strings.Count(summary, "1/1     Running"); n != 6 {
		t.Errorf("summary shows %d running pods, want 6:\n%s", n, summary)
	}

	empty := newSetup(t)
	summary, err = s.client.Summary(s.ctx, empty.ns)
	if err != nil || summary != "No resources found in "+empty.ns+" namespace.\n" {
		t.Errorf("summary of a missing namespace = %q, %v", summary, err)
	}
}

func TestIntegrationWaitRolloutTimeout(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	s.createNamespace(t)
	// kwok leaves the status of these pods alone, so they never get ready.
	objs := decode(t, `apiVersion: apps/v1
kind: Deployment
metadata:
  name: stuck
spec:
  replicas: 2
  selector:
    matchLabels: {app: stuck}
  template:
    metadata:
      labels: {app: stuck}
      annotations:
        kwok.x-k8s.io/status: custom
    spec:
      containers:
        - name: web
          image: registry.example/web:1
`)
	if _, err := s.client.Apply(s.ctx, s.ns, objs, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	start := time.Now()
	err := s.client.WaitRollout(ctx, s.ns, objs, nil)
	if elapsed := time.Since(start); elapsed > 15*time.Second {
		t.Errorf("WaitRollout returned %s after its deadline", elapsed-5*time.Second)
	}
	var rerr *RolloutError
	if !errors.As(err, &rerr) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitRollout = %v, want a *RolloutError wrapping the deadline", err)
	}
	if len(rerr.Workloads) != 1 || rerr.Workloads[0].Ref != "deployment/stuck" {
		t.Fatalf("workloads = %+v", rerr.Workloads)
	}
	// What is wrong comes first (the new pods and why), then the rollout
	// status, then the timeout, in words.
	msg := err.Error()
	prefix := "deployment/stuck in namespace " + s.ns + ": 2 new pods not ready: pod/stuck-"
	if !strings.HasPrefix(msg, prefix) {
		t.Errorf("error %q does not start with %q", msg, prefix)
	}
	last := 0
	for _, want := range []string{"not ready", "rollout status: 0 of 2 updated replicas are available", "still not ready after 5s, when the wait timed out"} {
		i := strings.Index(msg, want)
		if i < last {
			t.Errorf("error %q does not contain %q after byte %d", msg, want, last)
		}
		last = max(i, last)
	}
	if strings.Contains(msg, "context deadline exceeded") {
		t.Errorf("error %q shows the context's error", msg)
	}
	t.Log(msg)
}

func TestIntegrationDiff(t *testing.T) {
	t.Parallel()
	s := newSetup(t)

	// Nothing is live yet, not even the namespace: all added.
	d, err := s.client.Diff(s.ctx, s.ns, webpageObjects(t, "2.0"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Changed != 3 || !strings.Contains(d.Text, "+++ target/"+s.ns+"/Service/webpage-service\n") {
		t.Errorf("diff into a missing namespace: %d changed:\n%s", d.Changed, d.Text)
	}

	s.createNamespace(t)
	if _, err := s.client.Apply(s.ctx, s.ns, webpageObjects(t, "2.0"), ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	d, err = s.client.Diff(s.ctx, s.ns, webpageObjects(t, "2.0"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Changed != 0 || d.Text != "" || len(d.Objects) != 3 {
		t.Errorf("diff of what is live: %d changed, %d objects:\n%s", d.Changed, len(d.Objects), d.Text)
	}

	d, err = s.client.Diff(s.ctx, s.ns, webpageObjects(t, "2.1"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Changed != 1 || d.Objects[0].Action != DiffChanged || d.Objects[1].Action != DiffUnchanged {
		t.Errorf("diff of a new image: %+v", d)
	}
	header := "--- live/" + s.ns + "/Deployment/webpage-deployment\n+++ target/" + s.ns + "/Deployment/webpage-deployment\n"
	if !strings.HasPrefix(d.Text, header) {
		t.Errorf("diff does not start with %q:\n%s", header, d.Text)
	}
	for _, want := range []string{"-      - image: registry.example/webpage:2.0\n", "+      - image: registry.example/webpage:2.1\n"} {
		if !strings.Contains(d.Text, want) {
			t.Errorf("diff does not contain %q:\n%s", want, d.Text)
		}
	}
	for _, noise := range []string{"managedFields", "resourceVersion", "uid:", "generation", "creationTimestamp", "status:"} {
		if strings.Contains(d.Text, noise) {
			t.Errorf("diff shows %s:\n%s", noise, d.Text)
		}
	}
	if _, err := s.client.Get(s.ctx, s.ns, webpageObjects(t, "2.1")[0]); err != nil {
		t.Fatal(err)
	}
	if img := liveImage(t, s); img != "registry.example/webpage:2.0" {
		t.Errorf("Diff changed the live image to %s", img)
	}
	t.Log("\n" + d.Text)
}

// After a rollout, the old pods leave the Service's endpoints only once
// they are gone: WaitEndpointsSettled waits for that, and for the new pods
// to be ready endpoints.
func TestIntegrationWaitEndpointsSettled(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	s.createNamespace(t)
	for _, tag := range []string{"2.0", "2.1"} {
		objs := webpageObjects(t, tag)
		if _, err := s.client.Apply(s.ctx, s.ns, objs, ApplyOptions{}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(s.ctx, time.Minute)
		if err := s.client.WaitRollout(ctx, s.ns, objs, nil); err != nil {
			cancel()
			t.Fatalf("%s: WaitRollout: %v", tag, err)
		}
		err := s.client.WaitEndpointsSettled(ctx, s.ns, objs)
		cancel()
		if err != nil {
			t.Fatalf("%s: WaitEndpointsSettled: %v", tag, err)
		}
		// Settled means: 3 ready endpoints, all of pods running tag.
		pods, err := s.cluster.Clientset().CoreV1().Pods(s.ns).List(s.ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		image := map[string]string{}
		for _, p := range pods.Items {
			image[p.Name] = p.Spec.Containers[0].Image
		}
		slices, err := s.cluster.Clientset().DiscoveryV1().EndpointSlices(s.ns).List(s.ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ready := 0
		for _, sl := range slices.Items {
			for _, ep := range sl.Endpoints {
				if ep.TargetRef == nil || ep.Conditions.Ready == nil || !*ep.Conditions.Ready {
					t.Errorf("%s: endpoint %v is not ready", tag, ep.Addresses)
					continue
				}
				if img := image[ep.TargetRef.Name]; img != "registry.example/webpage:"+tag {
					t.Errorf("%s: endpoint of pod %s runs %q", tag, ep.TargetRef.Name, img)
				}
				ready++
			}
		}
		if ready != 3 {
			t.Errorf("%s: %d ready endpoints, want 3", tag, ready)
		}
	}
}

// A rolling update whose new pods never get ready: the error names those
// new pods first, not the old replicas waiting for them.
func TestIntegrationWaitRolloutNewPodsFirst(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	s.createNamespace(t)
	manifest := func(version, annotations string) []*unstructured.Unstructured {
		return decode(t, `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  strategy:
    rollingUpdate: {maxSurge: 2, maxUnavailable: 0}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web, version: "`+version+`"}
      annotations: {`+annotations+`}
    spec:
      containers:
        - name: web
          image: registry.example/web:`+version+`
`)
	}
	v1 := manifest("1", "")
	if _, err := s.client.Apply(s.ctx, s.ns, v1, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.client.WaitRollout(s.ctx, s.ns, v1, nil); err != nil {
		t.Fatalf("first version: %v", err)
	}
	// kwok leaves the status of the new pods alone: they never get ready.
	v2 := manifest("2", "kwok.x-k8s.io/status: custom")
	if _, err := s.client.Apply(s.ctx, s.ns, v2, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	err := s.client.WaitRollout(ctx, s.ns, v2, nil)
	var rerr *RolloutError
	if !errors.As(err, &rerr) || len(rerr.Workloads) != 1 {
		t.Fatalf("WaitRollout = %v, want a *RolloutError for deployment/web", err)
	}
	w := rerr.Workloads[0]
	if !w.NewPods || len(w.Pods) != 2 {
		t.Fatalf("pods described = %q (new: %v), want the 2 new pods", w.Pods, w.NewPods)
	}
	msg := err.Error()
	if want := "deployment/web in namespace " + s.ns + ": 2 new pods not ready: pod/web-"; !strings.HasPrefix(msg, want) {
		t.Errorf("error %q does not start with %q", msg, want)
	}
	t.Log(msg)
}
