package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Executor throughput with Kubernetes aside: internal/executor's
// BenchmarkReplicaThroughput (1 and 3 executors on a fresh database of the
// benchmark's PostgreSQL server, clusters that answer after a fixed time),
// run once per replica count and repetition, the counts alternating and
// the first of each round rotating.

// ThroughputRep is one run of BenchmarkReplicaThroughput.
type ThroughputRep struct {
	Replicas             int     `json:"replicas"`
	Seconds              float64 `json:"seconds"`
	StepsPerSecond       float64 `json:"steps_per_second"`
	DeploymentsPerSecond float64 `json:"deployments_per_second"`
	// CPUPerStep is the benchmark process's CPU (the executors' and the
	// fake clusters') per completed step, in microseconds.
	CPUPerStep float64 `json:"cpu_us_per_step"`
}

// ThroughputResult is the executor throughput benchmark.
type ThroughputResult struct {
	Reps []ThroughputRep `json:"reps"`
}

// throughputBench builds the executor's test binary and runs the
// benchmark b.o.throughputReps times per replica count.
func (b *bench) throughputBench(ctx context.Context, admin string, r *ReplicasResult) error {
	dir := filepath.Join(b.work, "throughput")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	bin := filepath.Join(dir, "executor.test")
	cmd := exec.CommandContext(ctx, "go", "test", "-c", "-o", bin, "./internal/executor")
	cmd.Dir = b.root
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build the executor's benchmark: %w", err)
	}
	r.Throughput = &ThroughputResult{}
	counts := []int{1, 3}
	for rep := range b.o.throughputReps {
		for i := range counts {
			n := counts[(i+rep)%len(counts)]
			got, err := runThroughput(ctx, bin, filepath.Join(b.root, "internal", "executor"), admin, n)
			if err != nil {
				return fmt.Errorf("executor throughput, %d replicas, repetition %d: %w", n, rep+1, err)
			}
			r.Throughput.Reps = append(r.Throughput.Reps, got)
			b.log.Info("replicas: executor throughput", "replicas", n, "rep", rep+1, "steps_per_second", got.StepsPerSecond)
		}
	}
	return nil
}

// runThroughput runs the benchmark for n replicas once.
func runThroughput(ctx context.Context, bin, dir, admin string, n int) (ThroughputRep, error) {
	cmd := exec.CommandContext(ctx, bin, "-test.run", "^$", "-test.bench", fmt.Sprintf("^BenchmarkReplicaThroughput$/^replicas=%d$", n),
		"-test.benchtime", "1x", "-test.timeout", "15m") //nolint:gosec // our own test binary
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "FLEDGE_TEST_POSTGRES_DSN="+admin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return ThroughputRep{}, fmt.Errorf("%w: %s", err, tail(out.String(), 2000))
	}
	rep, err := parseThroughput(out.String(), n)
	if err != nil {
		return rep, fmt.Errorf("%w in: %s", err, tail(out.String(), 2000))
	}
	return rep, nil
}

// parseThroughput reads the result line of BenchmarkReplicaThroughput for
// n replicas from go test's output.
func parseThroughput(out string, n int) (ThroughputRep, error) {
	name := fmt.Sprintf("BenchmarkReplicaThroughput/replicas=%d", n)
	for line := range strings.SplitSeq(out, "\n") {
		fields := strings.Fields(line)
		if len(fields) < 4 || (fields[0] != name && !strings.HasPrefix(fields[0], name+"-")) {
			continue
		}
		rep := ThroughputRep{Replicas: n}
		// After the name and the iterations: value-unit pairs.
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				return rep, fmt.Errorf("%s: value %q of %s is not a number", name, fields[i], fields[i+1])
			}
			switch fields[i+1] {
			case "ns/op":
				rep.Seconds = time.Duration(v).Seconds()
			case "steps/s":
				rep.StepsPerSecond = v
			case "deployments/s":
				rep.DeploymentsPerSecond = v
			case "cpu-µs/step":
				rep.CPUPerStep = v
			}
		}
		if rep.StepsPerSecond <= 0 || rep.Seconds <= 0 {
			return rep, fmt.Errorf("%s: no steps/s or ns/op in %q", name, line)
		}
		return rep, nil
	}
	return ThroughputRep{}, fmt.Errorf("no result line of %s", name)
}

// tail is the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// summary is the median and spread of one quantity for n replicas.
func (t *ThroughputResult) summary(n int, pick func(ThroughputRep) float64, unit string) Summary {
	var xs []float64
	for _, r := range t.Reps {
		if r.Replicas == n {
			xs = append(xs, pick(r))
		}
	}
	return Summarize(xs, unit)
}

func stepsPerSecond(r ThroughputRep) float64 { return r.StepsPerSecond }

// ratio is the median steps per second of 3 replicas over 1's.
func (t *ThroughputResult) ratio() (one, three, ratio float64) {
	one = t.summary(1, stepsPerSecond, "steps/s").Median
	three = t.summary(3, stepsPerSecond, "steps/s").Median
	return one, three, Ratio(three, one)
}
