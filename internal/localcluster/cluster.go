package localcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Names of the files and folders a cluster keeps in its Dir. Stop removes
// exactly these from a Dir it did not create.
const (
	pkiDirName     = "pki"
	etcdDirName    = "etcd"
	logDirName     = "logs"
	kubeconfigName = "kubeconfig"
	// kubectlCacheDirName holds kubectl's discovery and HTTP caches. Each
	// cluster has its own: kubectl keys its default cache (~/.kube/cache)
	// by host and port only, so a later cluster on a reused loopback port
	// would otherwise be described by an earlier one's stale discovery
	// (resource types that do not exist on it, in categories like "all").
	kubectlCacheDirName = "kubectl-cache"
	stateFileName       = "state.json"
)

// Cluster is a running local control plane. Its methods are safe for
// concurrent use.
type Cluster struct {
	logger    *slog.Logger
	binDir    string
	stages    string
	dir       string
	ownDir    bool // Dir was created by Start, so Stop may remove all of it
	keepDir   bool
	detached  bool
	stopGrace time.Duration
	ports     ports
	pki       *pki

	kubeconfig string
	restConfig *rest.Config
	clientset  kubernetes.Interface

	startedAt time.Time
	startup   time.Duration

	mu      sync.Mutex
	procs   []*process // in start order
	stopped bool
}

// ports are the loopback ports the cluster listens on.
type ports struct {
	EtcdClient int `json:"etcd_client"`
	EtcdPeer   int `json:"etcd_peer"`
	APIServer  int `json:"apiserver"`
	Kwok       int `json:"kwok"`
}

// Start starts a local control plane and returns once its node is Ready.
// The processes are children of this process: call Stop when done. On
// failure everything started is stopped and the logs are kept in Dir.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	return start(ctx, opts, false)
}

// StartDetached is Start for a cluster that outlives this process: every
// component runs in its own session. Find it again with Load(opts.Dir), stop
// it with StopDir or Load(...).Stop.
func StartDetached(ctx context.Context, opts Options) (*Cluster, error) {
	return start(ctx, opts, true)
}

func start(ctx context.Context, opts Options, detached bool) (*Cluster, error) {
	if err := supported(); err != nil {
		return nil, err
	}
	opts = opts.WithDefaults()
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("local cluster options: %w", err)
	}
	c := &Cluster{
		logger:    opts.Logger,
		keepDir:   opts.KeepDir,
		detached:  detached,
		stopGrace: opts.StopGrace,
		startedAt: time.Now(),
	}
	var err error
	if c.binDir, err = filepath.Abs(opts.BinDir); err != nil {
		return nil, fmt.Errorf("bin dir: %w", err)
	}
	if c.stages, err = filepath.Abs(opts.StagesFile); err != nil {
		return nil, fmt.Errorf("stages file: %w", err)
	}
	if err := c.prepareDir(opts.Dir); err != nil {
		return nil, err
	}

	ctx, cancel := context.WithTimeoutCause(ctx, opts.StartTimeout,
		fmt.Errorf("local cluster not ready within %s", opts.StartTimeout))
	defer cancel()
	if err := c.start(ctx); err != nil {
		c.abort()
		return nil, fmt.Errorf("start local cluster in %s: %w", c.dir, err)
	}
	return c, nil
}

// prepareDir creates the cluster directory, refusing one where a cluster
// still runs and clearing what a dead one left behind.
func (c *Cluster) prepareDir(dir string) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "fledge-localcluster-")
		if err != nil {
			return fmt.Errorf("create cluster dir: %w", err)
		}
		c.dir, c.ownDir = d, true
		return nil
	}
	d, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("cluster dir: %w", err)
	}
	c.dir = d
	st, err := readState(d)
	switch {
	case err == nil:
		var running []string
		for _, p := range st.Processes {
			if p.running() {
				running = append(running, fmt.Sprintf("%s pid %d", p.Name, p.PID))
			}
		}
		if len(running) > 0 {
			return fmt.Errorf("a local cluster already runs in %s (%s): stop it first", d, strings.Join(running, ", "))
		}
		// What a dead cluster left is useless: etcd would hold the old node
		// and the old certificates.
		if err := removeClusterFiles(d); err != nil {
			return err
		}
	case errors.Is(err, os.ErrNotExist):
		// Stop deletes what it believes a cluster made: never adopt a
		// folder holding anything else.
		if entries, _ := os.ReadDir(d); len(entries) > 0 {
			return fmt.Errorf("cluster dir %s is not empty and holds no local cluster (no %s): choose another", d, stateFileName)
		}
	default:
		return fmt.Errorf("%w; remove %s if no cluster runs there", err, StatePath(d))
	}
	if err := os.MkdirAll(d, 0o700); err != nil {
		return fmt.Errorf("create cluster dir: %w", err)
	}
	return nil
}

