package traffic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/testenv"
	"fledge.dev/fledge/test/dataplane"
)

// The harness of test/e2e, trimmed: a `fledge serve` subprocess and the
// CLI.

// server is a `fledge serve` subprocess (testenv.Process).
type server struct {
	*testenv.Process
	t       *testing.T
	url     string
	logPath string
	args    []string
}

func startServer(t *testing.T) *server {
	t.Helper()
	p := testenv.NewProcess(t, fledgeBin)
	s := &server{Process: p, t: t, url: p.URL(), logPath: p.LogPath}
	args := []string{
		"--store", filepath.Join(t.TempDir(), "fledge.db"),
		"--lease-ttl", "3s", "--poll-interval", "200ms", "--log-level", "debug",
	}
	if serveHasAuth() {
		// The CLI's --user names the actor only on a server without
		// authentication.
		args = append(args, "--auth=none")
	}
	t.Cleanup(s.stop)
	s.args = args
	s.Start(t, args)
	return s
}

// crash kills the server with SIGKILL, as a machine failure would, and
// starts another on the same address and store.
func (s *server) crash() {
	s.t.Helper()
	s.Kill()
	s.Start(s.t, s.args)
}

var (
	authOnce sync.Once
	hasAuth  bool
)

// serveHasAuth reports whether `fledge serve` has an --auth flag.
func serveHasAuth() bool {
	authOnce.Do(func() {
		out, _ := exec.Command(fledgeBin, "serve", "--help").CombinedOutput()
		hasAuth = strings.Contains(string(out), "--auth")
	})
	return hasAuth
}

func (s *server) stop() { s.Stop(s.t) }

