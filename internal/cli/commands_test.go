package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"fledge.dev/fledge/internal/golden"

	"github.com/spf13/pflag"

	"fledge.dev/fledge/api/v1alpha1"
)

// fakeTerminal is standard input that says it is a terminal.
type fakeTerminal struct{ io.Reader }

func (fakeTerminal) IsTerminal() bool { return true }

// runCLI runs the fledge command line in-process against the fake server,
// with the test clock.
func runCLI(t *testing.T, f *fakeAPI, stdin io.Reader, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx := context.WithValue(context.Background(), clockKey{}, func() time.Time { return testNow })
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var out, errOut bytes.Buffer
	full := append([]string{"--server", f.url, "--user", "tester"}, args...)
	err = Run(ctx, full, Streams{In: stdin, Out: &out, ErrOut: &errOut})
	return out.String(), errOut.String(), err
}

func exitCodeOf(err error) int {
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return 1
}

// transcript is what a golden file holds: the command, its standard
// output and error, its exit, and the requests that changed something.
func transcript(args []string, stdout, stderr string, err error, changes []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ fledge %s\n%s", strings.Join(args, " "), stdout)
	if stderr != "" {
		fmt.Fprintf(&b, "--- stderr\n%s", stderr)
	}
	if err != nil {
		fmt.Fprintf(&b, "--- exit %d: %v\n", exitCodeOf(err), err)
	}
	if len(changes) > 0 {
		fmt.Fprintf(&b, "--- requests\n%s\n", strings.Join(changes, "\n"))
	}
	return b.String()
}

