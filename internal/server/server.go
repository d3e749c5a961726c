// Package server is Fledge's composition root: it opens the store, builds
// the executor, the service, the HTTP API and the console, and starts and
// stops them as one server. `fledge serve` only turns flags into a Config
// and calls Run.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"fledge.dev/fledge/internal/analysis"

	"fledge.dev/fledge/internal/clusters"
	"fledge.dev/fledge/internal/executor"
	"fledge.dev/fledge/internal/httpapi"
	"fledge.dev/fledge/internal/metrics"
	"fledge.dev/fledge/internal/notify"
	"fledge.dev/fledge/internal/service"
	"fledge.dev/fledge/internal/store"
	"fledge.dev/fledge/internal/version"
	"fledge.dev/fledge/internal/web"
)

// shutdownTimeout bounds a graceful stop of the HTTP server.
const shutdownTimeout = 10 * time.Second

// Run runs a Fledge server until ctx ends or a part of it fails. Settings
// that cannot work are returned as *ConfigError before anything starts.
func Run(ctx context.Context, cfg Config) error {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	s := &server{cfg: cfg, log: cfg.Logger}
	defer s.close()
	if err := s.build(ctx); err != nil {
		return err
	}
	return s.run(ctx)
}

// server holds the wired parts while it runs.
type server struct {
	cfg Config
	log *slog.Logger

	store     store.Store
	storeName string
	executor  *executor.Executor
	metrics   *metrics.Metrics
	sender    *notify.Sender
	// metricsAddr is where --metrics-listen listens, once it does.
	metricsAddr string
	service     *service.Service
	listener    net.Listener
	// newKeyFile and newKey are a key generated for a store without a key
	// file, written only once the store is known to be fresh.
	newKeyFile string
	newKey     []byte

	// components are started in order and stopped in reverse order.
	components []component
	// closers release what build acquired, in reverse order, after every
	// component stopped.
	closers []func()
}

// component is one long-running part of the server. start must not block:
// it starts the work and returns; a component that fails later reports it
// through fail, which stops the whole server. stop ends the work and waits
// for it, within ctx.
type component struct {
	name  string
	start func(ctx context.Context, fail func(error)) error
	stop  func(ctx context.Context)
}

// build opens the store and wires every part; nothing runs yet.
func (s *server) build(ctx context.Context) error {
	st, name, err := openStore(ctx, s.cfg.Store, s.log)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	s.closers = append(s.closers, func() { st.Close() })
	s.metrics = metrics.New()
	st = s.metrics.InstrumentStore(st)
	s.store, s.storeName = st, name
	if err := s.metrics.Register(&metrics.StoreCollector{Store: st, Pending: st.PendingNotifications}); err != nil {
		return fmt.Errorf("register store metrics: %w", err)
	}

	box, err := s.secretKey()
	if err != nil {
		return err
	}
	hook, wrap := faultInjection(s.log)
	source := &clusters.StoreSource{Store: st, Secrets: box, ServiceAccountDir: s.cfg.ServiceAccountDir}
	// The analysis engine opens the secrets of metric providers through
	// the service, which exists only after the executor.
	analyzer := &analysis.Analyzer{Log: s.log}
	s.executor, err = executor.New(executor.Config{
		Store: st, Clusters: source, Logger: s.log, Analyzer: analyzer,
		LeaseTTL: s.cfg.LeaseTTL, PollInterval: s.cfg.PollInterval, StepTimeout: s.cfg.StepTimeout, Hook: hook,
		Observer: &executorObserver{Metrics: s.metrics, wake: s.wakeSender}, Secrets: box,
	})
	if err != nil {
		return configErr(err)
	}
	s.service = service.New(service.Config{Store: st, Clusters: source, Notifier: s.executor, Logger: s.log, Secrets: box, Analysis: true})
	analyzer.Secrets = s.service
	if err := s.keepNewKey(ctx); err != nil {
		return err
	}
	if err := s.service.CheckSecretKey(ctx); err != nil {
		return configErr(err)
	}
	apiOpts := []httpapi.Option{httpapi.WithRequestObserver(s.metrics.ObserveRequest)}
	if s.cfg.Auth == "none" {
		apiOpts = append(apiOpts, httpapi.WithoutAuth())
		s.log.Warn("authentication is OFF (--auth=none): anyone who can reach the server is an admin")
		fmt.Fprintln(s.cfg.Stderr, "fledge: WARNING: --auth=none: authentication is OFF. Anyone who can reach this server can change and deploy anything, as any name. Use it only for local experiments.")
	} else if err := s.bootstrap(ctx); err != nil {
		return err
	}
	api := httpapi.New(s.service, s.log, apiOpts...)

	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Listen, err)
	}
	s.listener = ln
	s.closers = append(s.closers, func() { ln.Close() })

	var handler http.Handler = httpapi.SecurityHeaders(routes(api, s.metricsHandler()))
	if wrap != nil {
		handler = wrap(handler)
	}
	s.components = append(s.components, executorComponent(s.executor))
	if err := s.buildSender(); err != nil {
		return err
	}
	if s.cfg.PprofListen != "" {
		s.components = append(s.components, pprofComponent(s.cfg.PprofListen, s.log))
	}
	if s.cfg.MetricsListen != "" {
		mln, err := net.Listen("tcp", s.cfg.MetricsListen)
		if err != nil {
			return fmt.Errorf("--metrics-listen %s: %w", s.cfg.MetricsListen, err)
		}
		s.closers = append(s.closers, func() { mln.Close() })
		s.metricsAddr = mln.Addr().String()
		s.components = append(s.components, metricsComponent(mln, s.metrics.Handler(), s.log))
	}
	s.components = append(s.components, s.httpComponent(handler))
	return nil
}

