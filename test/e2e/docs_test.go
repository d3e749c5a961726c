package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"fledge.dev/fledge/api/v1alpha1"
)

// shScripts returns every ```sh block of a docs file as written, one
// script each (continued lines stay together).
func shScripts(t *testing.T, rel string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	var (
		blocks []string
		cur    []string
		in     bool
	)
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(l, "```sh"):
			in, cur = true, nil
		case in && strings.HasPrefix(l, "```"):
			in = false
			blocks = append(blocks, strings.Join(cur, "\n")+"\n")
		case in:
			cur = append(cur, l)
		}
	}
	return blocks
}

// docsShell runs the sh blocks of one docs file as written, each as one
// `sh -e` script (so a variable set on one line is there on the next), in
// dir with env. A line starting with `fledge serve` is started in the
// background instead and waited for (/readyz at the address
// FLEDGE_LISTEN names) before the rest of its block runs; afterServe, when
// set, then adds to the environment. Fixed addresses are replaced as
// subst says (a free port for 127.0.0.1:8080, say).
type docsShell struct {
	t          *testing.T
	rel, dir   string
	env        []string
	subst      *strings.Replacer
	afterServe func() []string
}

// run runs one block and returns what it printed.
func (d *docsShell) run(block string) string {
	d.t.Helper()
	var (
		script []string
		out    bytes.Buffer
	)
	for _, line := range strings.Split(d.subst.Replace(block), "\n") {
		if !strings.HasPrefix(line, "fledge serve") {
			script = append(script, line)
			continue
		}
		out.WriteString(d.script(strings.Join(script, "\n")))
		script = nil
		d.serve(line)
	}
	out.WriteString(d.script(strings.Join(script, "\n")))
	return out.String()
}

func (d *docsShell) script(text string) string {
	d.t.Helper()
	if strings.TrimSpace(text) == "" {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-ec", text)
	cmd.Dir, cmd.Env = d.dir, d.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		d.t.Fatalf("%s: block failed: %v\n%s\noutput:\n%s", d.rel, err, text, out)
	}
	d.t.Logf("%s:\n%s\n%s", d.rel, text, out)
	return string(out)
}

// serve starts a `fledge serve` line in the background until the test ends.
func (d *docsShell) serve(line string) {
	d.t.Helper()
	serveLine, _, _ := strings.Cut(line, "#")
	serveLine = strings.TrimSuffix(strings.TrimSpace(serveLine), "&")
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "sh", "-c", "exec "+serveLine)
	cmd.Dir, cmd.Env = d.dir, d.env
	var log syncBuffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	addr := ""
	for _, e := range d.env {
		if v, ok := strings.CutPrefix(e, "FLEDGE_LISTEN="); ok {
			addr = v
		}
	}
	waitReady(d.t, "http://"+addr, &log.Buffer)
	if d.afterServe != nil {
		d.env = append(d.env, d.afterServe()...)
	}
}

// syncBuffer is a bytes.Buffer a process may write while it is read.
type syncBuffer struct {
	mu sync.Mutex
	bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.Write(p)
}

// hasFacts fails unless out contains every fact.
func hasFacts(t *testing.T, what, out string, facts ...string) {
	t.Helper()
	for _, f := range facts {
		if !strings.Contains(out, f) {
			t.Errorf("%s: output lacks %q:\n%s", what, f, out)
		}
	}
}

