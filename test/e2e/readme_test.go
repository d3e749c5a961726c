package e2e

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// readmeSubstitutions are the only changes a non-interactive run makes to
// the README's "Using it" block; each one says why.
//
//   - `fledge dev cluster up` is not run: the suite's control plane is
//     already up, and its kubeconfig is copied to where `dev cluster up`
//     writes it (the path examples/webpage/environment.yaml names).
//     Starting a second control plane would double the test's time.
//   - 127.0.0.1:8080 becomes a free loopback port (FLEDGE_LISTEN for
//     serve, the same address in login's --server), since other servers
//     may hold 8080 on a shared machine.
//   - `fledge serve &` runs in the background for the rest of the block
//     and is waited for (/readyz) before the next line.
//   - `fledge logs -f` on a finished deployment ends by itself; it is
//     bounded by a timeout all the same.
//
// Every other line runs exactly as written, with `sh -c`, in the
// repository root, HOME a fresh directory and PATH starting with the
// freshly built fledge.
var readmeSubstitutions = []string{"dev cluster up", "127.0.0.1:8080", "serve &", "logs -f"}

// readmeBlock returns the command lines of the first shell block under
// heading in README.md.
func readmeBlock(t *testing.T, heading string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README.md has no %q heading", heading)
	}
	_, rest, ok = strings.Cut(rest, "```sh\n")
	if !ok {
		t.Fatalf("README.md: no ```sh block under %q", heading)
	}
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatalf("README.md: unterminated block under %q", heading)
	}
	var lines []string
	for _, l := range strings.Split(block, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return lines
}

// The README's "Using it" block, run line by line as a newcomer would.
func TestReadmeUsingIt(t *testing.T) {
	lines := readmeBlock(t, "## Using it")
	canaryNS, prodNS := "ns-canary-stage", "ns-canary-prod"
	waitNamespacesGone(t, canaryNS, prodNS)
	t.Cleanup(func() {
		for _, ns := range []string{canaryNS, prodNS} {
			_ = cluster.Clientset().CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
		}
	})

	home := t.TempDir()
	kc := filepath.Join(home, ".local/state/fledge/dev-cluster/kubeconfig")
	if err := os.MkdirAll(filepath.Dir(kc), 0o700); err != nil {
		t.Fatal(err)
	}
	kb, err := os.ReadFile(cluster.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kc, kb, 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	env := []string{
		"HOME=" + home,
		"PATH=" + filepath.Dir(fledgeBin) + string(os.PathListSeparator) + os.Getenv("PATH"),
		"FLEDGE_LISTEN=" + addr,
		"KUBECONFIG=" + kc,
	}
	sh := func(ctx context.Context, line string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, "sh", "-c", line)
		cmd.Dir, cmd.Env = repoRoot, env
		return cmd
	}

	// What each line must print (stdout and stderr together).
	want := map[string][]string{
		"token create": {},
		"apply -f":     {"environment/local created", "artifact/webpage-manifest created", "pipeline/webpage-canary-deployment-pipeline created"},
		"run ":         {"WaitingForApproval"},
		"describe":     {"approval-stage", "WeightKept"},
		"approve":      {"Succeeded"},
		"login":        {},
		"history":      {"Succeeded"},
		// #1 is what production runs, so the diff against live is empty,
		// and the dry-run says so.
		"rollback": {"Rollback of webpage-canary-deployment-pipeline to deployment 1", "Nothing would change in production"},
		"logs -f":  {"Approved", "DeploymentSucceeded"},
	}
	ran := map[string]bool{}
	for _, line := range lines {
		switch {
		case strings.HasPrefix(line, "fledge dev cluster up"):
			ran["dev cluster up"] = true
			continue
		case strings.HasPrefix(line, "fledge serve &"):
			serveLine, _, _ := strings.Cut(line, "&")
			ctx, cancel := context.WithCancel(context.Background())
			cmd := sh(ctx, "exec "+serveLine)
			var log bytes.Buffer
			cmd.Stdout, cmd.Stderr = &log, &log
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cancel(); _ = cmd.Wait() })
			waitReady(t, "http://"+addr, &log)
			ran["serve &"] = true
			continue
		}
		line = strings.ReplaceAll(line, "127.0.0.1:8080", addr)
		timeout := 2 * time.Minute
		if strings.Contains(line, "logs -f") {
			timeout = 30 * time.Second
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		out, err := sh(ctx, line).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("README line failed: %s\n%v\n%s", line, err, out)
		}
		t.Logf("$ %s\n%s", line, out)
		for key, facts := range want {
			if !strings.Contains(line, "fledge "+key) {
				continue
			}
			ran[key] = true
			for _, f := range facts {
				if !strings.Contains(string(out), f) {
					t.Errorf("%s: output lacks %q:\n%s", line, f, out)
				}
			}
		}
	}
	for _, key := range append(readmeSubstitutions, "login", "token create", "apply -f", "run ", "describe", "approve", "history", "rollback") {
		if key == "127.0.0.1:8080" {
			continue
		}
		if !ran[key] {
			t.Errorf("the README block has no %q line any more; update this test", key)
		}
	}
}

