package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

// image is the image of the walkthrough's web page; tags vary per release.
const image = "registry.example.com/webpage:"

// httpClient talks to the Fledge servers; it keeps enough idle connections
// for the concurrent phases.
var httpClient = &http.Client{
	Timeout:   time.Minute,
	Transport: &http.Transport{MaxIdleConnsPerHost: 128, MaxConnsPerHost: 128},
}

// fledgeServer is a `fledge serve` subprocess with its defaults (poll
// interval, lease TTL, step timeouts), as a user would run it.
type fledgeServer struct {
	url     string
	db      string
	logPath string
	pprof   string
	bin     string
	// token is the admin token the server was bootstrapped with; empty
	// for a fledge without authentication (then the user header names
	// the caller).
	token string
	cmd   *exec.Cmd
	done  chan struct{}
}

// supportsTokens reports whether the fledge binary authenticates API
// calls with tokens (`fledge serve --bootstrap-token-file`).
func supportsTokens(bin string) bool {
	out, _ := exec.Command(bin, "serve", "--help").CombinedOutput() //nolint:gosec // our own binary
	return strings.Contains(string(out), "--bootstrap-token-file")
}

// newToken returns a random API token.
func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "fledge-bench-" + hex.EncodeToString(b), nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startFledge starts a server on a new SQLite file in dir (or the store
// db, if set), with the extra flags of `fledge serve`.
func (b *bench) startFledge(ctx context.Context, dir, db string, extra ...string) (*fledgeServer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	if db == "" {
		db = filepath.Join(dir, "fledge.db")
	}
	s := &fledgeServer{url: "http://" + addr, db: db, logPath: filepath.Join(dir, "serve.log"), bin: b.fledgeBin}
	args := []string{"serve", "--listen", addr, "--store", db}
	if supportsTokens(b.fledgeBin) {
		// Authentication on, as by default: the bench is the admin.
		tokenFile := filepath.Join(dir, "admin.token")
		if data, err := os.ReadFile(tokenFile); err == nil {
			s.token = strings.TrimSpace(string(data)) // a restart on the same store
		} else {
			if s.token, err = newToken(); err != nil {
				return nil, err
			}
			if err := os.WriteFile(tokenFile, []byte(s.token+"\n"), 0o600); err != nil {
				return nil, err
			}
		}
		args = append(args, "--bootstrap-token-file", tokenFile)
	}
	if b.o.pprof {
		if s.pprof, err = freeAddr(); err != nil {
			return nil, err
		}
		args = append(args, "--pprof-listen", s.pprof)
	}
	args = append(args, extra...)
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	s.cmd = exec.Command(b.fledgeBin, args...) //nolint:gosec // our own binary
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start fledge serve: %w", err)
	}
	s.done = make(chan struct{})
	go func() { _ = s.cmd.Wait(); logf.Close(); close(s.done) }()
	err = poll(ctx, 30*time.Second, 50*time.Millisecond, func(ctx context.Context) (bool, error) {
		select {
		case <-s.done:
			return false, fmt.Errorf("fledge serve exited at start; log %s", s.logPath)
		default:
		}
		resp, err := httpClient.Get(s.url + "/readyz")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// stop ends the server with SIGTERM (SIGKILL after 15 s).
func (s *fledgeServer) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// rss returns the server's resident and peak resident memory in MiB, from
// /proc/PID/status.
func (s *fledgeServer) rss() (cur, peak float64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			cur = kb / 1024
		case "VmHWM:":
			peak = kb / 1024
		}
	}
	return cur, peak, nil
}

// cli runs the fledge CLI against the server as user (with the admin
// token when the server has authentication).
func (s *fledgeServer) cli(ctx context.Context, user string, args ...string) (string, error) {
	full := append([]string{"--server", s.url, "--user", user}, args...)
	if s.token != "" {
		full = append([]string{"--server", s.url, "--token", s.token}, args...)
	}
	cmd := exec.CommandContext(ctx, s.bin, full...) //nolint:gosec // our own binary
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("fledge %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// run starts a pipeline through the CLI and returns the new deployment.
func (s *fledgeServer) run(ctx context.Context, pipeline, tag string) (v1alpha1.Deployment, error) {
	var d v1alpha1.Deployment
	out, err := s.cli(ctx, "ci", "run", pipeline, "-o", "json", "--param", "IMAGE_TAG="+tag)
	if err != nil {
		return d, err
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		return d, fmt.Errorf("fledge run -o json: %w: %s", err, out)
	}
	return d, nil
}

// getJSON GETs an API path into out.
func (s *fledgeServer) getJSON(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+path, nil)
	if err != nil {
		return err
	}
	s.authorize(req, "bench")
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, body)
	}
	return json.Unmarshal(body, out)
}

// post sends a JSON POST as user and returns the status code.
func (s *fledgeServer) post(ctx context.Context, path, user string, body any, out any) (int, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+path, bytes.NewReader(data))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	s.authorize(req, user)
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("POST %s: %s: %s", path, resp.Status, raw)
	}
	if out != nil {
		return resp.StatusCode, json.Unmarshal(raw, out)
	}
	return resp.StatusCode, nil
}

// authorize sets the request's credentials: the admin token, or the user
// header for a server without authentication.
func (s *fledgeServer) authorize(req *http.Request, user string) {
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
		return
	}
	req.Header.Set(v1alpha1.UserHeader, user)
}

func (s *fledgeServer) deployment(ctx context.Context, id int64) (v1alpha1.Deployment, error) {
	var d v1alpha1.Deployment
	err := s.getJSON(ctx, fmt.Sprintf("/api/v1/deployments/%d", id), &d)
	return d, err
}