// docs/ci-triggers.md's commands, run as written against a server whose
// admin the CLI is logged in as (HOME's config), FLEDGE_SERVER set as a CI
// job has it, in a fresh working directory. The pipeline is the
// walkthrough's, on namespaces of its own; before the generic webhook's
// block it gets the triggers of the docs' YAML, as the reader applies
// them. Each way of starting a run must start one, with its identity.
func TestDocsCITriggersCommands(t *testing.T) {
	const pipeline = "webpage-canary-deployment-pipeline"
	blocks := shScripts(t, "docs/ci-triggers.md")
	s := startServer(t)
	home, work := t.TempDir(), t.TempDir()
	env := []string{
		"HOME=" + home,
		"PATH=" + filepath.Dir(fledgeBin) + string(os.PathListSeparator) + os.Getenv("PATH"),
		"FLEDGE_SERVER=" + s.url,
	}
	login := exec.Command(fledgeBin, "login", "--server", s.url, "--token-stdin")
	login.Env = env
	login.Stdin = strings.NewReader(adminToken)
	if out, err := login.CombinedOutput(); err != nil {
		t.Fatalf("fledge login: %v\n%s", err, out)
	}
	dir := writeFixture(t, fixture{Pipeline: pipeline, Environment: "local", Artifact: "webpage-manifest", CanaryNS: "citrig-c", ProdNS: "citrig-p"})
	s.fledge("admin", "apply", "-f", dir)

	sh := &docsShell{t: t, rel: "docs/ci-triggers.md", dir: work, env: env, subst: strings.NewReplacer()}
	ran := map[string]bool{}
	for _, block := range blocks {
		switch {
		case strings.Contains(block, "fledge token create ci"):
			sh.run(block)
			b, err := os.ReadFile(filepath.Join(work, "ci.token"))
			if err != nil || !strings.HasPrefix(string(b), "fledge_") {
				t.Fatalf("ci.token holds %q (%v), want the token", b, err)
			}
			ran["token"] = true
		case strings.Contains(block, "/runs"):
			out := sh.run(block)
			hasFacts(t, "runs with the token", out, `"triggeredBy"`, "created")
			ran["runs"] = true
		case strings.Contains(block, "fledge secret set github"):
			out := sh.run(block)
			if b, err := os.ReadFile(filepath.Join(work, "release-bot.secret")); err != nil || len(strings.TrimSpace(string(b))) < 16 {
				t.Fatalf("release-bot.secret holds %q (%v), want the generated secret", b, err)
			}
			hasFacts(t, "secret set", out, "secret/github created")
			ran["secrets"] = true
		case strings.Contains(block, "webhooks/generic"):
			applyTriggers(t, s, dir, pipeline)
			out := sh.run(block)
			var res struct{ Deployment *v1alpha1.Deployment }
			if err := json.Unmarshal([]byte(out[max(strings.Index(out, "{"), 0):]), &res); err != nil || res.Deployment == nil {
				t.Fatalf("the generic webhook's answer has no deployment: %v\n%s", err, out)
			}
			if d := *res.Deployment; d.TriggeredBy != "webhook:release-bot" || d.Parameters["IMAGE_TAG"] != "2.1" || d.Pipeline != pipeline {
				t.Errorf("the generic webhook started %+v, want %s with IMAGE_TAG=2.1 triggered by webhook:release-bot", d, pipeline)
			}
			ran["generic"] = true
		default:
			t.Errorf("docs/ci-triggers.md has a block this test does not know; run it here:\n%s", block)
		}
	}
	for _, key := range []string{"token", "runs", "secrets", "generic"} {
		if !ran[key] {
			t.Errorf("docs/ci-triggers.md has no %s block any more; update this test", key)
		}
	}
	// The token's run and the CLI's, then the webhook's, one after the
	// other in the pipeline's queue.
	var l v1alpha1.DeploymentList
	s.getJSON("/api/v1/deployments?pipeline="+pipeline, &l)
	var by []string
	for _, d := range l.Items {
		by = append(by, d.TriggeredBy+" "+v1alpha1.FormatParameters(d.Parameters, ","))
	}
	// Newest first.
	if got, want := strings.Join(by, " | "), "webhook:release-bot IMAGE_TAG=2.1 | ci IMAGE_TAG=2.1 | ci IMAGE_TAG=2.1"; got != want {
		t.Errorf("deployments started %q, want %q (curl and fledge run with the CI token, then the webhook)", got, want)
	}
	for _, d := range l.Items {
		if !d.Status.Final() {
			s.fledge("admin", "cancel", itoa(d.ID))
		}
	}
}

// applyTriggers applies the pipeline of dir again with the triggers of the
// YAML block of docs/ci-triggers.md that has them.
func applyTriggers(t *testing.T, s *server, dir, pipeline string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "docs", "ci-triggers.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n  triggers:\n")
	if !ok {
		t.Fatal("docs/ci-triggers.md has no pipeline with triggers any more")
	}
	triggers, _, _ := strings.Cut(rest, "```")
	p, err := os.ReadFile(filepath.Join(dir, "pipeline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pipeline.yaml"), []byte(string(p)+"  triggers:\n"+triggers), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := s.fledge("admin", "apply", "-f", filepath.Join(dir, "pipeline.yaml")); !strings.Contains(out, "pipeline/"+pipeline+" configured") {
		t.Fatalf("apply of the pipeline with the docs' triggers:\n%s", out)
	}
}

