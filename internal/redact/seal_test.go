package redact

import (
	"encoding/base64"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"fledge.dev/fledge/internal/secretbox"
)

// listed is a List whose items are a Secret and a ConfigMap: the cluster
// gets them as two objects.
const listed = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata:\n    name: listed\n  stringData:\n    password: in-a-list\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: c\n  data:\n    k: visible\n"

func newBox(t *testing.T) *secretbox.Box {
	t.Helper()
	var b *secretbox.Box
	k, err := secretbox.GenerateKey()
	if err == nil {
		b, err = secretbox.New(k)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tamper flips one bit of the ciphertext of the first sealed value.
func tamper(t *testing.T, text string) string {
	t.Helper()
	i := strings.Index(text, secretbox.Marker)
	if i < 0 {
		t.Fatalf("nothing sealed in:\n%s", text)
	}
	start := i + len(secretbox.Marker)
	end := start + strings.IndexAny(text[start:], " \n")
	raw, err := base64.RawStdEncoding.DecodeString(text[start:end])
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-1] ^= 1
	return text[:start] + base64.RawStdEncoding.EncodeToString(raw) + text[end:]
}

// The values of Secrets are sealed and open again; nothing else changes.
func TestSealOpenRoundTrip(t *testing.T) {
	t.Parallel()
	box := newBox(t)
	for _, tc := range []struct {
		name      string
		manifests string
		secrets   []string // values that must not be in the sealed text
		keep      []string // text that must stay in the sealed text
	}{
		{
			name:      "data and stringData",
			manifests: manifests,
			secrets:   []string{"c3VwZXJzZWNyZXQ=", "hunter2"},
			keep:      []string{"greeting: hello", "name: db", "kind: ConfigMap"},
		},
		{
			name:      "a multi-line value and one with a namespace",
			manifests: "apiVersion: v1\nkind: Secret\nmetadata:\n  name: tls\n  namespace: web\nstringData:\n  key.pem: |\n    -----BEGIN KEY-----\n    s3cr3tline\n    -----END KEY-----\n  port: 5432\n",
			secrets:   []string{"s3cr3tline", "5432"},
			keep:      []string{"namespace: web"},
		},
		{
			name:      "a Secret inside a List",
			manifests: listed,
			secrets:   []string{"in-a-list"},
			keep:      []string{"kind: List", "k: visible"},
		},
		{
			name:      "a Secret among several documents with a parameter",
			manifests: "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: hunter2-${TAG}\n",
			secrets:   []string{"hunter2"},
			keep:      []string{"kind: Deployment", "replicas: 2"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sealed, err := Seal(box, tc.manifests, "")
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.secrets {
				if strings.Contains(sealed, s) {
					t.Errorf("the sealed text holds %q:\n%s", s, sealed)
				}
			}
			for _, s := range append(tc.keep, secretbox.Marker) {
				if !strings.Contains(sealed, s) {
					t.Errorf("the sealed text lacks %q:\n%s", s, sealed)
				}
			}
			opened, err := Open(box, sealed)
			if err != nil {
				t.Fatal(err)
			}
			want, err := parse(tc.manifests)
			if err != nil {
				t.Fatal(err)
			}
			got, err := parse(opened)
			if err != nil {
				t.Fatal(err)
			}
			if a, b := values(t, want), values(t, got); a != b {
				t.Errorf("opened values differ:\n%s\nwant\n%s", b, a)
			}
			if shown, _ := Secrets(sealed); strings.Contains(shown, secretbox.Marker) {
				t.Errorf("the redacted form of the sealed text shows a ciphertext:\n%s", shown)
			}
		})
	}
}

// values lists every Secret value of docs, in order.
func values(t *testing.T, docs []*yaml.Node) string {
	t.Helper()
	var b strings.Builder
	_ = eachValue(docs, func(at value, n *yaml.Node) error {
		b.WriteString(at.String() + "=" + n.Value + "\n")
		return nil
	})
	return b.String()
}

// Sealing the same text again against what is stored keeps the stored
// ciphertext (an identical apply stays unchanged); a changed value is
// sealed afresh; a restored sealed value is kept.
func TestSealKeepsStored(t *testing.T) {
	t.Parallel()
	box := newBox(t)
	first, err := Seal(box, manifests, "")
	if err != nil {
		t.Fatal(err)
	}
	again, err := Seal(box, manifests, first)
	if err != nil || again != first {
		t.Fatalf("sealing the same text again: %v\n%s\nwant\n%s", err, again, first)
	}
	fresh, err := Seal(box, manifests, "")
	if err != nil || fresh == first {
		t.Fatalf("two seals without a stored text are equal (the nonce is not random): %v", err)
	}
	edited, err := Seal(box, strings.Replace(manifests, "hunter2", "hunter3", 1), first)
	if err != nil || edited == first {
		t.Fatalf("a changed value kept the old ciphertext: %v", err)
	}
	if o, err := Open(box, edited); err != nil || !strings.Contains(o, "hunter3") || !strings.Contains(o, "c3VwZXJzZWNyZXQ=") {
		t.Fatalf("opened after an edit: %v\n%s", err, o)
	}
	// A get then apply: the placeholder is restored to the stored sealed
	// value, which Seal keeps.
	shown, _ := Secrets(first)
	restored, err := Restore(shown, first)
	if err != nil {
		t.Fatal(err)
	}
	kept, err := Seal(box, restored, first)
	if err != nil || kept != first {
		t.Fatalf("the restored text sealed again: %v\n%s\nwant\n%s", err, kept, first)
	}
}

// A value that does not open is an error naming the Secret, field and
// key, never text with a ciphertext or garbage in it.
func TestOpenRefuses(t *testing.T) {
	t.Parallel()
	box := newBox(t)
	sealed, err := Seal(box, manifests, "")
	if err != nil {
		t.Fatal(err)
	}
	moved := strings.Replace(sealed, "name: db", "name: other", 1)
	for _, tc := range []struct {
		name string
		box  *secretbox.Box
		text string
		want string
	}{
		{"tampered ciphertext", box, tamper(t, sealed), "the Secret db: data.password: cannot decrypt"},
		{"wrong key", newBox(t), sealed, "the Secret db: data.password: cannot decrypt"},
		{"moved to another Secret", box, moved, "the Secret other: stringData.url: cannot decrypt"},
		{"no key", nil, sealed, "the Secret db: data.password: the server has no secret key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Open(tc.box, tc.text)
			if err == nil || !strings.Contains(err.Error(), tc.want) || got != "" {
				t.Fatalf("Open = %q, %v; want an error with %q", got, err, tc.want)
			}
			// Sealing text with a value that does not open is refused too.
			if _, err := Seal(tc.box, tc.text, ""); err == nil || !strings.Contains(err.Error(), strings.SplitN(tc.want, ": ", 3)[0]) {
				t.Fatalf("Seal of a value that does not open: %v", err)
			}
		})
	}
}

