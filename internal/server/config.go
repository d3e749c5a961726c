package server

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"fledge.dev/fledge/internal/kube"
)

// DefaultServiceAccountDir is where a pod's service account token and CA
// certificate are mounted.
const DefaultServiceAccountDir = kube.DefaultServiceAccountDir

// Config is what a Fledge server needs to run. The command line fills it
// from flags and the environment; tests fill it directly.
type Config struct {
	// Listen is the address of the HTTP API and the console.
	Listen string
	// Store is an SQLite file path (or sqlite://PATH), or a postgres:// URL.
	Store string
	// Logger receives the server's logs.
	Logger *slog.Logger
	// Stderr receives the few messages meant for the person who started
	// the server (the address, a generated admin token, a created key).
	Stderr io.Writer

	// LeaseTTL, PollInterval and StepTimeout configure the executor.
	LeaseTTL     time.Duration
	PollInterval time.Duration
	StepTimeout  time.Duration

	// NotificationBackoff and NotificationMaxBackoff are the wait after a
	// failed delivery round and its bound (defaults 5s and 30m).
	NotificationBackoff    time.Duration
	NotificationMaxBackoff time.Duration

	// ExternalURL is the console's address as people reach it, for the
	// links in notifications; default the listener's own address.
	ExternalURL string

	// PprofListen, if set, serves Go's profiles on their own listener.
	PprofListen string
	// MetricsListen, if set, also serves /metrics on its own listener,
	// without a token (for a scraper inside the network); on Listen,
	// /metrics always needs a token of any role.
	MetricsListen string

	// Auth is "token" (API tokens) or "none" (everyone is an admin).
	Auth string
	// BootstrapTokenFile holds the token a store without tokens gets as
	// its admin token; empty means generate one and show it once.
	BootstrapTokenFile string
	// BootstrapTokenOut is where a generated admin token is written (mode
	// 0600); empty means admin.token beside an SQLite store, and for
	// PostgreSQL the terminal (a server whose stderr is not one refuses to
	// start).
	BootstrapTokenOut string
	// SecretKeyFile holds the key that seals secrets in the store.
	SecretKeyFile string
	// SecretKey is the key itself (64 hex digits), from $FLEDGE_SECRET_KEY;
	// SecretKeyFile wins when both are set.
	SecretKey string
	// TLSCertFile and TLSKeyFile, both or neither, serve HTTPS.
	TLSCertFile string
	TLSKeyFile  string

	// ServiceAccountDir holds the pod's service account token and CA
	// certificate, which environments with inCluster: true use; empty is
	// kube.DefaultServiceAccountDir.
	ServiceAccountDir string

	// Hook, when set, is called by the executor at every step boundary
	// (see executor.Config.Hook); fault-injection builds set it.
	Hook func(point string)
}

// WithDefaults returns c with the defaults of `fledge serve` filled in.
func (c Config) WithDefaults() Config {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Stderr == nil {
		c.Stderr = io.Discard
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = 15 * time.Second
	}
	if c.PollInterval == 0 {
		c.PollInterval = 500 * time.Millisecond
	}
	if c.StepTimeout == 0 {
		c.StepTimeout = 2 * time.Minute
	}
	if c.Auth == "" {
		c.Auth = "token"
	}
	return c
}

// Validate reports the first invalid setting, naming the flag that sets it.
func (c Config) Validate() error {
	switch {
	case c.Auth != "token" && c.Auth != "none":
		return &ConfigError{Err: fmt.Errorf("--auth: want token or none, got %q", c.Auth)}
	case (c.TLSCertFile == "") != (c.TLSKeyFile == ""):
		return &ConfigError{Err: errors.New("--tls-cert-file and --tls-key-file go together")}
	case c.Store == "":
		return &ConfigError{Err: errors.New("--store: empty")}
	}
	return nil
}

// ConfigError is a server that cannot start as configured (a bad flag, a
// missing or wrong key): the command exits with a usage code, not a
// failure.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

func configErr(err error) error {
	if err == nil {
		return nil
	}
	return &ConfigError{Err: err}
}

func isPostgres(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}