// docs/operations.md's commands, run as written in a fresh HOME and working
// directory holding the repository's deploy/ folder. Substitutions: `fledge
// serve` runs in the background and is waited for, then the CLI uses its
// admin token (FLEDGE_SERVER, FLEDGE_TOKEN); 127.0.0.1:8080 and
// 127.0.0.1:9464 become free ports; $SLACK_WEBHOOK_URL is a local receiver,
// which a pipeline's Slack notification then reaches through the secret
// the docs create.
func TestDocsOperationsCommands(t *testing.T) {
	blocks := shScripts(t, "docs/operations.md")
	home, work := t.TempDir(), t.TempDir()
	if err := os.Symlink(filepath.Join(repoRoot, "deploy"), filepath.Join(work, "deploy")); err != nil {
		t.Fatal(err)
	}
	slack := startSlack(t)
	addr, metricsAddr := freeAddr(t), freeAddr(t)
	env := []string{
		"HOME=" + home,
		"PATH=" + filepath.Dir(fledgeBin) + string(os.PathListSeparator) + os.Getenv("PATH"),
		"FLEDGE_LISTEN=" + addr,
		"SLACK_WEBHOOK_URL=" + slack.url,
	}
	sh := &docsShell{
		t: t, rel: "docs/operations.md", dir: work, env: env,
		subst: strings.NewReplacer("127.0.0.1:8080", addr, "127.0.0.1:9464", metricsAddr),
		afterServe: func() []string {
			tok, err := os.ReadFile(filepath.Join(home, ".local", "share", "fledge", "admin.token"))
			if err != nil {
				t.Fatalf("the admin token fledge serve writes: %v", err)
			}
			return []string{"FLEDGE_SERVER=http://" + addr, "FLEDGE_TOKEN=" + strings.TrimSpace(string(tok))}
		},
	}
	ran := map[string]bool{}
	for _, block := range blocks {
		out := sh.run(block)
		switch {
		case strings.Contains(block, "--metrics-listen"):
			// Both curls print the metrics: the API's with the token,
			// then the metrics address's without one.
			if n := strings.Count(out, "# TYPE fledge_store_scrape_error gauge"); n != 2 {
				t.Errorf("the two /metrics answers hold fledge_store_scrape_error %d times, want 2:\n%s", n, out)
			}
			ran["metrics"] = true
		case strings.Contains(block, "promtool"):
			hasFacts(t, "promtool", out, "SUCCESS")
			ran["promtool"] = true
		case strings.Contains(block, "fledge secret set slack-webhook"):
			if _, err := os.Stat(filepath.Join(work, "slack-url.txt")); !os.IsNotExist(err) {
				t.Errorf("slack-url.txt should be removed once stored: %v", err)
			}
			ran["secrets"] = true
		default:
			t.Errorf("docs/operations.md has a block this test does not know; check it here:\n%s", block)
		}
	}
	for _, key := range []string{"metrics", "promtool", "secrets"} {
		if !ran[key] {
			t.Errorf("docs/operations.md has no %s block any more; update this test", key)
		}
	}
	if t.Failed() {
		return
	}

	// The Slack secret is the receiver's URL: a pipeline notifying it
	// reaches it when its deployment waits for approval.
	const pipeline = "ops-docs"
	dir := writeFixture(t, fixture{Pipeline: pipeline, Environment: "local", Artifact: pipeline, CanaryNS: pipeline + "-c", ProdNS: pipeline + "-p"})
	appendFile(t, filepath.Join(dir, "pipeline.yaml"), "  notifications:\n    - name: team-chat\n      events: [ApprovalNeeded]\n      slack:\n        webhookURLSecret: slack-webhook\n")
	sh.script("fledge apply -f " + dir + "\nfledge run " + pipeline + " --param IMAGE_TAG=1.0 --wait\n")
	select {
	case body := <-slack.got:
		if !strings.Contains(body, pipeline) {
			t.Errorf("the Slack message does not name the pipeline:\n%s", body)
		}
	case <-time.After(time.Minute):
		t.Fatal("no Slack message reached the receiver named by slack-url.txt")
	}
	sh.script("fledge reject " + pipeline + "#1 --reason 'test done'\n")
}

// slackReceiver is a local incoming webhook: it answers 200 to a POST and
// passes its body on.
type slackReceiver struct {
	url string
	got chan string
}

func startSlack(t *testing.T) *slackReceiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &slackReceiver{url: "http://" + ln.Addr().String() + "/services/T0/B0/test", got: make(chan string, 16)}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if req.Method != http.MethodPost || req.URL.Path != "/services/T0/B0/test" {
			http.Error(w, "not the webhook", http.StatusNotFound)
			return
		}
		select {
		case r.got <- string(body):
		default:
		}
		_, _ = io.WriteString(w, "ok")
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return r
}

