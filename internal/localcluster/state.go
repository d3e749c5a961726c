package localcluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// stateVersion is bumped when the state file's meaning changes.
const stateVersion = 1

// state is the content of Dir/state.json: enough to find, inspect and stop a
// cluster from another process.
type state struct {
	Version        int        `json:"version"`
	Dir            string     `json:"dir"`
	OwnDir         bool       `json:"own_dir"`
	KeepDir        bool       `json:"keep_dir"`
	Detached       bool       `json:"detached"`
	BinDir         string     `json:"bin_dir"`
	Kubeconfig     string     `json:"kubeconfig"`
	Server         string     `json:"server"`
	Ports          ports      `json:"ports"`
	StartedAt      time.Time  `json:"started_at"`
	StartupSeconds float64    `json:"startup_seconds,omitempty"`
	Processes      []*process `json:"processes"`
}

// StatePath returns the path of the state file of a cluster in dir.
func StatePath(dir string) string { return filepath.Join(dir, stateFileName) }

func (c *Cluster) writeState() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writeStateLocked()
}

// writeStateLocked replaces the state file atomically, so a reader never
// sees half of it.
func (c *Cluster) writeStateLocked() error {
	st := state{
		Version:        stateVersion,
		Dir:            c.dir,
		OwnDir:         c.ownDir,
		KeepDir:        c.keepDir,
		Detached:       c.detached,
		BinDir:         c.binDir,
		Kubeconfig:     c.kubeconfig,
		Server:         c.Server(),
		Ports:          c.ports,
		StartedAt:      c.startedAt,
		StartupSeconds: c.startup.Seconds(),
		Processes:      c.procs,
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	tmp := StatePath(c.dir) + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := os.Rename(tmp, StatePath(c.dir)); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// Load finds the cluster recorded in dir's state file, typically one started
// by StartDetached in another process. The returned Cluster can report its
// status, restart kube-apiserver and Stop it. A missing state file yields an
// error matching os.ErrNotExist. A nil logger discards.
func Load(dir string, logger *slog.Logger) (*Cluster, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("cluster dir: %w", err)
	}
	st, err := readState(abs)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c := &Cluster{
		logger:  logger,
		binDir:  st.BinDir,
		dir:     abs,
		ownDir:  st.OwnDir,
		keepDir: st.KeepDir,
		// Whatever started it may be gone: a restarted component must not
		// depend on this process either.
		detached:   true,
		stopGrace:  Options{}.WithDefaults().StopGrace,
		ports:      st.Ports,
		kubeconfig: st.Kubeconfig,
		startedAt:  st.StartedAt,
		startup:    time.Duration(st.StartupSeconds * float64(time.Second)),
		procs:      st.Processes,
	}
	if err := c.loadClient(); err != nil {
		return nil, fmt.Errorf("load local cluster: %w", err)
	}
	return c, nil
}

// readState reads and checks dir's state file; a missing one yields an
// error matching os.ErrNotExist.
func readState(dir string) (*state, error) {
	f, err := os.Open(StatePath(dir))
	if err != nil {
		return nil, fmt.Errorf("load local cluster: %w", err)
	}
	defer f.Close()
	var st state
	if err := json.NewDecoder(io.LimitReader(f, 1<<20)).Decode(&st); err != nil {
		return nil, fmt.Errorf("load local cluster: decode %s: %w", StatePath(dir), err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("load local cluster: %s has version %d, want %d", StatePath(dir), st.Version, stateVersion)
	}
	return &st, nil
}

// StopDir stops the cluster recorded in dir and removes its files, as
// Cluster.Stop does. A dir without a state file is an error matching
// os.ErrNotExist.
func StopDir(dir string, logger *slog.Logger) error {
	c, err := Load(dir, logger)
	if err != nil {
		return err
	}
	return c.Stop()
}

// Status is a snapshot of a cluster's health.
type Status struct {
	Dir        string
	Kubeconfig string
	Server     string
	StartedAt  time.Time
	Components []ComponentStatus
	// APIServerReady is true when /readyz answers ok.
	APIServerReady bool
	// NodeReady is true when NodeName is Ready and untainted.
	NodeReady bool
	// Problems says, in words, what is not healthy.
	Problems []string
}

// Healthy reports whether every component runs and the API server and node
// are ready.
func (s Status) Healthy() bool { return len(s.Problems) == 0 }

// ComponentStatus is one process of a cluster.
type ComponentStatus struct {
	Name    string
	PID     int
	Running bool
	LogPath string
}

// Status checks every component's process, the API server's /readyz and
// the node's readiness.
func (c *Cluster) Status(ctx context.Context) Status {
	s := Status{Dir: c.dir, Kubeconfig: c.kubeconfig, Server: c.Server(), StartedAt: c.startedAt}
	c.mu.Lock()
	for _, p := range c.procs {
		running := p.running()
		s.Components = append(s.Components, ComponentStatus{Name: p.Name, PID: p.PID, Running: running, LogPath: p.LogPath})
		if !running {
			s.Problems = append(s.Problems, fmt.Sprintf("%s (pid %d) is not running; see %s", p.Name, p.PID, p.LogPath))
		}
	}
	c.mu.Unlock()

	if err := c.apiServerReady(ctx); err != nil {
		s.Problems = append(s.Problems, "kube-apiserver not ready: "+err.Error())
		return s
	}
	s.APIServerReady = true
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	node, err := c.clientset.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
	switch {
	case err != nil:
		s.Problems = append(s.Problems, fmt.Sprintf("get node %s: %v", NodeName, err))
	case !nodeReady(node):
		s.Problems = append(s.Problems, fmt.Sprintf("node %s is not Ready (or still tainted not-ready)", NodeName))
	default:
		s.NodeReady = true
	}
	return s
}
