// Package dataplane runs a real data plane in front of the kwok pods of a
// local control plane, for tests that measure how requests are split:
//
//   - a network namespace (`ip netns add`) where 10.244.0.0/16 (pod IPs) and
//     10.0.0.0/24 (Service ClusterIPs) are local addresses, so that traffic
//     to them never leaves it;
//   - the agent (./agent, built by the caller), which binds every pod IP and
//     port of the watched namespaces and answers with the pod's version,
//     binds Service ClusterIPs like kube-proxy, names the Services in the
//     namespace's /etc/hosts, and bridges the API server into the namespace
//     through a unix socket;
//   - Traefik (built by hack/build-traefik.sh) with its ingress-nginx and
//     Gateway API providers, with a GatewayClass and a Gateway;
//   - a load client (the agent in load mode) that counts answers per
//     version.
//
// Everything is removed by Stop, the namespace included.
package dataplane

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"fledge.dev/fledge/internal/gatewaycrd"

	"golang.org/x/sys/unix"
	"k8s.io/client-go/tools/clientcmd"
)

// Pinned versions of the data plane.
const (
	TraefikVersion    = "v3.7.13"
	GatewayAPIVersion = gatewaycrd.Version
)

// Names of what Start creates in the cluster.
const (
	// Namespace holds the Gateway.
	Namespace = "fledge-dataplane"
	// GatewayClassName is Traefik's GatewayClass.
	GatewayClassName = "fledge-traefik"
	// GatewayName is the Gateway routes attach to (in Namespace).
	GatewayName = "fledge-gateway"
	// TraefikController is Traefik's Gateway API controller name.
	TraefikController = "traefik.io/gateway-controller"
)

// Addresses inside the network namespace.
const (
	webPort     = 8000
	apiPort     = 8081
	metricsPort = 8082
)

// HistogramBuckets are the upper bounds (seconds) of Traefik's request
// duration histograms on this data plane: finer than Traefik's default
// (0.1, 0.3, 1.2, 5) so that a p99 a few hundred milliseconds apart shows.
var HistogramBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Errors of Start, matched with errors.Is.
var (
	// ErrNotPermitted means network namespaces cannot be created here (not
	// root, no `ip`, or the kernel refuses).
	ErrNotPermitted = errors.New("network namespaces are not permitted here")
	// ErrTraefikMissing means the Traefik binary is not built.
	ErrTraefikMissing = errors.New("traefik binary missing: run hack/build-traefik.sh (about 4 minutes once)")
)

// TraefikBinary is where hack/build-traefik.sh puts Traefik:
// $FLEDGE_TRAEFIK_BIN, else traefik-<version>/traefik under
// $FLEDGE_CACHE or $(go env GOCACHE)/fledge.
func TraefikBinary() string {
	if p := os.Getenv("FLEDGE_TRAEFIK_BIN"); p != "" {
		return p
	}
	root := os.Getenv("FLEDGE_CACHE")
	if root == "" {
		out, err := goCommand("", "env", "GOCACHE").Output()
		if err != nil {
			return ""
		}
		root = filepath.Join(strings.TrimSpace(string(out)), "fledge")
	}
	return filepath.Join(root, "traefik-"+TraefikVersion, "traefik")
}

// Check reports what is missing to start a data plane: the Traefik binary
// or the right to create network namespaces.
func Check() error {
	bin := TraefikBinary()
	if fi, err := os.Stat(bin); err != nil || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%w (looked for %s)", ErrTraefikMissing, bin)
	}
	name := "fledge-check-" + randomHex(3)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return fmt.Errorf("%w: ip netns add: %v: %s", ErrNotPermitted, err, bytes.TrimSpace(out))
	}
	if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns del %s: %v: %s", name, err, bytes.TrimSpace(out))
	}
	return nil
}

// Options configures a data plane.
type Options struct {
	// Kubeconfig is an admin kubeconfig of the cluster, whose server is on
	// the host's loopback.
	Kubeconfig string
	// Namespaces are those whose pods and Services the agent serves.
	Namespaces []string
	// AgentBin is the built ./agent command.
	AgentBin string
	// TraefikBin defaults to TraefikBinary().
	TraefikBin string
	// Dir holds the logs and the bridge's socket; it must exist.
	Dir string
	// Logf reports progress; default: nothing.
	Logf func(format string, args ...any)
}

// Plane is a running data plane.
type Plane struct {
	opts  Options
	netns string
	// listeners are the bridge's socket and the exposed addresses.
	listeners []net.Listener
	metrics   string
	wg        sync.WaitGroup

	mu    sync.Mutex
	procs []*proc
}

