package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"fledge.dev/fledge/api/v1alpha1"
)

// A registry secret named by the environment reaches both namespaces as a
// dockerconfigjson Secret named in the pod templates; rotation updates it
// with the next apply, a rollback uses the credential as it is now, and
// the credential never shows in API answers, events, the server's log or
// the rollback diff.
func TestRegistryCredentials(t *testing.T) {
	const (
		pipeline = "registry-pipeline"
		canaryNS = "registry-canary"
		prodNS   = "registry-prod"
		secret   = "fledge-registry-ghcr"
	)
	passwords := []string{"pw-first-3f9a1c77e2", "pw-rotated-b81d04aa5c", "pw-third-c0ffee1234"}
	s := startServer(t)

	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(passwords[0]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := s.fledge("admin", "secret", "create", "ghcr", "--type", "registry", "--registry-server", "ghcr.example", "--username", "robot", "--password-file", pwFile); !strings.Contains(out, "secret/ghcr created") {
		t.Fatalf("secret create: %s", out)
	}
	if out, err := s.fledgeErr("admin", "secret", "create", "ghcr", "--type", "registry", "--registry-server", "ghcr.example", "--username", "robot", "--password-file", pwFile); err == nil || !strings.Contains(out, "already exists") {
		t.Fatalf("a second create must be refused: %v\n%s", err, out)
	}
	rotate := func(pw string) {
		t.Helper()
		cmd := exec.Command(fledgeBin, "--server", s.url, "--token", adminToken, "--config", "/nonexistent/fledge-e2e/config.yaml",
			"secret", "set", "ghcr", "--type", "registry", "--registry-server", "ghcr.example", "--username", "robot", "--password-stdin")
		cmd.Stdin = strings.NewReader(pw + "\n")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "secret/ghcr configured") {
			t.Fatalf("secret set: %v\n%s", err, out)
		}
	}

	dir := writeFixture(t, fixture{Pipeline: pipeline, Environment: "registry-env", Artifact: "registry-manifest", CanaryNS: canaryNS, ProdNS: prodNS, NoApproval: true, RegistrySecret: "ghcr"})
	s.fledge("admin", "apply", "-f", dir)

	cs := cluster.Clientset()
	// check asserts that ns holds the Secret with password pw and that the
	// Deployment's pod template names it.
	check := func(ns, pw string) {
		t.Helper()
		sec, err := cs.CoreV1().Secrets(ns).Get(context.Background(), secret, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("secret %s/%s: %v", ns, secret, err)
		}
		if sec.Type != corev1.SecretTypeDockerConfigJson {
			t.Fatalf("secret %s/%s has type %s", ns, secret, sec.Type)
		}
		var cfg struct {
			Auths map[string]struct{ Username, Password string } `json:"auths"`
		}
		if err := json.Unmarshal(sec.Data[corev1.DockerConfigJsonKey], &cfg); err != nil {
			t.Fatal(err)
		}
		if a := cfg.Auths["ghcr.example"]; a.Username != "robot" || a.Password != pw {
			t.Fatalf("secret %s/%s holds %s/%s, want robot and the password set last", ns, secret, a.Username, a.Password)
		}
		d, err := cs.AppsV1().Deployments(ns).Get(context.Background(), "webpage-deployment", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(d.Spec.Template.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: secret}) {
			t.Fatalf("deployment %s/webpage-deployment imagePullSecrets = %v, want %s", ns, d.Spec.Template.Spec.ImagePullSecrets, secret)
		}
	}

	d1 := s.run("ci", pipeline, "IMAGE_TAG=2.0")
	s.waitStatus(d1.ID, 2*time.Minute, v1alpha1.StatusSucceeded)
	check(canaryNS, passwords[0])
	check(prodNS, passwords[0])

	// Rotation: the next run's applies update the Secret in both namespaces.
	rotate(passwords[1])
	d2 := s.run("ci", pipeline, "IMAGE_TAG=2.1")
	s.waitStatus(d2.ID, 2*time.Minute, v1alpha1.StatusSucceeded)
	check(canaryNS, passwords[1])
	check(prodNS, passwords[1])

	// The rollback preview shows the image going back and nothing of the
	// credential: the Secret is not part of a diff, and imagePullSecrets,
	// added the same way on both sides, does not change.
	preview := s.fledge("admin", "rollback", pipeline, "--to", itoa(d1.ID), "--dry-run")
	if !strings.Contains(preview, image+"2.0") || strings.Contains(preview, "imagePullSecrets") || strings.Contains(preview, secret) {
		t.Fatalf("rollback preview should show only the image change:\n%s", preview)
	}
	// A rollback uses the credential as it is now.
	rotate(passwords[2])
	s.fledge("admin", "rollback", pipeline, "--to", itoa(d1.ID), "--yes")
	var list v1alpha1.DeploymentList
	s.getJSON("/api/v1/deployments?pipeline="+pipeline+"&limit=1", &list)
	s.waitStatus(list.Items[0].ID, 2*time.Minute, v1alpha1.StatusSucceeded)
	check(prodNS, passwords[2])
	check(canaryNS, passwords[1]) // a rollback applies to production only

	if out, err := s.fledgeErr("admin", "secret", "delete", "ghcr"); err == nil || !strings.Contains(out, "environment/registry-env") {
		t.Fatalf("deleting a secret an environment uses must be refused naming it: %v\n%s", err, out)
	}
	list2 := s.fledge("admin", "secret", "list")
	if !strings.Contains(list2, "ghcr.example") || !strings.Contains(list2, "registry") {
		t.Fatalf("secret list should show the type and server:\n%s", list2)
	}

	// Nothing of the credential anywhere: API answers, Fledge's events,
	// Kubernetes events of both namespaces, the audit log, the server's
	// debug log, the rollback preview.
	var seen strings.Builder
	seen.WriteString(preview)
	seen.WriteString(list2)
	for _, args := range [][]string{
		{"secret", "list", "-o", "json"},
		{"get", "environment", "registry-env", "-o", "yaml"},
		{"audit", "-o", "json", "--limit", "1000"},
	} {
		seen.WriteString(s.fledge("admin", args...))
	}
	for _, id := range []int64{d1.ID, d2.ID, list.Items[0].ID} {
		var raw json.RawMessage
		s.getJSON("/api/v1/deployments/"+itoa(id), &raw)
		seen.Write(raw)
		s.getJSON("/api/v1/deployments/"+itoa(id)+"/events", &raw)
		seen.Write(raw)
	}
	for _, ns := range []string{canaryNS, prodNS} {
		evs, err := cs.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(evs)
		seen.Write(b)
	}
	log, err := os.ReadFile(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	seen.Write(log)
	if !strings.Contains(seen.String(), "secret/"+secret) {
		t.Errorf("the events should name the Secret applied (secret/%s)", secret)
	}
	for _, pw := range passwords {
		auth := base64.StdEncoding.EncodeToString([]byte("robot:" + pw))
		for _, leak := range []string{pw, auth, base64.StdEncoding.EncodeToString([]byte(pw))} {
			if i := strings.Index(seen.String(), leak); i >= 0 {
				t.Errorf("the credential %q leaked: ...%s...", leak, seen.String()[max(0, i-200):i])
			}
		}
	}
	if bytes.Contains(log, []byte(".dockerconfigjson")) {
		t.Errorf("the server log shows a Secret's data")
	}
}
