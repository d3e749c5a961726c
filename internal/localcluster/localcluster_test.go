package localcluster_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"
	"k8s.io/client-go/kubernetes"

	"fledge.dev/fledge/internal/localcluster"
)

const fieldManager = "fledge-test"

// The one cluster shared by this package's tests, started by TestMain, or
// why there is none.
var (
	testCluster *localcluster.Cluster
	setupErr    error
)

var errShort = errors.New("-short: local control plane not started")

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runTests(m))
}

func runTests(m *testing.M) (code int) {
	if testing.Short() {
		setupErr = errShort
		return m.Run()
	}
	opts := localcluster.Options{
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}.WithDefaults()
	if err := opts.Validate(); err != nil {
		setupErr = err
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := localcluster.Start(ctx, opts)
	if err != nil {
		setupErr = err
		return m.Run()
	}
	testCluster = c
	fmt.Fprintf(os.Stderr, "local cluster started in %s (dir %s)\n", c.StartupDuration().Round(time.Millisecond), c.Dir())
	defer func() {
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop local cluster:", err)
			code = 1
		}
	}()
	return m.Run()
}

// requireCluster returns the shared cluster. Missing binaries skip the test,
// except in CI (CI=true), where the control plane is required.
func requireCluster(t *testing.T) *localcluster.Cluster {
	t.Helper()
	if testCluster != nil {
		return testCluster
	}
	switch {
	case errors.Is(setupErr, errShort):
		t.Skip(setupErr)
	case errors.Is(setupErr, localcluster.ErrBinariesMissing) && os.Getenv("CI") != "true":
		t.Skipf("no local control plane (%v); build it with hack/build-controlplane.sh", setupErr)
	}
	t.Fatalf("local control plane: %v", setupErr)
	return nil
}

func testContext(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestBootstrapObjects(t *testing.T) {
	c := requireCluster(t)
	ctx := testContext(t, 30*time.Second)
	cs := c.Clientset()

	node, err := cs.CoreV1().Nodes().Get(ctx, localcluster.NodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get node: %v", err)
	}
	if got := node.Annotations[localcluster.NodeAnnotation]; got != "fake" {
		t.Errorf("node annotation %s = %q, want fake", localcluster.NodeAnnotation, got)
	}
	if len(node.Spec.Taints) != 0 {
		t.Errorf("node taints = %v, want none", node.Spec.Taints)
	}
	for _, tc := range []struct {
		name corev1.ResourceName
		want string
	}{
		{corev1.ResourceCPU, "32"},
		{corev1.ResourceMemory, "256Gi"},
		{corev1.ResourcePods, localcluster.NodePodCapacity},
	} {
		got := node.Status.Allocatable[tc.name]
		if want := resource.MustParse(tc.want); got.Cmp(want) != 0 {
			t.Errorf("node allocatable %s = %s, want %s", tc.name, got.String(), tc.want)
		}
	}
	ready := false
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
			ready = true
		}
	}
	if !ready {
		t.Errorf("node %s not Ready: %+v", node.Name, node.Status.Conditions)
	}

	ic, err := cs.NetworkingV1().IngressClasses().Get(ctx, localcluster.IngressClassName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get ingressclass: %v", err)
	}
	if ic.Spec.Controller != localcluster.IngressController {
		t.Errorf("ingressclass controller = %q, want %q", ic.Spec.Controller, localcluster.IngressController)
	}
}

// TestWorkloads is the foundation acceptance test: in each of two
// namespaces, a Deployment, Service and Ingress applied server-side become
// what a real cluster would show.
func TestWorkloads(t *testing.T) {
	c := requireCluster(t)
	for _, tc := range []struct {
		namespace string
		host      string
	}{
		{namespace: "fledge-accept-a", host: "a.fledge.test"},
		{namespace: "fledge-accept-b", host: "b.fledge.test"},
	} {
		t.Run(tc.namespace, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t, 90*time.Second)
			cs := c.Clientset()
			if err := c.CreateNamespace(ctx, tc.namespace); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				// Best effort; the cluster goes away with the test binary.
				_ = cs.CoreV1().Namespaces().Delete(context.Background(), tc.namespace, metav1.DeleteOptions{})
			})

			applyWeb(ctx, t, cs, tc.namespace, tc.host)
			begin := time.Now()
			waitDeploymentReady(ctx, t, cs, tc.namespace, "web", 3)
			t.Logf("deployment 3/3 ready %s after apply", time.Since(begin).Round(time.Millisecond))
			assertPodsReady(ctx, t, cs, tc.namespace, "app=web", 3)

			out, err := c.Kubectl(ctx, "get", "all,ingress", "-n", tc.namespace)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []struct {
				what  string
				re    string
				count int
			}{
				{"deployment 3/3", `(?m)^deployment\.apps/web\s+3/3\s+3\s+3\s`, 1},
				{"service", `(?m)^service/web\s+ClusterIP\s+10\.0\.0\.\d+\s+<none>\s+8080/TCP\s`, 1},
				{"replicaset", `(?m)^replicaset\.apps/web-[a-z0-9]+\s+3\s+3\s+3\s`, 1},
				{"ingress", `(?m)^ingress\.networking\.k8s\.io/web\s+nginx\s+` + regexp.QuoteMeta(tc.host) + `\s`, 1},
				{"running pods", `(?m)^pod/web-[a-z0-9]+-[a-z0-9]+\s+1/1\s+Running\s`, 3},
			} {
				if got := len(regexp.MustCompile(want.re).FindAllString(out, -1)); got != want.count {
					t.Errorf("kubectl get all,ingress: %d lines for %s (/%s/), want %d; output:\n%s",
						got, want.what, want.re, want.count, out)
				}
			}
		})
	}
}

