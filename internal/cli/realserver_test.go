package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/clusters"
	"fledge.dev/fledge/internal/httpapi"
	"fledge.dev/fledge/internal/secretbox"
	"fledge.dev/fledge/internal/service"
	"fledge.dev/fledge/internal/store"
	"fledge.dev/fledge/internal/store/sqlite"
)

// realAPI is the real HTTP API on a real SQLite store, in-process, with
// authentication on; no cluster is reachable (the environment points
// nowhere), and no executor runs.
type realAPI struct {
	url   string
	admin string
	st    *sqlite.Store
	dir   string
}

func startRealAPI(t *testing.T) *realAPI {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(dir, "fledge.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key, _ := secretbox.GenerateKey()
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	svc := service.New(service.Config{Store: st, Clusters: &clusters.StoreSource{Store: st, Secrets: box}, Secrets: box})
	admin, _, err := svc.Bootstrap(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(svc, nil))
	t.Cleanup(srv.Close)
	return &realAPI{url: srv.URL, admin: admin, st: st, dir: dir}
}

// cli runs the fledge command line in-process against the real API with
// a token, and returns its output (stdout then stderr) and error.
func (a *realAPI) cli(t *testing.T, token string, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	full := append([]string{"--server", a.url, "--token", token, "--config", filepath.Join(a.dir, "no-config.yaml")}, args...)
	err := Run(ctx, full, Streams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut})
	return out.String() + errOut.String(), err
}

// snapshot is what the store holds, to prove a refused input changed
// nothing.
func (a *realAPI) snapshot(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, k := range v1alpha1.Kinds {
		rs, err := a.st.ListResources(context.Background(), k)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			fmt.Fprintf(&b, "%s/%s@%d\n", r.Kind, r.Name, r.Generation)
		}
	}
	n, err := a.st.CountDeployments(context.Background(), store.DeploymentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "deployments: %d\n", n)
	return b.String()
}

// baseline applies an environment, an artifact with ${TAG}, a pipeline p
// and a webhook secret gh.
func (a *realAPI) baseline(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"env.yaml": "apiVersion: fledge.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: local\nspec:\n  kubeconfig:\n    path: /nonexistent/kubeconfig\n",
		"art.yaml": "apiVersion: fledge.dev/v1alpha1\nkind: Artifact\nmetadata:\n  name: web\nspec:\n  manifests: |\n    apiVersion: networking.k8s.io/v1\n    kind: Ingress\n    metadata:\n      name: web\n      labels:\n        version: \"${TAG}\"\n",
		"pl.yaml": "apiVersion: fledge.dev/v1alpha1\nkind: Pipeline\nmetadata:\n  name: p\nspec:\n  parameters:\n    - name: TAG\n  stages:\n" +
			"    - name: canary\n      canaryDeployment: {environment: local, artifacts: [web], namespace: c, ingressName: web}\n" +
			"    - name: release\n      productionRelease: {namespace: prod}\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := a.cli(t, a.admin, "", "apply", "-f", dir); err != nil {
		t.Fatalf("apply baseline: %v\n%s", err, out)
	}
	if out, err := a.cli(t, a.admin, "", "secret", "set", "gh", "--generate"); err != nil {
		t.Fatalf("secret set: %v\n%s", err, out)
	}
}

// TestHostileResourceFiles runs every file of testdata/hostile through
// `fledge apply -f` against the real API: each is refused with a non-zero
// exit and an error naming the problem (the "# want:" lines of the file),
// and nothing reaches the store.
func TestHostileResourceFiles(t *testing.T) {
	t.Parallel()
	a := startRealAPI(t)
	a.baseline(t)
	before := a.snapshot(t)
	files, err := filepath.Glob("testdata/hostile/*.yaml")
	if err != nil || len(files) < 50 {
		t.Fatalf("hostile corpus: %d files, %v; want at least 50", len(files), err)
	}
	// A huge file is made here rather than committed.
	huge := filepath.Join(t.TempDir(), "huge-file.yaml")
	pad := "# " + strings.Repeat("x", 1000) + "\n"
	if err := os.WriteFile(huge, []byte("# want: file is larger than 4194304 bytes\n"+strings.Repeat(pad, 4300)), 0o600); err != nil {
		t.Fatal(err)
	}
	files = append(files, huge)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var wants []string
		for _, line := range strings.Split(string(data), "\n") {
			if w, ok := strings.CutPrefix(line, "# want: "); ok {
				wants = append(wants, w)
			}
		}
		if len(wants) == 0 {
			t.Errorf("%s: no '# want:' line says what the error must name", f)
			continue
		}
		out, err := a.cli(t, a.admin, "", "apply", "-f", f)
		if code := exitCodeOf(err); code != 1 && code != 2 {
			t.Errorf("%s: exit %d, want 1 or 2\n%s", f, code, out)
			continue
		}
		msg := out + err.Error()
		for _, w := range wants {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: the error does not name the problem %q:\n%s", filepath.Base(f), w, msg)
			}
		}
		if after := a.snapshot(t); after != before {
			t.Fatalf("%s changed the store:\nbefore:\n%s\nafter:\n%s", f, before, after)
		}
	}
	// The same through standard input, which is bounded as a file is.
	out, err := a.cli(t, a.admin, strings.Repeat("#", 5<<20), "apply", "-f", "-")
	if err == nil || !strings.Contains(out+err.Error(), "larger than") {
		t.Errorf("huge standard input: %v\n%s", err, out)
	}
}