// fledge runs the CLI as user and returns stdout; it fails the test on a
// non-zero exit.
func (s *server) fledge(user string, args ...string) string {
	s.t.Helper()
	full := append([]string{"--server", s.url, "--user", user}, args...)
	cmd := exec.Command(fledgeBin, full...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		s.t.Fatalf("fledge %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func (s *server) getJSON(path string, out any) {
	s.t.Helper()
	resp, err := http.Get(s.url + path)
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

func (s *server) deployment(id int64) v1alpha1.Deployment {
	s.t.Helper()
	var d v1alpha1.Deployment
	s.getJSON(fmt.Sprintf("/api/v1/deployments/%d", id), &d)
	return d
}

func (s *server) events(id int64) []v1alpha1.Event {
	var l v1alpha1.EventList
	s.getJSON(fmt.Sprintf("/api/v1/deployments/%d/events", id), &l)
	return l.Items
}

// event returns the first event of type typ whose message contains text.
func (s *server) event(id int64, typ, text string) (v1alpha1.Event, bool) {
	for _, e := range s.events(id) {
		if e.Type == typ && strings.Contains(e.Message, text) {
			return e, true
		}
	}
	return v1alpha1.Event{}, false
}

// waitEvent polls until such an event is recorded.
func (s *server) waitEvent(id int64, timeout time.Duration, typ, text string) v1alpha1.Event {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if e, ok := s.event(id, typ, text); ok {
			return e
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("deployment %d: no %s event with %q within %s\n%s", id, typ, text, timeout, s.eventLog(id))
	return v1alpha1.Event{}
}

// inOrder requires events matching each (type, text) pair, in that order.
func (s *server) inOrder(id int64, want ...[2]string) {
	s.t.Helper()
	evs := s.events(id)
	i := 0
	for _, w := range want {
		for i < len(evs) && (evs[i].Type != w[0] || !strings.Contains(evs[i].Message, w[1])) {
			i++
		}
		if i == len(evs) {
			s.t.Fatalf("deployment %d: no %s event with %q after the previous ones of %v\n%s", id, w[0], w[1], want, s.eventLog(id))
		}
		i++
	}
}

func (s *server) eventLog(id int64) string {
	var evs []string
	for _, e := range s.events(id) {
		evs = append(evs, fmt.Sprintf("  %d %s %s %s", e.Seq, e.Stage, e.Type, e.Message))
	}
	return "events:\n" + strings.Join(evs, "\n")
}

// waitStatus polls until the deployment has one of the statuses.
func (s *server) waitStatus(id int64, timeout time.Duration, want ...v1alpha1.DeploymentStatus) v1alpha1.Deployment {
	s.t.Helper()
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
	s.t.Fatalf("deployment %d: status %s (%s), want %v\n%s\nserver log %s:\n%s", id, d.Status, d.Message, want, s.eventLog(id), s.logPath, s.Tail())
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

// newest returns the pipeline's newest deployment.
func (s *server) newest(pipeline string) v1alpha1.Deployment {
	s.t.Helper()
	var list v1alpha1.DeploymentList
	s.getJSON("/api/v1/deployments?pipeline="+pipeline+"&limit=1", &list)
	if len(list.Items) == 0 {
		s.t.Fatalf("pipeline %s has no deployment", pipeline)
	}
	return list.Items[0]
}

// fixture is a pipeline of one suite: its namespaces are <name>-canary
// and <name>-prod, its requests go to /<name>/.
type fixture struct {
	name     string
	provider string // v1alpha1.TrafficProvider*
	ramp     int
	batches  int
	delay    string
	// faults gives the pipeline the parameters ERROR_RATE and LATENCY
	// (default: none), which the pods take as the agent's FAULT_*
	// variables: a run with them deploys a bad build.
	faults bool
	// stages, when set, are the pipeline's stages between the canary
	// deployment and the production release (YAML list items, indented
	// four spaces), in place of shift-traffic and approval; files are
	// more resource files written beside the others.
	stages string
	files  map[string]string
}

func (f fixture) pipeline() string { return f.name + "-pipeline" }
func (f fixture) canaryNS() string { return f.name + "-canary" }
func (f fixture) prodNS() string   { return f.name + "-prod" }
func (f fixture) path() string     { return "/" + f.name + "/" }

// manifests are the walkthrough's, with the suite's path: with the NGINX
// Ingress, or with an HTTPRoute on the data plane's Gateway instead.
func (f fixture) manifests(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "examples", "webpage", "manifests.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m := string(b)
	if f.faults {
		const version = `            - name: VERSION
              value: "${IMAGE_TAG}"
`
		out := strings.Replace(m, version, version+`            - name: FAULT_ERROR_RATE
              value: "${ERROR_RATE}"
            - name: FAULT_LATENCY
              value: "${LATENCY}"
`, 1)
		if out == m {
			t.Fatal("examples/webpage/manifests.yaml: the VERSION variable not found")
		}
		m = out
	}
	if f.provider == v1alpha1.TrafficProviderNGINX {
		out := strings.Replace(m, "/webpage(/|$)(.*)", "/"+f.name+"(/|$)(.*)", 1)
		if out == m {
			t.Fatal("examples/webpage/manifests.yaml: ingress path /webpage(/|$)(.*) not found")
		}
		return out
	}
	var docs []string
	for _, d := range strings.Split(m, "\n---\n") {
		if !strings.Contains(d, "kind: Ingress") {
			docs = append(docs, d)
		}
	}
	docs = append(docs, fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: webpage
spec:
  parentRefs:
    - name: %s
      namespace: %s
  rules:
    - matches:
        - path:
            type: PathPrefix
            value: /%s
      backendRefs:
        - name: webpage-service
          port: 8080
`, dataplane.GatewayName, dataplane.Namespace, f.name))
	return strings.Join(docs, "\n---\n")
}

// write writes the resource files of the fixture to a folder.
func (f fixture) write(t *testing.T) string {
	t.Helper()
	if f.ramp == 0 {
		f.ramp = 25
	}
	if f.batches == 0 {
		f.batches = 1
	}
	if f.delay == "" {
		f.delay = "0s"
	}
	params := "    - name: IMAGE_TAG\n"
	if f.faults {
		params += "    - name: ERROR_RATE\n      default: \"\"\n    - name: LATENCY\n      default: \"\"\n"
	}
	layout, route := "", "ingressName: webpage-ingress"
	if f.provider == v1alpha1.TrafficProviderNGINX {
		layout = "  ingressLayout: beside-production\n"
	} else {
		route = "httpRouteName: webpage"
	}
	stages := fmt.Sprintf(`    - name: shift-traffic-stage
      shiftTraffic:
        rampLimitPercent: %d
        batchCount: %d
        batchDelay: %s
    - name: approval-stage
      approval: {}
`, f.ramp, f.batches, f.delay)
	if f.stages != "" {
		stages = f.stages
	}
	dir := t.TempDir()
	files := map[string]string{
		"manifests.yaml": f.manifests(t),
		"environment.yaml": fmt.Sprintf(`apiVersion: fledge.dev/v1alpha1
kind: Environment
metadata:
  name: local
spec:
  kubeconfig:
    path: %s
%s`, cluster.Kubeconfig(), layout),
		"artifact.yaml": `apiVersion: fledge.dev/v1alpha1
kind: Artifact
metadata:
  name: webpage-manifest
spec:
  file: manifests.yaml
`,
		"pipeline.yaml": fmt.Sprintf(`apiVersion: fledge.dev/v1alpha1
kind: Pipeline
metadata:
  name: %s
spec:
  parameters:
%s  stages:
    - name: canary-deploy-stage
      canaryDeployment:
        environment: local
        artifacts: [webpage-manifest]
        namespace: %s
        %s
        testerCookie: %s
        rolloutTimeout: 90s
%s    - name: switch-to-production-stage
      productionRelease:
        namespace: %s
        rolloutTimeout: 90s
`, f.pipeline(), params, f.canaryNS(), route, testerCookie, stages, f.prodNS()),
	}
	for name, body := range f.files {
		files[name] = body
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// kubectl runs the cluster's kubectl and returns stdout; fails the test on
// an error unless allowErr.
func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := cluster.Kubectl(context.Background(), args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func kubectlErr(args ...string) (string, error) {
	return cluster.Kubectl(context.Background(), args...)
}

// releaseProduction takes f's pipeline through a first release of tag,
// approved, and waits until only tag is served.
func releaseProduction(t *testing.T, s *server, f fixture, tag string) {
	t.Helper()
	d := s.run("ci", f.pipeline(), "IMAGE_TAG="+tag)
	s.waitStatus(d.ID, 2*time.Minute, v1alpha1.StatusWaitingForApproval)
	s.fledge("alice", "approve", strconv.FormatInt(d.ID, 10))
	s.waitStatus(d.ID, 2*time.Minute, v1alpha1.StatusSucceeded)
	converge(t, f, "", 30*time.Second, "production "+tag+" served", only(tag))
}

// startSteady sends rate requests per second of f's path until the
// returned stop is called (the test's end calls it otherwise), which
// returns the counts.
func startSteady(t *testing.T, f fixture, rate int) (stop func() (dataplane.Result, error)) {
	t.Helper()
	return startLoad(t, dataplane.Request{Path: f.path()}, rate)
}

// startLoad is startSteady for any request.
func startLoad(t *testing.T, r dataplane.Request, rate int) (stop func() (dataplane.Result, error)) {
	t.Helper()
	load, err := plane.StartSteady(r, rate)
	if err != nil {
		t.Fatal(err)
	}
	var (
		once sync.Once
		res  dataplane.Result
	)
	stop = func() (dataplane.Result, error) {
		once.Do(func() { res, err = load.Stop() })
		return res, err
	}
	t.Cleanup(func() { _, _ = stop() })
	return stop
}