func applyWeb(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, host string) {
	t.Helper()
	labels := map[string]string{"app": "web"}
	opts := metav1.ApplyOptions{FieldManager: fieldManager, Force: true}

	deploy := appsv1ac.Deployment("web", ns).
		WithLabels(labels).
		WithSpec(appsv1ac.DeploymentSpec().
			WithReplicas(3).
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(labels)).
			WithTemplate(corev1ac.PodTemplateSpec().
				WithLabels(labels).
				WithSpec(corev1ac.PodSpec().
					WithContainers(corev1ac.Container().
						WithName("web").
						WithImage("registry.fledge.test/web:v1").
						WithPorts(corev1ac.ContainerPort().WithName("http").WithContainerPort(8080))))))
	if _, err := cs.AppsV1().Deployments(ns).Apply(ctx, deploy, opts); err != nil {
		t.Fatalf("apply deployment: %v", err)
	}

	svc := corev1ac.Service("web", ns).
		WithSpec(corev1ac.ServiceSpec().
			WithType(corev1.ServiceTypeClusterIP).
			WithSelector(labels).
			WithPorts(corev1ac.ServicePort().
				WithName("http").
				WithPort(8080).
				WithTargetPort(intstr.FromString("http"))))
	if _, err := cs.CoreV1().Services(ns).Apply(ctx, svc, opts); err != nil {
		t.Fatalf("apply service: %v", err)
	}

	ing := networkingv1ac.Ingress("web", ns).
		WithSpec(networkingv1ac.IngressSpec().
			WithIngressClassName(localcluster.IngressClassName).
			WithRules(networkingv1ac.IngressRule().
				WithHost(host).
				WithHTTP(networkingv1ac.HTTPIngressRuleValue().
					WithPaths(networkingv1ac.HTTPIngressPath().
						WithPath("/").
						WithPathType(networkingv1.PathTypePrefix).
						WithBackend(networkingv1ac.IngressBackend().
							WithService(networkingv1ac.IngressServiceBackend().
								WithName("web").
								WithPort(networkingv1ac.ServiceBackendPort().WithNumber(8080))))))))
	if _, err := cs.NetworkingV1().Ingresses(ns).Apply(ctx, ing, opts); err != nil {
		t.Fatalf("apply ingress: %v", err)
	}
}

func waitDeploymentReady(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string, replicas int32) {
	t.Helper()
	var last *appsv1.Deployment
	for {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			last = d
			st := d.Status
			if st.ObservedGeneration >= d.Generation && st.ReadyReplicas == replicas &&
				st.UpdatedReplicas == replicas && st.AvailableReplicas == replicas {
				return
			}
		}
		select {
		case <-ctx.Done():
			if last != nil {
				t.Fatalf("deployment %s/%s not %d/%d ready: status %+v", ns, name, replicas, replicas, last.Status)
			}
			t.Fatalf("deployment %s/%s: %v (last error: %v)", ns, name, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func assertPodsReady(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, selector string, want int) {
	t.Helper()
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatalf("list pods: %v", err)
	}
	if len(pods.Items) != want {
		t.Fatalf("%d pods match %s, want %d", len(pods.Items), selector, want)
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName != localcluster.NodeName {
			t.Errorf("pod %s on node %q, want %s", p.Name, p.Spec.NodeName, localcluster.NodeName)
		}
		if p.Status.Phase != corev1.PodRunning || !podReady(&p) {
			t.Errorf("pod %s: phase %s, ready %v", p.Name, p.Status.Phase, podReady(&p))
		}
		if p.Status.PodIP == "" {
			t.Errorf("pod %s has no IP", p.Name)
		}
	}
}

func podReady(p *corev1.Pod) bool {
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// TestCustomStatusPodStaysUnready proves the kwok setting tests rely on to
// make a canary unhealthy: an annotated pod is scheduled but kwok leaves its
// status alone.
func TestCustomStatusPodStaysUnready(t *testing.T) {
	c := requireCluster(t)
	ctx := testContext(t, 60*time.Second)
	cs := c.Clientset()
	const ns = "fledge-custom-status"
	if err := c.CreateNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})

	pod := func(name string, annotations map[string]string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "app", Image: "registry.fledge.test/app:v1",
			}}},
		}
	}
	for _, p := range []*corev1.Pod{
		pod("normal", nil),
		pod("custom", map[string]string{localcluster.CustomStatusAnnotation: "custom"}),
	} {
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create pod %s: %v", p.Name, err)
		}
	}
	for {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "normal", metav1.GetOptions{})
		if err == nil && podReady(p) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pod normal never Ready: %v", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	// kwok handles both pods in the same pass; give it time to (wrongly)
	// touch the custom one.
	time.Sleep(time.Second)
	p, err := cs.CoreV1().Pods(ns).Get(ctx, "custom", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec.NodeName != localcluster.NodeName {
		t.Errorf("custom pod not scheduled: node %q", p.Spec.NodeName)
	}
	if podReady(p) || p.Status.Phase == corev1.PodRunning {
		t.Errorf("custom pod: phase %s, ready %v; want kwok to leave it alone", p.Status.Phase, podReady(p))
	}
}

