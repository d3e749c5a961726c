package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"fledge.dev/fledge/internal/gatewaycrd"
	"fledge.dev/fledge/internal/localcluster"
)

// devClusterFlags are the flags shared by the `fledge dev cluster` commands.
type devClusterFlags struct {
	dir string
}

// newDevClusterCommand groups the commands that run a local control plane in
// the background for trying Fledge: up, down, env and status.
func newDevClusterCommand(streams Streams) *cobra.Command {
	flags := &devClusterFlags{}
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Run a local Kubernetes control plane (etcd, kube-apiserver, kwok) in the background",
		Long: `Run a local Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler and kwok with one fake node on which
pods become Ready without running containers.

The binaries come from hack/build-controlplane.sh (or $` + localcluster.EnvBinDir + `).

  eval "$(fledge dev cluster up)"   # start, and point kubectl at it
  fledge dev cluster up --gateway-api   # also install the Gateway API CRDs
  fledge dev cluster status
  fledge dev cluster down`,
	}
	cmd.PersistentFlags().StringVar(&flags.dir, "dir", "",
		"folder for the cluster's data, logs and kubeconfig (default $XDG_STATE_HOME/fledge/dev-cluster or ~/.local/state/fledge/dev-cluster)")
	cmd.AddCommand(
		newDevClusterUpCommand(streams, flags),
		newDevClusterDownCommand(streams, flags),
		newDevClusterEnvCommand(streams, flags),
		newDevClusterStatusCommand(streams, flags),
	)
	return cmd
}

func newDevClusterUpCommand(streams Streams, flags *devClusterFlags) *cobra.Command {
	var gatewayAPI bool
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the local cluster in the background and print its KUBECONFIG export line",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDevClusterUp(cmd.Context(), streams, flags, gatewayAPI)
		},
	}
	cmd.Flags().BoolVar(&gatewayAPI, "gateway-api", false,
		"also install the Gateway API "+gatewaycrd.Version+" standard CRDs (needs the go command; fetched through the Go module proxy)")
	return cmd
}

func runDevClusterUp(ctx context.Context, streams Streams, flags *devClusterFlags, gatewayAPI bool) error {
	dir, err := flags.resolveDir()
	if err != nil {
		return err
	}
	logger := progressLogger(streams.ErrOut)
	if existing, err := localcluster.Load(dir, logger); err == nil {
		st := existing.Status(ctx)
		if st.Healthy() {
			fmt.Fprintf(streams.ErrOut, "local cluster already running in %s (%s)\n", dir, st.Server)
			if err := installGatewayAPI(ctx, streams, existing, gatewayAPI); err != nil {
				return err
			}
			printKubeconfigExport(streams.Out, existing)
			return nil
		}
		if runningComponents(st) > 0 {
			return fmt.Errorf("local cluster in %s is running but unhealthy (%s): run `fledge dev cluster down --dir %s` first",
				dir, strings.Join(st.Problems, "; "), dir)
		}
		// All processes are gone (e.g. after a reboot): Start clears the
		// old files and starts afresh.
	}
	fmt.Fprintf(streams.ErrOut, "starting local cluster in %s\n", dir)
	c, err := localcluster.StartDetached(ctx, localcluster.Options{Dir: dir, Logger: logger})
	if err != nil {
		return err
	}
	fmt.Fprintf(streams.ErrOut, "local cluster ready in %s at %s; stop it with `fledge dev cluster down`\n",
		c.StartupDuration().Round(100*time.Millisecond), c.Server())
	if err := installGatewayAPI(ctx, streams, c, gatewayAPI); err != nil {
		return err
	}
	printKubeconfigExport(streams.Out, c)
	return nil
}

// installGatewayAPI installs the pinned Gateway API CRDs in c when asked;
// applying them again on a running cluster changes nothing.
func installGatewayAPI(ctx context.Context, streams Streams, c *localcluster.Cluster, want bool) error {
	if !want {
		return nil
	}
	fmt.Fprintf(streams.ErrOut, "installing Gateway API %s CRDs\n", gatewaycrd.Version)
	if err := gatewaycrd.Install(ctx, c.Kubectl); err != nil {
		return fmt.Errorf("local cluster in %s is running, but: %w", c.Dir(), err)
	}
	fmt.Fprintf(streams.ErrOut, "Gateway API %s CRDs established\n", gatewaycrd.Version)
	return nil
}

