// Command bench measures Fledge side by side with its peers (Argo Rollouts,
// Flagger), kubectl and a floor program that makes only the API calls a
// canary release needs, all on one local control plane
// (internal/localcluster), and writes BENCHMARKS.md and the raw numbers as
// JSON. It takes tens of minutes: it never runs in `make test` or CI.
//
//	go run ./hack/bench             # every benchmark, 5 repetitions
//	go run ./hack/bench -n 2 -only release,overhead -out /tmp/b.md -json /tmp/b.json
//
// The peers are built once by hack/build-peers.sh into the Go build cache;
// the control plane by hack/build-controlplane.sh.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	n            int
	only         map[string]bool
	out          string
	jsonOut      string
	applyObjects int
	scalePipes   int
	scalePerPipe int
	history      int
	loadDuration time.Duration
	scaleDrain   time.Duration
	pprof        bool
	keep         bool
	fledgeBin    string
	dataplane    bool
	systems      map[string]bool
	merge        string
	replicaPipes int
	replicaRuns  int
	replicaPause time.Duration
	// throughputReps is how many times the executor throughput benchmark
	// runs per replica count.
	throughputReps int
}

// benchmarks in the order they run.
var benchmarks = []string{"release", "overhead", "apply", "scale", "analysis", "replicas"}

func parseFlags(args []string) (options, string, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.IntVar(&o.n, "n", 10, "measured repetitions per benchmark (after one warm-up)")
	only := fs.String("only", strings.Join(benchmarks, ","), "comma-separated benchmarks to run: "+strings.Join(benchmarks, ", "))
	fs.StringVar(&o.out, "out", "BENCHMARKS.md", "the Markdown report to write")
	fs.StringVar(&o.jsonOut, "json", "bench/results.json", "the raw numbers to write, as JSON")
	fs.IntVar(&o.applyObjects, "apply-objects", 500, "objects in the apply-throughput manifest")
	fs.IntVar(&o.scalePipes, "scale-pipelines", 1000, "pipelines of the scale benchmark")
	fs.IntVar(&o.scalePerPipe, "scale-per-pipeline", 10, "deployments per pipeline in the scale benchmark")
	fs.IntVar(&o.history, "history", 100000, "finished deployments in the history of the scale benchmark")
	fs.DurationVar(&o.loadDuration, "load-duration", 10*time.Second, "duration of each HTTP load test")
	fs.DurationVar(&o.scaleDrain, "scale-drain", 3*time.Minute, "how long the scale benchmark keeps approving deployments as they reach approval")
	fs.IntVar(&o.replicaPipes, "replica-pipelines", 192, "pipelines of the replicas benchmark's releases (3 replicas run 192 at once)")
	fs.IntVar(&o.replicaRuns, "replica-runs", 3, "runs per pipeline in the replicas benchmark's releases")
	fs.IntVar(&o.throughputReps, "throughput-reps", 5, "repetitions per replica count of the executor throughput benchmark (about 15 s and 40 s each)")
	fs.DurationVar(&o.replicaPause, "replica-pause", 20*time.Second, "the timed pause of each release in the replicas benchmark")
	fs.BoolVar(&o.pprof, "pprof", false, "run the Fledge servers with --pprof-listen and save CPU profiles of the load tests in the work folder (use with -keep)")
	fs.BoolVar(&o.keep, "keep", false, "keep the work folder (server logs, manifests)")
	fs.StringVar(&o.fledgeBin, "fledge-bin", "", "a fledge binary to measure (default: build ./cmd/fledge)")
	fs.BoolVar(&o.dataplane, "dataplane", true, "measure the release benchmark through a real data plane (test/dataplane: Traefik, needs root and hack/build-traefik.sh); false measures the API objects only")
	fs.StringVar(&o.merge, "merge", "", "a results JSON of an earlier run: keep its numbers and replace only the benchmarks run now (the report names both runs)")
	systems := fs.String("systems", "fledge,argo-rollouts,flagger", "systems of the release benchmark")
	if err := fs.Parse(args); err != nil {
		return o, "", err
	}
	if o.n < 1 {
		return o, "", errors.New("-n must be at least 1")
	}
	o.only = map[string]bool{}
	for _, b := range strings.Split(*only, ",") {
		b = strings.TrimSpace(b)
		if b == "" {
			continue
		}
		known := false
		for _, k := range benchmarks {
			known = known || k == b
		}
		if !known {
			return o, "", fmt.Errorf("-only: unknown benchmark %q (known: %s)", b, strings.Join(benchmarks, ", "))
		}
		o.only[b] = true
	}
	o.systems = map[string]bool{}
	for _, sys := range strings.Split(*systems, ",") {
		o.systems[strings.TrimSpace(sys)] = true
	}
	command := "go run ./hack/bench"
	if len(args) > 0 {
		command += " " + strings.Join(args, " ")
	}
	return o, command, nil
}

