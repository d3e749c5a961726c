package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"fledge.dev/fledge/api/v1alpha1"
)

// Replicas running releases: the same pipelines and runs, on a fresh
// database each time, run by one replica, by three, and by three of which
// one is killed with SIGKILL while it holds leases. Each pipeline's canary
// waits in a timed pause longer than the lease, so its run parks (it frees
// its executor's slot and lease until the pause ends) and is taken up
// again by whichever replica claims it first; Kubernetes work is small (a
// ConfigMap, a one-replica Deployment, a headless Service, an Ingress) but
// on this machine the API server is still its limit. The executor's own
// scaling, with Kubernetes aside, is throughputBench's.
const (
	// replicaLeaseTTL is `fledge serve`'s default lease, which the
	// replicas run with.
	replicaLeaseTTL = 15 * time.Second
	// replicaStages are the pipeline's stages: canary, steps (weight 25
	// and the pause), production.
	replicaStages = 3
	// replicaTimeout bounds one phase.
	replicaTimeout = 20 * time.Minute
)

// ReplicaRun is one phase of replicas running releases.
type ReplicaRun struct {
	Phase       string `json:"phase"`
	Replicas    int    `json:"replicas"`
	Pipelines   int    `json:"pipelines"`
	Deployments int    `json:"deployments"`
	Pause       string `json:"pause"`
	Succeeded   int    `json:"succeeded"`
	// Seconds is from the first deployment started to the last one
	// finished, by the store's times.
	Seconds float64 `json:"seconds"`
	// Steps are the executor steps that completed ("ok" in
	// fledge_step_duration_seconds), summed over the replicas alive at the
	// end.
	Steps                int     `json:"steps"`
	StepsPerSecond       float64 `json:"steps_per_second"`
	Events               int     `json:"events"`
	EventsPerSecond      float64 `json:"events_per_second"`
	DeploymentsPerSecond float64 `json:"deployments_per_second"`
	// TxPerSecond counts the database's transactions per second over
	// the phase, DatabaseCores the CPU of its backends serving it.
	TxPerSecond   float64 `json:"tx_per_second"`
	DatabaseCores float64 `json:"database_cores"`
	// Claims are per replica alive at the end.
	ClaimsPerReplica []int `json:"claims_per_replica"`
	Claims           int   `json:"claims"`
	Resumes          int   `json:"resumes"`
	LeaseLosses      int   `json:"lease_losses"`
	// NotOnce counts the deployments not run exactly once: not
	// Succeeded, an event recorded a wrong number of times, or a run that
	// overlapped another of its pipeline; Problems names the first.
	NotOnce  int      `json:"not_once"`
	Problems []string `json:"problems,omitempty"`
	// Workloads counts the canary and production Deployments whose
	// generation or image says they were written other than once a run.
	Workloads int       `json:"workloads_wrong"`
	Takeover  *Takeover `json:"takeover,omitempty"`
	CPU       PhaseCPU  `json:"cpu"`
}

// Takeover is what happened to the leases of a replica killed with
// SIGKILL.
type Takeover struct {
	KilledAfter float64 `json:"killed_after_seconds"`
	LeaseTTL    float64 `json:"lease_ttl_seconds"`
	// Held counts the unfinished deployments the killed replica held a
	// lease on; Taken those another replica claimed (or finished) after.
	Held   int     `json:"held"`
	Taken  int     `json:"taken"`
	Median float64 `json:"median_seconds"`
	Max    float64 `json:"max_seconds"`
}

// replicaPhase says how many replicas run the work and whether one dies.
type replicaPhase struct {
	name     string
	replicas int
	kill     bool
}

var replicaPhases = []replicaPhase{
	{"1 replica", 1, false},
	{"3 replicas", 3, false},
	{"3 replicas, 1 killed", 3, true},
}