func newDevClusterDownCommand(streams Streams, flags *devClusterFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "down",
		Short: "Stop the local cluster and delete its data",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			dir, err := flags.resolveDir()
			if err != nil {
				return err
			}
			err = localcluster.StopDir(dir, progressLogger(streams.ErrOut))
			if errors.Is(err, os.ErrNotExist) {
				fmt.Fprintf(streams.ErrOut, "no local cluster in %s\n", dir)
				return nil
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(streams.ErrOut, "local cluster in %s stopped\n", dir)
			return nil
		},
	}
}

func newDevClusterEnvCommand(streams Streams, flags *devClusterFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "env",
		Short: "Print the KUBECONFIG export line of the local cluster",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			c, err := loadDevCluster(flags)
			if err != nil {
				return err
			}
			printKubeconfigExport(streams.Out, c)
			return nil
		},
	}
}

func newDevClusterStatusCommand(streams Streams, flags *devClusterFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the local cluster's processes and health; exits 1 when unhealthy",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadDevCluster(flags)
			if err != nil {
				return err
			}
			st := c.Status(cmd.Context())
			if err := printDevClusterStatus(streams.Out, st, c.StartupDuration()); err != nil {
				return err
			}
			if !st.Healthy() {
				return &ExitError{Code: 1, Err: fmt.Errorf("local cluster unhealthy: %s", strings.Join(st.Problems, "; "))}
			}
			return nil
		},
	}
}

func printDevClusterStatus(w io.Writer, st localcluster.Status, startup time.Duration) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "dir:\t%s\n", st.Dir)
	fmt.Fprintf(tw, "server:\t%s\n", st.Server)
	fmt.Fprintf(tw, "kubeconfig:\t%s\n", st.Kubeconfig)
	if !st.StartedAt.IsZero() {
		fmt.Fprintf(tw, "started:\t%s (start-up took %s)\n", st.StartedAt.Local().Format(time.DateTime), startup.Round(100*time.Millisecond))
	}
	fmt.Fprintf(tw, "api server:\t%s\n", readyWord(st.APIServerReady))
	fmt.Fprintf(tw, "node %s:\t%s\n", localcluster.NodeName, readyWord(st.NodeReady))
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tPID\tSTATE\tLOG")
	for _, comp := range st.Components {
		state := "running"
		if !comp.Running {
			state = "stopped"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", comp.Name, comp.PID, state, comp.LogPath)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	return nil
}

func readyWord(ok bool) string {
	if ok {
		return "ready"
	}
	return "not ready"
}

func runningComponents(st localcluster.Status) int {
	n := 0
	for _, c := range st.Components {
		if c.Running {
			n++
		}
	}
	return n
}

func loadDevCluster(flags *devClusterFlags) (*localcluster.Cluster, error) {
	dir, err := flags.resolveDir()
	if err != nil {
		return nil, err
	}
	c, err := localcluster.Load(dir, nil)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no local cluster in %s: start one with `fledge dev cluster up`", dir)
	}
	return c, err
}

// resolveDir returns --dir, else $XDG_STATE_HOME/fledge/dev-cluster, else
// ~/.local/state/fledge/dev-cluster.
func (f *devClusterFlags) resolveDir() (string, error) {
	if f.dir != "" {
		return filepath.Abs(f.dir)
	}
	// The XDG spec says to ignore a relative XDG_STATE_HOME.
	if state := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(state) {
		return filepath.Join(state, "fledge", "dev-cluster"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("default cluster dir: %w (pass --dir)", err)
	}
	return filepath.Join(home, ".local", "state", "fledge", "dev-cluster"), nil
}

// progressLogger writes the cluster's progress as short lines for a
// terminal: no timestamps, and a level only when it is not INFO.
func progressLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			if lvl, ok := a.Value.Any().(slog.Level); ok && a.Key == slog.LevelKey && lvl == slog.LevelInfo {
				return slog.Attr{}
			}
			return a
		},
	}))
}

// printKubeconfigExport prints the shell line that points kubectl at the
// cluster: its kubeconfig, and a kubectl cache of its own so that discovery
// cached for an earlier cluster on the same loopback port is never used.
func printKubeconfigExport(w io.Writer, c *localcluster.Cluster) {
	fmt.Fprintf(w, "export KUBECONFIG=%s KUBECACHEDIR=%s\n", shellQuote(c.Kubeconfig()), shellQuote(c.KubectlCacheDir()))
}

// shellQuote quotes s for a POSIX shell unless it is made only of characters
// that need no quoting.
func shellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+:,@%=", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