func run(args []string) error {
	o, command, err := parseFlags(args)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	root, err := repoRoot()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "fledge-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		log.Info("work folder kept", "dir", work)
	} else {
		defer os.RemoveAll(work)
	}

	res := &Results{Command: command, Started: time.Now().UTC(), Repetitions: o.n}
	res.Machine = describeMachine()
	if o.merge != "" {
		data, err := os.ReadFile(o.merge)
		if err != nil {
			return fmt.Errorf("-merge: %w", err)
		}
		earlier := &Results{}
		if err := json.Unmarshal(data, earlier); err != nil {
			return fmt.Errorf("-merge %s: %w", o.merge, err)
		}
		if len(o.only) == 0 {
			// -only "" -merge FILE: only write the report again.
			return earlier.write(o.out, o.jsonOut)
		}
		if len(earlier.Runs) == 0 {
			earlier.Runs = []string{fmt.Sprintf("%s: `%s`", earlier.Started.Format("2006-01-02 15:04 UTC"), earlier.Command)}
		}
		var names []string
		for _, bm := range benchmarks {
			if o.only[bm] {
				names = append(names, bm)
			}
		}
		if o.only["release"] {
			var systems []string
			for sys := range o.systems {
				systems = append(systems, sys)
			}
			slices.Sort(systems)
			names = append(names[:0:0], names...)
			for i, n := range names {
				if n == "release" {
					names[i] = "release of " + strings.Join(systems, ", ")
				}
			}
		}
		earlier.Runs = append(earlier.Runs, fmt.Sprintf("%s: `%s` (replaced: %s)", res.Started.Format("2006-01-02 15:04 UTC"), command, strings.Join(names, ", ")))
		earlier.Failures = slices.DeleteFunc(earlier.Failures, func(f string) bool {
			name, _, _ := strings.Cut(f, ":")
			return o.only[name]
		})
		res = earlier
	}

	fledgeBin := o.fledgeBin
	if fledgeBin == "" {
		log.Info("building fledge")
		fledgeBin = filepath.Join(work, "fledge")
		if err := goBuild(ctx, root, fledgeBin, "./cmd/fledge"); err != nil {
			return err
		}
	} else if fledgeBin, err = filepath.Abs(fledgeBin); err != nil {
		return err
	}
	var peers peerBins
	if (o.only["release"] || o.only["analysis"]) && (o.systems["argo-rollouts"] || o.systems["flagger"]) {
		log.Info("building the peers (cached after the first time)")
		if peers, err = buildPeers(ctx, root); err != nil {
			return err
		}
	}

	b, err := newBench(ctx, log, root, work, fledgeBin, o)
	if err != nil {
		return err
	}
	defer b.close()
	res.Versions = mergeVersions(res.Versions, b.versions(ctx, peers), o)

	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"release", func(ctx context.Context) error { return b.releaseBench(ctx, peers, res) }},
		{"overhead", func(ctx context.Context) error { return b.overheadBench(ctx, res) }},
		{"apply", func(ctx context.Context) error { return b.applyBench(ctx, res) }},
		{"scale", func(ctx context.Context) error { return b.scaleBench(ctx, res) }},
		{"analysis", func(ctx context.Context) error { return b.rollbackBench(ctx, peers, res) }},
		{"replicas", func(ctx context.Context) error { return b.replicasBench(ctx, res) }},
	}
	var failed []string
	for _, s := range steps {
		if !o.only[s.name] {
			continue
		}
		begin := time.Now()
		log.Info("benchmark start", "benchmark", s.name)
		if err := s.run(ctx); err != nil {
			if ctx.Err() != nil {
				return err
			}
			log.Error("benchmark failed", "benchmark", s.name, "error", err)
			res.Failures = append(res.Failures, fmt.Sprintf("%s: %v", s.name, err))
			failed = append(failed, s.name)
		}
		log.Info("benchmark done", "benchmark", s.name, "took", time.Since(begin).Round(time.Second).String())
	}
	if o.merge == "" {
		res.Finished = time.Now().UTC()
		res.Machine.LoadEnd = loadAvg()
	}
	if err := res.write(o.out, o.jsonOut); err != nil {
		return err
	}
	log.Info("written", "report", o.out, "json", o.jsonOut)
	if len(failed) > 0 {
		return fmt.Errorf("benchmarks failed: %s (see the report)", strings.Join(failed, ", "))
	}
	return nil
}

// mergeVersions adds the versions of this run to those of a merged
// earlier run: the peers of a benchmark not run now keep their version,
// and one that differs names the benchmarks run with the new one.
func mergeVersions(earlier, now map[string]string, o options) map[string]string {
	if o.merge == "" || earlier == nil {
		return now
	}
	var ran []string
	for _, name := range benchmarks {
		if o.only[name] {
			ran = append(ran, name)
		}
	}
	out := maps.Clone(earlier)
	for k, v := range now {
		if old, ok := out[k]; ok && old != v {
			v = fmt.Sprintf("%s, and %s for %s", old, v, strings.Join(ran, ", "))
		}
		out[k] = v
	}
	return out
}

// repoRoot is the folder holding go.mod, found from the working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the fledge repository (no go.mod found)")
		}
		dir = parent
	}
}

func goBuild(ctx context.Context, root, out, pkg string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w", pkg, err)
	}
	return nil
}

// peerBins locates the peers built by hack/build-peers.sh.
type peerBins struct {
	ArgoBin, ArgoModule       string
	FlaggerBin, FlaggerModule string
}

func buildPeers(ctx context.Context, root string) (peerBins, error) {
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "hack", "build-peers.sh"))
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return peerBins{}, fmt.Errorf("hack/build-peers.sh: %w", err)
	}
	var p peerBins
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		switch k {
		case "argo_rollouts_bin":
			p.ArgoBin = v
		case "argo_rollouts_module":
			p.ArgoModule = v
		case "flagger_bin":
			p.FlaggerBin = v
		case "flagger_module":
			p.FlaggerModule = v
		}
	}
	if p.ArgoBin == "" || p.FlaggerBin == "" || p.ArgoModule == "" || p.FlaggerModule == "" {
		return p, fmt.Errorf("hack/build-peers.sh printed no binary paths:\n%s", out)
	}
	return p, nil
}

// discard is a logger for what the bench does not want to hear.
var discard = slog.New(slog.NewTextHandler(io.Discard, nil))