func (c *Cluster) start(ctx context.Context) error {
	ps, err := freePorts(4)
	if err != nil {
		return fmt.Errorf("pick ports: %w", err)
	}
	c.ports = ports{EtcdClient: ps[0], EtcdPeer: ps[1], APIServer: ps[2], Kwok: ps[3]}

	if c.pki, err = generatePKI(filepath.Join(c.dir, pkiDirName)); err != nil {
		return fmt.Errorf("generate pki: %w", err)
	}
	if err := c.writeKubeconfig(); err != nil {
		return err
	}
	if err := c.loadClient(); err != nil {
		return err
	}
	// From here on the state file marks the folder as a cluster's, and Load
	// and StopDir work on it.
	if err := c.writeState(); err != nil {
		return err
	}
	if err := os.MkdirAll(c.LogDir(), 0o700); err != nil {
		return fmt.Errorf("create log dir: %w", err)
	}

	etcd, err := c.startComponent(ComponentEtcd, c.etcdArgs())
	if err != nil {
		return err
	}
	if err := c.waitReady(ctx, etcd, c.etcdHealthy); err != nil {
		return err
	}
	apiserver, err := c.startComponent(ComponentAPIServer, c.apiServerArgs())
	if err != nil {
		return err
	}
	if err := c.waitReady(ctx, apiserver, c.apiServerReady); err != nil {
		return err
	}
	for _, comp := range []struct {
		name string
		args []string
	}{
		{ComponentControllerManager, c.controllerManagerArgs()},
		{ComponentScheduler, c.schedulerArgs()},
		{ComponentKwok, c.kwokArgs()},
	} {
		if _, err := c.startComponent(comp.name, comp.args); err != nil {
			return err
		}
	}
	if err := c.bootstrap(ctx); err != nil {
		return err
	}
	c.startup = time.Since(c.startedAt)
	if err := c.writeState(); err != nil {
		return err
	}
	c.logger.Info("local cluster ready", "startup", c.startup.Round(time.Millisecond).String(),
		"server", c.Server(), "kubeconfig", c.kubeconfig, "dir", c.dir)
	return nil
}

// abort stops whatever a failed start left running and drops etcd's data,
// keeping the logs (and the rest of Dir) for the error's reader. A start
// that failed before any process began leaves nothing behind.
func (c *Cluster) abort() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	if _, err := os.Stat(StatePath(c.dir)); errors.Is(err, os.ErrNotExist) {
		if err := c.removeFiles(); err != nil {
			c.logger.Warn("clean up after failed start", "error", err)
		}
		return
	}
	if err := c.stopLocked(context.Background()); err != nil {
		c.logger.Warn("stop after failed start", "error", err)
	}
	if err := os.RemoveAll(filepath.Join(c.dir, etcdDirName)); err != nil {
		c.logger.Warn("remove etcd data after failed start", "error", err)
	}
	c.logger.Info("local cluster start failed, logs kept", "log_dir", c.LogDir())
}

