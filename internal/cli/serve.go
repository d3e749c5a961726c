package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"fledge.dev/fledge/internal/auth"
	"fledge.dev/fledge/internal/executor"
	"fledge.dev/fledge/internal/httpapi"
	"fledge.dev/fledge/internal/secretbox"
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

	auth               string
	bootstrapTokenFile string
	secretKeyFile      string
	tlsCertFile        string
	tlsKeyFile         string
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
store has no token creates an admin token and prints it once on standard
error; --bootstrap-token-file makes it use the token in that file instead.
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
	f.StringVar(&o.auth, "auth", "token", "authentication: token (API tokens), or none (trust everyone; local experiments only)")
	f.StringVar(&o.bootstrapTokenFile, "bootstrap-token-file", "", "on a store without tokens, create the admin token from the token in this file instead of generating one")
	f.StringVar(&o.secretKeyFile, "secret-key-file", "", "file holding the 32-byte key (64 hex digits) that encrypts secrets in the store ($FLEDGE_SECRET_KEY holds the key itself)")
	f.StringVar(&o.tlsCertFile, "tls-cert-file", "", "serve HTTPS with this certificate (PEM); needs --tls-key-file")
	f.StringVar(&o.tlsKeyFile, "tls-key-file", "", "the private key (PEM) of --tls-cert-file")
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
	case isPostgres(url):
		s, err := openPostgres(ctx, url, log)
		return s, "postgres", err
	default:
		path := strings.TrimPrefix(url, "sqlite://")
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, "", fmt.Errorf("create store directory: %w", err)
		}
		// The database holds token hashes and sealed secrets: create it
		// readable by its owner only.
		if f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600); err == nil {
			f.Close()
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
	if o.auth != "token" && o.auth != "none" {
		return usageErrorf("--auth: want token or none, got %q", o.auth)
	}
	if (o.tlsCertFile == "") != (o.tlsKeyFile == "") {
		return usageErrorf("--tls-cert-file and --tls-key-file go together")
	}
	st, what, err := openStore(ctx, o.storeURL, log)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer st.Close()

	box, err := secretKey(streams, o, log)
	if err != nil {
		return err
	}
	clusters := &executor.StoreClusters{Store: st, Secrets: box}
	requests := &inflight{}
	ex, err := executor.New(executor.Config{
		Store: st, Clusters: clusters, Logger: log,
		LeaseTTL: o.leaseTTL, PollInterval: o.pollInterval, StepTimeout: o.stepTimeout, Hook: faultHook(log, requests),
	})
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	svc := service.New(service.Config{Store: st, Clusters: clusters, Notifier: ex, Logger: log, Secrets: box})
	if err := svc.CheckSecretKey(ctx); err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	var apiOpts []httpapi.Option
	if o.auth == "none" {
		apiOpts = append(apiOpts, httpapi.WithoutAuth())
		log.Warn("authentication is OFF (--auth=none): anyone who can reach the server is an admin")
		fmt.Fprintln(streams.ErrOut, "fledge: WARNING: --auth=none: authentication is OFF. Anyone who can reach this server can change and deploy anything, as any name. Use it only for local experiments.")
	} else if err := bootstrap(ctx, streams, svc, o.bootstrapTokenFile); err != nil {
		return err
	}
	api := httpapi.New(svc, log, apiOpts...)

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.listen, err)
	}
	srv := &http.Server{
		Handler: requests.wrap(httpapi.SecurityHeaders(rootHandler(api))),
		// No WriteTimeout: watch streams last as long as a deployment; the
		// stream handler sets a deadline on each write instead.
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12},
	}
	if err := ex.Start(ctx); err != nil {
		return err
	}
	if o.pprofListen != "" {
		go servePprof(ctx, o.pprofListen, log)
	}
	scheme := "http"
	if o.tlsCertFile != "" {
		scheme = "https"
	}
	log.Info("fledge serving", "address", scheme+"://"+ln.Addr().String(), "store", what, "executor", ex.Owner(), "auth", o.auth)
	fmt.Fprintf(streams.ErrOut, "fledge: serving on %s://%s (store: %s)\n", scheme, ln.Addr(), what)

	errc := make(chan error, 1)
	go func() {
		if o.tlsCertFile != "" {
			errc <- srv.ServeTLS(ln, o.tlsCertFile, o.tlsKeyFile)
			return
		}
		errc <- srv.Serve(ln)
	}()
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