// Text stored before values were sealed, and text with no Secret, opens
// as itself; text with no Secret value is not sealed.
func TestPlainPassThrough(t *testing.T) {
	t.Parallel()
	box := newBox(t)
	configMap := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  password: not-a-secret\n"
	emptySecret := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: empty\ntype: Opaque\n"
	for _, tc := range []struct {
		name string
		text string
	}{
		{"legacy plaintext Secret", manifests},
		{"ConfigMap only", configMap},
		{"Secret without data", emptySecret},
		{"a ConfigMap value that looks sealed", strings.Replace(configMap, "not-a-secret", secretbox.Marker+"AAAA", 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got, err := Open(box, tc.text); err != nil || got != tc.text {
				t.Fatalf("Open = %q, %v", got, err)
			}
			if got, err := Open(nil, tc.text); err != nil || got != tc.text {
				t.Fatalf("Open without a key = %q, %v", got, err)
			}
		})
	}
	for _, text := range []string{configMap, emptySecret} {
		if got, err := Seal(nil, text, ""); err != nil || got != text {
			t.Fatalf("Seal of text without Secret values = %q, %v", got, err)
		}
	}
	if _, err := Seal(nil, manifests, ""); err == nil || !strings.Contains(err.Error(), "no secret key") {
		t.Fatalf("Seal without a key: %v", err)
	}
	if _, err := Seal(box, "kind: Secret\ndata: {password: [unclosed\n", ""); err == nil || !strings.Contains(err.Error(), "cannot be parsed") {
		t.Fatalf("Seal of unparsable text with a Secret: %v", err)
	}
}