func TestGolden(t *testing.T) {
	t.Parallel()
	finished := func(status v1alpha1.DeploymentStatus, msg string) func(*fakeAPI) {
		return func(f *fakeAPI) {
			d := f.deployment(46)
			d.ID, d.Number, d.Status, d.Message, d.TriggeredBy = 47, 7, status, msg, "tester"
			d.CurrentStage, d.ApprovalDeadline = "", nil
			f.setDeployment(d)
			evs := cannedEvents(47)
			switch status {
			case v1alpha1.StatusFailed:
				evs = append(evs[:3], v1alpha1.Event{DeploymentID: 47, Seq: 4, Time: *ago(time.Minute), Stage: "canary-deploy-stage", Type: "StageFailed", Message: msg})
			case v1alpha1.StatusSucceeded:
				evs = append(evs,
					v1alpha1.Event{DeploymentID: 47, Seq: 7, Time: *ago(time.Minute), Stage: "approval-stage", Type: "Approved", Message: "approved by alice"},
					v1alpha1.Event{DeploymentID: 47, Seq: 8, Time: *ago(time.Minute), Stage: "switch-to-production-stage", Type: "StageSucceeded", Message: "stage switch-to-production-stage succeeded"},
					v1alpha1.Event{DeploymentID: 47, Seq: 9, Time: *ago(time.Minute), Type: "DeploymentSucceeded", Message: msg},
				)
			}
			f.events[47] = evs
		}
	}
	waiting := func(f *fakeAPI) {
		d := f.deployment(46)
		d.ID, d.Number, d.TriggeredBy = 47, 7, "tester"
		f.setDeployment(d)
		f.events[47] = cannedEvents(47)
		f.holdWatch = true
	}
	twoApprovals := func(f *fakeAPI) {
		d := f.deployment(46)
		d.Stages = slices.Clone(d.Stages)
		d.Stages[2].ApprovalsRequired = 2
		f.setDeployment(d)
	}
	releases := func(f *fakeAPI) {
		f.moveOn = func(f *fakeAPI, d *v1alpha1.Deployment) {
			d.Status, d.CurrentStage, d.Message = v1alpha1.StatusSucceeded, "", "all stages succeeded"
			f.events[46] = append(f.events[46],
				v1alpha1.Event{DeploymentID: 46, Seq: 7, Time: testNow, Stage: "approval-stage", Type: "Approved", Message: "approved by tester"},
				v1alpha1.Event{DeploymentID: 46, Seq: 8, Time: testNow, Stage: "approval-stage", Type: "ApprovalGranted", Message: "1 of 1 approvals: tester"},
				v1alpha1.Event{DeploymentID: 46, Seq: 9, Time: testNow, Stage: "switch-to-production-stage", Type: "StageSucceeded", Message: "stage switch-to-production-stage succeeded"},
				v1alpha1.Event{DeploymentID: 46, Seq: 10, Time: testNow, Type: "DeploymentSucceeded", Message: "deployment " + testPipeline + "#6 succeeded: all stages succeeded"},
			)
		}
	}
	tests := []struct {
		name  string
		args  []string
		setup func(*fakeAPI)
		stdin io.Reader
	}{
		{name: "get-environments", args: []string{"get", "environments"}},
		{name: "get-environments-wide", args: []string{"get", "env", "-o", "wide"}},
		{name: "get-artifacts-wide", args: []string{"get", "artifacts", "-o", "wide"}},
		{name: "get-pipelines", args: []string{"get", "pipelines"}},
		{name: "get-pipelines-wide", args: []string{"get", "pl", "-o", "wide"}},
		{name: "get-pipeline-yaml", args: []string{"get", "pipeline", testPipeline, "-o", "yaml"}},
		{name: "get-environment-json", args: []string{"get", "Environment", "prod", "-o", "json"}},
		{name: "get-pipeline-not-found", args: []string{"get", "pipeline", "nope"}},
		{name: "get-deployments", args: []string{"get", "deployments"}},
		{name: "get-deployments-wide", args: []string{"get", "deploy", "--pipeline", testPipeline, "--status", "succeeded,Failed", "-o", "wide"}},
		{name: "get-deployments-limit", args: []string{"get", "deployments", "--limit", "2"}},
		{name: "get-deployment-yaml", args: []string{"get", "deployment", "45", "-o", "yaml"}},
		{name: "get-empty", args: []string{"get", "artifacts"}, setup: func(f *fakeAPI) { f.resources["artifacts"] = nil }},
		{name: "describe-pipeline", args: []string{"describe", "pipeline", testPipeline}},
		{name: "describe-pipeline-steps", args: []string{"describe", "pipeline", "webpage-progressive"}},
		{name: "describe-pipeline-bluegreen", args: []string{"describe", "pipeline", "webpage-bg-gateway"}},
		{name: "describe-environment", args: []string{"describe", "env", "prod"}},
		{name: "describe-artifact", args: []string{"describe", "artifact", "webpage-manifest"}},
		{name: "describe-deployment-waiting", args: []string{"describe", "deployment", "46"}},
		{name: "explain-shift-traffic", args: []string{"explain", "pipeline.spec.stages.shiftTraffic"}},
		{name: "explain-recursive", args: []string{"explain", "environment.spec", "--recursive"}},
		{name: "describe-deployment-json", args: []string{"describe", "deployment", testPipeline + "#6", "-o", "json"}},
		{name: "describe-pipeline-yaml", args: []string{"describe", "pipeline", testPipeline, "-o", "yaml"}},
		{name: "describe-deployment-rejected", args: []string{"describe", "deployment", "deployment/44"}},
		{name: "describe-deployment-rollback", args: []string{"describe", "deployment", "45"}},
		{name: "history", args: []string{"history", testPipeline}},
		{name: "history-wide", args: []string{"history", testPipeline, "-o", "wide", "--limit", "3"}},
		{name: "history-json", args: []string{"history", testPipeline, "-o", "json", "--limit", "1"}},
		{name: "history-empty", args: []string{"history", testPipeline}, setup: func(f *fakeAPI) { f.deployments = nil }},
		{name: "history-unknown-pipeline", args: []string{"history", "nope"}},
		{name: "logs", args: []string{"logs", "46"}},
		{name: "logs-json", args: []string{"logs", "46", "-o", "json"}},
		{name: "analysis", args: []string{"analysis", "46"}},
		{name: "analysis-yaml", args: []string{"analysis", "46", "-o", "yaml"}},
		{name: "analysis-none", args: []string{"analysis", "45"}},
		{name: "logs-follow", args: []string{"logs", "47", "-f"}, setup: finished(v1alpha1.StatusSucceeded, "deployment succeeded")},
		{name: "apply", args: []string{"apply", "-f", "testdata/apply"}, setup: func(f *fakeAPI) {
			f.applyActions["Environment/local"] = v1alpha1.ActionUnchanged
			f.applyActions["Artifact/webpage-manifest"] = v1alpha1.ActionConfigured
		}},
		{name: "apply-stdin", args: []string{"apply", "-f", "-"}, stdin: strings.NewReader("apiVersion: fledge.dev/v1alpha1\nkind: Environment\nmetadata: {name: prod}\nspec: {inCluster: true}\n")},
		{name: "apply-invalid", args: []string{"apply", "-f", "testdata/apply-invalid", "-f", "testdata/missing.yaml"}},
		{name: "apply-rejected-by-server", args: []string{"apply", "-f", "testdata/apply/pipeline.yaml", "-f", "testdata/apply/environment.yaml"}, setup: func(f *fakeAPI) {
			f.applyErrors["Pipeline/"+testPipeline] = v1alpha1.Status{
				Code: 422, Reason: "Invalid", Message: `invalid Pipeline "` + testPipeline + `"`,
				Details: []v1alpha1.FieldError{{Field: "spec.stages[0].canaryDeployment.artifacts[0]", Message: `artifact "webpage-manifest" does not exist`}},
			}
		}},
		{name: "run", args: []string{"run", testPipeline, "--param", "IMAGE_TAG=2.4", "-p", "REPLICAS=2"}},
		{name: "run-json", args: []string{"run", testPipeline, "--param", "IMAGE_TAG=2.4", "-o", "json"}},
		{name: "run-missing-param", args: []string{"run", testPipeline}},
		{name: "run-wait-succeeded", args: []string{"run", testPipeline, "-p", "IMAGE_TAG=2.4", "--wait"}, setup: finished(v1alpha1.StatusSucceeded, "deployment succeeded")},
		{name: "run-wait-failed", args: []string{"run", testPipeline, "-p", "IMAGE_TAG=2.4", "--wait"}, setup: finished(v1alpha1.StatusFailed, "rollout of webpage-deployment in ns-canary-stage timed out after 5m")},
		{name: "run-wait-approval", args: []string{"run", testPipeline, "-p", "IMAGE_TAG=2.4", "--wait"}, setup: waiting},
		{name: "run-wait-approval-yaml", args: []string{"run", testPipeline, "-p", "IMAGE_TAG=2.4", "--wait", "-o", "yaml"}, setup: waiting},
		{name: "approve", args: []string{"approve", "46", "--reason", "canary looks healthy"}},
		{name: "approve-conflict", args: []string{"approve", "45"}},
		{name: "approve-first-of-two", args: []string{"approve", "46"}, setup: twoApprovals},
		{name: "approve-by-number", args: []string{"approve", testPipeline + "#6"}},
		{name: "approve-wait", args: []string{"approve", testPipeline + "/6", "--wait"}, setup: releases},
		{name: "approve-wait-first-of-two", args: []string{"approve", "46", "--wait"}, setup: twoApprovals},
		{name: "approve-wait-timeout", args: []string{"approve", "46", "--wait", "--timeout", "200ms"}, setup: func(f *fakeAPI) { f.holdWatch = true }},
		{name: "reject", args: []string{"reject", "deployment/46", "--reason", "checkout page renders red"}},
		{name: "cancel", args: []string{"cancel", "46"}},
		{name: "abort", args: []string{"abort", "46", "--reason", "error rate rising"}},
		{name: "resume-not-paused", args: []string{"resume", "46"}},
		{name: "resume-moved-on", args: []string{"resume", "46"}, setup: func(f *fakeAPI) {
			// Answered after the executor left the pause: the output names
			// the gate resumed, not the stage the deployment is at now.
			d := f.deployment(46)
			d.CurrentStage = "progressive/step-2"
			f.setDeployment(d)
			f.paused = true
		}},
		{name: "promote", args: []string{"promote", "46", "--reason", "hotfix verified by hand"}},
		{name: "retry", args: []string{"retry", "44"}},
		{name: "retry-json", args: []string{"retry", "44", "-o", "json"}},
		{name: "retry-succeeded", args: []string{"retry", "43"}},
		{name: "delete", args: []string{"delete", "pipelines", testPipeline, "other"}},
		{name: "delete-in-use", args: []string{"delete", "environment", "local"}},
		{name: "rollback-dry-run", args: []string{"rollback", testPipeline, "--to", "42", "--dry-run"}},
		{name: "rollback-yes", args: []string{"rollback", testPipeline, "--to", "42", "--yes"}},
		{name: "rollback-reason", args: []string{"rollback", testPipeline, "--to", "42", "--reason", "2.1 breaks checkout", "--yes"}},
		{name: "rollback-confirmed", args: []string{"rollback", testPipeline, "--to", "42"}, stdin: fakeTerminal{strings.NewReader("y\n")}},
		{name: "rollback-declined", args: []string{"rollback", testPipeline, "--to", "42"}, stdin: fakeTerminal{strings.NewReader("\n")}},
		{name: "rollback-not-a-terminal", args: []string{"rollback", testPipeline, "--to", "42"}},
		{name: "rollback-nothing-live", args: []string{"rollback", testPipeline, "--to", "42", "--dry-run"}, setup: func(f *fakeAPI) {
			f.preview.Live, f.preview.Changed, f.preview.Diff = nil, 3, "+ (the whole manifests)\n"
		}},
		{name: "rollback-unknown-target", args: []string{"rollback", testPipeline, "--to", "99", "--yes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t)
			if tt.setup != nil {
				tt.setup(f)
			}
			stdout, stderr, err := runCLI(t, f, tt.stdin, tt.args...)
			f.mu.Lock()
			changes := f.changes
			f.mu.Unlock()
			golden.Check(t, filepath.Join("testdata", tt.name+".golden"), transcript(tt.args, stdout, stderr, err, changes))
		})
	}
}