// TestHostileRunParameters: parameter values from the command line that
// try to change a manifest's structure or hide what they say are refused,
// or stay a plain string.
func TestHostileRunParameters(t *testing.T) {
	t.Parallel()
	a := startRealAPI(t)
	a.baseline(t)
	before := a.snapshot(t)
	for _, tc := range []struct {
		param string
		code  int
		want  string
	}{
		{"TAG=2.1\u202e1.2", 1, "invisible formatting character U+202E"},
		{"TAG=2.1\u200b", 1, "invisible formatting character U+200B"},
		{"TAG=\x1b[2J", 1, "control character U+001B"},
		{"TAG=a\x00b", 1, "control character U+0000"},
		{"TAG=\xff\xfe", 2, "not valid UTF-8"},
		{"TAG=" + strings.Repeat("x", 5000), 1, "over the limit of 4096"},
		{"TAG}=1", 2, "is not a parameter name"},
		{"IMAGE=1", 1, `declares no parameter "IMAGE"`},
		{"TAG", 2, "want NAME=VALUE"},
	} {
		out, err := a.cli(t, a.admin, "", "run", "p", "--param", tc.param)
		if code := exitCodeOf(err); code != tc.code || !strings.Contains(out+errText(err), tc.want) {
			t.Errorf("run --param %q: exit %d, want %d with %q:\n%s %v", tc.param, code, tc.code, tc.want, out, err)
		}
	}
	if after := a.snapshot(t); after != before {
		t.Fatalf("refused runs changed the store:\n%s\n%s", before, after)
	}
	// Values that look like YAML are accepted and stay one string: the
	// rendered manifests keep their structure.
	for i, v := range []string{"2.1\nkind: Secret", "2.1\n---\napiVersion: v1\nkind: Secret", `x", "y`, "*alias", "{a: b}"} {
		out, err := a.cli(t, a.admin, "", "run", "p", "--param", "TAG="+v, "-o", "json")
		if err != nil {
			t.Fatalf("run with %q: %v\n%s", v, err, out)
		}
		var d v1alpha1.Deployment
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			t.Fatalf("run -o json: %v\n%s", err, out)
		}
		manifests := a.manifests(t, d.ID)
		dec := yaml.NewDecoder(strings.NewReader(manifests))
		var docs []map[string]any
		for {
			var doc map[string]any
			if err := dec.Decode(&doc); err != nil {
				break
			}
			docs = append(docs, doc)
		}
		if len(docs) != 1 || docs[0]["kind"] != "Ingress" || docs[0]["metadata"].(map[string]any)["labels"].(map[string]any)["version"] != v {
			t.Errorf("value %d %q changed the structure:\n%s", i, v, manifests)
		}
	}
}

