package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"fledge.dev/fledge/internal/server"
)

type serveOptions struct {
	listen        string
	storeURL      string
	logLevel      string
	logFormat     string
	leaseTTL      time.Duration
	pollInterval  time.Duration
	stepTimeout   time.Duration
	pprofListen   string
	metricsListen string
	externalURL   string
	notifyBackoff time.Duration
	notifyMax     time.Duration

	auth               string
	bootstrapTokenOut  string
	bootstrapTokenFile string
	secretKeyFile      string
	tlsCertFile        string
	tlsKeyFile         string
	serviceAccountDir  string
}

// newServeCommand runs the API server and the executor.
func newServeCommand(streams Streams) *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the Fledge server: HTTP API, durable executor and web console",
		Long: `Run the Fledge server. It serves the HTTP API under /api/v1 and executes
deployments durably: state lives in the store, so a restarted server resumes
every unfinished deployment where it stopped.

The store is an SQLite file by default (one command on a fresh machine);
give --store postgres://... to share one PostgreSQL database between replicas.

Every API request needs a token (Authorization: Bearer). A server whose
store has no token creates an admin token and writes it to a file only you
can read (mode 0600): --bootstrap-token-out, by default admin.token next to
an SQLite database. On PostgreSQL without --bootstrap-token-out it is shown
on the terminal only, and a server whose standard error is not a terminal
refuses to start. --bootstrap-token-file makes it use the token in that
file instead.
Inline kubeconfigs and webhook secrets are stored encrypted (AES-256-GCM)
under the key of --secret-key-file or $FLEDGE_SECRET_KEY; with neither, a
server on SQLite creates a key file next to the database.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), streams, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", envOr("FLEDGE_LISTEN", "127.0.0.1:8080"), "address to serve the API and console on")
	f.StringVar(&o.storeURL, "store", envOr("FLEDGE_STORE", defaultStorePath()), "store: an SQLite file path (or sqlite://PATH), or a postgres:// URL")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	f.DurationVar(&o.leaseTTL, "lease-ttl", 15*time.Second, "how long a deployment's lease lasts without renewal (takeover time after a crash)")
	f.DurationVar(&o.stepTimeout, "step-timeout", 2*time.Minute, "how long one Kubernetes step (apply, weight change) may retry transient API errors before the stage fails")
	f.DurationVar(&o.pollInterval, "poll-interval", 500*time.Millisecond, "how often the store is polled for work and decisions")
	f.StringVar(&o.pprofListen, "pprof-listen", "", "if set, serve Go's net/http/pprof profiles on this address (e.g. 127.0.0.1:6060); for profiling only, never expose it")
	f.StringVar(&o.metricsListen, "metrics-listen", "", "if set, also serve Prometheus /metrics on this address without a token (on --listen, /metrics needs a token of any role)")
	f.StringVar(&o.externalURL, "external-url", os.Getenv("FLEDGE_EXTERNAL_URL"), "the console's URL as people reach it, for the links in notifications (default: the --listen address)")
	f.DurationVar(&o.notifyBackoff, "notification-backoff", 5*time.Second, "wait after a failed notification delivery; it doubles after each failed round")
	f.DurationVar(&o.notifyMax, "notification-max-backoff", 30*time.Minute, "the longest wait between notification delivery rounds")
	f.StringVar(&o.auth, "auth", "token", "authentication: token (API tokens), or none (trust everyone; local experiments only)")
	f.StringVar(&o.bootstrapTokenFile, "bootstrap-token-file", "", "on a store without tokens, create the admin token from the token in this file instead of generating one")
	f.StringVar(&o.bootstrapTokenOut, "bootstrap-token-out", "", "on a store without tokens, write the generated admin token to this file (mode 0600); default: admin.token next to an SQLite store")
	f.StringVar(&o.secretKeyFile, "secret-key-file", "", "file holding the 32-byte key (64 hex digits) that encrypts secrets in the store ($FLEDGE_SECRET_KEY holds the key itself)")
	f.StringVar(&o.tlsCertFile, "tls-cert-file", "", "serve HTTPS with this certificate (PEM); needs --tls-key-file")
	f.StringVar(&o.tlsKeyFile, "tls-key-file", "", "the private key (PEM) of --tls-cert-file")
	f.StringVar(&o.serviceAccountDir, "service-account-dir", envOr("FLEDGE_SERVICE_ACCOUNT_DIR", server.DefaultServiceAccountDir), "directory of the pod's service account token and ca.crt, used by environments with inCluster: true (the API server is $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT)")
	return cmd
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func defaultStorePath() string {
	dir := os.Getenv("XDG_DATA_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "fledge.db"
		}
		dir = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(dir, "fledge", "fledge.db")
}

func newLogger(w *os.File, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, &ExitError{Code: 2, Err: fmt.Errorf("--log-level: %w", err)}
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, &ExitError{Code: 2, Err: fmt.Errorf("--log-format: want text or json, got %q", format)}
}

func runServe(ctx context.Context, streams Streams, o *serveOptions) error {
	log, err := newLogger(os.Stderr, o.logLevel, o.logFormat)
	if err != nil {
		return err
	}
	err = server.Run(ctx, server.Config{
		Listen:                 o.listen,
		Store:                  o.storeURL,
		Logger:                 log,
		Stderr:                 streams.ErrOut,
		LeaseTTL:               o.leaseTTL,
		PollInterval:           o.pollInterval,
		MetricsListen:          o.metricsListen,
		ExternalURL:            o.externalURL,
		NotificationBackoff:    o.notifyBackoff,
		NotificationMaxBackoff: o.notifyMax,
		StepTimeout:            o.stepTimeout,
		PprofListen:            o.pprofListen,
		Auth:                   o.auth,
		BootstrapTokenFile:     o.bootstrapTokenFile,
		BootstrapTokenOut:      o.bootstrapTokenOut,
		SecretKeyFile:          o.secretKeyFile,
		SecretKey:              os.Getenv("FLEDGE_SECRET_KEY"),
		TLSCertFile:            o.tlsCertFile,
		TLSKeyFile:             o.tlsKeyFile,
		ServiceAccountDir:      o.serviceAccountDir,
	})
	if ce := (*server.ConfigError)(nil); errors.As(err, &ce) {
		return &ExitError{Code: 2, Err: err}
	}
	return err
}