// replicaRuns runs every phase on admin's PostgreSQL server.
func (b *bench) replicaRuns(ctx context.Context, admin string, r *ReplicasResult) error {
	manifests, err := b.smallManifests()
	if err != nil {
		return err
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	token, err := newToken()
	if err != nil {
		return err
	}
	for i, ph := range replicaPhases {
		run, err := b.replicaRun(ctx, admin, manifests, hex.EncodeToString(key), token, i, ph)
		if run != nil {
			r.Runs = append(r.Runs, *run)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", ph.name, err)
		}
		b.log.Info("replicas: run", "phase", ph.name, "seconds", run.Seconds, "steps_per_second", run.StepsPerSecond,
			"succeeded", run.Succeeded, "not_once", run.NotOnce, "workloads_wrong", run.Workloads)
	}
	return nil
}

// smallManifests are the walkthrough's with one replica, a headless
// Service and a ConfigMap.
func (b *bench) smallManifests() (string, error) {
	m, err := b.walkthroughManifests(1)
	if err != nil {
		return "", err
	}
	headless := strings.Replace(m, "  type: ClusterIP\n", "  clusterIP: None\n", 1)
	if headless == m {
		return "", errors.New("the walkthrough's Service has no \"type: ClusterIP\" line to make headless")
	}
	return headless + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: webpage-config\ndata:\n  VERSION: \"${IMAGE_TAG}\"\n", nil
}

// replicaRun runs one phase on a fresh database; the namespaces are its
// own (deleted at the end) so every phase does the same work.
func (b *bench) replicaRun(ctx context.Context, admin, manifests, key, token string, index int, ph replicaPhase) (*ReplicaRun, error) {
	dsn, drop, err := freshDatabase(ctx, admin)
	if err != nil {
		return nil, err
	}
	defer drop()
	dir := filepath.Join(b.work, "replicas", fmt.Sprintf("run-%d", index))
	servers, err := b.startReplicas(ctx, dir, dsn, key, token, ph.replicas)
	defer stopAll(servers)
	if err != nil {
		return nil, err
	}
	pipes := make([]pipelineFixture, b.o.replicaPipes)
	for i := range pipes {
		name := fmt.Sprintf("rp%d-%03d", index, i)
		pipes[i] = pipelineFixture{Name: name, Artifact: "small", CanaryNS: name + "-c", ProdNS: name + "-p", Pause: b.o.replicaPause.String()}
	}
	defer b.deleteNamespaces(context.WithoutCancel(ctx), pipes)
	if err := b.applyFledgeResources(ctx, servers[0], filepath.Join(dir, "resources"), "", map[string]string{"small": manifests}, pipes); err != nil {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	run := &ReplicaRun{
		Phase: ph.name, Replicas: ph.replicas, Pipelines: len(pipes),
		Deployments: len(pipes) * b.o.replicaRuns, Pause: b.o.replicaPause.String(),
	}
	pids := make([]int, len(servers))
	for i, s := range servers {
		pids[i] = s.cmd.Process.Pid
	}
	tx0, _, db0, err := dbCounters(ctx, conn)
	if err != nil {
		return run, err
	}
	cpu := sampleCPU(pids...)
	begin := time.Now()
	if err := createRuns(ctx, servers, pipes, b.o.replicaRuns); err != nil {
		return run, err
	}
	if ph.kill {
		if run.Takeover, err = b.killOne(ctx, conn, servers[len(servers)-1], begin); err != nil {
			return run, err
		}
		servers = servers[:len(servers)-1]
	}
	if err := waitFinished(ctx, conn, run.Deployments); err != nil {
		return run, err
	}
	run.CPU = cpu.since(ph.name)
	tx1, _, db1, err := dbCounters(ctx, conn)
	if err != nil {
		return run, err
	}
	run.TxPerSecond, run.DatabaseCores = float64(tx1-tx0)/run.CPU.Seconds, (db1-db0)/run.CPU.Seconds
	if err := run.count(ctx, conn, servers); err != nil {
		return run, err
	}
	if err := run.verify(ctx, conn); err != nil {
		return run, err
	}
	run.Workloads, err = b.wrongWorkloads(ctx, pipes, b.o.replicaRuns)
	return run, err
}

// createRuns creates perPipe runs of every pipeline through the API,
// round by round (a pipeline's runs in order), 8 clients spread over the
// replicas.
func createRuns(ctx context.Context, servers []*fledgeServer, pipes []pipelineFixture, perPipe int) error {
	for round := range perPipe {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(8)
		for i, p := range pipes {
			s := servers[i%len(servers)]
			g.Go(func() error {
				body := map[string]any{"parameters": map[string]string{"IMAGE_TAG": fmt.Sprintf("1.%d", round)}}
				if _, err := s.post(gctx, "/api/v1/pipelines/"+p.Name+"/runs", "ci", body, nil); err != nil {
					return fmt.Errorf("create run %d of %s: %w", round, p.Name, err)
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
	}
	return nil
}

// killOne kills victim with SIGKILL half way through the first runs'
// pause, then waits until the other replicas have taken over every
// unfinished deployment it held a lease on.
func (b *bench) killOne(ctx context.Context, conn *pgx.Conn, victim *fledgeServer, begin time.Time) (*Takeover, error) {
	after := b.o.replicaPause / 2
	if err := sleepCtx(ctx, time.Until(begin.Add(after))); err != nil {
		return nil, err
	}
	if err := victim.cmd.Process.Kill(); err != nil {
		return nil, fmt.Errorf("kill replica: %w", err)
	}
	killedAt := time.Now()
	<-victim.done
	t := &Takeover{KilledAfter: killedAt.Sub(begin).Seconds(), LeaseTTL: replicaLeaseTTL.Seconds()}
	var owner string
	err := conn.QueryRow(ctx, `SELECT coalesce(max(lease_owner), '') FROM deployments WHERE lease_owner LIKE $1`,
		fmt.Sprintf("%%-%d-%%", victim.cmd.Process.Pid)).Scan(&owner)
	if err != nil {
		return nil, fmt.Errorf("find the killed replica's leases: %w", err)
	}
	held, err := pgx.CollectRows(mustQuery(ctx, conn, `SELECT id FROM deployments WHERE lease_owner = $1 AND NOT finished`, owner), pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("list the killed replica's leases: %w", err)
	}
	if owner == "" || len(held) == 0 {
		return t, errors.New("the killed replica held no lease: nothing to take over")
	}
	t.Held = len(held)
	var took []float64
	for pending := held; len(pending) > 0 && time.Since(killedAt) < 4*replicaLeaseTTL; {
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return nil, err
		}
		taken, err := pgx.CollectRows(mustQuery(ctx, conn, `SELECT id FROM deployments
			WHERE id = ANY($1) AND (finished OR (lease_owner <> '' AND lease_owner <> $2))`, pending, owner), pgx.RowTo[int64])
		if err != nil {
			return nil, fmt.Errorf("read leases: %w", err)
		}
		now := time.Since(killedAt).Seconds()
		for range taken {
			took = append(took, now)
		}
		pending = slices.DeleteFunc(pending, func(id int64) bool { return slices.Contains(taken, id) })
	}
	t.Taken = len(took)
	if len(took) > 0 {
		s := Summarize(took, "s")
		t.Median, t.Max = s.Median, s.Max
	}
	b.log.Info("replicas: killed one", "held", t.Held, "taken", t.Taken, "max_seconds", t.Max)
	return t, nil
}

// waitFinished waits until total deployments have finished.
func waitFinished(ctx context.Context, conn *pgx.Conn, total int) error {
	return poll(ctx, replicaTimeout, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM deployments WHERE finished`).Scan(&n); err != nil {
			return false, err
		}
		return n >= total, nil
	})
}

// count reads the phase's figures: times and events from the store,
// steps, claims and lease losses from the live replicas' metrics.
func (r *ReplicaRun) count(ctx context.Context, conn *pgx.Conn, servers []*fledgeServer) error {
	var first, last time.Time
	err := conn.QueryRow(ctx, `SELECT min(started_at), max(ended_at),
		count(*) FILTER (WHERE status = 'Succeeded'), (SELECT count(*) FROM events) FROM deployments`).Scan(&first, &last, &r.Succeeded, &r.Events)
	if err != nil {
		return fmt.Errorf("read the run's times: %w", err)
	}
	r.Seconds = last.Sub(first).Seconds()
	for _, s := range servers {
		m, err := s.metrics(ctx)
		if err != nil {
			return err
		}
		r.Steps += int(m.sum("fledge_step_duration_seconds_count", `result="ok"`))
		claims := int(m.sum("fledge_executor_claims_total", ""))
		r.Claims += claims
		r.ClaimsPerReplica = append(r.ClaimsPerReplica, claims)
		r.Resumes += int(m.sum("fledge_executor_resumes_total", ""))
		r.LeaseLosses += int(m.sum("fledge_executor_lease_losses_total", ""))
	}
	if r.Seconds > 0 {
		r.StepsPerSecond = float64(r.Steps) / r.Seconds
		r.EventsPerSecond = float64(r.Events) / r.Seconds
		r.DeploymentsPerSecond = float64(r.Succeeded) / r.Seconds
	}
	return nil
}

// replicaOnce are the events a release of the bench's pipeline records
// exactly this many times.
var replicaOnce = map[string]int{
	"DeploymentCreated": 1, "DeploymentStarted": 1, "StageStarted": replicaStages, "StageSucceeded": replicaStages,
	"Applied": 2, "Paused": 1, "ProductionReleased": 1, "DeploymentSucceeded": 1,
}

// verify checks from the store that every deployment ran exactly once:
// it Succeeded, recorded each once-only event once, and ran after the
// previous run of its pipeline had ended.
func (r *ReplicaRun) verify(ctx context.Context, conn *pgx.Conn) error {
	rows, err := conn.Query(ctx, `SELECT d.id, d.status, e.type, count(*)
		FROM deployments d JOIN events e ON e.deployment_id = d.id
		GROUP BY d.id, d.status, e.type ORDER BY d.id`)
	if err != nil {
		return fmt.Errorf("count events: %w", err)
	}
	counts := map[int64]map[string]int{}
	status := map[int64]string{}
	for rows.Next() {
		var (
			id      int64
			st, typ string
			n       int
		)
		if err := rows.Scan(&id, &st, &typ, &n); err != nil {
			return err
		}
		status[id] = st
		if counts[id] == nil {
			counts[id] = map[string]int{}
		}
		counts[id][typ] = n
	}
	if err := rows.Err(); err != nil {
		return err
	}
	wrong := map[int64]string{}
	for id, c := range counts {
		if status[id] != string(v1alpha1.StatusSucceeded) {
			wrong[id] = "ended " + status[id]
			continue
		}
		for typ, want := range replicaOnce {
			if c[typ] != want {
				wrong[id] = fmt.Sprintf("%s recorded %d times, want %d", typ, c[typ], want)
			}
		}
	}
	overlaps, err := pgx.CollectRows(mustQuery(ctx, conn, `SELECT b.id FROM deployments a JOIN deployments b
		ON a.pipeline = b.pipeline AND a.number < b.number
		WHERE b.started_at < a.ended_at`), pgx.RowTo[int64])
	if err != nil {
		return fmt.Errorf("read run order: %w", err)
	}
	for _, id := range overlaps {
		wrong[id] = "started before an earlier run of its pipeline ended"
	}
	r.NotOnce = len(wrong) + max(0, r.Deployments-len(counts))
	ids := slices.Sorted(maps.Keys(wrong))
	for _, id := range ids[:min(len(ids), 5)] {
		r.Problems = append(r.Problems, fmt.Sprintf("deployment %d: %s", id, wrong[id]))
	}
	return nil
}

// wrongWorkloads counts the canary and production Deployments that were
// not written exactly once per run: a run applies each once, so the
// generation is the number of runs and the image the last run's.
func (b *bench) wrongWorkloads(ctx context.Context, pipes []pipelineFixture, runs int) (int, error) {
	wrong := 0
	want := fmt.Sprintf("%s1.%d", image, runs-1)
	for _, p := range pipes {
		for _, ns := range []string{p.CanaryNS, p.ProdNS} {
			d, err := b.cs.AppsV1().Deployments(ns).Get(ctx, "webpage-deployment", metav1.GetOptions{})
			if err != nil {
				return wrong, fmt.Errorf("read %s/webpage-deployment: %w", ns, err)
			}
			if d.Generation != int64(runs) || d.Spec.Template.Spec.Containers[0].Image != want {
				wrong++
				b.log.Warn("replicas: workload not written once a run", "namespace", ns, "generation", d.Generation, "image", d.Spec.Template.Spec.Containers[0].Image)
			}
		}
	}
	return wrong, nil
}

// deleteNamespaces deletes the pipelines' namespaces and waits until they
// are gone, so the next phase meets the control plane as this one did.
func (b *bench) deleteNamespaces(ctx context.Context, pipes []pipelineFixture) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, p := range pipes {
		for _, ns := range []string{p.CanaryNS, p.ProdNS} {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				err := b.cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
				if err != nil && !apierrors.IsNotFound(err) {
					b.log.Warn("replicas: delete namespace", "namespace", ns, "error", err)
				}
			}()
		}
	}
	wg.Wait()
	err := poll(ctx, 5*time.Minute, time.Second, func(ctx context.Context) (bool, error) {
		l, err := b.cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		for _, n := range l.Items {
			if slices.ContainsFunc(pipes, func(p pipelineFixture) bool { return n.Name == p.CanaryNS || n.Name == p.ProdNS }) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		b.log.Warn("replicas: namespaces not gone", "error", err)
	}
}

// promMetrics are the lines of a /metrics answer.
type promMetrics []string

// metrics reads the server's /metrics.
func (s *fledgeServer) metrics(ctx context.Context) (promMetrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	s.authorize(req, "bench")
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET /metrics: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return strings.Split(string(body), "\n"), nil
}

// sum adds the values of the samples of name whose labels contain label
// ("" for all).
func (m promMetrics) sum(name, label string) float64 {
	total := 0.0
	for _, line := range m {
		series, value, ok := strings.Cut(line, " ")
		if !ok || (series != name && !strings.HasPrefix(series, name+"{")) || !strings.Contains(series, label) {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err == nil {
			total += v
		}
	}
	return total
}