func (a *realAPI) manifests(t *testing.T, id int64) string {
	t.Helper()
	d, err := a.st.GetDeployment(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var plan struct{ Manifests string }
	if err := json.Unmarshal(d.Plan, &plan); err != nil {
		t.Fatal(err)
	}
	return plan.Manifests
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestLoginAndTokens drives login, whoami, token create, list and revoke,
// and the audit command, against the real API.
func TestLoginAndTokens(t *testing.T) {
	t.Parallel()
	a := startRealAPI(t)
	cfg := filepath.Join(t.TempDir(), "fledge", "config.yaml")
	run := func(stdin string, args ...string) (string, error) {
		t.Helper()
		var out, errOut bytes.Buffer
		err := Run(context.Background(), append([]string{"--config", cfg}, args...), Streams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut})
		return out.String() + errOut.String(), err
	}
	if out, err := run("not-a-token-at-all-not-a-token-at-all\n", "login", "--server", a.url, "--token-stdin"); err == nil || !strings.Contains(out+err.Error(), "invalid or expired token") {
		t.Fatalf("login with a bad token: %v\n%s", err, out)
	}
	if _, err := os.Stat(cfg); err == nil {
		t.Fatal("a failed login wrote the config file")
	}
	out, err := run(a.admin+"\n", "login", "--server", a.url, "--token-stdin")
	if err != nil || !strings.Contains(out, "logged in to "+a.url+" as admin (admin)") {
		t.Fatalf("login: %v\n%s", err, out)
	}
	fi, err := os.Stat(cfg)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config file: %v %v", fi, err)
	}
	// Later commands use the saved server and token.
	out, err = run("", "token", "create", "ci", "--role", "deployer", "--role", "approver:p")
	if err != nil {
		t.Fatalf("token create: %v\n%s", err, out)
	}
	secret := strings.TrimSpace(strings.Split(out, "\n")[0])
	if !strings.HasPrefix(secret, "fledge_") || !strings.Contains(out, "shown only once") {
		t.Fatalf("token create output: %s", out)
	}
	if out, err := run("", "token", "create", "x"); exitCodeOf(err) != 2 || !strings.Contains(out+err.Error(), "at least one --role") {
		t.Fatalf("token create without a role: %v %s", err, out)
	}
	if out, err := run("", "token", "create", "x", "--role", "root"); exitCodeOf(err) != 1 || !strings.Contains(err.Error(), `unknown role "root"`) {
		t.Fatalf("token create with a bad role: %v %s", err, out)
	}
	out, err = run("", "token", "list")
	if err != nil || !strings.Contains(out, "ci      deployer,approver:p") || strings.Contains(out, secret) {
		t.Fatalf("token list: %v\n%s", err, out)
	}
	// --token and $FLEDGE_TOKEN override the config file.
	out, err = run("", "--token", secret, "whoami")
	if err != nil || !strings.Contains(out, "ci (deployer, approver:p)") {
		t.Fatalf("whoami with --token: %v\n%s", err, out)
	}
	out, err = run("", "--token", secret, "token", "list")
	if err == nil || !strings.Contains(err.Error(), `token "ci" lacks role admin`) {
		t.Fatalf("token list as ci: %v\n%s", err, out)
	}
	if out, err := run("", "token", "revoke", "ci"); err != nil || !strings.Contains(out, "token/ci revoked") {
		t.Fatalf("revoke: %v\n%s", err, out)
	}
	if _, err := run("", "--token", secret, "whoami"); err == nil || !strings.Contains(err.Error(), "invalid or expired token") {
		t.Fatalf("whoami with a revoked token: %v", err)
	}
	out, err = run("", "audit", "--user", "ci")
	if err != nil || !strings.Contains(out, "auth.forbidden") || !strings.Contains(out, "GET /api/v1/tokens") {
		t.Fatalf("audit --user ci: %v\n%s", err, out)
	}
	out, err = run("", "audit", "--action", "token.revoke", "-o", "json")
	var list v1alpha1.AuditList
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list.Items) != 1 || list.Items[0].Target != "token/ci" || list.Items[0].Actor != "admin" {
		t.Fatalf("audit --action token.revoke: %v\n%s", err, out)
	}
	if out, err := run("", "logout"); err != nil || !strings.Contains(out, "logged out") {
		t.Fatalf("logout: %v\n%s", err, out)
	}
	if _, err := run("", "whoami"); err == nil || !strings.Contains(err.Error(), "authentication required") {
		t.Fatalf("whoami after logout: %v", err)
	}
}

// Shell completion offers the kinds, the names the server has, and the
// deployments by id and PIPELINE#NUMBER (only those waiting, for approve).
func TestCompletion(t *testing.T) {
	a := startRealAPI(t)
	a.baseline(t)
	for range 2 {
		if out, err := a.cli(t, a.admin, "", "run", "p", "-p", "TAG=1"); err != nil {
			t.Fatalf("run: %v\n%s", err, out)
		}
	}
	for _, tc := range []struct {
		args      []string
		want, not []string
	}{
		{[]string{"get", ""}, []string{"environments", "artifacts", "pipelines", "deployments"}, nil},
		{[]string{"delete", ""}, []string{"pipelines"}, []string{"deployments"}},
		{[]string{"get", "pipelines", ""}, []string{"p\tPipeline"}, []string{"local"}},
		{[]string{"describe", "env", ""}, []string{"local\tEnvironment"}, nil},
		{[]string{"run", ""}, []string{"p\tPipeline"}, nil},
		{[]string{"get", "deployments", ""}, []string{"1\tp#1 Queued", "p#2\tid 2 Queued"}, nil},
		{[]string{"cancel", ""}, []string{"p#1\t", "p#2\t"}, nil},
		{[]string{"approve", ""}, nil, []string{"p#1", "p#2"}},
		{[]string{"get", "pipelines", "p", ""}, nil, []string{"p\t"}},
	} {
		out, err := a.cli(t, a.admin, "", append([]string{"__complete"}, tc.args...)...)
		if err != nil {
			t.Fatalf("complete %q: %v\n%s", tc.args, err, out)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("complete %q: %q missing from\n%s", tc.args, w, out)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(out, w) {
				t.Errorf("complete %q: %q offered in\n%s", tc.args, w, out)
			}
		}
	}
}

