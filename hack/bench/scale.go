package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/store"
	"fledge.dev/fledge/internal/store/sqlite"
)

const historyPipeline = "history"

// scaleBench runs benchmark 5 on one server with the SQLite store:
// deployments across pipelines queued and waiting at approval, a history of
// finished deployments, then memory, API throughput and latency, and
// approvals.
func (b *bench) scaleBench(ctx context.Context, res *Results) error {
	dir := filepath.Join(b.work, "scale")
	db := filepath.Join(dir, "fledge.db")
	s, err := b.startFledge(ctx, dir, db)
	if err != nil {
		return err
	}
	defer func() { s.stop() }()
	manifests, err := b.walkthroughManifests(1)
	if err != nil {
		return err
	}
	// Headless Services: the local control plane's Service range
	// (10.0.0.0/24) has addresses for 253 Services, and the pipelines have
	// two each; with none left, creating one fails until an address is
	// freed and the canary stage retries until its step timeout.
	headless := strings.Replace(manifests, "  type: ClusterIP\n", "  clusterIP: None\n", 1)
	if headless == manifests {
		return errors.New("the walkthrough's Service has no \"type: ClusterIP\" line to make headless")
	}
	manifests = headless
	pipes := make([]pipelineFixture, 0, b.o.scalePipes+1)
	for i := 0; i < b.o.scalePipes; i++ {
		pipes = append(pipes, pipelineFixture{
			Name: fmt.Sprintf("scale-%03d", i), Artifact: "webpage",
			CanaryNS: fmt.Sprintf("sc-%03d-canary", i), ProdNS: fmt.Sprintf("sc-%03d-prod", i), Approval: true,
		})
	}
	pipes = append(pipes, pipelineFixture{Name: historyPipeline, Artifact: "webpage", CanaryNS: "hist-canary", ProdNS: "hist-prod", Approval: true})
	if err := b.applyFledgeResources(ctx, s, filepath.Join(dir, "resources"), "", map[string]string{"webpage": manifests}, pipes); err != nil {
		return err
	}
	r := &ScaleResult{Pipelines: b.o.scalePipes, Deployments: b.o.scalePipes * b.o.scalePerPipe, HistoryCount: b.o.history}
	res.Scale = r

	// The history: one real run, cancelled, then copied through the
	// store package while the server is stopped.
	if b.o.history > 0 {
		begin := time.Now()
		if err := b.seedHistory(ctx, s, db); err != nil {
			return fmt.Errorf("seed history: %w", err)
		}
		b.log.Info("scale: history seeded", "deployments", b.o.history, "took", time.Since(begin).Round(time.Millisecond).String())
		if s, err = b.startFledge(ctx, dir, db); err != nil {
			return err
		}
	}
	idle, _, _ := s.rss()
	r.RSSIdleMiB = idle
	cpu := sampleCPU(s.cmd.Process.Pid)

	// The deployments, created through the API by 8 clients.
	begin := time.Now()
	var (
		mu      sync.Mutex
		ids     []int64
		created []time.Duration
		errs    []error
	)
	jobs := make(chan string)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range jobs {
				var d v1alpha1.Deployment
				t0 := time.Now()
				_, err := s.post(ctx, "/api/v1/pipelines/"+p+"/runs", "ci",
					map[string]any{"parameters": map[string]string{"IMAGE_TAG": "3.0"}}, &d)
				lat := time.Since(t0)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					ids = append(ids, d.ID)
					created = append(created, lat)
				}
				mu.Unlock()
			}
		}()
	}
	for round := 0; round < b.o.scalePerPipe; round++ {
		for _, p := range pipes[:b.o.scalePipes] {
			jobs <- p.Name
		}
	}
	close(jobs)
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("%d of %d runs not created, first: %w", len(errs), r.Deployments, errs[0])
	}
	r.CreateLatency = Summarize(Millis(created), "ms")
	r.CPU = append(r.CPU, cpu.since("create"))
	cpu = sampleCPU(s.cmd.Process.Pid)
	b.log.Info("scale: deployments created", "count", len(ids), "took", time.Since(begin).Round(time.Millisecond).String())

	// Steady state: the heads of the pipelines waiting at approval, the
	// rest queued behind them. A head whose canary never becomes available
	// (under this load kwok can leave a pod unready) stays Running until its
	// rollout timeout: the state counts as steady once no count has moved
	// for 15 s, and what is still Running or Failed is reported.
	var counts map[v1alpha1.DeploymentStatus]int
	var stable time.Time
	last := ""
	_, err = waitUntil(ctx, 10*time.Minute, "scale steady state", func(ctx context.Context) (bool, error) {
		c, err := countStatuses(ctx, s)
		if err != nil {
			return false, err
		}
		counts = c
		key := fmt.Sprint(c)
		if key != last {
			last, stable = key, time.Now()
			return false, nil
		}
		return time.Since(stable) > 15*time.Second, nil
	})
	if err != nil {
		return err
	}
	r.SteadyAfter = Summarize([]float64{float64(stable.Sub(begin)) / float64(time.Second)}, "s")
	r.Waiting, r.Queued = counts[v1alpha1.StatusWaitingForApproval], counts[v1alpha1.StatusQueued]
	r.StuckRunning, r.Failed = counts[v1alpha1.StatusRunning], counts[v1alpha1.StatusFailed]
	r.RSSMiB, r.RSSPeakMiB, _ = s.rss()
	r.CPU = append(r.CPU, cpu.since("steady state"))
	b.log.Info("scale: steady", "waiting", r.Waiting, "queued", r.Queued, "running", r.StuckRunning, "failed", r.Failed, "rss_mib", r.RSSMiB)

	// The console, in Chromium, with all of it in the store.
	cpu = sampleCPU(s.cmd.Process.Pid)
	r.Console, err = consolePages(ctx, s, [][2]string{
		{"/deployments", "deployments"},
		{"/pipelines", "pipelines"},
		{"/pipelines/" + pipes[0].Name, "pipeline"},
		{"/pipelines/" + historyPipeline + "/history", "history"},
		{fmt.Sprintf("/deployments/%d", ids[0]), "deployment"},
	})
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	r.CPU = append(r.CPU, cpu.since("console"))
	for _, p := range r.Console {
		b.log.Info("scale: console", "page", p.Path, "cold_ms", p.ColdMs, "warm_ms", p.WarmMs, "rows", p.Rows)
	}

	// API load: GET one deployment at 64 connections, then the history
	// listing.
	paths := make([]string, len(ids))
	for i, id := range ids {
		paths[i] = fmt.Sprintf("/api/v1/deployments/%d", id)
	}
	wait := b.profileCPU(ctx, s, "scale-get", b.o.loadDuration)
	cpu = sampleCPU(s.cmd.Process.Pid)
	r.Get, err = b.load(ctx, s, paths, 64, b.o.loadDuration)
	r.CPU = append(r.CPU, cpu.since("GET one deployment"))
	wait()
	if err != nil {
		return fmt.Errorf("load GET deployment: %w", err)
	}
	b.log.Info("scale: GET deployment", "rps", r.Get.RPS, "p99_ms", r.Get.P99ms, "tool", r.Get.Tool)
	hist := []string{"/api/v1/deployments?pipeline=" + historyPipeline + "&limit=50"}
	wait = b.profileCPU(ctx, s, "scale-history", b.o.loadDuration)
	cpu = sampleCPU(s.cmd.Process.Pid)
	r.HistoryList, err = b.load(ctx, s, hist, 8, b.o.loadDuration)
	r.CPU = append(r.CPU, cpu.since("history page"))
	wait()
	if err != nil {
		return fmt.Errorf("load history: %w", err)
	}
	b.log.Info("scale: history listing", "rps", r.HistoryList.RPS, "p99_ms", r.HistoryList.P99ms)
	r.RSSAfterLoadMiB, r.RSSPeakMiB, _ = s.rss()

	// Approvals: approve what waits, one client, as deployments reach the
	// approval stage, for at most the drain time.
	wait = b.profileCPU(ctx, s, "scale-approve", min(b.o.scaleDrain, time.Minute))
	cpu = sampleCPU(s.cmd.Process.Pid)
	approvals, done, took, err := b.approveAll(ctx, s, r.Deployments, b.o.scaleDrain)
	wait()
	if err != nil {
		return err
	}
	r.CPU = append(r.CPU, cpu.since("approvals"))
	r.ApproveLatency = Summarize(Millis(approvals), "ms")
	r.Drained, r.DrainSeconds = done, took.Seconds()
	r.RSSEndMiB, r.RSSPeakMiB, _ = s.rss()
	b.log.Info("scale: approvals", "approved", len(approvals), "finished", done, "took", took.Round(time.Second).String())

	// What the store holds, with the server stopped.
	s.stop()
	if r.Store, err = measureStore(ctx, db); err != nil {
		return fmt.Errorf("store size: %w", err)
	}
	b.log.Info("scale: store", "file_mib", float64(r.Store.FileBytes)/(1<<20), "releases", r.Store.Releases,
		"events_written", r.Store.EventsWritten, "events_kept", r.Store.EventsKept, "bytes_per_release", r.Store.BytesPerRelease)
	return nil
}

