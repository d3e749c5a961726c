package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	yaml "go.yaml.in/yaml/v3"
)

// ConfigAPIVersion and ConfigKind identify the CLI's config file.
const (
	ConfigAPIVersion = "fledge.dev/v1alpha1"
	ConfigKind       = "Config"
)

// Config is the CLI's config file (~/.config/fledge/config.yaml): the
// server to talk to and the token to talk with. It is written by
// fledge login with mode 0600 and decoded strictly.
type Config struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Server     string `yaml:"server,omitempty"`
	Token      string `yaml:"token,omitempty"`
}

// defaultConfigPath is $FLEDGE_CONFIG, else config.yaml in
// $XDG_CONFIG_HOME/fledge or ~/.config/fledge.
func defaultConfigPath() string {
	if p := os.Getenv("FLEDGE_CONFIG"); p != "" {
		return p
	}
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "fledge", "config.yaml")
}

// loadConfig reads the config file; a missing file is an empty config.
func loadConfig(path string) (Config, error) {
	if path == "" {
		return Config{}, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Config{}, nil
	}
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	if len(data) > 1<<20 {
		return Config{}, fmt.Errorf("config %s: larger than 1 MiB", path)
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	if c.APIVersion != ConfigAPIVersion || c.Kind != ConfigKind {
		return Config{}, fmt.Errorf("config %s: want apiVersion %s and kind %s, got %q and %q", path, ConfigAPIVersion, ConfigKind, c.APIVersion, c.Kind)
	}
	return c, nil
}

// saveConfig writes the config file with mode 0600 (its folder 0700),
// replacing it atomically.
func saveConfig(path string, c Config) error {
	c.APIVersion, c.Kind = ConfigAPIVersion, ConfigKind
	data, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	f, err := os.CreateTemp(dir, ".config-*.yaml")
	if err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write config: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write config: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}
