package executor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/clusters"
	"fledge.dev/fledge/internal/executor"
	"fledge.dev/fledge/internal/kube"
	"fledge.dev/fledge/internal/pipeline"
	"fledge.dev/fledge/internal/store"
	"fledge.dev/fledge/internal/store/postgres"
	"fledge.dev/fledge/internal/testenv"
)

// The work of BenchmarkReplicaThroughput: throughputPipelines pipelines
// (three replicas' MaxRunning, so that three can run every pipeline's
// head at once), throughputRuns runs each, their clusters answering a
// namespace check, a dry-run, an apply or an endpoints wait after
// throughputCall and a rollout after throughputRollout.
const (
	throughputPipelines = 3 * 64
	throughputRuns      = 3
	throughputCall      = 20 * time.Millisecond
	throughputRollout   = 2 * time.Second
)

// BenchmarkReplicaThroughput measures what executor replicas sharing one
// PostgreSQL database get through when Kubernetes is not the limit: every
// environment's cluster answers after a fixed time, whatever the load (a
// real control plane on the machine that runs the replicas is the limit
// long before the executor is; hack/bench measures that apart). A
// deployment holds one of its executor's MaxRunning slots (64, the
// default) while its rollouts are waited for, as with a real cluster, so
// one replica runs 64 at once and three run 192. Each replica has its own
// store connections, owner and lease, as `fledge serve` replicas do;
// lease 15s and poll 500ms are the defaults.
//
// It needs FLEDGE_TEST_POSTGRES_DSN. Reported: steps/s (executor steps
// that completed, per second from the replicas' start to the last
// deployment finished), deployments/s, and the process's CPU per step
// (the replicas' and the fake clusters'; PostgreSQL's is its own).
func BenchmarkReplicaThroughput(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run("replicas="+strconv.Itoa(n), func(b *testing.B) {
			var steps, deployments int64
			var took, cpu time.Duration
			for range b.N {
				r := replicaThroughput(b, n)
				steps += r.steps
				deployments += int64(r.deployments)
				took += r.took
				cpu += r.cpu
			}
			b.ReportMetric(float64(steps)/took.Seconds(), "steps/s")
			b.ReportMetric(float64(deployments)/took.Seconds(), "deployments/s")
			b.ReportMetric(float64(cpu.Microseconds())/float64(steps), "cpu-µs/step")
		})
	}
}

type throughputResult struct {
	steps       int64
	deployments int
	took, cpu   time.Duration
}

func replicaThroughput(b *testing.B, replicas int) throughputResult {
	b.StopTimer()
	dsn := testenv.PostgresDatabase(b)
	open := func() store.Store {
		st, err := postgres.Open(b.Context(), postgres.Config{DSN: dsn})
		if err != nil {
			b.Fatalf("open the store: %v", err)
		}
		b.Cleanup(func() { _ = st.Close() })
		return st
	}
	seed := open()
	src := slowSource{clusters: map[string]*fakeCluster{}, call: throughputCall, rollout: throughputRollout}
	total := throughputPipelines * throughputRuns
	for run := range throughputRuns {
		for p := range throughputPipelines {
			env := fmt.Sprintf("env-%03d", p)
			if run == 0 {
				src.clusters[env] = newFakeCluster()
			}
			createRun(b, seed, fmt.Sprintf("pipe-%03d", p), env, strconv.Itoa(run))
		}
	}
	obs := &finishCounter{done: make(chan struct{}), want: total, finished: map[int64]v1alpha1.DeploymentStatus{}}
	exs := make([]*executor.Executor, replicas)
	for i := range exs {
		ex, err := executor.New(executor.Config{
			Store: open(), Clusters: src, Owner: fmt.Sprintf("replica-%d", i), Observer: obs,
		})
		if err != nil {
			b.Fatal(err)
		}
		exs[i] = ex
	}
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	cpu0 := processCPU()
	begin := time.Now()
	b.StartTimer()
	for _, ex := range exs {
		if err := ex.Start(ctx); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-obs.done:
	case <-time.After(10 * time.Minute):
		b.Fatalf("%d of %d deployments finished in 10 minutes", obs.count(), total)
	}
	b.StopTimer()
	took, cpu := time.Since(begin), processCPU()-cpu0
	cancel()
	for _, ex := range exs {
		ex.Stop()
	}
	if bad := obs.unsucceeded(); bad != "" {
		b.Fatalf("with %d replicas: %s", replicas, bad)
	}
	return throughputResult{steps: obs.steps.Load(), deployments: total, took: took, cpu: cpu}
}