// freePorts asks the kernel for n distinct free loopback ports. They are
// released before use, so another process could take one in between; that
// shows up as a component failing to bind, with its log quoted.
func freePorts(n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	out := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

func (c *Cluster) etcdArgs() []string {
	client := "http://127.0.0.1:" + strconv.Itoa(c.ports.EtcdClient)
	peer := "http://127.0.0.1:" + strconv.Itoa(c.ports.EtcdPeer)
	return []string{
		"--name=fledge-local",
		"--data-dir=" + filepath.Join(c.dir, etcdDirName),
		"--listen-client-urls=" + client,
		"--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=fledge-local=" + peer,
		"--initial-cluster-state=new",
		"--unsafe-no-fsync",
	}
}

func (c *Cluster) apiServerArgs() []string {
	return []string{
		"--etcd-servers=http://127.0.0.1:" + strconv.Itoa(c.ports.EtcdClient),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(c.ports.APIServer),
		"--tls-cert-file=" + c.pki.servingCert,
		"--tls-private-key-file=" + c.pki.servingKey,
		"--client-ca-file=" + c.pki.caCert,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + c.pki.saPub,
		"--service-account-signing-key-file=" + c.pki.saKey,
		"--service-cluster-ip-range=10.0.0.0/24",
		"--authorization-mode=RBAC",
		"--allow-privileged=true",
		"--profiling=false",
		// The default reconciler would retry forever: the "kubernetes"
		// Endpoints may not hold a loopback address.
		"--endpoint-reconciler-type=none",
	}
}

func (c *Cluster) schedulerArgs() []string {
	return []string{
		"--kubeconfig=" + c.kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port=0",
		"--leader-elect=false",
	}
}

func (c *Cluster) controllerManagerArgs() []string {
	// The key and CA let the token controller fill each namespace's
	// "default" ServiceAccount.
	return append(c.schedulerArgs(),
		"--service-account-private-key-file="+c.pki.saKey,
		"--root-ca-file="+c.pki.caCert,
		// kwok's node heartbeat (the Lease it renews every 10 s, see
		// kwokArgs) can lag on a loaded 2-core machine; the default 50 s
		// grace would mark the fake node (and every pod on it) NotReady in
		// the middle of a test.
		"--node-monitor-grace-period=5m",
		// The controllers share one client, limited to 20 requests a
		// second by default: a few hundred rollouts at once (the replicas
		// benchmark's) queue behind it, and every system measured on this
		// cluster waits the same. A local control plane has no other
		// tenant to protect, so the limit is raised fivefold (the burst
		// from 30).
		"--kube-api-qps=100",
		"--kube-api-burst=200",
	)
}

func (c *Cluster) kwokArgs() []string {
	return []string{
		"--kubeconfig=" + c.kubeconfig,
		"--config=" + c.stages,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=" + NodeAnnotation + "=fake",
		"--cidr=10.244.0.0/16",
		"--node-ip=127.0.0.1",
		"--server-address=127.0.0.1:" + strconv.Itoa(c.ports.Kwok),
		// The node-heartbeat-with-lease stage patches the node's status only
		// every 10-20 minutes and leaves the liveness signal to a Lease that
		// kwok renews only when this is set (kwok's default 0 means no
		// lease). Without it the node lifecycle controller sees no heartbeat
		// for --node-monitor-grace-period, marks the node Unknown and every
		// pod on it Ready=False, and kwok's pod-ready stage (Pending pods
		// only) never makes those pods Ready again. 40 s is kwokctl's and
		// the kubelet's default; kwok renews every quarter of it.
		"--node-lease-duration-seconds=40",
		// Deprecated but working: pods so annotated keep the status a test
		// writes, e.g. an unready canary.
		"--disregard-status-with-annotation-selector=" + CustomStatusAnnotation + "=custom",
	}
}

// startComponent starts one binary, records it and rewrites the state file,
// so a cluster is stoppable from its directory at every step.
func (c *Cluster) startComponent(name string, args []string) (*process, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.startComponentLocked(name, args)
}

func (c *Cluster) startComponentLocked(name string, args []string) (*process, error) {
	logPath := filepath.Join(c.LogDir(), name+".log")
	p, err := startProcess(name, filepath.Join(c.binDir, name), args, logPath, c.detached)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	replaced := false
	for i, old := range c.procs {
		if old.Name == name {
			c.procs[i], replaced = p, true
		}
	}
	if !replaced {
		c.procs = append(c.procs, p)
	}
	c.logger.Info("started component", "component", name, "pid", p.PID, "log", logPath)
	if err := c.writeStateLocked(); err != nil {
		return nil, err
	}
	return p, nil
}

// waitReady polls ready until it succeeds, failing early when the process
// exits; every error names the component and quotes its log.
func (c *Cluster) waitReady(ctx context.Context, p *process, ready func(context.Context) error) error {
	begin := time.Now()
	var last error
	err := poll(ctx, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		if err := p.checkAlive(); err != nil {
			return false, err
		}
		last = ready(ctx)
		return last == nil, nil
	})
	if err != nil {
		var ce *ComponentError
		if errors.As(err, &ce) {
			return err
		}
		if last != nil {
			err = fmt.Errorf("not ready: %w (last check: %w)", err, last)
		}
		return p.componentError(err)
	}
	c.logger.Info("component ready", "component", p.Name, "wait", time.Since(begin).Round(time.Millisecond).String())
	return nil
}

