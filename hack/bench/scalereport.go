package main

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// scaleGoals writes the goal rows of issue 20 for one server.
func (sc *ScaleResult) scaleGoals(w func(string, ...any)) {
	at := fmt.Sprintf("%d deployments across %d pipelines, %d in history", sc.Deployments, sc.Pipelines, sc.HistoryCount)
	w("| %s: server RSS ≤ %.0f MiB (peak) | %.0f MiB (steady %.0f MiB) | %s |\n",
		at, goalScaleRSSMiB, sc.RSSPeakMiB, sc.RSSMiB, met(sc.RSSPeakMiB <= goalScaleRSSMiB))
	w("| %s: create a run p99 ≤ %.0f ms | %s | %s |\n", at, goalCreateP99, ms(sc.CreateLatency.P99), met(sc.CreateLatency.P99 <= goalCreateP99))
	w("| %s: approve p99 ≤ %.0f ms while the approved releases proceed | %s (%d approvals) | %s |\n",
		at, goalApproveP99, ms(sc.ApproveLatency.P99), sc.ApproveLatency.N, met(sc.ApproveLatency.N > 0 && sc.ApproveLatency.P99 <= goalApproveP99))
	if len(sc.Console) > 0 {
		slowest := slices.MaxFunc(sc.Console, func(a, b ConsolePage) int { return cmp.Compare(a.MaxMs, b.MaxMs) })
		w("| %s: console pages render in ≤ %.0f ms (Chromium, slowest load of any page) | %s (%s) | %s |\n",
			at, goalConsoleRender, ms(slowest.MaxMs), slowest.Path, met(slowest.MaxMs <= goalConsoleRender))
	}
	if st := sc.Store; st != nil && st.Releases > 0 {
		w("| store file size per finished deployment (stated) | %.1f KiB per release (%.1f events kept of %.1f written) | stated |\n",
			st.BytesPerRelease/1024, st.EventsKept, st.EventsWritten)
	}
}

// scaleDetails writes the console, store and CPU tables of benchmark 5.
func (sc *ScaleResult) scaleDetails(w func(string, ...any)) {
	if len(sc.Console) > 0 {
		w("Console pages in headless Chromium, signed in, with everything above in the store: the first data\n")
		w("render (the console's `fledge:first-render` mark, from the start of the navigation), %d loads per\n", consoleLoads)
		w("page, the first with an empty cache.\n\n")
		w("| page | cold cache | warm (median) | slowest | rows shown |\n|---|---|---|---|---|\n")
		for _, p := range sc.Console {
			w("| `%s` | %s | %s | %s | %d |\n", p.Path, ms(p.ColdMs), ms(p.WarmMs), ms(p.MaxMs), p.Rows)
		}
		w("\n")
	}
	if st := sc.Store; st != nil {
		w("The store at the end (SQLite, after a checkpoint): %.1f MiB. Pages per table with its indexes\n", float64(st.FileBytes)/(1<<20))
		w("(`dbstat`):\n\n| table | rows | MiB | bytes per row |\n|---|---|---|---|\n")
		names := make([]string, 0, len(st.Tables))
		for n := range st.Tables {
			names = append(names, n)
		}
		slices.SortFunc(names, func(a, b string) int { return cmp.Compare(float64(st.Tables[b].Bytes), float64(st.Tables[a].Bytes)) })
		for _, n := range names {
			t := st.Tables[n]
			if t.Bytes < 64<<10 {
				continue
			}
			per := "–"
			if t.Rows > 0 {
				per = fmt.Sprintf("%.0f", float64(t.Bytes)/float64(t.Rows))
			}
			rows := "–"
			if t.Rows > 0 || n == "deployments" || n == "events" || n == "decisions" {
				rows = fmt.Sprint(t.Rows)
			}
			w("| %s | %s | %.1f | %s |\n", n, rows, float64(t.Bytes)/(1<<20), per)
		}
		if st.Releases > 0 {
			w("\nA release that succeeded (%d of them: canary, approval, production) wrote %.1f events and kept %.1f\n",
				st.Releases, st.EventsWritten, st.EventsKept)
			w("once it ended (rollout progress compacted to the last line of each workload); its row, events and\n")
			w("decision take %.1f KiB at the tables' mean bytes per row, so 100,000 such releases take about %.0f MiB.\n\n",
				st.BytesPerRelease/1024, st.BytesPerRelease*100000/(1<<20))
		} else {
			w("\n")
		}
	}
	if len(sc.CPU) > 0 {
		w("Where the CPU went, per phase (cores used on average, of the machine's; from /proc of every process):\n\n")
		cpuTable(w, sc.CPU)
	}
}

