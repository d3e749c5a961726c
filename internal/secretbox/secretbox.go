// Package secretbox encrypts the secrets Fledge keeps in its store (inline
// kubeconfigs, webhook secrets) with AES-256-GCM under one server key.
//
// A sealed value is text: "fledge-sealed:v1:" and the base64 of a random
// 12-byte nonce followed by the ciphertext. The caller passes a context
// string (such as "environment/prod") that is authenticated with it, so a
// sealed value copied into another row does not open.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the size of a key: AES-256.
const KeySize = 32

// prefix starts every sealed value.
const prefix = Marker

// Marker starts every sealed value: text without it holds none.
const Marker = "fledge-sealed:v1:"

// ErrOpen is returned when a sealed value does not open under the key: a
// different key, a changed value, or a value moved to another context.
var ErrOpen = errors.New("cannot decrypt: wrong secret key or tampered value")

// Box seals and opens values under one key. It is safe for concurrent use.
type Box struct {
	aead cipher.AEAD
}

// New returns a Box for a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secret key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plaintext bound to context.
func (b *Box) Seal(plaintext []byte, context string) (string, error) {
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal: %w", err)
	}
	out := b.aead.Seal(nonce, nonce, plaintext, []byte(context))
	return prefix + base64.RawStdEncoding.EncodeToString(out), nil
}

// Open decrypts a value Seal returned for the same context.
func (b *Box) Open(sealed, context string) ([]byte, error) {
	if !IsSealed(sealed) {
		return nil, errors.New("value is not sealed")
	}
	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(sealed, prefix))
	if err != nil || len(raw) < b.aead.NonceSize()+b.aead.Overhead() {
		return nil, ErrOpen
	}
	n := b.aead.NonceSize()
	out, err := b.aead.Open(nil, raw[:n], raw[n:], []byte(context))
	if err != nil {
		return nil, ErrOpen
	}
	return out, nil
}

// IsSealed reports whether s looks like a value Seal returned.
func IsSealed(s string) bool { return strings.HasPrefix(s, prefix) }

// GenerateKey returns a random key.
func GenerateKey() ([]byte, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("generate secret key: %w", err)
	}
	return k, nil
}

// EncodeKey writes a key as the text a key file or FLEDGE_SECRET_KEY
// holds: 64 hex digits.
func EncodeKey(key []byte) string { return hex.EncodeToString(key) }

// ParseKey reads a key written as 64 hex digits or as base64 of 32 bytes;
// surrounding white space is ignored.
func ParseKey(text string) ([]byte, error) {
	s := strings.TrimSpace(text)
	if k, err := hex.DecodeString(s); err == nil && len(k) == KeySize {
		return k, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == KeySize {
			return k, nil
		}
	}
	return nil, errors.New("a secret key is 32 bytes written as 64 hex digits or as base64 (generate one with: head -c32 /dev/urandom | xxd -p -c64)")
}

// LoadKeyFile reads a key file. It refuses a file that others may read.
func LoadKeyFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("secret key file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("secret key file %s is readable by others (mode %04o); run: chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secret key file: %w", err)
	}
	k, err := ParseKey(string(data))
	if err != nil {
		return nil, fmt.Errorf("secret key file %s: %w", path, err)
	}
	return k, nil
}

// CreateKeyFile writes a new random key to path with mode 0600, failing if
// the file exists, and returns the key.
func CreateKeyFile(path string) ([]byte, error) {
	k, err := GenerateKey()
	if err != nil {
		return nil, err
	}
	if err := WriteKeyFile(path, k); err != nil {
		return nil, err
	}
	return k, nil
}

// WriteKeyFile writes key k to a new file at path with mode 0600, failing
// if the file exists.
func WriteKeyFile(path string, k []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create secret key file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create secret key file: %s already exists", path)
		}
		return fmt.Errorf("create secret key file: %w", err)
	}
	_, werr := f.WriteString(EncodeKey(k) + "\n")
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("write secret key file %s: %w", path, werr)
	}
	return nil
}