func (c *Cluster) etcdHealthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		"http://127.0.0.1:"+strconv.Itoa(c.ports.EtcdClient)+"/health", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return fmt.Errorf("read /health: %w", err)
	}
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"health":"true"`)) {
		return fmt.Errorf("/health: %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	return nil
}

func (c *Cluster) apiServerReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	body, err := c.clientset.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("/readyz: %w", err)
	}
	if !bytes.Equal(bytes.TrimSpace(body), []byte("ok")) {
		return fmt.Errorf("/readyz: %s", bytes.TrimSpace(body))
	}
	return nil
}

func (c *Cluster) writeKubeconfig() error {
	cfg := clientcmdapi.NewConfig()
	const name = "fledge-local"
	cfg.Clusters[name] = &clientcmdapi.Cluster{
		Server:                   c.Server(),
		CertificateAuthorityData: c.pki.caPEM,
	}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{
		ClientCertificateData: c.pki.adminCertPEM,
		ClientKeyData:         c.pki.adminKeyPEM,
	}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name, Namespace: "default"}
	cfg.CurrentContext = name
	c.kubeconfig = filepath.Join(c.dir, kubeconfigName)
	if err := clientcmd.WriteToFile(*cfg, c.kubeconfig); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}

// loadClient builds the REST config and clientset from the kubeconfig.
func (c *Cluster) loadClient() error {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		return fmt.Errorf("load kubeconfig %s: %w", c.kubeconfig, err)
	}
	// A test cluster on loopback: no need for client-side throttling.
	cfg.QPS, cfg.Burst = 100, 200
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("build clientset: %w", err)
	}
	c.restConfig, c.clientset = cfg, cs
	return nil
}

// Dir is the folder holding the cluster's PKI, data, logs and state.
func (c *Cluster) Dir() string { return c.dir }

// LogDir is the folder holding one log file per component, named
// <component>.log.
func (c *Cluster) LogDir() string { return filepath.Join(c.dir, logDirName) }

// Kubeconfig is the path of an admin kubeconfig (O=system:masters) for the
// cluster, with the credentials embedded.
func (c *Cluster) Kubeconfig() string { return c.kubeconfig }

// Server is the API server's URL.
func (c *Cluster) Server() string { return "https://127.0.0.1:" + strconv.Itoa(c.ports.APIServer) }

// RESTConfig returns a copy of the admin client configuration.
func (c *Cluster) RESTConfig() *rest.Config { return rest.CopyConfig(c.restConfig) }

// Clientset returns an admin clientset for the cluster.
func (c *Cluster) Clientset() kubernetes.Interface { return c.clientset }

// KubectlPath is the kubectl built with the control plane; prefer it to one
// on PATH, which may be of another version.
func (c *Cluster) KubectlPath() string { return filepath.Join(c.binDir, "kubectl") }

// KubectlCacheDir is the cluster's own kubectl cache directory (pass it as
// --cache-dir or KUBECACHEDIR); it goes away with the cluster.
func (c *Cluster) KubectlCacheDir() string { return filepath.Join(c.dir, kubectlCacheDirName) }

// StartupDuration is how long Start took from its call to node Ready.
func (c *Cluster) StartupDuration() time.Duration { return c.startup }

// Kubectl runs the cluster's kubectl with the admin kubeconfig and returns
// its standard output; on failure the error carries its standard error.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) (string, error) {
	full := append([]string{"--kubeconfig=" + c.kubeconfig, "--cache-dir=" + c.KubectlCacheDir()}, args...)
	cmd := exec.CommandContext(ctx, c.KubectlPath(), full...) //nolint:gosec // our own kubectl
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// StopAPIServer stops only kube-apiserver, leaving etcd and the other
// components running, to simulate an API outage: SIGTERM (it stops
// listening at once), then SIGKILL after at most 3s or when ctx ends.
// StartAPIServer brings it back.
func (c *Cluster) StopAPIServer(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.procLocked(ComponentAPIServer)
	if p == nil {
		return errors.New("stop kube-apiserver: not started")
	}
	if err := p.stop(ctx, c.apiServerGrace()); err != nil {
		return fmt.Errorf("stop kube-apiserver: %w", err)
	}
	c.logger.Info("stopped component", "component", ComponentAPIServer)
	return nil
}

// StartAPIServer restarts kube-apiserver, stopped by StopAPIServer, with the
// same flags and port, and waits for it to be ready. Its log is appended to.
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return errors.New("start kube-apiserver: cluster stopped")
	}
	old := c.procLocked(ComponentAPIServer)
	if old == nil {
		c.mu.Unlock()
		return errors.New("start kube-apiserver: never started")
	}
	if old.running() {
		c.mu.Unlock()
		return fmt.Errorf("start kube-apiserver: already running (pid %d)", old.PID)
	}
	p, err := c.startComponentLocked(ComponentAPIServer, old.Args)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if err := c.waitReady(ctx, p, c.apiServerReady); err != nil {
		return fmt.Errorf("restart kube-apiserver: %w", err)
	}
	return nil
}

func (c *Cluster) procLocked(name string) *process {
	for _, p := range c.procs {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Stop stops every component (clients first, then kube-apiserver, then
// etcd), each with SIGTERM and, after the stop grace, SIGKILL. Then it
// removes the cluster's files, unless Options.KeepDir: all of Dir if Start
// created it, else only what the cluster put there. Stop is idempotent.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil
	}
	begin := time.Now()
	if err := c.stopLocked(context.Background()); err != nil {
		// Keep the state file: it is how a retry finds the survivors.
		return fmt.Errorf("stop local cluster in %s: %w", c.dir, err)
	}
	c.stopped = true
	c.logger.Info("local cluster stopped", "took", time.Since(begin).Round(time.Millisecond).String())
	if c.keepDir {
		return c.writeStateLocked()
	}
	return c.removeFiles()
}

func (c *Cluster) stopLocked(ctx context.Context) error {
	var clients, apiserver, etcd []*process
	for _, p := range c.procs {
		switch p.Name {
		case ComponentAPIServer:
			apiserver = append(apiserver, p)
		case ComponentEtcd:
			etcd = append(etcd, p)
		default:
			clients = append(clients, p)
		}
	}
	return errors.Join(
		stopAll(ctx, clients, c.stopGrace),
		stopAll(ctx, apiserver, c.apiServerGrace()),
		stopAll(ctx, etcd, c.stopGrace),
	)
}

// apiServerMaxGrace caps the API server's stop grace. On SIGTERM it stops
// listening at once, then waits up to its request timeout (60s) for open
// watches, which its clients never end; it holds no state of its own
// (etcd does), so a kill after a short wait loses nothing.
const apiServerMaxGrace = 3 * time.Second

func (c *Cluster) apiServerGrace() time.Duration {
	return min(c.stopGrace, apiServerMaxGrace)
}

// removeFiles deletes the cluster's files: all of Dir if Start created it,
// else only the entries a cluster makes, then Dir if that left it empty.
func (c *Cluster) removeFiles() error {
	if c.ownDir {
		if err := os.RemoveAll(c.dir); err != nil {
			return fmt.Errorf("remove cluster dir: %w", err)
		}
		return nil
	}
	if err := removeClusterFiles(c.dir); err != nil {
		return err
	}
	_ = os.Remove(c.dir) // only succeeds when empty, which is the point
	return nil
}

// removeClusterFiles removes from dir exactly the entries a cluster creates.
func removeClusterFiles(dir string) error {
	for _, name := range []string{etcdDirName, pkiDirName, logDirName, kubeconfigName, kubectlCacheDirName, stateFileName, stateFileName + ".tmp"} {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("remove %s from cluster dir: %w", name, err)
		}
	}
	return nil
}