// cpuTable writes the cores each group of processes used in each phase.
func cpuTable(w func(string, ...any), phases []PhaseCPU) {
	groups := map[string]bool{}
	for _, p := range phases {
		for g := range p.Cores {
			groups[g] = true
		}
	}
	var cols []string
	for _, g := range cpuGroups {
		if groups[g.group] && !slices.Contains(cols, g.group) {
			cols = append(cols, g.group)
		}
	}
	if groups["other"] {
		cols = append(cols, "other")
	}
	w("| phase | wall | %s | total |\n|---|---|%s---|\n", strings.Join(cols, " | "), strings.Repeat("---|", len(cols)))
	for _, p := range phases {
		cells := make([]string, len(cols))
		total := 0.0
		for i, c := range cols {
			cells[i] = fmt.Sprintf("%.2f", p.Cores[c])
			total += p.Cores[c]
		}
		w("| %s | %.0f s | %s | %.2f |\n", p.Phase, p.Seconds, strings.Join(cells, " | "), total)
	}
	w("\n")
}

// goals writes the goal rows of replicas.
func (r *ReplicasResult) goals(w func(string, ...any)) {
	for _, c := range r.Idle {
		if c.Replicas == 3 {
			w("| three idle replicas on PostgreSQL, %d deployments waiting or queued: claims do not stampede the database (stated) | %.1f transactions/s per replica, %.3f database cores in all | stated |\n",
				r.Deployments, c.TxPerSecond/float64(c.Replicas), c.BackendCores)
		}
	}
	if len(r.Runs) == 0 {
		return
	}
	once, total := 0, 0
	for _, run := range r.Runs {
		total += run.Deployments
		if run.NotOnce == 0 && run.Workloads == 0 {
			once += run.Succeeded
		}
	}
	w("| replicas on PostgreSQL run every deployment exactly once (1 replica, 3, 3 with one killed) | %d of %d | %s |\n", once, total, met(once == total))
	if t := r.Throughput; t != nil && len(t.Reps) > 0 {
		one, three, ratio := t.ratio()
		w("| executor throughput from 1 to 3 replicas ≥ %.1f× (steps per second, Kubernetes aside: clusters answering after fixed times; median of %d runs each) | %.2f× (%.1f → %.1f steps/s) | %s |\n",
			goalReplicaRatio, t.summary(1, stepsPerSecond, "").N, ratio, one, three, met(ratio >= goalReplicaRatio))
	}
	one, three := r.run(1, false), r.run(3, false)
	if one != nil && three != nil && one.StepsPerSecond > 0 {
		w("| the same from 1 to 3 replicas on this machine's control plane (stated: the API server is the limit, see 7) | %.2f× (%.1f → %.1f steps/s) | stated |\n",
			three.StepsPerSecond/one.StepsPerSecond, one.StepsPerSecond, three.StepsPerSecond)
	}
	if k := r.run(3, true); k != nil && k.Takeover != nil {
		t := k.Takeover
		w("| one of 3 replicas killed with SIGKILL mid-release: its deployments taken over within the lease time (%.0f s), none lost or doubled | %d of %d taken over, the last after %.1f s; %d not run exactly once | %s |\n",
			t.LeaseTTL, t.Taken, t.Held, t.Max, k.NotOnce+k.Workloads,
			met(t.Held > 0 && t.Taken == t.Held && t.Max <= t.LeaseTTL && k.NotOnce == 0 && k.Workloads == 0 && k.Succeeded == k.Deployments))
	}
}

// goalReplicaRatio is the executor throughput from 1 to 3
// replicas.
const goalReplicaRatio = 2.5