// waitReady waits until the server answers /readyz.
func waitReady(t *testing.T, url string, log *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("fledge serve not ready at %s:\n%s", url, log.String())
}

// waitNamespacesGone waits until earlier tests' namespaces of the same
// names are deleted, since the README's pipeline uses fixed names.
func waitNamespacesGone(t *testing.T, names ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for _, ns := range names {
		_ = cluster.Clientset().CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
		for {
			_, err := cluster.Clientset().CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				break
			}
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				t.Fatalf("namespace %s still there", ns)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// shBlocks returns the command lines of every ```sh block of a docs file.
func shBlocks(t *testing.T, rel string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	in := false
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(l, "```sh"):
			in = true
		case strings.HasPrefix(l, "```"):
			in = false
		case in && strings.TrimSpace(l) != "" && !strings.HasPrefix(strings.TrimSpace(l), "#"):
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	return lines
}

// docs/security.md's commands, run as written in a fresh HOME and working
// directory. Substitutions: `fledge serve` runs in the background and is
// waited for; 127.0.0.1:8080 becomes a free port (FLEDGE_LISTEN);
// $REGISTRY_TOKEN is set. Every sh block of the file runs.
func TestDocsSecurityCommands(t *testing.T) {
	lines := shBlocks(t, "docs/security.md")
	home, work := t.TempDir(), t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	env := []string{
		"HOME=" + home,
		"PATH=" + filepath.Dir(fledgeBin) + string(os.PathListSeparator) + os.Getenv("PATH"),
		"FLEDGE_LISTEN=" + addr,
		"REGISTRY_TOKEN=registry-password-for-the-test",
	}
	want := map[string][]string{
		"token list":         {"alice", "ci"},
		"token revoke ci":    {},
		"audit --user alice": {},
		"audit export":       {},
		"secret list":        {"ghcr", "registry", "ghcr.io"},
	}
	ran := map[string]bool{}
	for _, line := range lines {
		if strings.HasPrefix(line, "fledge serve") {
			serveLine, _, _ := strings.Cut(line, "#")
			ctx, cancel := context.WithCancel(context.Background())
			cmd := exec.CommandContext(ctx, "sh", "-c", "exec "+serveLine)
			cmd.Dir, cmd.Env = work, env
			var log bytes.Buffer
			cmd.Stdout, cmd.Stderr = &log, &log
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cancel(); _ = cmd.Wait() })
			waitReady(t, "http://"+addr, &log)
			ran["serve"] = true
			continue
		}
		line = strings.ReplaceAll(line, "127.0.0.1:8080", addr)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, "sh", "-c", line)
		cmd.Dir, cmd.Env = work, env
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("docs/security.md line failed: %s\n%v\n%s", line, err, out)
		}
		for key, facts := range want {
			if !strings.Contains(line, "fledge "+key) {
				continue
			}
			ran[key] = true
			for _, f := range facts {
				if !strings.Contains(string(out), f) {
					t.Errorf("%s: output lacks %q:\n%s", line, f, out)
				}
			}
		}
		if strings.Contains(string(out), "registry-password-for-the-test") {
			t.Errorf("%s printed the registry password:\n%s", line, out)
		}
	}
	for _, key := range []string{"serve", "token list", "token revoke ci", "audit --user alice", "audit export", "secret list"} {
		if !ran[key] {
			t.Errorf("docs/security.md has no %q line any more; update this test", key)
		}
	}
	if b, err := os.ReadFile(filepath.Join(work, "audit-today.jsonl")); err != nil || !bytes.Contains(b, []byte("token")) {
		t.Errorf("audit export wrote no token events: %v\n%s", err, b)
	}
}

// docsNotRun are the docs whose shell commands no test here runs, and why.
// TestDocsBlocksAccounted keeps this list and the docs in step.
var docsNotRun = map[string]string{
	"docs/install.md": "helm install, kubectl and make image need a cluster with nodes, a registry and minutes of image build",
}

// docsRun are the docs whose shell commands a test here runs as written.
var docsRun = map[string]string{
	"README.md":           "TestReadmeUsingIt (the Using it block)",
	"docs/security.md":    "TestDocsSecurityCommands",
	"docs/ci-triggers.md": "TestDocsCITriggersCommands",
	"docs/operations.md":  "TestDocsOperationsCommands",
	"docs/steps.md":       "TestDocsStepsCommands",
	"docs/waves.md":       "TestDocsWavesCommands",
	"docs/bluegreen.md":   "TestDocsBlueGreenCommands",
}

// Every docs file with shell commands is run by a test here or listed in
// docsNotRun with a reason.
func TestDocsBlocksAccounted(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		rel, _ := filepath.Rel(repoRoot, f)
		if len(shBlocks(t, rel)) == 0 {
			continue
		}
		if docsRun[rel] == "" && docsNotRun[rel] == "" {
			t.Errorf("%s has shell commands that no test runs: run them in readme_test.go or list them in docsNotRun with the reason", rel)
		}
	}
}