// countStatuses counts the deployments of the scale pipelines by status
// (the history pipeline's are left out).
func countStatuses(ctx context.Context, s *fledgeServer) (map[v1alpha1.DeploymentStatus]int, error) {
	out := map[v1alpha1.DeploymentStatus]int{}
	for _, st := range []v1alpha1.DeploymentStatus{
		v1alpha1.StatusQueued, v1alpha1.StatusRunning, v1alpha1.StatusWaitingForApproval,
		v1alpha1.StatusSucceeded, v1alpha1.StatusFailed,
	} {
		var l v1alpha1.DeploymentList
		if err := s.getJSON(ctx, "/api/v1/deployments?limit=1&status="+string(st), &l); err != nil {
			return nil, err
		}
		out[st] = l.Total
	}
	// The history is all Cancelled, so it does not count in any of these.
	return out, nil
}

// seedHistory makes finished deployments of the history pipeline: one real
// run, cancelled while queued, copied n-1 times into the store with the
// server stopped. The server is left stopped.
func (b *bench) seedHistory(ctx context.Context, s *fledgeServer, db string) error {
	d, err := s.run(ctx, historyPipeline, "0.0")
	if err != nil {
		return err
	}
	if _, err := s.post(ctx, fmt.Sprintf("/api/v1/deployments/%d/cancel", d.ID), "ci", nil, nil); err != nil {
		return err
	}
	if _, err := s.waitStatus(ctx, d.ID, 2*time.Minute, v1alpha1.StatusCancelled); err != nil {
		return err
	}
	s.stop()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: db, Logger: discard})
	if err != nil {
		return err
	}
	defer st.Close()
	row, err := st.GetDeployment(ctx, d.ID)
	if err != nil {
		return err
	}
	for i := 1; i < b.o.history; i++ {
		c := row
		c.Parameters = map[string]string{"IMAGE_TAG": fmt.Sprintf("0.%d", i)}
		c.LeaseOwner, c.LeaseExpires = "", nil
		if _, err := st.CreateDeployment(ctx, c, store.Event{
			Time: time.Now(), Type: "DeploymentCreated", Message: "copied by hack/bench to make a history",
		}); err != nil {
			return err
		}
	}
	return nil
}