// secretKey loads the key that encrypts secrets in the store: the key
// file, $FLEDGE_SECRET_KEY, or for SQLite a key file next to the database,
// created on first start.
func secretKey(streams Streams, o *serveOptions, log *slog.Logger) (*secretbox.Box, error) {
	var key []byte
	var err error
	switch env := os.Getenv("FLEDGE_SECRET_KEY"); {
	case o.secretKeyFile != "":
		key, err = loadKeyFile(o.secretKeyFile, log)
	case env != "":
		if key, err = secretbox.ParseKey(env); err != nil {
			err = fmt.Errorf("FLEDGE_SECRET_KEY: %w", err)
		}
	case isPostgres(o.storeURL):
		err = errors.New("a PostgreSQL store is shared by replicas, so they need one key: give each the same --secret-key-file or FLEDGE_SECRET_KEY")
	default:
		path := filepath.Join(filepath.Dir(strings.TrimPrefix(o.storeURL, "sqlite://")), "fledge.key")
		if _, serr := os.Stat(path); serr == nil {
			key, err = loadKeyFile(path, log)
			break
		}
		if key, err = secretbox.CreateKeyFile(path); err == nil {
			log.Info("created a secret key file", "path", path)
			fmt.Fprintf(streams.ErrOut, "fledge: created the secret key %s (mode 0600); it encrypts the secrets in the store: back it up with the database\n", path)
		}
	}
	if err != nil {
		return nil, &ExitError{Code: 2, Err: err}
	}
	return secretbox.New(key)
}

func loadKeyFile(path string, log *slog.Logger) ([]byte, error) {
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("the secret key file is readable by others; run chmod 600", "path", path, "mode", fmt.Sprintf("%04o", fi.Mode().Perm()))
	}
	return secretbox.LoadKeyFile(path)
}

// bootstrap makes sure a fresh store has an admin token, and shows a
// generated one once.
func bootstrap(ctx context.Context, streams Streams, svc *service.Service, tokenFile string) error {
	var token string
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return &ExitError{Code: 2, Err: fmt.Errorf("--bootstrap-token-file: %w", err)}
		}
		token = strings.TrimSpace(string(b))
		if err := auth.CheckToken(token); err != nil {
			return &ExitError{Code: 2, Err: fmt.Errorf("--bootstrap-token-file %s: %w", tokenFile, err)}
		}
	}
	secret, created, err := svc.Bootstrap(ctx, token)
	if err != nil {
		return err
	}
	switch {
	case created && tokenFile != "":
		fmt.Fprintf(streams.ErrOut, "fledge: created the admin token %q from %s\n", service.BootstrapTokenName, tokenFile)
	case created:
		fmt.Fprintf(streams.ErrOut, "fledge: created the admin token %q; it is shown only this once, store it now:\n\n    %s\n\nLog in with: fledge login --server URL --token-stdin\n\n", service.BootstrapTokenName, secret)
	}
	return nil
}

// servePprof serves Go's profiles on their own listener (never the API's)
// until ctx ends; it is for profiling and must not be exposed.
func servePprof(ctx context.Context, addr string, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	log.Warn("serving pprof profiles", "address", addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("pprof server failed", "error", err)
	}
}

func isPostgres(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
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
//
// At the boundary the executor stops; the API requests already being
// served (the run or approval whose answer woke the executor) are let
// finish for up to a second, so that a test's client gets their answers:
// the crash is at a step boundary, not in the middle of an HTTP answer.
func faultHook(log *slog.Logger, api *inflight) func(string) {
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
			api.waitIdle(time.Second)
			log.Warn("fault injection: SIGKILL", "point", p)
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
}

// inflight counts the API requests being served (watch streams aside),
// for the fault-injection hook.
type inflight struct{ n atomic.Int64 }

func (f *inflight) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("watch") != "true" {
			f.n.Add(1)
			defer f.n.Add(-1)
		}
		next.ServeHTTP(w, r)
	})
}

// waitIdle waits until no request is being served, at most max, and a
// moment more for the last answer to leave the socket.
func (f *inflight) waitIdle(maxWait time.Duration) {
	for deadline := time.Now().Add(maxWait); f.n.Load() > 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
}
