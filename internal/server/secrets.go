package server

import (
	"context"
	"errors"
	"fmt"
	"io"
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
		path := filepath.Join(s.storeDir(), "fledge.key")
		if _, serr := os.Stat(path); serr == nil {
			key, err = s.loadKeyFile(path)
			break
		}
		// Written by keepNewKey once the store is known to be fresh: a
		// store sealed with a lost key refuses to start and gets no
		// unusable key file.
		if key, err = secretbox.GenerateKey(); err == nil {
			s.newKeyFile, s.newKey = path, key
		}
	}
	if err != nil {
		return nil, configErr(err)
	}
	return secretbox.New(key)
}

// storeDir is the directory of an SQLite store.
func (s *server) storeDir() string {
	return filepath.Dir(strings.TrimPrefix(s.cfg.Store, "sqlite://"))
}

// keepNewKey writes the key secretKey generated (if it did) to its file,
// after checking that the store holds nothing sealed with another key.
func (s *server) keepNewKey(ctx context.Context) error {
	if s.newKeyFile == "" {
		return nil
	}
	sealed, err := s.service.HasSealedSecrets(ctx)
	if err != nil {
		return err
	}
	if sealed {
		return configErr(fmt.Errorf("this store's secrets are sealed with a key, and its key file %s is missing: restore it, or give the key with --secret-key-file or FLEDGE_SECRET_KEY", s.newKeyFile))
	}
	if err := secretbox.WriteKeyFile(s.newKeyFile, s.newKey); err != nil {
		return configErr(err)
	}
	s.log.Info("created a secret key file", "path", s.newKeyFile)
	fmt.Fprintf(s.cfg.Stderr, "fledge: created the secret key %s (mode 0600); it encrypts the secrets in the store: back it up with the database\n", s.newKeyFile)
	return nil
}

func (s *server) loadKeyFile(path string) ([]byte, error) {
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		s.log.Warn("the secret key file is readable by others; run chmod 600", "path", path, "mode", fmt.Sprintf("%04o", fi.Mode().Perm()))
	}
	return secretbox.LoadKeyFile(path)
}

// bootstrap makes sure a fresh store has an admin token. A token it
// generates is never logged: it goes to a file only its owner can read
// (--bootstrap-token-out, by default admin.token beside an SQLite store),
// or, with no such file, to the terminal when stderr is one. Otherwise the
// server refuses to start rather than print the token where a log
// collector would keep it.
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
		_, created, err := s.service.Bootstrap(ctx, token)
		if created {
			fmt.Fprintf(s.cfg.Stderr, "fledge: created the admin token %q from %s\n", service.BootstrapTokenName, tokenFile)
		}
		return err
	}
	need, err := s.service.NeedsBootstrap(ctx)
	if err != nil || !need {
		return err
	}
	if token, err = auth.NewToken(); err != nil {
		return err
	}
	out := s.cfg.BootstrapTokenOut
	if out == "" && !isPostgres(s.cfg.Store) {
		out = filepath.Join(s.storeDir(), "admin.token")
	}
	if out == "" && !isTerminal(s.cfg.Stderr) {
		return configErr(errors.New("this store has no token yet and stderr is not a terminal, so the generated admin token has nowhere safe to go: " +
			"give --bootstrap-token-out FILE (written with mode 0600) or --bootstrap-token-file FILE (a token you made)"))
	}
	if out != "" {
		if err := writeTokenFile(out, token); err != nil {
			return configErr(fmt.Errorf("--bootstrap-token-out: %w", err))
		}
	}
	_, created, err := s.service.Bootstrap(ctx, token)
	if err != nil || !created {
		if out != "" {
			os.Remove(out)
		}
		return err
	}
	if out != "" {
		fmt.Fprintf(s.cfg.Stderr, "fledge: created the admin token %q and wrote it to %s (mode 0600); log in with it, then delete the file:\n"+
			"    fledge login --server URL --token-stdin < %s && rm %s\n", service.BootstrapTokenName, out, out, out)
		return nil
	}
	fmt.Fprintf(s.cfg.Stderr, "fledge: created the admin token %q; it is shown only this once, on this terminal, store it now:\n\n    %s\n\nLog in with: fledge login --server URL --token-stdin\n\n", service.BootstrapTokenName, token)
	return nil
}

// writeTokenFile writes a token to path with mode 0600, replacing a file
// left by an earlier store (a store without tokens makes any such file
// useless).
func writeTokenFile(path, token string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	os.Remove(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, werr := f.WriteString(token + "\n")
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, werr)
	}
	return nil
}

// isTerminal reports whether w is a terminal (a character device),
// looking through writers that wrap another (Unwrap() io.Writer).
func isTerminal(w io.Writer) bool {
	for {
		u, ok := w.(interface{ Unwrap() io.Writer })
		if !ok {
			break
		}
		w = u.Unwrap()
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