// waitStatus polls the API until the deployment has status want; a final
// status other than want is an error.
func (s *fledgeServer) waitStatus(ctx context.Context, id int64, timeout time.Duration, want v1alpha1.DeploymentStatus) (time.Time, error) {
	var last v1alpha1.Deployment
	at, err := waitUntil(ctx, timeout, fmt.Sprintf("deployment %d %s", id, want), func(ctx context.Context) (bool, error) {
		d, err := s.deployment(ctx, id)
		if err != nil {
			return false, err
		}
		last = d
		if d.Status != want && d.Status.Final() {
			return false, permanent(fmt.Errorf("deployment %d ended %s: %s", id, d.Status, d.Message))
		}
		return d.Status == want, nil
	})
	if err != nil && last.Status.Final() && last.Status != want {
		return at, fmt.Errorf("deployment %d ended %s, want %s: %s (log %s)", id, last.Status, want, last.Message, s.logPath)
	}
	if err != nil {
		return at, fmt.Errorf("%w (status %s %s; log %s)", err, last.Status, last.Message, s.logPath)
	}
	return at, nil
}

// pipelineFixture is one pipeline of the walkthrough's shape.
type pipelineFixture struct {
	Name, Artifact, CanaryNS, ProdNS string
	Approval                         bool
	// OnePod sizes the canary to one pod per Deployment
	// (canaryDeployment.scale.replicas: 1), like Argo Rollouts' canary
	// at 25% of 3 replicas.
	OnePod bool
	// Pause, when set, makes the traffic shift a canarySteps stage: weight
	// 25, then a timed pause of this Go duration.
	Pause string
}

func (p pipelineFixture) yaml() string {
	approval := ""
	if p.Approval {
		approval = "    - name: approval-stage\n      approval:\n        approvalsRequired: 1\n        timeout: 24h\n"
	}
	scale := ""
	if p.OnePod {
		scale = "        scale:\n          replicas: 1\n"
	}
	shift := "    - name: shift-traffic-stage\n      shiftTraffic:\n        rampLimitPercent: 25\n        batchCount: 1\n"
	if p.Pause != "" {
		shift = "    - name: shift-traffic-stage\n      canarySteps:\n        steps:\n          - setWeight: 25\n          - pause: {duration: " + p.Pause + "}\n"
	}
	return fmt.Sprintf(`apiVersion: fledge.dev/v1alpha1
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
        environment: local
        artifacts: [%s]
        namespace: %s
        ingressName: webpage-ingress
        rolloutTimeout: 5m
%s%s%s    - name: switch-to-production-stage
      productionRelease:
        namespace: %s
        rolloutTimeout: 5m
`, p.Name, p.Artifact, p.CanaryNS, scale, shift, approval, p.ProdNS)
}

// walkthroughManifests returns the walkthrough's manifests with the given
// replica count.
func (b *bench) walkthroughManifests(replicas int) (string, error) {
	data, err := os.ReadFile(filepath.Join(b.root, "examples", "webpage", "manifests.yaml"))
	if err != nil {
		return "", err
	}
	m := string(data)
	if replicas != 3 {
		m = strings.Replace(m, "replicas: 3", fmt.Sprintf("replicas: %d", replicas), 1)
	}
	return m, nil
}

// applyFledgeResources writes the environment "local" (with the given
// NGINX ingress layout, "" for the default), the artifacts (name →
// manifests) and the pipelines into dir and applies them through the CLI.
func (b *bench) applyFledgeResources(ctx context.Context, s *fledgeServer, dir, layout string, artifacts map[string]string, pipes []pipelineFixture) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	env := fmt.Sprintf("apiVersion: fledge.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: local\nspec:\n  kubeconfig:\n    path: %s\n", b.cluster.Kubeconfig())
	if layout != "" {
		env += "  ingressLayout: " + layout + "\n"
	}
	files := map[string]string{"environment.yaml": env}
	for name, manifests := range artifacts {
		files[name+".manifests"] = manifests
		files["artifact-"+name+".yaml"] = fmt.Sprintf("apiVersion: fledge.dev/v1alpha1\nkind: Artifact\nmetadata:\n  name: %s\nspec:\n  file: %s.manifests\n", name, name)
	}
	var docs []string
	for _, p := range pipes {
		docs = append(docs, p.yaml())
	}
	files["pipelines.yaml"] = strings.Join(docs, "---\n")
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			return err
		}
	}
	_, err := s.cli(ctx, "ci", "apply", "-f", dir)
	return err
}

// profileCPU saves a CPU profile of the server over the next d into the
// work folder, when the bench runs with -pprof; it returns at once and the
// returned function waits for the profile.
func (b *bench) profileCPU(ctx context.Context, s *fledgeServer, name string, d time.Duration) (wait func()) {
	if s.pprof == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", s.pprof, int(d.Seconds()))
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return
		}
		resp, err := (&http.Client{Timeout: d + 30*time.Second}).Do(req)
		if err != nil {
			b.log.Warn("pprof", "error", err)
			return
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			return
		}
		path := filepath.Join(b.profileDir(), name+".pprof")
		if err := os.WriteFile(path, data, 0o600); err == nil {
			b.log.Info("cpu profile saved", "path", path, "view", "go tool pprof -top "+b.fledgeBin+" "+path)
		}
	}()
	return func() { <-done }
}

// profileDir is where profiles go: a "profiles" folder in the work folder
// (kept with -keep).
func (b *bench) profileDir() string {
	d := filepath.Join(b.work, "profiles")
	_ = os.MkdirAll(d, 0o700)
	return d
}
