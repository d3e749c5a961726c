package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/testenv"
)

// server is a `fledge serve` subprocess (testenv.Process) and what the
// tests know of it.
type server struct {
	*testenv.Process
	t       *testing.T
	url     string
	store   string
	logPath string
	args    []string
	// cli is the fledge binary of the CLI commands: the server's own.
	cli string
}

func startServer(t *testing.T, extraEnv ...string) *server {
	return startServerArgs(t, nil, extraEnv...)
}

// startServerArgs starts a server with extra `fledge serve` flags.
func startServerArgs(t *testing.T, args []string, extraEnv ...string) *server {
	t.Helper()
	return startServerOn(t, t.TempDir()+"/fledge.db", args, extraEnv...)
}

// startServerOn starts a server on the given store (an SQLite path or a
// postgres:// URL); several servers may share one PostgreSQL store.
func startServerOn(t *testing.T, storeURL string, args []string, extraEnv ...string) *server {
	t.Helper()
	return startBinaryOn(t, fledgeBin, storeURL, args, extraEnv...)
}

// startBinaryOn starts the fledge binary bin as a server on the store; the
// server's CLI commands run bin too.
func startBinaryOn(t *testing.T, bin, storeURL string, args []string, extraEnv ...string) *server {
	t.Helper()
	p := testenv.NewProcess(t, bin)
	s := &server{Process: p, t: t, args: args, url: p.URL(), store: storeURL, logPath: p.LogPath, cli: bin}
	s.start(extraEnv...)
	t.Cleanup(s.stop)
	return s
}

// start runs the server (again) on the same address and store.
func (s *server) start(extraEnv ...string) {
	s.t.Helper()
	args := append([]string{
		"--store", s.store,
		"--lease-ttl", "3s", "--poll-interval", "200ms", "--log-level", "debug",
		"--bootstrap-token-file", adminTokenFile, "--secret-key-file", secretKeyFile,
	}, s.args...)
	s.Start(s.t, args, extraEnv...)
}

// kill stops the server with SIGKILL, as a crash would.
func (s *server) kill() { s.Kill() }

// exited waits for the server to end by itself (fault injection).
func (s *server) exited(timeout time.Duration) bool { return s.Exited(timeout) }

func (s *server) stop() { s.Stop(s.t) }

// roles are the grants of the test users' tokens: ci starts and cancels
// runs; vera only reads; people approve, reject and roll back; admin (the bootstrap token)
// applies resources.
var roles = map[string][]string{
	"ci":   {"deployer"},
	"vera": {"viewer"},
}

// peopleRoles are the roles of any other user (alice, bob, carol, dave).
var peopleRoles = []string{"approver", "deployer"}

// tokens caches each store's tokens by user: servers sharing a store
// (restarts, replicas) share its tokens.
var tokens = struct {
	sync.Mutex
	byStore map[string]map[string]string
}{byStore: map[string]map[string]string{}}

// token returns user's token on the server's store, creating it (as the
// admin) on first use.
func (s *server) token(user string) string {
	s.t.Helper()
	if user == "admin" {
		return adminToken
	}
	tokens.Lock()
	defer tokens.Unlock()
	m := tokens.byStore[s.store]
	if m == nil {
		m = map[string]string{}
		tokens.byStore[s.store] = m
	}
	if tok, ok := m[user]; ok {
		return tok
	}
	args := []string{"--server", s.url, "--token", adminToken, "token", "create", user}
	rs, ok := roles[user]
	if !ok {
		rs = peopleRoles
	}
	for _, r := range rs {
		args = append(args, "--role", r)
	}
	cmd := exec.Command(s.cli, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		s.t.Fatalf("create the token of %s: %v\n%s", user, err, stderr.String())
	}
	tok := strings.TrimSpace(stdout.String())
	m[user] = tok
	return tok
}

