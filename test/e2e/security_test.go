package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/webhook"
)

// An inline kubeconfig is encrypted at rest and never logged: a server
// with debug logging deploys through an environment given inline, and
// neither its log nor the raw SQLite files hold the kubeconfig's text.
func TestSecretsAtRest(t *testing.T) {
	const p = "inline-env"
	s := startServer(t)
	kc, err := os.ReadFile(cluster.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	const marker = "MARKER-c0ffee-inline-kubeconfig"
	inline := string(kc) + "# " + marker + "\n"
	keyData := regexp.MustCompile(`client-key-data: (\S+)`).FindStringSubmatch(inline)
	if keyData == nil {
		t.Fatalf("the cluster's kubeconfig has no client-key-data to watch for")
	}
	dir := writeFixture(t, fixture{Pipeline: p, Environment: "inline", Artifact: p, CanaryNS: p + "-c", ProdNS: p + "-p", NoApproval: true})
	var env strings.Builder
	env.WriteString("apiVersion: fledge.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: inline\nspec:\n  kubeconfig:\n    inline: |\n")
	for _, line := range strings.Split(strings.TrimRight(inline, "\n"), "\n") {
		env.WriteString("      " + line + "\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "environment.yaml"), []byte(env.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	s.fledge("admin", "apply", "-f", dir)
	if out := s.fledge("admin", "apply", "-f", dir); !strings.Contains(out, "environment/inline unchanged") {
		t.Fatalf("re-applying the same inline kubeconfig must be unchanged:\n%s", out)
	}
	// The executor opens the sealed kubeconfig to deploy.
	d := s.run("ci", p, "IMAGE_TAG=1.0")
	s.waitStatus(d.ID, 2*time.Minute, v1alpha1.StatusSucceeded)
	waitWorkload(t, p+"-p", image+"1.0")
	for _, args := range [][]string{{"get", "environment", "inline", "-o", "yaml"}, {"describe", "environment", "inline"}, {"get", "environments", "-o", "json"}} {
		if out := s.fledge("alice", args...); strings.Contains(out, marker) || strings.Contains(out, keyData[1]) {
			t.Fatalf("fledge %s shows the kubeconfig:\n%s", strings.Join(args, " "), out)
		}
	}
	s.stop()
	var raw []byte
	for _, f := range []string{s.logPath, s.store, s.store + "-wal", s.store + "-shm"} {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		raw = append(raw, b...)
		if bytes.Contains(b, []byte(marker)) || bytes.Contains(b, []byte(keyData[1])) {
			t.Fatalf("%s holds the inline kubeconfig in clear text", f)
		}
	}
	if !bytes.Contains(raw, []byte("fledge-sealed:v1:")) {
		t.Fatal("the store holds no sealed value: was the kubeconfig stored at all?")
	}
	if log, _ := os.ReadFile(s.logPath); !bytes.Contains(log, []byte("level=DEBUG")) {
		t.Fatal("the server did not log at debug level; the check above proves little")
	}
}

// A GitHub webhook starts a run with parameters mapped from the payload;
// its signature is verified, a replay is refused, and with
// requireDistinctFromTrigger the sender cannot approve their own release.
func TestGitHubWebhookFourEyes(t *testing.T) {
	const p = "webhook-four-eyes"
	s := startServer(t)
	dir := writeFixture(t, fixture{Pipeline: p, Environment: "local", Artifact: p, CanaryNS: p + "-c", ProdNS: p + "-p"})
	pl, err := os.ReadFile(filepath.Join(dir, "pipeline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(pl), "        approvalsRequired: 1\n", "        approvalsRequired: 1\n        requireDistinctFromTrigger: true\n", 1)
	text += `  triggers:
    - github:
        secretRef: github
        events: [registry_package]
        match:
          action: published
        parameters:
          IMAGE_TAG: "{{ .registry_package.package_version.container_metadata.tag.name }}"
`
	if err := os.WriteFile(filepath.Join(dir, "pipeline.yaml"), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := s.fledgeErr("admin", "apply", "-f", dir); err == nil || !strings.Contains(out, `webhook secret \"github\" does not exist`) && !strings.Contains(out, `webhook secret "github" does not exist`) {
		t.Fatalf("a trigger naming a missing secret must be refused: %v\n%s", err, out)
	}
	secret := strings.TrimSpace(s.fledge("admin", "secret", "set", "github", "--generate"))
	s.fledge("admin", "apply", "-f", dir)

	body := []byte(`{"action":"published","registry_package":{"package_version":{"container_metadata":{"tag":{"name":"3.0"}}}},"sender":{"login":"octocat"}}`)
	deliver := func(id string, sig string) (int, v1alpha1.WebhookResult, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, s.url+"/api/v1/webhooks/github/"+p, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(webhook.GitHubEventHeader, "registry_package")
		req.Header.Set(webhook.GitHubDeliveryHeader, id)
		req.Header.Set(webhook.GitHubSignatureHeader, sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var res v1alpha1.WebhookResult
		_ = json.Unmarshal(b, &res)
		return resp.StatusCode, res, string(b)
	}
	if code, _, b := deliver("delivery-0", webhook.SignGitHub([]byte("not the secret at all, no"), body)); code != http.StatusUnauthorized {
		t.Fatalf("a delivery signed with another secret: %d %s", code, b)
	}
	code, res, b := deliver("delivery-1", webhook.SignGitHub([]byte(secret), body))
	if code != http.StatusCreated || res.Deployment == nil || res.Deployment.Parameters["IMAGE_TAG"] != "3.0" || res.Deployment.TriggeredBy != "github:octocat" {
		t.Fatalf("a signed delivery: %d %s", code, b)
	}
	if code, _, b := deliver("delivery-1", webhook.SignGitHub([]byte(secret), body)); code != http.StatusConflict {
		t.Fatalf("a replayed delivery: %d %s", code, b)
	}
	d := s.waitStatus(res.Deployment.ID, time.Minute, v1alpha1.StatusWaitingForApproval)
	waitWorkload(t, p+"-c", image+"3.0")
	// octocat (who pushed the package) has an approver token, but cannot
	// approve the run their push started.
	out, err := s.fledgeErr("octocat", "approve", itoa(d.ID))
	if err == nil || !strings.Contains(out, "four eyes") {
		t.Fatalf("the trigger approving: %v\n%s", err, out)
	}
	s.fledge("alice", "approve", itoa(d.ID), "--reason", "second pair of eyes")
	d = s.waitStatus(d.ID, time.Minute, v1alpha1.StatusSucceeded)
	if len(d.Decisions) != 1 || d.Decisions[0].User != "alice" {
		t.Fatalf("decisions: %+v", d.Decisions)
	}
	waitWorkload(t, p+"-p", image+"3.0")
	// The audit log tells the story.
	audit := s.fledge("admin", "audit", "-o", "wide")
	for _, want := range []string{"github:octocat   webhook.trigger", "octocat          deployment.approve", "alice            deployment.approve", "admin            secret.set"} {
		if !strings.Contains(strings.Join(strings.Fields(audit), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("audit log lacks %q:\n%s", want, audit)
		}
	}
}
