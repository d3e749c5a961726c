package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"fledge.dev/fledge/internal/executor"
	"fledge.dev/fledge/internal/httpapi"
	"fledge.dev/fledge/internal/service"
	"fledge.dev/fledge/internal/store"
	"fledge.dev/fledge/internal/store/sqlite"
)

type serveOptions struct {
	listen       string
	storeURL     string
	logLevel     string
	logFormat    string
	leaseTTL     time.Duration
	pollInterval time.Duration
	stepTimeout  time.Duration
	pprofListen  string
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
give --store postgres://... to share one PostgreSQL database between replicas.`,
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

func openStore(ctx context.Context, url string, log *slog.Logger) (store.Store, string, error) {
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		s, err := openPostgres(ctx, url, log)
		return s, "postgres", err
	default:
		path := strings.TrimPrefix(url, "sqlite://")
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, "", fmt.Errorf("create store directory: %w", err)
		}
		s, err := sqlite.Open(ctx, sqlite.Config{Path: path, Logger: log})
		return s, "sqlite " + path, err
	}
}

func runServe(ctx context.Context, streams Streams, o *serveOptions) error {
	log, err := newLogger(os.Stderr, o.logLevel, o.logFormat)
	if err != nil {
		return err
	}
	st, what, err := openStore(ctx, o.storeURL, log)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer st.Close()

	clusters := &executor.StoreClusters{Store: st}
	ex, err := executor.New(executor.Config{
		Store: st, Clusters: clusters, Logger: log,
		LeaseTTL: o.leaseTTL, PollInterval: o.pollInterval, StepTimeout: o.stepTimeout, Hook: faultHook(log),
	})
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	svc := service.New(service.Config{Store: st, Clusters: clusters, Notifier: ex, Logger: log})
	api := httpapi.New(svc, log)

	if o.pprofListen != "" {
		stopPprof, err := servePprof(o.pprofListen, log)
		if err != nil {
			return err
		}
		defer stopPprof()
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.listen, err)
	}
	srv := &http.Server{
		Handler:           rootHandler(api),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if err := ex.Start(ctx); err != nil {
		return err
	}
	log.Info("fledge serving", "address", "http://"+ln.Addr().String(), "store", what, "executor", ex.Owner())
	fmt.Fprintf(streams.ErrOut, "fledge: serving on http://%s (store: %s)\n", ln.Addr(), what)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		ex.Stop()
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	ex.Stop()
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// servePprof serves net/http/pprof on addr, on a listener of its own so
// that the profiles are never reachable through the API's address.
func servePprof(addr string, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof-listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Warn("serving pprof profiles", "address", "http://"+ln.Addr().String()+"/debug/pprof/")
	return func() { _ = srv.Close() }, nil
}

// rootHandler mounts the API; the console is served at / once present.
func rootHandler(api http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/api/", api)
	mux.Handle("/healthz", api)
	mux.Handle("/readyz", api)
	mux.Handle("/", consoleHandler(api))
	return mux
}

// faultHook returns the executor hook used by fault-injection tests:
// FLEDGE_FAULT_KILL_AT names a step boundary ("after:ApplyCanary") at which
// the process kills itself with SIGKILL, the N-th time it is reached
// (FLEDGE_FAULT_KILL_AT=after:ApplyCanary#2). Unset, it does nothing.
func faultHook(log *slog.Logger) func(string) {
	spec := os.Getenv("FLEDGE_FAULT_KILL_AT")
	if spec == "" {
		return nil
	}
	point, nth := spec, 1
	if i := strings.LastIndex(spec, "#"); i > 0 {
		if _, err := fmt.Sscanf(spec[i+1:], "%d", &nth); err == nil {
			point = spec[:i]
		}
	}
	seen := 0
	log.Warn("fault injection armed", "kill_at", point, "nth", nth)
	return func(p string) {
		if p != point {
			return
		}
		seen++
		if seen == nth {
			log.Warn("fault injection: SIGKILL", "point", p)
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
}