// proc is one process started in the namespace.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// Start creates the namespace, starts the agent and Traefik, and returns
// once Traefik answers. Installing the Gateway API CRDs and the Gateway is
// InstallGatewayAPI's job, done before. On failure everything started is
// stopped.
func Start(ctx context.Context, opts Options) (_ *Plane, err error) {
	if opts.TraefikBin == "" {
		opts.TraefikBin = TraefikBinary()
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	p := &Plane{opts: opts, netns: "fledge-dp-" + randomHex(4)}
	defer func() {
		if err != nil {
			p.Stop()
		}
	}()
	apiAddr, err := apiServerAddr(opts.Kubeconfig)
	if err != nil {
		return nil, err
	}
	if err := p.createNetns(); err != nil {
		return nil, err
	}
	if err := p.startBridge(apiAddr); err != nil {
		return nil, err
	}

	ready := filepath.Join(opts.Dir, "agent.ready")
	_ = os.Remove(ready)
	if err := p.start("agent", nil, opts.AgentBin, "serve",
		"--kubeconfig", opts.Kubeconfig,
		"--namespaces", strings.Join(opts.Namespaces, ","),
		"--bridge-listen", apiAddr,
		"--bridge-socket", p.socket(),
		"--ready-file", ready,
	); err != nil {
		return nil, err
	}
	if err := p.waitFor(ctx, "agent ready", 30*time.Second, func() error {
		_, err := os.Stat(ready)
		return err
	}); err != nil {
		return nil, err
	}

	buckets := make([]string, len(HistogramBuckets))
	for i, b := range HistogramBuckets {
		buckets[i] = fmt.Sprint(b)
	}
	if err := p.start("traefik", []string{"KUBECONFIG=" + opts.Kubeconfig}, opts.TraefikBin,
		fmt.Sprintf("--entryPoints.web.address=127.0.0.1:%d", webPort),
		// Without asDefault the Ingress routers attach to the metrics entry
		// point too and serve the application there.
		"--entryPoints.web.asDefault=true",
		fmt.Sprintf("--entryPoints.traefik.address=127.0.0.1:%d", apiPort),
		fmt.Sprintf("--entryPoints.metrics.address=127.0.0.1:%d", metricsPort),
		"--metrics.prometheus=true",
		"--metrics.prometheus.entryPoint=metrics",
		"--metrics.prometheus.addEntryPointsLabels=true",
		"--metrics.prometheus.addRoutersLabels=true",
		"--metrics.prometheus.addServicesLabels=true",
		"--metrics.prometheus.buckets="+strings.Join(buckets, ","),
		"--api.insecure=true", "--api.dashboard=false",
		"--providers.kubernetesIngressNGINX=true",
		"--providers.kubernetesGateway=true",
		"--providers.providersThrottleDuration=200ms",
		"--log.level=INFO",
	); err != nil {
		return nil, err
	}
	if err := p.waitFor(ctx, "traefik API", 30*time.Second, func() error {
		_, err := p.TraefikAPI(ctx, "/api/overview")
		return err
	}); err != nil {
		return nil, err
	}
	if p.metrics, err = p.expose(fmt.Sprintf("127.0.0.1:%d", metricsPort)); err != nil {
		return nil, err
	}
	opts.Logf("data plane up in network namespace %s (logs in %s), Traefik's metrics at http://%s/metrics", p.netns, opts.Dir, p.metrics)
	return p, nil
}

// MetricsAddr is the host:port, on the host's loopback, of Traefik's
// Prometheus metrics (path /metrics), for a Prometheus outside the
// namespace to scrape.
func (p *Plane) MetricsAddr() string { return p.metrics }

// socket is the bridge's unix socket.
func (p *Plane) socket() string { return filepath.Join(p.opts.Dir, "apiserver.sock") }

// createNetns makes the namespace with lo up and the pod and Service
// ranges local, and its own hosts file.
func (p *Plane) createNetns() error {
	if out, err := exec.Command("ip", "netns", "add", p.netns).CombinedOutput(); err != nil {
		p.netns = ""
		return fmt.Errorf("%w: ip netns add: %v: %s", ErrNotPermitted, err, bytes.TrimSpace(out))
	}
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"route", "add", "local", "10.244.0.0/16", "dev", "lo", "table", "local"},
		{"route", "add", "local", "10.0.0.0/24", "dev", "lo", "table", "local"},
	} {
		full := append([]string{"netns", "exec", p.netns, "ip"}, args...)
		if out, err := exec.Command("ip", full...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(full, " "), err, bytes.TrimSpace(out))
		}
	}
	// `ip netns exec` bind-mounts /etc/netns/NAME/* over /etc: the agent
	// writes the Services' names into this hosts file.
	dir := filepath.Join("/etc/netns", p.netns)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	return os.WriteFile(filepath.Join(dir, "hosts"), []byte("127.0.0.1 localhost\n"), 0o644)
}