// run returns the phase with n replicas, one of them killed or not.
func (r *ReplicasResult) run(n int, killed bool) *ReplicaRun {
	for i := range r.Runs {
		if r.Runs[i].Replicas == n && (r.Runs[i].Takeover != nil) == killed {
			return &r.Runs[i]
		}
	}
	return nil
}

// section writes benchmark 7.
func (r *ReplicasResult) section(w func(string, ...any)) {
	w("## 7. Replicas sharing PostgreSQL\n\n")
	w("### Idle\n\n")
	w("`fledge serve` replicas on one PostgreSQL %s database holding %d unfinished deployments (%d pipelines,\n", r.PostgreSQL, r.Deployments, replicaPipelines)
	w("each one's head waiting for approval until tomorrow, %d queued behind it) and nothing else to do:\n", replicaPerPipe-1)
	w("each replica's executor claims on every poll (500 ms, the default) and finds nothing. Counted by\n")
	w("the database over %.0f s after the replicas ran %.0f s: its transactions (pg_stat_database; every\n", replicaWindow.Seconds(), replicaSettle.Seconds())
	w("statement of Fledge's is one), the rows it read, and the CPU of its backends serving them (/proc).\n\n")
	w("| replicas | transactions/s | per replica | rows read/s | database CPU (cores) |\n|---|---|---|---|---|\n")
	for _, c := range r.Idle {
		w("| %d | %.1f | %.1f | %.0f | %.3f |\n", c.Replicas, c.TxPerSecond, c.TxPerSecond/float64(c.Replicas), c.RowsPerSecond, c.BackendCores)
	}
	w("\n")
	if len(r.Runs) > 0 {
		r.runsSection(w)
	}
	if r.Throughput != nil && len(r.Throughput.Reps) > 0 {
		r.Throughput.section(w)
	}
}

// section writes the executor throughput with Kubernetes aside.
func (t *ThroughputResult) section(w func(string, ...any)) {
	w("### Executor throughput, Kubernetes aside\n\n")
	w("On this machine the control plane is the limit of replicas running releases (above: the API server\n")
	w("takes a core of the two, and each replica's watches add to it), so the executor's own scaling is\n")
	w("measured by `BenchmarkReplicaThroughput` in internal/executor: 1 or 3 executors in one process, each\n")
	w("with its own connections to a fresh database on the same PostgreSQL server, its own owner and\n")
	w("lease, `fledge serve`'s defaults (lease 15 s, poll 500 ms, at most 64 deployments at once). Their\n")
	w("clusters are in memory and answer after fixed times whatever the load: 20 ms for a namespace check,\n")
	w("a dry-run, an apply or an endpoints wait, 2 s for a rollout (which holds the deployment's slot, as a\n")
	w("real rollout wait does). The work: 192 pipelines (three replicas' 64), 3 queued runs each (576\n")
	w("deployments: canary, weight 25, production). Time is from the executors' start to the last\n")
	w("deployment finished; every deployment must succeed. Runs alternate between the counts, the\n")
	w("first of each round rotating. CPU is the benchmark process's (executors and fake clusters), per\n")
	w("completed step; PostgreSQL's is its own.\n\n")
	w("| replicas | runs | steps/s | min – max | deployments/s | time | CPU per step |\n|---|---|---|---|---|---|---|\n")
	for _, n := range []int{1, 3} {
		s := t.summary(n, stepsPerSecond, "steps/s")
		if s.N == 0 {
			continue
		}
		d := t.summary(n, func(r ThroughputRep) float64 { return r.DeploymentsPerSecond }, "deployments/s")
		sec := t.summary(n, func(r ThroughputRep) float64 { return r.Seconds }, "s")
		cpu := t.summary(n, func(r ThroughputRep) float64 { return r.CPUPerStep }, "µs")
		w("| %d | %d | %.1f | %.1f – %.1f | %.2f | %.1f s | %.0f µs |\n", n, s.N, s.Median, s.Min, s.Max, d.Median, sec.Median, cpu.Median)
	}
	one, three, ratio := t.ratio()
	w("\nFrom 1 to 3 replicas: %.2f× (%.1f → %.1f steps/s, medians). Three replicas can run 192 deployments\n", ratio, one, three)
	w("at once where one runs 64, so 3× is the ceiling; what is lost to it is the claims' polling (a\n")
	w("pipeline's next run waits for a replica's next poll or wake-up) and the database's turns.\n\n")
}

