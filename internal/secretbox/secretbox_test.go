package secretbox

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newBox(t *testing.T) (*Box, []byte) {
	t.Helper()
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(k)
	if err != nil {
		t.Fatal(err)
	}
	return b, k
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	b, _ := newBox(t)
	plain := []byte("users:\n- name: u\n  user: {token: hunter2}\n")
	s1, err := b.Seal(plain, "environment/prod")
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := b.Seal(plain, "environment/prod")
	if s1 == s2 {
		t.Fatal("two seals of one value are equal: the nonce is not random")
	}
	if !IsSealed(s1) || strings.Contains(s1, "hunter2") {
		t.Fatalf("sealed value %q", s1)
	}
	got, err := b.Open(s1, "environment/prod")
	if err != nil || string(got) != string(plain) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	other, _ := newBox(t)
	raw, _ := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(s1, prefix))
	raw[len(raw)-1] ^= 1
	tampered := prefix + base64.RawStdEncoding.EncodeToString(raw)
	for name, open := range map[string]func() ([]byte, error){
		"other context": func() ([]byte, error) { return b.Open(s1, "environment/staging") },
		"other key":     func() ([]byte, error) { return other.Open(s1, "environment/prod") },
		"tampered":      func() ([]byte, error) { return b.Open(tampered, "environment/prod") },
		"truncated":     func() ([]byte, error) { return b.Open(s1[:len(prefix)+10], "environment/prod") },
		"not base64":    func() ([]byte, error) { return b.Open(prefix+"!!!", "environment/prod") },
		"not sealed":    func() ([]byte, error) { return b.Open("plain text", "environment/prod") },
	} {
		if v, err := open(); err == nil {
			t.Errorf("%s: opened to %q", name, v)
		}
	}
	if _, err := New(make([]byte, 16)); err == nil {
		t.Error("New accepted a 16-byte key")
	}
}

func TestKeys(t *testing.T) {
	t.Parallel()
	_, k := newBox(t)
	for _, text := range []string{EncodeKey(k), " " + EncodeKey(k) + "\n", base64.StdEncoding.EncodeToString(k), base64.RawURLEncoding.EncodeToString(k)} {
		got, err := ParseKey(text)
		if err != nil || string(got) != string(k) {
			t.Errorf("ParseKey(%q) = %x, %v", text, got, err)
		}
	}
	for _, bad := range []string{"", "abc", strings.Repeat("0", 62), strings.Repeat("z", 64)} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
	path := filepath.Join(t.TempDir(), "sub", "fledge.key")
	created, err := CreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", fi.Mode(), err)
	}
	loaded, err := LoadKeyFile(path)
	if err != nil || string(loaded) != string(created) {
		t.Fatalf("LoadKeyFile: %v", err)
	}
	if _, err := CreateKeyFile(path); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("CreateKeyFile over an existing file: %v", err)
	}
}