// startBridge connects the socket to the API server on the host.
func (p *Plane) startBridge(apiAddr string) error {
	_ = os.Remove(p.socket())
	ln, err := net.Listen("unix", p.socket())
	if err != nil {
		return fmt.Errorf("bridge socket: %w", err)
	}
	p.forward(ln, func() (net.Conn, error) { return net.DialTimeout("tcp", apiAddr, 5*time.Second) })
	return nil
}

// expose makes addr, a TCP address inside the namespace, reachable at the
// returned address on the host's loopback.
func (p *Plane) expose(addr string) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("expose %s: %w", addr, err)
	}
	p.forward(ln, func() (net.Conn, error) { return p.dialInside(addr) })
	return ln.Addr().String(), nil
}

// forward connects every connection accepted on ln to one made by dial,
// until ln is closed (by Stop).
func (p *Plane) forward(ln net.Listener, dial func() (net.Conn, error)) {
	p.mu.Lock()
	p.listeners = append(p.listeners, ln)
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				s, err := dial()
				if err != nil {
					p.opts.Logf("forward from %s: %v", ln.Addr(), err)
					return
				}
				defer s.Close()
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(s, c); done <- struct{}{} }()
				go func() { _, _ = io.Copy(c, s); done <- struct{}{} }()
				<-done
			}()
		}
	}()
}

// dialInside connects to addr inside the namespace: the socket is made on
// a thread that entered the namespace. That thread is locked and never
// unlocked, so the runtime ends it with the goroutine instead of reusing
// it elsewhere.
func (p *Plane) dialInside(addr string) (net.Conn, error) {
	type dialed struct {
		c   net.Conn
		err error
	}
	ch := make(chan dialed, 1)
	go func() {
		runtime.LockOSThread()
		path := filepath.Join("/run/netns", p.netns)
		f, err := os.Open(path)
		if err != nil {
			ch <- dialed{err: fmt.Errorf("open network namespace: %w", err)}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- dialed{err: fmt.Errorf("enter network namespace %s: %w", path, err)}
			return
		}
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			err = fmt.Errorf("dial %s in network namespace %s: %w", addr, p.netns, err)
		}
		ch <- dialed{c: c, err: err}
	}()
	d := <-ch
	return d.c, d.err
}

// start runs bin in the namespace, its output in Dir/name.log.
func (p *Plane) start(name string, env []string, bin string, args ...string) error {
	logPath := filepath.Join(p.opts.Dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", p.netns, bin}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	pr := &proc{name: name, cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(pr.done)
	}()
	p.mu.Lock()
	p.procs = append(p.procs, pr)
	p.mu.Unlock()
	return nil
}

// waitFor polls check until it succeeds, a process dies, or timeout.
func (p *Plane) waitFor(ctx context.Context, what string, timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if last = check(); last == nil {
			return nil
		}
		if err := p.dead(); err != nil {
			return fmt.Errorf("wait for %s: %w", what, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("wait for %s: not ready after %s: %w", what, timeout, last)
}

// dead returns an error naming a process that exited, with its log's end.
func (p *Plane) dead() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pr := range p.procs {
		select {
		case <-pr.done:
			return fmt.Errorf("%s exited (%v); log %s:\n%s", pr.name, pr.cmd.ProcessState, pr.log, tail(pr.log, 30))
		default:
		}
	}
	return nil
}

// Logs returns the end of every process's log, for a failing test.
func (p *Plane) Logs(lines int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for _, pr := range p.procs {
		fmt.Fprintf(&b, "--- %s (%s)\n%s\n", pr.name, pr.log, tail(pr.log, lines))
	}
	return b.String()
}

// Stop ends every process, the bridge and the namespace. It is safe to
// call more than once.
func (p *Plane) Stop() {
	p.mu.Lock()
	procs := p.procs
	p.procs = nil
	p.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		pr := procs[i]
		_ = syscall.Kill(-pr.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-pr.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-pr.cmd.Process.Pid, syscall.SIGKILL)
			<-pr.done
		}
	}
	p.mu.Lock()
	listeners := p.listeners
	p.listeners = nil
	p.mu.Unlock()
	for _, ln := range listeners {
		ln.Close()
	}
	p.wg.Wait()
	if p.netns != "" {
		if out, err := exec.Command("ip", "netns", "del", p.netns).CombinedOutput(); err != nil {
			p.opts.Logf("ip netns del %s: %v: %s", p.netns, err, bytes.TrimSpace(out))
		}
		_ = os.RemoveAll(filepath.Join("/etc/netns", p.netns))
		p.netns = ""
	}
}