// createRun stores a queued release of pipeline on env: canary, weight 25,
// production, as the service does.
func createRun(b *testing.B, st store.Store, pipe, env, tag string) {
	b.Helper()
	canary := canaryStage()
	canary.CanaryDeployment.Environment = env
	plan := release(tag, 0, canary, shiftStage(25, 1, 0), productionStage())
	plan.Pipeline, plan.Environment = pipe, env
	pj, err := json.Marshal(plan)
	if err != nil {
		b.Fatal(err)
	}
	sj, err := json.Marshal(pipeline.NewState(plan))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.CreateDeployment(b.Context(), store.Deployment{
		Pipeline: pipe, Kind: string(plan.Kind), Parameters: map[string]string{"IMAGE_TAG": tag},
		TriggeredBy: "ci", Plan: pj, State: sj, Status: string(v1alpha1.StatusQueued),
	}, store.Event{Time: time.Now(), Type: "DeploymentCreated", Message: "created"}); err != nil {
		b.Fatal(err)
	}
}

// processCPU is the CPU time this process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// finishCounter counts the steps that completed and closes done once want
// deployments have finished.
type finishCounter struct {
	steps atomic.Int64
	want  int
	done  chan struct{}

	mu       sync.Mutex
	finished map[int64]v1alpha1.DeploymentStatus
}

func (c *finishCounter) Claimed(store.Deployment) {}
func (c *finishCounter) LeaseLost(int64)          {}

func (c *finishCounter) Step(_, result string, _ time.Duration) {
	if result == "ok" {
		c.steps.Add(1)
	}
}

func (c *finishCounter) Recorded(d store.Deployment, _ []store.Event) {
	s := v1alpha1.DeploymentStatus(d.Status)
	if !s.Final() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, seen := c.finished[d.ID]; seen {
		return
	}
	c.finished[d.ID] = s
	if len(c.finished) == c.want {
		close(c.done)
	}
}

func (c *finishCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.finished)
}

// unsucceeded names a deployment that finished other than Succeeded.
func (c *finishCounter) unsucceeded() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, s := range c.finished {
		if s != v1alpha1.StatusSucceeded {
			return fmt.Sprintf("deployment %d finished %s", id, s)
		}
	}
	return ""
}

// slowSource hands out environments' fake clusters that answer after a
// fixed time.
type slowSource struct {
	clusters      map[string]*fakeCluster // read only once the executors run
	call, rollout time.Duration
}

func (s slowSource) Cluster(_ context.Context, env string) (clusters.Target, v1alpha1.EnvironmentSpec, error) {
	c := s.clusters[env]
	if c == nil {
		return nil, v1alpha1.EnvironmentSpec{}, fmt.Errorf("load environment %q: %w", env, store.ErrNotFound)
	}
	create := true
	return slowTarget{target: target{c: c, dead: new(atomic.Bool)}, s: s}, v1alpha1.EnvironmentSpec{CreateNamespaces: &create}, nil
}

// slowTarget is a fake cluster whose namespace checks, dry-runs, applies
// and endpoints waits take s.call and whose rollouts take s.rollout.
type slowTarget struct {
	target
	s slowSource
}

// after waits d, or until ctx ends.
func after(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func (t slowTarget) EnsureNamespace(ctx context.Context, ns string, create bool) (bool, error) {
	if err := after(ctx, t.s.call); err != nil {
		return false, err
	}
	return t.target.EnsureNamespace(ctx, ns, create)
}

func (t slowTarget) PrepareApply(ctx context.Context, ns string, objs []*unstructured.Unstructured, opts kube.ApplyOptions) (kube.Prepared, error) {
	if err := after(ctx, t.s.call); err != nil {
		return nil, err
	}
	return commitFunc(func(ctx context.Context) ([]kube.Result, error) {
		if err := after(ctx, t.s.call); err != nil {
			return nil, err
		}
		return t.target.Apply(ctx, ns, objs, opts)
	}), nil
}

func (t slowTarget) WaitRollout(ctx context.Context, ns string, objs []*unstructured.Unstructured, progress func(string)) error {
	if err := after(ctx, t.s.rollout); err != nil {
		return err
	}
	return t.target.WaitRollout(ctx, ns, objs, progress)
}

func (t slowTarget) WaitEndpointsSettled(ctx context.Context, ns string, objs []*unstructured.Unstructured) error {
	if err := after(ctx, t.s.call); err != nil {
		return err
	}
	return t.target.WaitEndpointsSettled(ctx, ns, objs)
}