// get deployments --watch prints the list, then a row for each new or
// changed deployment, and ends cleanly when interrupted.
func TestGetDeploymentsWatch(t *testing.T) {
	a := startRealAPI(t)
	a.baseline(t)
	if out, err := a.cli(t, a.admin, "", "run", "p", "-p", "TAG=1"); err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		args := []string{"--server", a.url, "--token", a.admin, "--config", filepath.Join(a.dir, "no-config.yaml"), "get", "deployments", "--watch"}
		done <- Run(ctx, args, Streams{In: strings.NewReader(""), Out: &out, ErrOut: &out})
	}()
	waitFor := func(what string, ok func(string) bool) {
		t.Helper()
		for !ok(out.String()) {
			select {
			case err := <-done:
				t.Fatalf("watch ended before %s: %v\n%s", what, err, out.String())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	waitFor("the list", func(s string) bool { return strings.Contains(s, "STATUS") && strings.Contains(s, "Queued") })
	if o, err := a.cli(t, a.admin, "", "run", "p", "-p", "TAG=2"); err != nil {
		t.Fatalf("run: %v\n%s", err, o)
	}
	waitFor("the new deployment's row", func(s string) bool { return strings.Contains(s, "\n2 ") })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("interrupted watch: %v", err)
	}
	if n := strings.Count(out.String(), "STATUS"); n != 1 {
		t.Errorf("the header printed %d times, want once:\n%s", n, out.String())
	}
	if n := strings.Count(out.String(), "\n1 "); n != 1 {
		t.Errorf("the unchanged deployment 1 printed %d times, want once:\n%s", n, out.String())
	}
}

// A directory whose pipeline refers to an environment or artifact that is
// neither in the directory nor on the server is refused whole: nothing is
// applied, and the error names the file, the field and the missing one.
func TestApplyRefusesDanglingReferences(t *testing.T) {
	a := startRealAPI(t)
	dir := t.TempDir()
	files := map[string]string{
		"art.yaml": "apiVersion: fledge.dev/v1alpha1\nkind: Artifact\nmetadata:\n  name: web\nspec:\n  manifests: |\n    apiVersion: v1\n    kind: ConfigMap\n    metadata:\n      name: web\n",
		"pl.yaml": "apiVersion: fledge.dev/v1alpha1\nkind: Pipeline\nmetadata:\n  name: p\nspec:\n  stages:\n" +
			"    - name: canary\n      canaryDeployment: {environment: local, artifacts: [web, extra], namespace: c, ingressName: web}\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	before := a.snapshot(t)
	out, err := a.cli(t, a.admin, "", "apply", "-f", dir)
	if err == nil {
		t.Fatalf("apply with dangling references succeeded:\n%s", out)
	}
	for _, want := range []string{
		"2 missing reference(s)",
		`pl.yaml:1: spec.stages[0].canaryDeployment.environment: environment "local" is neither in the files nor on the server`,
		`spec.stages[0].canaryDeployment.artifacts[1]: artifact "extra" is neither`,
		"nothing was applied",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if after := a.snapshot(t); after != before {
		t.Errorf("the refused apply changed the store:\nbefore %s\nafter %s", before, after)
	}
	// With the environment on the server and the artifact in the files,
	// the same directory applies.
	env := "apiVersion: fledge.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: local\nspec:\n  kubeconfig:\n    path: /nonexistent\n"
	if out, err := a.cli(t, a.admin, env, "apply", "-f", "-"); err != nil {
		t.Fatalf("apply environment: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "extra.yaml"), []byte(strings.ReplaceAll(files["art.yaml"], "name: web\nspec", "name: extra\nspec")), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := a.cli(t, a.admin, "", "apply", "-f", dir); err != nil {
		t.Fatalf("apply with every reference resolved: %v\n%s", err, out)
	}
}