// exec runs the agent in the namespace and returns its standard output.
func (p *Plane) exec(ctx context.Context, stdin io.Reader, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", p.netns, p.opts.AgentBin}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, &errb
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("agent %s: %w: %s", args[0], err, bytes.TrimSpace(errb.Bytes()))
	}
	return out.Bytes(), nil
}

// TraefikAPI GETs path of Traefik's API (such as /api/http/services).
func (p *Plane) TraefikAPI(ctx context.Context, path string) (string, error) {
	out, err := p.exec(ctx, nil, "get", "--url", fmt.Sprintf("http://127.0.0.1:%d%s", apiPort, path))
	return string(out), err
}

// Result counts the answers of a load: the 2xx ones per version, per HTTP
// status, the non-2xx answers (per version that answered them, "" when
// the data plane did) and the connection errors.
type Result struct {
	Total    int            `json:"total"`
	Versions map[string]int `json:"versions"`
	Status   map[string]int `json:"status"`
	Non2xx   int            `json:"non2xx"`
	Failed   map[string]int `json:"failed"`
	Errors   int            `json:"errors"`
	Samples  []string       `json:"samples,omitempty"`
	Seconds  float64        `json:"seconds"`
}

// Share is the fraction of the answers that came from version v.
func (r Result) Share(v string) float64 {
	if r.Total == 0 {
		return 0
	}
	return float64(r.Versions[v]) / float64(r.Total)
}

func (r Result) String() string {
	return fmt.Sprintf("%d requests in %.2fs: versions %v, status %v, %d non-2xx, %d errors %v",
		r.Total, r.Seconds, r.Versions, r.Status, r.Non2xx, r.Errors, r.Samples)
}

// Request describes the requests of a load.
type Request struct {
	// Path on the web entry point, like "/webpage/".
	Path string
	// Header, when set, is sent with every request ("Name: value").
	Header string
}

func (p *Plane) loadArgs(r Request) []string {
	args := []string{"load", "--url", fmt.Sprintf("http://127.0.0.1:%d%s", webPort, r.Path)}
	if r.Header != "" {
		args = append(args, "--header", r.Header)
	}
	return args
}

// Load sends n requests (8 at a time) through Traefik and counts the
// answers.
func (p *Plane) Load(ctx context.Context, r Request, n int) (Result, error) {
	out, err := p.exec(ctx, nil, append(p.loadArgs(r), "--n", fmt.Sprint(n))...)
	if err != nil {
		return Result{}, err
	}
	var res Result
	if err := json.Unmarshal(out, &res); err != nil {
		return res, fmt.Errorf("decode load result %q: %w", out, err)
	}
	return res, nil
}

// Steady is a load at a steady rate, running until Stop.
type Steady struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   bytes.Buffer
	errb  bytes.Buffer
}

// StartSteady sends rate requests per second until Stop is called.
func (p *Plane) StartSteady(r Request, rate int) (*Steady, error) {
	s := &Steady{}
	s.cmd = exec.Command("ip", append([]string{"netns", "exec", p.netns, p.opts.AgentBin}, append(p.loadArgs(r), "--rate", fmt.Sprint(rate))...)...)
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.errb
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	in, err := s.cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	s.stdin = in
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start steady load: %w", err)
	}
	return s, nil
}

// Stop ends the load (closing its standard input) and returns its counts.
func (s *Steady) Stop() (Result, error) {
	_ = s.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		err = <-done
	}
	if err != nil {
		return Result{}, fmt.Errorf("steady load: %w: %s", err, bytes.TrimSpace(s.errb.Bytes()))
	}
	var res Result
	if err := json.Unmarshal(s.out.Bytes(), &res); err != nil {
		return res, fmt.Errorf("decode steady load result %q: %w", s.out.String(), err)
	}
	return res, nil
}

// apiServerAddr is the host:port of the kubeconfig's server.
func apiServerAddr(kubeconfig string) (string, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return "", fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	u, err := url.Parse(cfg.Host)
	if err != nil {
		return "", fmt.Errorf("server %q: %w", cfg.Host, err)
	}
	return u.Host, nil
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// goCommand is the go command, never downloading a toolchain.
func goCommand(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOFLAGS=-mod=mod")
	return cmd
}