// fledge runs the CLI against the server as user (with user's token) and
// returns stdout; it fails the test on a non-zero exit.
func (s *server) fledge(user string, args ...string) string {
	s.t.Helper()
	out, err := s.fledgeErr(user, args...)
	if err != nil {
		s.t.Fatalf("fledge %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (s *server) fledgeErr(user string, args ...string) (string, error) {
	s.t.Helper()
	full := append([]string{"--server", s.url, "--token", s.token(user), "--config", "/nonexistent/fledge-e2e/config.yaml"}, args...)
	cmd := exec.Command(s.cli, full...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

func (s *server) deployment(id int64) v1alpha1.Deployment {
	s.t.Helper()
	var d v1alpha1.Deployment
	s.getJSON(fmt.Sprintf("/api/v1/deployments/%d", id), &d)
	return d
}

func (s *server) getJSON(path string, out any) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.url+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		s.t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		s.t.Fatalf("GET %s: decode: %v", path, err)
	}
}

func (s *server) events(id int64) []v1alpha1.Event {
	var l v1alpha1.EventList
	s.getJSON(fmt.Sprintf("/api/v1/deployments/%d/events", id), &l)
	return l.Items
}

// checkSeqs fails unless the events' sequence numbers start at 1 and rise:
// each event was written once, in order. They have gaps where the rollout
// progress lines of an ended deployment were compacted.
func checkSeqs(t *testing.T, evs []v1alpha1.Event) {
	t.Helper()
	for i, e := range evs {
		if (i == 0 && e.Seq != 1) || (i > 0 && e.Seq <= evs[i-1].Seq) {
			t.Fatalf("event %d has seq %d (after %d)", i+1, e.Seq, evs[max(i-1, 0)].Seq)
		}
	}
}

// waitEvent polls until an event of type typ whose message contains text
// is recorded.
func (s *server) waitEvent(id int64, timeout time.Duration, typ, text string) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, e := range s.events(id) {
			if e.Type == typ && strings.Contains(e.Message, text) {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("deployment %d: no %s event with %q within %s", id, typ, text, timeout)
}

// waitStatus polls until the deployment has one of the statuses.
func (s *server) waitStatus(id int64, timeout time.Duration, want ...v1alpha1.DeploymentStatus) v1alpha1.Deployment {
	s.t.Helper()
	// Generous: a loaded machine can take tens of seconds for a namespace's
	// service account; a wrong final status fails at once anyway.
	timeout = max(timeout, 3*time.Minute)
	deadline := time.Now().Add(timeout)
	var d v1alpha1.Deployment
	for time.Now().Before(deadline) {
		d = s.deployment(id)
		for _, w := range want {
			if d.Status == w {
				return d
			}
		}
		if d.Status.Final() {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var evs []string
	for _, e := range s.events(id) {
		evs = append(evs, fmt.Sprintf("  %d %s %s %s", e.Seq, e.Stage, e.Type, e.Message))
	}
	s.t.Fatalf("deployment %d: status %s (%s), want %v\nevents:\n%s\nserver log %s:\n%s", id, d.Status, d.Message, want, strings.Join(evs, "\n"), s.logPath, s.Tail())
	return d
}

// run starts the pipeline through the CLI and returns the new deployment.
func (s *server) run(user, pipeline string, params ...string) v1alpha1.Deployment {
	s.t.Helper()
	args := []string{"run", pipeline, "-o", "json"}
	for _, p := range params {
		args = append(args, "--param", p)
	}
	var d v1alpha1.Deployment
	out := s.fledge(user, args...)
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		s.t.Fatalf("fledge run -o json: %v\n%s", err, out)
	}
	return d
}

// release runs the pipeline with IMAGE_TAG=tag through to production,
// approved by alice: a first release, after which production has the
// Ingress a canary splits requests with.
func (s *server) release(pipeline, tag string) v1alpha1.Deployment {
	s.t.Helper()
	d := s.run("ci", pipeline, "IMAGE_TAG="+tag)
	s.waitStatus(d.ID, time.Minute, v1alpha1.StatusWaitingForApproval)
	s.fledge("alice", "approve", itoa(d.ID))
	return s.waitStatus(d.ID, time.Minute, v1alpha1.StatusSucceeded)
}

// tryRun starts the pipeline like run, on a server that may kill itself
// as soon as the run wakes its executor: ok is false when the answer was
// lost that way (the server has exited; find the deployment with latest
// once it is restarted).
func (s *server) tryRun(user, pipeline string, params ...string) (d v1alpha1.Deployment, ok bool) {
	s.t.Helper()
	args := []string{"run", pipeline, "-o", "json"}
	for _, p := range params {
		args = append(args, "--param", p)
	}
	out, err := s.fledgeErr(user, args...)
	if err != nil {
		if strings.Contains(out, "cannot reach the Fledge server") && s.exited(10*time.Second) {
			return d, false
		}
		s.t.Fatalf("fledge %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		s.t.Fatalf("fledge run -o json: %v\n%s", err, out)
	}
	return d, true
}

// latest returns the newest deployment of a pipeline.
func (s *server) latest(pipeline string) v1alpha1.Deployment {
	s.t.Helper()
	var list v1alpha1.DeploymentList
	s.getJSON("/api/v1/deployments?limit=1&pipeline="+pipeline, &list)
	if len(list.Items) != 1 {
		s.t.Fatalf("pipeline %s has no deployment", pipeline)
	}
	return list.Items[0]
}

// tryDeployment reads a deployment, reporting false when the server does
// not answer (it may be dying at an injection point).
func (s *server) tryDeployment(id int64) (v1alpha1.Deployment, bool) {
	var d v1alpha1.Deployment
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/api/v1/deployments/%d", s.url, id), nil)
	if err != nil {
		return d, false
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return d, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&d) != nil {
		return d, false
	}
	return d, true
}

// fixture writes the resource files of a pipeline to a folder.
type fixture struct {
	Pipeline, Environment, Artifact string
	CanaryNS, ProdNS                string
	Ramp, Batches                   int
	BatchDelay                      string
	Approvals                       int
	CanaryTimeout, ApprovalTimeout  string
	// Unready marks the pods so kwok never makes them Ready.
	Unready bool
	// NoApproval leaves the approval stage out.
	NoApproval bool
	// RegistrySecret, when set, is the registry secret the environment
	// provisions.
	RegistrySecret string
	// Edit, when set, changes the manifests.
	Edit func(manifests string) string
	// Layout is the environment's ingressLayout ("" for the default).
	Layout string
	// HTTPRoute routes through the Gateway API: the manifests of
	// examples/webpage-gateway, whose HTTPRoute "webpage" the canary stage
	// names instead of the Ingress.
	HTTPRoute bool
	// CanaryScale, when set, is the canary stage's scale (flow YAML).
	CanaryScale string
	// WaveNS, when set, adds a productionWave stage "wave" releasing to
	// that namespace of the same environment.
	WaveNS string
	// Steps, when set, replaces the shift-traffic and approval stages by
	// a canarySteps stage "progressive" with these steps (YAML list
	// items, indented ten spaces).
	Steps string
}

func writeFixture(t *testing.T, f fixture) string {
	t.Helper()
	dir := t.TempDir()
	example, route := "webpage", "ingressName: webpage-ingress"
	if f.HTTPRoute {
		example, route = "webpage-gateway", "httpRouteName: webpage"
	}
	manifests, err := os.ReadFile(filepath.Join(repoRoot, "examples", example, "manifests.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m := string(manifests)
	if f.Unready {
		m = strings.Replace(m, "    metadata:\n      labels:\n        app: webpage\n",
			"    metadata:\n      annotations:\n        kwok.x-k8s.io/status: custom\n      labels:\n        app: webpage\n", 1)
	}
	if f.Edit != nil {
		m = f.Edit(m)
	}
	if f.Ramp == 0 {
		f.Ramp = 25
	}
	if f.Batches == 0 {
		f.Batches = 1
	}
	if f.BatchDelay == "" {
		f.BatchDelay = "0s"
	}
	if f.Approvals == 0 {
		f.Approvals = 1
	}
	if f.CanaryTimeout == "" {
		f.CanaryTimeout = "4m"
	}
	if f.ApprovalTimeout == "" {
		f.ApprovalTimeout = "24h"
	}
	approval := fmt.Sprintf("    - name: approval-stage\n      approval:\n        approvalsRequired: %d\n        timeout: %s\n", f.Approvals, f.ApprovalTimeout)
	if f.NoApproval {
		approval = ""
	}
	shift := fmt.Sprintf("    - name: shift-traffic-stage\n      shiftTraffic:\n        rampLimitPercent: %d\n        batchCount: %d\n        batchDelay: %s\n", f.Ramp, f.Batches, f.BatchDelay)
	if f.Steps != "" {
		shift, approval = "    - name: progressive\n      canarySteps:\n        steps:\n"+f.Steps, ""
	}
	if f.CanaryScale != "" {
		route += "\n        scale: " + f.CanaryScale
	}
	wave := ""
	if f.WaveNS != "" {
		wave = fmt.Sprintf("    - name: wave\n      productionWave:\n        targets:\n          - {environment: %s, namespace: %s}\n", f.Environment, f.WaveNS)
	}
	envSpec := ""
	if f.RegistrySecret != "" {
		envSpec = "  registryCredentials:\n    - secretRef: " + f.RegistrySecret + "\n"
	}
	if f.Layout != "" {
		envSpec += "  ingressLayout: " + f.Layout + "\n"
	}
	files := map[string]string{
		"manifests.yaml": m,
		"environment.yaml": fmt.Sprintf(`apiVersion: fledge.dev/v1alpha1
kind: Environment
metadata:
  name: %s
spec:
  kubeconfig:
    path: %s
%s`, f.Environment, cluster.Kubeconfig(), envSpec),
		"artifact.yaml": fmt.Sprintf(`apiVersion: fledge.dev/v1alpha1
kind: Artifact
metadata:
  name: %s
spec:
  file: manifests.yaml
`, f.Artifact),
		"pipeline.yaml": fmt.Sprintf(`apiVersion: fledge.dev/v1alpha1
kind: Pipeline
metadata:
  name: %s
spec:
  parameters:
    - name: IMAGE_TAG
      description: image version
  stages:
    - name: canary-deploy-stage
      canaryDeployment:
        environment: %s
        artifacts: [%s]
        namespace: %s
        %s
        rolloutTimeout: %s
%s%s    - name: switch-to-production-stage
      productionRelease:
        namespace: %s
        rolloutTimeout: 4m
%s`, f.Pipeline, f.Environment, f.Artifact, f.CanaryNS, route, f.CanaryTimeout, shift, approval, f.ProdNS, wave),
	}
	t.Cleanup(func() {
		// Free the fake node's pods for later tests.
		for _, ns := range []string{f.CanaryNS, f.ProdNS, f.WaveNS} {
			if ns == "" {
				continue
			}
			_ = cluster.Clientset().CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
		}
	})
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// kube helpers

func ingressAnnotations(t *testing.T, ns string) map[string]string {
	t.Helper()
	return ingressNamed(t, ns, "webpage-ingress").Annotations
}

func ingressNamed(t *testing.T, ns, name string) *networkingv1.Ingress {
	t.Helper()
	ing, err := cluster.Clientset().NetworkingV1().Ingresses(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get ingress %s/%s: %v", ns, name, err)
	}
	return ing
}

// workload returns the deployment's image and ready count, and the
// pod-template-hash of its ready pods.
type workload struct {
	Image     string
	Ready     int32
	Replicas  int32
	PodHashes map[string]int
	ReadyPods int
}

func getWorkload(t *testing.T, ns string) workload {
	t.Helper()
	return getWorkloadIn(t, cluster.Clientset(), ns)
}

// getWorkloadIn is getWorkload in the cluster of cs.
func getWorkloadIn(t *testing.T, cs kubernetes.Interface, ns string) workload {
	t.Helper()
	ctx := context.Background()
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, "webpage-deployment", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get deployment %s/webpage-deployment: %v", ns, err)
	}
	w := workload{Image: d.Spec.Template.Spec.Containers[0].Image, Ready: d.Status.ReadyReplicas, Replicas: *d.Spec.Replicas, PodHashes: map[string]int{}}
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=webpage"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil || !podReady(&p) {
			continue
		}
		w.ReadyPods++
		w.PodHashes[p.Labels[appsv1.DefaultDeploymentUniqueLabelKey]]++
	}
	return w
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitWorkload waits until the namespace runs image with all pods ready
// and of one replicaset.
func waitWorkload(t *testing.T, ns, image string) workload {
	t.Helper()
	return waitWorkloadIn(t, cluster.Clientset(), ns, image)
}

// waitWorkloadIn is waitWorkload in the cluster of cs.
func waitWorkloadIn(t *testing.T, cs kubernetes.Interface, ns, image string) workload {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	var w workload
	for time.Now().Before(deadline) {
		w = getWorkloadIn(t, cs, ns)
		if w.Image == image && w.Ready == 3 && w.ReadyPods == 3 && len(w.PodHashes) == 1 {
			return w
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("namespace %s: want 3/3 ready pods of %s, got %+v", ns, image, w)
	return w
}

func onlyHash(w workload) string {
	for h := range w.PodHashes {
		return h
	}
	return ""
}

func namespaceEmpty(t *testing.T, ns string) bool {
	t.Helper()
	_, err := cluster.Clientset().AppsV1().Deployments(ns).Get(context.Background(), "webpage-deployment", metav1.GetOptions{})
	return err != nil
}