// approveAll approves every deployment waiting at approval, again and
// again as the queued ones reach the approval stage, until total
// deployments have finished or the time is up. It returns the latency of
// each approve call, how many finished and how long it ran.
func (b *bench) approveAll(ctx context.Context, s *fledgeServer, total int, limit time.Duration) ([]time.Duration, int, time.Duration, error) {
	var lats []time.Duration
	start := time.Now()
	seen := map[int64]bool{}
	for time.Since(start) < limit {
		var l v1alpha1.DeploymentList
		if err := s.getJSON(ctx, "/api/v1/deployments?limit=500&status=WaitingForApproval", &l); err != nil {
			return lats, 0, time.Since(start), err
		}
		for _, d := range l.Items {
			if seen[d.ID] || d.Pipeline == historyPipeline {
				continue
			}
			seen[d.ID] = true
			t0 := time.Now()
			if _, err := s.post(ctx, fmt.Sprintf("/api/v1/deployments/%d/approve", d.ID), "approver", map[string]string{}, nil); err != nil {
				return lats, 0, time.Since(start), err
			}
			lats = append(lats, time.Since(t0))
		}
		counts, err := countStatuses(ctx, s)
		if err != nil {
			return lats, 0, time.Since(start), err
		}
		finished := counts[v1alpha1.StatusSucceeded] + counts[v1alpha1.StatusFailed]
		if finished >= total {
			return lats, finished, time.Since(start), nil
		}
		if len(l.Items) == 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	counts, err := countStatuses(ctx, s)
	if err != nil {
		return lats, 0, time.Since(start), err
	}
	return lats, counts[v1alpha1.StatusSucceeded] + counts[v1alpha1.StatusFailed], time.Since(start), nil
}
