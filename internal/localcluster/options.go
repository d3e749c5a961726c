package localcluster

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// BinaryVersionKey names the pinned control-plane versions; it is the folder
// under the cache where hack/build-controlplane.sh puts its output.
const BinaryVersionKey = "k8s-v1.36.3-kwok-v0.8.0"

// Environment variables that locate the control-plane binaries.
const (
	// EnvBinDir overrides the folder holding the control-plane binaries.
	EnvBinDir = "FLEDGE_CONTROLPLANE_BIN"
	// EnvCache overrides the cache root, as it does for
	// hack/build-controlplane.sh (default: $(go env GOCACHE)/fledge).
	EnvCache = "FLEDGE_CACHE"
)

// Component names, as used in logs, errors, log file names and the state file.
const (
	ComponentEtcd              = "etcd"
	ComponentAPIServer         = "kube-apiserver"
	ComponentControllerManager = "kube-controller-manager"
	ComponentScheduler         = "kube-scheduler"
	ComponentKwok              = "kwok"
)

// binaries are the executables that must be in Options.BinDir.
var binaries = []string{
	ComponentEtcd, ComponentAPIServer, ComponentControllerManager,
	ComponentScheduler, "kubectl", ComponentKwok,
}

// ErrBinariesMissing is returned (wrapped) by Options.Validate and Start when
// the control-plane binaries have not been built.
var ErrBinariesMissing = errors.New("control plane binaries missing: run hack/build-controlplane.sh (takes about 12 minutes once)")

// Options configures a local cluster. The zero value plus WithDefaults is a
// working configuration once the binaries are built.
type Options struct {
	// BinDir holds etcd, kube-apiserver, kube-controller-manager,
	// kube-scheduler, kubectl and kwok. Default: $FLEDGE_CONTROLPLANE_BIN,
	// else the cache folder of hack/build-controlplane.sh.
	BinDir string
	// StagesFile is kwok's stages configuration. Default: kwok-stages.yaml
	// in the parent of BinDir, where the build script writes it.
	StagesFile string
	// Dir holds the cluster's PKI, etcd data, kubeconfig, logs and state
	// file. Default: a new temporary folder, removed by Stop.
	Dir string
	// KeepDir keeps everything in Dir when the cluster stops.
	KeepDir bool
	// Logger receives progress messages. Default: discard.
	Logger *slog.Logger
	// StartTimeout bounds Start, from the first process to node Ready.
	StartTimeout time.Duration
	// StopGrace is how long a process may take to exit after SIGTERM
	// before it gets SIGKILL.
	StopGrace time.Duration
}

// WithDefaults returns a copy of o with every unset field given its default.
func (o Options) WithDefaults() Options {
	if o.BinDir == "" {
		o.BinDir = DefaultBinDir()
	}
	if o.StagesFile == "" && o.BinDir != "" {
		o.StagesFile = filepath.Join(filepath.Dir(o.BinDir), "kwok-stages.yaml")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 3 * time.Minute
	}
	if o.StopGrace <= 0 {
		o.StopGrace = 15 * time.Second
	}
	return o
}

// Validate reports the first problem with o; binaries that are not built
// yield an error wrapping ErrBinariesMissing.
func (o Options) Validate() error {
	if o.BinDir == "" {
		return fmt.Errorf("no control plane bin dir (set %s): %w", EnvBinDir, ErrBinariesMissing)
	}
	var missing []string
	for _, b := range binaries {
		fi, err := os.Stat(filepath.Join(o.BinDir, b))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s not found in %s: %w", strings.Join(missing, ", "), o.BinDir, ErrBinariesMissing)
	}
	if fi, err := os.Stat(o.StagesFile); err != nil || fi.Size() == 0 {
		return fmt.Errorf("kwok stages file %s not found: %w", o.StagesFile, ErrBinariesMissing)
	}
	if o.StartTimeout <= 0 {
		return errors.New("start timeout must be positive")
	}
	if o.StopGrace <= 0 {
		return errors.New("stop grace must be positive")
	}
	return nil
}

// DefaultBinDir returns where the control-plane binaries are expected, in the
// order hack/build-controlplane.sh uses: $FLEDGE_CONTROLPLANE_BIN, else
// $FLEDGE_CACHE/controlplane/<version>/bin, else the same under
// $(go env GOCACHE)/fledge. It returns "" when no cache root can be found.
func DefaultBinDir() string {
	if d := os.Getenv(EnvBinDir); d != "" {
		return d
	}
	root := os.Getenv(EnvCache)
	if root == "" {
		gocache := goCacheDir()
		if gocache == "" {
			return ""
		}
		root = filepath.Join(gocache, "fledge")
	}
	return filepath.Join(root, "controlplane", BinaryVersionKey, "bin")
}

// goCacheDir mirrors `go env GOCACHE`: the environment, then the go
// command (which also reads `go env -w` settings), then Go's default.
func goCacheDir() string {
	if d := os.Getenv("GOCACHE"); d != "" && d != "off" {
		return d
	}
	if goBin, err := exec.LookPath("go"); err == nil {
		cmd := exec.Command(goBin, "env", "GOCACHE")
		// Never let this lookup download a toolchain.
		cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
		out, err := cmd.Output()
		if d := strings.TrimSpace(string(out)); err == nil && d != "" && d != "off" {
			return d
		}
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "go-build")
	}
	return ""
}