// TestUsageErrors checks that wrong calls exit with code 2 before any
// request is sent.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"get"}, "missing the kind to get: environments, artifacts, analysistemplates, pipelines or deployments\nUsage: fledge get"},
		{[]string{"get", "pods"}, `unknown resource kind "pods": want environments, artifacts, analysistemplates, pipelines or deployments`},
		{[]string{"get", "pipelines", "a", "b"}, `unexpected argument "b"`},
		{[]string{"get", "pipelines", "-o", "xml"}, `--output "xml": want one of table, wide, json, yaml`},
		{[]string{"get", "pipelines", "--pipeline", "p"}, "--pipeline, --status and --watch apply to deployments only"},
		{[]string{"get", "deployments", "--status", "Done"}, `--status "Done": want one of Queued, Running, WaitingForApproval, Succeeded, Failed, Rejected, Cancelled`},
		{[]string{"get", "deployments", "--limit", "0"}, "--limit must be between 1 and 500, got 0"},
		{[]string{"get", "deployments", "abc"}, `"abc" is not a deployment`},
		{[]string{"get", "pipelines", "--bogus"}, "unknown flag: --bogus\nSee 'fledge get --help'."},
		{[]string{"get", "deployments", "--limit", "many"}, `invalid argument "many" for "--limit" flag`},
		{[]string{"describe", "pipeline"}, "missing the kind and the name"},
		{[]string{"describe", "pods", "x"}, `unknown resource kind "pods"`},
		{[]string{"describe", "deployment", "-1"}, "unknown shorthand flag: '1' in -1"},
		{[]string{"describe", "deployment", "x1"}, `"x1" is not a deployment`},
		{[]string{"delete", "pipeline"}, "missing the kind and the name"},
		{[]string{"delete", "deployment", "42"}, `unknown resource kind "deployment": want environments, artifacts, analysistemplates or pipelines`},
		{[]string{"apply"}, "apply needs at least one -f FILE or DIR"},
		{[]string{"apply", "-f", "x.yaml", "extra"}, `unknown command "extra" for "fledge apply"`},
		{[]string{"apply", "-f", "-", "-f", "-"}, "-f - can be given only once"},
		{[]string{"run"}, "missing the PIPELINE to run"},
		{[]string{"run", "p", "--param", "IMAGE_TAG"}, `--param "IMAGE_TAG": want NAME=VALUE`},
		{[]string{"run", "p", "--param", "1TAG=x"}, `--param "1TAG=x": "1TAG" is not a parameter name`},
		{[]string{"run", "p", "-p", "A=1", "-p", "A=2"}, "--param A is given twice"},
		{[]string{"run", "p", "-o", "wide"}, `--output "wide": want one of json, yaml`},
		{[]string{"approve"}, "missing the deployment ID"},
		{[]string{"approve", "abc"}, `"abc" is not a deployment`},
		{[]string{"explain", "pipeline.spec.stages.rampLimitPercent"}, `field "rampLimitPercent" does not exist in pipeline.spec.stages; its fields are: approval, blueGreen, canaryDeployment, canarySteps, name, productionRelease, productionWave, shiftTraffic`},
		{[]string{"explain"}, "missing the RESOURCE"},
		{[]string{"lgos"}, `unknown command "lgos" for "fledge" (did you mean logs?)`},
		{[]string{"dev", "clustr"}, `unknown command "clustr" for "fledge dev"`},
		{[]string{"token", "bogus"}, `unknown command "bogus" for "fledge token"`},
		{[]string{"--bogus", "get", "pipelines"}, "unknown flag: --bogus"},
		{[]string{"approve", "42", "--timeout", "1m"}, "--timeout needs --wait"},
		{[]string{"run", "p", "--wait", "--timeout", "-1s"}, "--timeout -1s: must not be negative"},
		{[]string{"reject", "42"}, "reject needs --reason"},
		{[]string{"reject", "42", "--reason", "  "}, "reject needs --reason"},
		{[]string{"rollback", "p", "--to", "1", "--reason", strings.Repeat("x", 2001)}, "--reason is 2001 characters; at most 2000 are recorded"},
		{[]string{"cancel", "1", "2"}, `unexpected argument "2"`},
		{[]string{"history"}, "missing the PIPELINE"},
		{[]string{"history", "p", "--limit", "501"}, "--limit must be between 1 and 500, got 501"},
		{[]string{"rollback", "p"}, "rollback needs --to ID"},
		{[]string{"rollback", "p", "--to", "latest"}, `"latest" is not a deployment`},
		{[]string{"logs"}, "missing the deployment ID"},
		{[]string{"logs", "1", "-o", "yaml"}, `--output "yaml": want one of json`},
		{[]string{"--server", "ftp://host", "get", "pipelines"}, `--server: server URL "ftp://host": scheme must be http or https`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t)
			_, _, err := runCLI(t, f, nil, tt.args...)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n%v\nwant it to contain:\n%s", err, tt.want)
			}
			if code := exitCodeOf(err); code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.requests != 0 {
				t.Errorf("%d requests sent", f.requests)
			}
		})
	}
}