// TestLoad finds the running cluster again from its directory, as another
// process would.
func TestLoad(t *testing.T) {
	c := requireCluster(t)
	ctx := testContext(t, 30*time.Second)
	loaded, err := localcluster.Load(c.Dir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Server() != c.Server() || loaded.Kubeconfig() != c.Kubeconfig() {
		t.Errorf("loaded server %s kubeconfig %s, want %s %s", loaded.Server(), loaded.Kubeconfig(), c.Server(), c.Kubeconfig())
	}
	st := loaded.Status(ctx)
	if !st.Healthy() {
		t.Errorf("status not healthy: %v", st.Problems)
	}
	var names []string
	for _, comp := range st.Components {
		names = append(names, comp.Name)
		if !comp.Running {
			t.Errorf("component %s (pid %d) not running", comp.Name, comp.PID)
		}
	}
	want := "etcd,kube-apiserver,kube-controller-manager,kube-scheduler,kwok"
	if got := strings.Join(names, ","); got != want {
		t.Errorf("components %s, want %s", got, want)
	}
}

// TestAPIServerRestart stops and restarts only kube-apiserver, as the
// fault-injection tests do, and checks the cluster works again.
func TestAPIServerRestart(t *testing.T) {
	c := requireCluster(t)
	ctx := testContext(t, 2*time.Minute)
	if err := c.StopAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	st := c.Status(ctx)
	if st.APIServerReady || st.Healthy() {
		t.Errorf("after StopAPIServer: ready %v, problems %v", st.APIServerReady, st.Problems)
	}
	begin := time.Now()
	if err := c.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("kube-apiserver back in %s", time.Since(begin).Round(time.Millisecond))
	if err := c.CreateNamespace(ctx, "fledge-after-restart"); err != nil {
		t.Fatal(err)
	}
	if st := c.Status(ctx); !st.Healthy() {
		t.Errorf("after StartAPIServer: %v", st.Problems)
	}
}

// TestNodeLeaseRenewed guards the fake node's heartbeat: kwok must keep its
// Lease in kube-node-lease fresh, or after --node-monitor-grace-period the
// node lifecycle controller marks the node Unknown and every pod on it
// unready for good (kwok readies Pending pods only).
func TestNodeLeaseRenewed(t *testing.T) {
	c := requireCluster(t)
	t.Parallel()
	ctx := testContext(t, 60*time.Second)
	leases := c.Clientset().CoordinationV1().Leases(corev1.NamespaceNodeLease)
	var first *metav1.MicroTime
	for {
		l, err := leases.Get(ctx, localcluster.NodeName, metav1.GetOptions{})
		switch {
		case err == nil && l.Spec.RenewTime != nil && first == nil:
			if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
				t.Errorf("node lease has no holder: kwok does not hold it")
			}
			first = l.Spec.RenewTime
		case err == nil && first != nil && l.Spec.RenewTime.After(first.Time):
			t.Logf("node lease renewed after %s", l.Spec.RenewTime.Sub(first.Time).Round(time.Millisecond))
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("node lease %s/%s not renewed (first renew time %v, last error %v)", corev1.NamespaceNodeLease, localcluster.NodeName, first, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// The cluster's kubectl keeps its discovery cache in the cluster's own
// folder, never in ~/.kube/cache, where an earlier cluster on the same
// loopback port would have left resource types this one does not have.
func TestKubectlCacheIsTheClusters(t *testing.T) {
	c := requireCluster(t)
	t.Parallel()
	ctx := testContext(t, 30*time.Second)
	if _, err := c.Kubectl(ctx, "api-resources", "-o", "name"); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(c.KubectlCacheDir(), "discovery"))
	if err != nil || len(entries) == 0 {
		t.Fatalf("no discovery cache in %s after kubectl ran (%v)", c.KubectlCacheDir(), err)
	}
}