// examplesShell starts a server that knows the kubeconfig `fledge dev
// cluster up` writes, and returns it with a shell for the commands of docs
// page rel, run in a directory holding the repository's examples, logged
// in as admin.
func examplesShell(t *testing.T, rel string) (*server, *docsShell) {
	t.Helper()
	home, work := t.TempDir(), t.TempDir()
	if err := os.Symlink(filepath.Join(repoRoot, "examples"), filepath.Join(work, "examples")); err != nil {
		t.Fatal(err)
	}
	kc, err := os.ReadFile(cluster.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(home, ".local", "state", "fledge", "dev-cluster")
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(state, "kubeconfig"), kc, 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "HOME="+home)
	env := []string{
		"HOME=" + home,
		"PATH=" + filepath.Dir(fledgeBin) + string(os.PathListSeparator) + os.Getenv("PATH"),
		"FLEDGE_SERVER=" + s.url, "FLEDGE_TOKEN=" + adminToken,
	}
	return s, &docsShell{t: t, rel: rel, dir: work, env: env, subst: strings.NewReplacer()}
}

// The commands of docs/steps.md, run as written in a directory holding
// the repository's examples, against a server that knows the kubeconfig
// `fledge dev cluster up` writes: the example pipeline applies with the
// walkthrough's environment and artifact and the analysis templates, and
// describe shows its steps with their gates, as the page says.
func TestDocsStepsCommands(t *testing.T) {
	blocks := shScripts(t, "docs/steps.md")
	_, sh := examplesShell(t, "docs/steps.md")
	if len(blocks) != 1 {
		t.Fatalf("docs/steps.md has %d sh blocks, want the one this test checks", len(blocks))
	}
	out := sh.run(blocks[0])
	checkQuoted(t, "docs/steps.md", "`describe` lists the steps with their gates:", out)
	hasFacts(t, "apply", out, "pipeline/webpage-progressive created", "analysistemplate/ingress-nginx-success-rate created")
}

// checkQuoted fails unless every line of the output the docs file rel
// quotes after intro (a fenced block; "..." lines aside) is in out.
func checkQuoted(t *testing.T, rel, intro, out string) {
	t.Helper()
	page, err := os.ReadFile(filepath.Join(repoRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	_, quoted, ok := strings.Cut(string(page), intro+"\n\n```\n")
	if !ok {
		t.Fatalf("%s no longer says %q before a quoted output", rel, intro)
	}
	quoted, _, _ = strings.Cut(quoted, "```")
	for _, l := range strings.Split(strings.TrimSpace(quoted), "\n") {
		if strings.TrimSpace(l) == "..." {
			continue
		}
		if !strings.Contains(out, l) {
			t.Errorf("%s quotes %q; the commands printed:\n%s", rel, l, out)
		}
	}
}

// The commands of docs/waves.md, run as written: a second local control
// plane started by `fledge dev cluster up --dir`, the example applied, one
// release through both waves, and the history saying where it runs.
func TestDocsWavesCommands(t *testing.T) {
	blocks := shScripts(t, "docs/waves.md")
	if len(blocks) != 1 {
		t.Fatalf("docs/waves.md has %d sh blocks, want the one this test checks", len(blocks))
	}
	_, sh := examplesShell(t, "docs/waves.md")
	home := strings.TrimPrefix(sh.env[0], "HOME=")
	sh.env = append(sh.env, "FLEDGE_CONTROLPLANE_BIN="+filepath.Dir(cluster.KubectlPath()))
	t.Cleanup(func() {
		cmd := exec.Command(fledgeBin, "dev", "cluster", "down", "--dir", filepath.Join(home, ".local", "state", "fledge", "dev-cluster-eu"))
		cmd.Env = sh.env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("stop the second cluster: %v\n%s", err, out)
		}
		for _, ns := range []string{"waves-canary", "waves-prod", "tenant-b"} {
			_ = cluster.Clientset().CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
		}
	})
	out := sh.run(blocks[0])
	checkQuoted(t, "docs/waves.md", "`describe` shows the waves:", out)
	hasFacts(t, "docs/waves.md", out,
		"(webpage-waves#1) is waiting for approval at tenants/step-1",
		"(webpage-waves#1) succeeded",
		"*,eu/webpage,eu/tenant-a,local/tenant-b")
}