// The server and token come from the flag, else the environment, else
// the config file that fledge login writes.
func TestEndpointResolution(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := saveConfig(cfgPath, Config{Server: "http://from-config:1", Token: "config-token"}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(cfgPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config file mode: %v %v", fi.Mode(), err)
	}
	t.Setenv("FLEDGE_CONFIG", cfgPath)
	t.Setenv("FLEDGE_SERVER", "")
	t.Setenv("FLEDGE_TOKEN", "")
	resolve := func(args ...string) (string, string) {
		t.Helper()
		g := &globalOptions{}
		fs := pflag.NewFlagSet("fledge", pflag.ContinueOnError)
		g.addFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		server, token, err := g.endpoint()
		if err != nil {
			t.Fatal(err)
		}
		return server, token
	}
	if s, tok := resolve(); s != "http://from-config:1" || tok != "config-token" {
		t.Errorf("from the config file: %s %s", s, tok)
	}
	t.Setenv("FLEDGE_SERVER", "http://fledge.example:9000")
	t.Setenv("FLEDGE_TOKEN", "env-token")
	if s, tok := resolve(); s != "http://fledge.example:9000" || tok != "env-token" {
		t.Errorf("from the environment: %s %s", s, tok)
	}
	if s, tok := resolve("--server", "http://flag:2", "--token", "flag-token"); s != "http://flag:2" || tok != "flag-token" {
		t.Errorf("from the flags: %s %s", s, tok)
	}
	t.Setenv("FLEDGE_CONFIG", filepath.Join(dir, "missing.yaml"))
	t.Setenv("FLEDGE_SERVER", "")
	t.Setenv("FLEDGE_TOKEN", "")
	if s, tok := resolve(); s != DefaultServer || tok != "" {
		t.Errorf("without anything: %s %q", s, tok)
	}
	// The config file is decoded strictly.
	if err := os.WriteFile(cfgPath, []byte("apiVersion: fledge.dev/v1alpha1\nkind: Config\nserver: x\ntokn: y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FLEDGE_CONFIG", cfgPath)
	g := &globalOptions{}
	if _, _, err := g.endpoint(); err == nil || !strings.Contains(err.Error(), "tokn") {
		t.Errorf("unknown field in the config file: %v", err)
	}
	root := NewRootCommand(Streams{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard})
	if got := root.PersistentFlags().Lookup("request-timeout").DefValue; got != "30s" {
		t.Errorf("--request-timeout default = %q", got)
	}
}

func TestHumanDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		-5 * time.Second:               "<invalid>",
		30 * time.Second:               "30s",
		119 * time.Second:              "119s",
		5*time.Minute + 30*time.Second: "5m30s",
		5 * time.Minute:                "5m",
		150 * time.Minute:              "150m",
		3*time.Hour + 10*time.Minute:   "3h10m",
		30 * time.Hour:                 "30h",
		3*24*time.Hour + time.Hour:     "3d1h",
		30 * 24 * time.Hour:            "30d",
		3 * 365 * 24 * time.Hour:       "3y",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
