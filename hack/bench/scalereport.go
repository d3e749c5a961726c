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
		groups := map[string]bool{}
		for _, p := range sc.CPU {
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
		w("Where the CPU went, per phase (cores used on average, of the machine's; from /proc of every process):\n\n")
		w("| phase | wall | %s | total |\n|---|---|%s---|\n", strings.Join(cols, " | "), strings.Repeat("---|", len(cols)))
		for _, p := range sc.CPU {
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
}

// goals writes the goal row of idle replicas.
func (r *ReplicasResult) goals(w func(string, ...any)) {
	for _, c := range r.Idle {
		if c.Replicas == 3 {
			w("| three idle replicas on PostgreSQL, %d deployments waiting or queued: claims do not stampede the database (stated) | %.1f transactions/s per replica, %.3f database cores in all | stated |\n",
				r.Deployments, c.TxPerSecond/float64(c.Replicas), c.BackendCores)
		}
	}
}

// section writes benchmark 7.
func (r *ReplicasResult) section(w func(string, ...any)) {
	w("## 7. Replicas sharing PostgreSQL: idle\n\n")
	w("`fledge serve` replicas on one PostgreSQL %s database holding %d unfinished deployments (%d pipelines,\n", r.PostgreSQL, r.Deployments, replicaPipelines)
	w("each one's head waiting for approval until tomorrow, %d queued behind it) and nothing else to do:\n", replicaPerPipe-1)
	w("each replica's executor claims on every poll (500 ms, the default) and finds nothing. Counted by\n")
	w("the database over %.0f s after the replicas ran %.0f s: its transactions (pg_stat_database; every\n", replicaWindow.Seconds(), replicaSettle.Seconds())
	w("statement of Fledge's is one), the rows it read, and the CPU of its backends serving them (/proc).\n\n")
	w("| replicas | transactions/s | per replica | rows read/s | database CPU (cores) |\n|---|---|---|---|---|\n")
	for _, c := range r.Idle {
		w("| %d | %.1f | %.1f | %.0f | %.3f |\n", c.Replicas, c.TxPerSecond, c.TxPerSecond/float64(c.Replicas), c.RowsPerSecond, c.BackendCores)
	}
	w("\nNot measured yet: deployments run by three replicas (exactly once, executor throughput from 1 to\n")
	w("3 replicas) and a replica killed with kill -9 while it runs releases.\n\n")
}