// runsSection writes the phases of replicas running releases.
func (r *ReplicasResult) runsSection(w func(string, ...any)) {
	first := r.Runs[0]
	w("### Running releases\n\n")
	w("The same work three times, each on a fresh database and its own namespaces: %d pipelines, %d runs\n", first.Pipelines, first.Deployments/max(first.Pipelines, 1))
	w("of each (%d deployments), created through the API round by round, spread over the replicas. A\n", first.Deployments)
	w("pipeline is the walkthrough's with small workloads (a ConfigMap, a one-replica Deployment, a headless\n")
	w("Service, an Ingress): canary, a canarySteps stage (weight 25, then `pause: {duration: %s}`), production,\n", first.Pause)
	w("no approval. The replicas run with `fledge serve`'s defaults: lease %.0f s, poll 500 ms, at most 64\n", replicaLeaseTTL.Seconds())
	w("deployments at once each (MaxRunning); a pipeline's runs go one at a time. Time is from the first\n")
	w("deployment started to the last one finished (the store's times); steps are the executor steps that\n")
	w("completed (`fledge_step_duration_seconds_count{result=\"ok\"}`, summed over the replicas alive at the\n")
	w("end); events are those the store kept (rollout progress compacted).\n\n")
	w("| phase | succeeded | time | steps/s | deployments/s | events/s | claims per replica | resumes | lease losses | not exactly once |\n")
	w("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, run := range r.Runs {
		claims := make([]string, len(run.ClaimsPerReplica))
		for i, c := range run.ClaimsPerReplica {
			claims[i] = fmt.Sprint(c)
		}
		w("| %s | %d of %d | %.0f s | %.1f | %.2f | %.1f | %s | %d | %d | %d |\n", run.Phase, run.Succeeded, run.Deployments, run.Seconds,
			run.StepsPerSecond, run.DeploymentsPerSecond, run.EventsPerSecond, strings.Join(claims, ", "), run.Resumes, run.LeaseLosses, run.NotOnce+run.Workloads)
	}
	w("\nExactly once is checked from the store and the cluster after each phase: every deployment\n")
	w("Succeeded; recorded DeploymentStarted, DeploymentSucceeded, Paused and ProductionReleased once,\n")
	w("Applied twice and StageStarted and StageSucceeded once per stage; started after the previous\n")
	w("run of its pipeline ended; and each pipeline's canary and production Deployment has the generation\n")
	w("of one write per run and the last run's image.\n")
	for _, run := range r.Runs {
		for _, p := range run.Problems {
			w("- %s: %s\n", run.Phase, p)
		}
	}
	w("\n")
	if k := r.run(3, true); k != nil && k.Takeover != nil {
		t := k.Takeover
		w("The killed replica: SIGKILL %.1f s after the first run was created, while it held the lease of %d\n", t.KilledAfter, t.Held)
		w("unfinished deployments it was stepping. Another replica held each one's lease (or it had finished),\n")
		w("polled every 100 ms for %.0f s, after %.1f s at the median and %.1f s at the most for the %d of %d\n", 4*t.LeaseTTL, t.Median, t.Max, t.Taken, t.Held)
		w("taken in that time (the others later; all finished). Steps above leave out those the killed replica made.\n\n")
	}
	w("Where the CPU went, per phase (cores used on average; \"fledge\" is every replica; from /proc of every\n")
	w("process), and what the database did (its transactions per second and the CPU of its backends):\n\n")
	phases := make([]PhaseCPU, len(r.Runs))
	for i, run := range r.Runs {
		phases[i] = run.CPU
	}
	cpuTable(w, phases)
	w("| phase | transactions/s | database backends (cores) |\n|---|---|---|\n")
	for _, run := range r.Runs {
		w("| %s | %.0f | %.2f |\n", run.Phase, run.TxPerSecond, run.DatabaseCores)
	}
	w("\n")
}
