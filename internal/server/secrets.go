package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"fledge.dev/fledge/internal/auth"
	"fledge.dev/fledge/internal/secretbox"
	"fledge.dev/fledge/internal/service"
)

// secretKey loads the key that encrypts secrets in the store: the key
// file, the key itself, or for SQLite a key file next to the database,
// created on first start.
func (s *server) secretKey() (*secretbox.Box, error) {
	var key []byte
	var err error
	switch {
	case s.cfg.SecretKeyFile != "":
		key, err = s.loadKeyFile(s.cfg.SecretKeyFile)
	case s.cfg.SecretKey != "":
		if key, err = secretbox.ParseKey(s.cfg.SecretKey); err != nil {
			err = fmt.Errorf("FLEDGE_SECRET_KEY: %w", err)
		}
	case isPostgres(s.cfg.Store):
		err = errors.New("a PostgreSQL store is shared by replicas, so they need one key: give each the same --secret-key-file or FLEDGE_SECRET_KEY")
	default:
		path := filepath.Join(filepath.Dir(strings.TrimPrefix(s.cfg.Store, "sqlite://")), "fledge.key")
		if _, serr := os.Stat(path); serr == nil {
			key, err = s.loadKeyFile(path)
			break
		}
		if key, err = secretbox.CreateKeyFile(path); err == nil {
			s.log.Info("created a secret key file", "path", path)
			fmt.Fprintf(s.cfg.Stderr, "fledge: created the secret key %s (mode 0600); it encrypts the secrets in the store: back it up with the database\n", path)
		}
	}
	if err != nil {
		return nil, configErr(err)
	}
	return secretbox.New(key)
}

func (s *server) loadKeyFile(path string) ([]byte, error) {
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		s.log.Warn("the secret key file is readable by others; run chmod 600", "path", path, "mode", fmt.Sprintf("%04o", fi.Mode().Perm()))
	}
	return secretbox.LoadKeyFile(path)
}

// bootstrap makes sure a fresh store has an admin token, and shows a
// generated one once.
func (s *server) bootstrap(ctx context.Context) error {
	var token string
	tokenFile := s.cfg.BootstrapTokenFile
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return configErr(fmt.Errorf("--bootstrap-token-file: %w", err))
		}
		token = strings.TrimSpace(string(b))
		if err := auth.CheckToken(token); err != nil {
			return configErr(fmt.Errorf("--bootstrap-token-file %s: %w", tokenFile, err))
		}
	}
	secret, created, err := s.service.Bootstrap(ctx, token)
	if err != nil {
		return err
	}
	switch {
	case created && tokenFile != "":
		fmt.Fprintf(s.cfg.Stderr, "fledge: created the admin token %q from %s\n", service.BootstrapTokenName, tokenFile)
	case created:
		fmt.Fprintf(s.cfg.Stderr, "fledge: created the admin token %q; it is shown only this once, store it now:\n\n    %s\n\nLog in with: fledge login --server URL --token-stdin\n\n", service.BootstrapTokenName, secret)
	}
	return nil
}
