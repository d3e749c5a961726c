package redact

import (
	"strings"
	"testing"
)

const manifests = `apiVersion: v1
kind: Secret
metadata:
  name: db
data:
  password: c3VwZXJzZWNyZXQ=
stringData:
  url: postgres://u:hunter2@db/app
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
data:
  greeting: hello
`

func TestSecrets(t *testing.T) {
	t.Parallel()
	out, changed := Secrets(manifests)
	if !changed || strings.Contains(out, "c3VwZXJzZWNyZXQ=") || strings.Contains(out, "hunter2") {
		t.Fatalf("Secret values shown:\n%s", out)
	}
	if !strings.Contains(out, "greeting: hello") || !strings.Contains(out, "password: (redacted)") {
		t.Fatalf("redacted too much or too little:\n%s", out)
	}
	plain := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n"
	if got, changed := Secrets(plain); changed || got != plain {
		t.Fatalf("text without a Secret changed: %q", got)
	}
	if got, changed := Secrets(listed); !changed || strings.Contains(got, "in-a-list") || !strings.Contains(got, "k: visible") {
		t.Fatalf("a Secret inside a List:\n%s", got)
	}
	if got, changed := Secrets("kind: Secret\ndata: {password: [unclosed\n"); !changed || strings.Contains(got, "password") {
		t.Fatalf("unparsable text with a Secret: %q", got)
	}
}

func TestRestore(t *testing.T) {
	t.Parallel()
	shown, _ := Secrets(manifests)
	got, err := Restore(shown, manifests)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "c3VwZXJzZWNyZXQ=") || !strings.Contains(got, "hunter2") || strings.Contains(got, Placeholder) {
		t.Fatalf("restored:\n%s", got)
	}
	// A changed value is taken as given; a new key with the placeholder
	// has nothing to keep.
	edited := strings.Replace(shown, "password: (redacted)", "password: bmV3", 1)
	if got, err := Restore(edited, manifests); err != nil || !strings.Contains(got, "bmV3") || !strings.Contains(got, "hunter2") {
		t.Fatalf("an edited value: %v\n%s", err, got)
	}
	if _, err := Restore(shown, ""); err == nil || !strings.Contains(err.Error(), "the Secret db: data.password") {
		t.Fatalf("nothing stored: %v", err)
	}
	if got, err := Restore(manifests, ""); err != nil || got != manifests {
		t.Fatalf("text without a placeholder: %v %q", err, got)
	}
}