// routes mounts the API, the metrics and the console on one handler.
func routes(api, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/api/", api)
	mux.Handle("GET /metrics", metrics)
	mux.Handle("/healthz", api)
	mux.Handle("/readyz", api)
	mux.Handle("/", consoleHandler())
	return mux
}

// consoleHandler serves the web console at /. The console is a client of
// the public API like any other (the browser calls /api/v1).
func consoleHandler() http.Handler {
	c, err := web.New()
	if err != nil {
		// The assets are embedded at build time; a broken build is the only
		// way here, and the API must keep working regardless.
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "web console unavailable: "+err.Error(), http.StatusInternalServerError)
		})
	}
	return c
}

// run starts every component, waits for ctx to end or one to fail, and
// stops them all in reverse order.
func (s *server) run(ctx context.Context) error {
	var (
		failOnce sync.Once
		failure  error
		failed   = make(chan struct{})
	)
	fail := func(err error) {
		failOnce.Do(func() { failure = err; close(failed) })
	}
	started := 0
	stopAll := func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		for i := started - 1; i >= 0; i-- {
			s.components[i].stop(sctx)
		}
	}
	for _, c := range s.components {
		if err := c.start(ctx, fail); err != nil {
			stopAll()
			return fmt.Errorf("start %s: %w", c.name, err)
		}
		started++
	}
	scheme := "http"
	if s.cfg.TLSCertFile != "" {
		scheme = "https"
	}
	addr := scheme + "://" + s.listener.Addr().String()
	s.log.Info("fledge serving", "version", version.Get().String(), "address", addr, "store", s.storeName, "executor", s.executor.Owner(), "auth", s.cfg.Auth)
	fmt.Fprintf(s.cfg.Stderr, "fledge: serving on %s (store: %s)\n", addr, s.storeName)
	if s.metricsAddr != "" {
		fmt.Fprintf(s.cfg.Stderr, "fledge: serving metrics on http://%s/metrics\n", s.metricsAddr)
	}

	select {
	case <-ctx.Done():
		s.log.Info("shutting down")
	case <-failed:
	}
	stopAll()
	return failure
}

func (s *server) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}

func executorComponent(ex *executor.Executor) component {
	return component{
		name:  "executor",
		start: func(ctx context.Context, _ func(error)) error { return ex.Start(ctx) },
		stop:  func(context.Context) { ex.Stop() },
	}
}

// httpComponent serves handler on the server's listener.
func (s *server) httpComponent(handler http.Handler) component {
	srv := &http.Server{
		Handler: handler,
		// No WriteTimeout: watch streams last as long as a deployment; the
		// stream handler sets a deadline on each write instead.
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12},
	}
	// Requests' contexts end when the server stops, so that event streams
	// end at once (their clients reconnect to another replica or after a
	// restart) instead of holding the shutdown.
	base, endRequests := context.WithCancel(context.Background())
	srv.BaseContext = func(net.Listener) context.Context { return base }
	done := make(chan struct{})
	return component{
		name: "http server",
		start: func(_ context.Context, fail func(error)) error {
			go func() {
				defer close(done)
				var err error
				if s.cfg.TLSCertFile != "" {
					err = srv.ServeTLS(s.listener, s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
				} else {
					err = srv.Serve(s.listener)
				}
				if !errors.Is(err, http.ErrServerClosed) {
					fail(fmt.Errorf("serve: %w", err))
				}
			}()
			return nil
		},
		stop: func(ctx context.Context) {
			// Shutdown first closes the listener (no new connection) and
			// the idle ones; ending the requests' contexts then lets the
			// streams return while Shutdown waits for the active ones.
			stopped := make(chan struct{})
			go func() {
				defer close(stopped)
				_ = srv.Shutdown(ctx)
			}()
			endRequests()
			<-stopped
			<-done
		},
	}
}
