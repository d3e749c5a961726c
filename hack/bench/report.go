package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

// Results is everything one run measured; it is written as JSON as is.
type Results struct {
	Command     string                   `json:"command"`
	Started     time.Time                `json:"started"`
	Finished    time.Time                `json:"finished"`
	Repetitions int                      `json:"repetitions"`
	Machine     Machine                  `json:"machine"`
	Versions    map[string]string        `json:"versions"`
	Release     map[string]ReleaseResult `json:"release,omitempty"`
	// DataPlane says what served requests in the release benchmark.
	DataPlane string          `json:"data_plane,omitempty"`
	Overhead  *OverheadResult `json:"overhead,omitempty"`
	Apply     *ApplyResult    `json:"apply,omitempty"`
	Scale     *ScaleResult    `json:"scale,omitempty"`
	Replicas  *ReplicasResult `json:"replicas,omitempty"`
	// Analysis is the analysis benchmark per system; AnalysisSetup says
	// how it ran.
	Analysis      map[string]RollbackResult `json:"analysis,omitempty"`
	AnalysisSetup string                    `json:"analysis_setup,omitempty"`
	Failures      []string                  `json:"failures,omitempty"`
	// Runs lists the invocations whose numbers the results hold, when
	// -merge combined several.
	Runs []string `json:"runs,omitempty"`
}

// ReleaseResult is benchmarks 1 and 2 for one system.
type ReleaseResult struct {
	ToCanary     Summary `json:"trigger_to_canary_25"`
	ToProduction Summary `json:"approve_to_production"`
	ToDone       Summary `json:"approve_to_done"`
	// ToNewOnly: approve → only ready pods of the new version get
	// requests, on the API objects.
	ToNewOnly Summary `json:"approve_to_new_version_only"`
	// Through the data plane: trigger → 25% ± 3% of the requests on the
	// canary (ToShare; ShareNotSeen releases never showed it), approve →
	// every request answered by the new version (ToAll; AllNotSeen),
	// the canary's share while it waited at 25%, and the failed requests
	// of each release out of Requests in all.
	ToShare     Summary `json:"trigger_to_25_percent_served"`
	ToAll       Summary `json:"approve_to_all_served_by_new"`
	CanaryShare Summary `json:"canary_share_percent"`
	// Lag: served at 25% minus live on the API objects, per release: the
	// time the data plane takes to follow the weight.
	Lag    Summary `json:"data_plane_lag"`
	Failed Summary `json:"failed_requests_per_release"`
	// Stale: answers by an older version after the new one had answered
	// a batch alone, per release (the probe goes on afterTail past done).
	Stale        Summary `json:"old_version_after_all_served"`
	ShareNotSeen int     `json:"share_not_seen,omitempty"`
	AllNotSeen   int     `json:"all_not_seen,omitempty"`
	Requests     int     `json:"requests,omitempty"`
	// CLI: one fledge CLI call (get deployment -o json) against the same
	// server, the cost the CLI adds to an API call.
	CLI   Summary `json:"cli_call,omitempty"`
	Error string  `json:"error,omitempty"`
}

// OverheadResult is benchmark 3.
type OverheadResult struct {
	Fledge   Summary `json:"fledge_full_release"`
	Floor    Summary `json:"floor_full_release"`
	Overhead Summary `json:"fledge_minus_floor"`
	Ratio    Summary `json:"fledge_over_floor"`
	// FledgeCLI is the same release triggered by `fledge run` (its
	// clock starts before the CLI process does), CLIRatio its ratio to
	// the floor program's release of the same repetition.
	FledgeCLI      Summary  `json:"fledge_cli_full_release"`
	CLIRatio       Summary  `json:"fledge_cli_over_floor"`
	FledgeTimeline []string `json:"fledge_timeline"`
	FloorTimeline  []string `json:"floor_timeline"`
}

// ApplyResult is benchmark 4.
type ApplyResult struct {
	Objects       int     `json:"objects"`
	FledgeCreate  Summary `json:"fledge_create"`
	FledgeUpdate  Summary `json:"fledge_update"`
	KubectlCreate Summary `json:"kubectl_create"`
	KubectlUpdate Summary `json:"kubectl_update"`
	// Unlimited* are kube.Apply without client-side rate limit (a
	// diagnostic, not how the server runs).
	UnlimitedCreate Summary `json:"fledge_unlimited_create"`
	UnlimitedUpdate Summary `json:"fledge_unlimited_update"`
	// FledgeQPS is the client-side rate limit the server's client has.
	FledgeQPS string `json:"fledge_client_rate_limit"`
}

// ScaleResult is benchmark 5.
type ScaleResult struct {
	Pipelines       int        `json:"pipelines"`
	Deployments     int        `json:"deployments"`
	HistoryCount    int        `json:"history_deployments"`
	CreateLatency   Summary    `json:"create_latency"`
	SteadyAfter     Summary    `json:"steady_after"`
	Waiting         int        `json:"waiting_for_approval"`
	Queued          int        `json:"queued"`
	StuckRunning    int        `json:"still_running"`
	Failed          int        `json:"failed"`
	RSSIdleMiB      float64    `json:"rss_idle_mib"`
	RSSMiB          float64    `json:"rss_steady_mib"`
	RSSAfterLoadMiB float64    `json:"rss_after_load_mib"`
	RSSEndMiB       float64    `json:"rss_end_mib"`
	RSSPeakMiB      float64    `json:"rss_peak_mib"`
	Get             LoadResult `json:"get_deployment"`
	HistoryList     LoadResult `json:"history_listing"`
	ApproveLatency  Summary    `json:"approve_latency"`
	Drained         int        `json:"finished_during_approvals"`
	DrainSeconds    float64    `json:"approvals_seconds"`
	// Console is each console page's first data render in Chromium.
	Console []ConsolePage `json:"console,omitempty"`
	// Store is the SQLite file at the end.
	Store *StoreSize `json:"store,omitempty"`
	// CPU is what each phase's CPU went to.
	CPU []PhaseCPU `json:"cpu,omitempty"`
}

// Machine describes where the run happened.
type Machine struct {
	CPU     string  `json:"cpu"`
	Cores   int     `json:"cores"`
	MemGiB  float64 `json:"memory_gib"`
	Kernel  string  `json:"kernel"`
	GOARCH  string  `json:"goarch"`
	Summary string  `json:"summary"`
	// LoadStart and LoadEnd are /proc/loadavg when the run started and
	// ended: the machine may be shared.
	LoadStart string `json:"loadavg_start"`
	LoadEnd   string `json:"loadavg_end"`
}

// loadAvg returns the 1, 5 and 15 minute load averages.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func describeMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), GOARCH: runtime.GOARCH}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Fields(line)
			if len(f) >= 2 && f[0] == "MemTotal:" {
				var kb float64
				_, _ = fmt.Sscan(f[1], &kb)
				m.MemGiB = math.Round(kb/1024/1024*10) / 10
			}
		}
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(data))
	}
	m.Summary = fmt.Sprintf("%d × %s, %.1f GiB RAM, Linux %s", m.Cores, m.CPU, m.MemGiB, m.Kernel)
	m.LoadStart = loadAvg()
	return m
}

func (r *Results) write(mdPath, jsonPath string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(jsonPath), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(jsonPath, append(data, '\n'), 0o644); err != nil { //nolint:gosec // a report
		return err
	}
	return os.WriteFile(mdPath, []byte(r.markdown(jsonPath)), 0o644) //nolint:gosec // a report
}

// Goals of the issue.
const (
	goalOverheadRatio = 1.2
	goalApplyRatio    = 0.5
	// Benchmarks 1 and 2: Fledge against each peer.
	// Release goals: ratios to Argo Rollouts in the same run.
	goalShareOnePod = 1.0
	goalShareFull   = 1.5
	goalAllServed   = 1.0
	goalDone        = 2.0
	// Read goals.
	goalGetRPS  = 10000.0
	goalReadP99 = 20.0
	// Scale goals (issue 20): one server, SQLite.
	goalScaleRSSMiB   = 256.0
	goalCreateP99     = 200.0
	goalApproveP99    = 500.0
	goalConsoleRender = 1000.0
	// The analysis benchmark: Fledge against each peer.
	goalRollbackArgo    = 1.0
	goalRollbackFlagger = 0.1
)

// ms formats milliseconds for a table.
func ms(v float64) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case v >= 10000:
		return fmt.Sprintf("%.1f s", v/1000)
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	default:
		return fmt.Sprintf("%.1f ms", v)
	}
}

func spread(s Summary) string {
	if s.N == 0 {
		return "–"
	}
	return fmt.Sprintf("%s – %s", ms(s.Min), ms(s.Max))
}

func ratio(a, b float64) string {
	r := Ratio(a, b)
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return "–"
	}
	if r >= 10 {
		return fmt.Sprintf("%.0f×", r)
	}
	return fmt.Sprintf("%.2f×", r)
}

func met(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**missed**"
}

func (r *Results) markdown(jsonPath string) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Benchmarks\n\n")
	w("Fledge side by side with Argo Rollouts, Flagger, kubectl and a floor program that makes only the\n")
	w("API calls a canary release needs, all on **one** local control plane (`internal/localcluster`:\n")
	w("etcd, kube-apiserver, controller-manager, scheduler and kwok fake nodes whose pods become Ready\n")
	w("without running containers), measured in one run by `hack/bench`. Raw numbers: `%s`.\n\n", jsonPath)
	w("- Command: `%s` (Makefile: `make bench`)\n", r.Command)
	w("- Run: %s, %s\n", r.Started.Format("2006-01-02 15:04 UTC"), r.Finished.Sub(r.Started).Round(time.Second))
	if len(r.Runs) > 1 {
		w("- The numbers come from several invocations on the same machine, each with its own control plane:\n")
		for _, run := range r.Runs {
			w("  - %s\n", run)
		}
	}
	w("- Machine: %s; load average %s at the start, %s at the end (the\n  control plane, the systems measured and the load generators all share these cores)\n",
		r.Machine.Summary, r.Machine.LoadStart, r.Machine.LoadEnd)
	w("- Repetitions: %d measured per benchmark, after one unmeasured warm-up; tables give the median and the\n  spread (min – max) of the repetitions.\n", r.Repetitions)
	var keys []string
	for k := range r.Versions {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	w("- Versions:")
	for i, k := range keys {
		sep := ";"
		if i == len(keys)-1 {
			sep = ""
		}
		w(" %s %s%s", k, r.Versions[k], sep)
	}
	w("\n\n")
	if len(r.Failures) > 0 {
		w("**Failures** (what was measured before them is reported; see Notes):\n\n")
		for _, f := range r.Failures {
			w("- %s\n", f)
		}
		w("\n")
	}

	w("## Goals\n\n| goal (from the issue) | measured (median) | |\n|---|---|---|\n")
	r.releaseGoals(w)
	r.rollbackGoals(w)
	if o := r.Overhead; o != nil {
		w("| control overhead: Fledge full release ≤ %.1f× the floor program | %.3f× (Fledge %s, floor %s) | %s |\n",
			goalOverheadRatio, o.Ratio.Median, ms(o.Fledge.Median), ms(o.Floor.Median), met(o.Ratio.Median <= goalOverheadRatio))
	}
	if a := r.Apply; a != nil {
		rc := Ratio(a.FledgeCreate.Median, a.KubectlCreate.Median)
		w("| apply %d objects: Fledge ≤ %.2f× `kubectl apply --server-side` | %.2f× (Fledge %s, kubectl %s) | %s |\n",
			a.Objects, goalApplyRatio, rc, ms(a.FledgeCreate.Median), ms(a.KubectlCreate.Median), met(rc <= goalApplyRatio))
	}
	if sc := r.Scale; sc != nil {
		g := sc.Get
		w("| GET one deployment (%s, %d connections, its own process): ≥ %.0f req/s and p99 ≤ %.0f ms | %.0f req/s, p99 %.1f ms | %s |\n",
			g.Tool, g.Connections, goalGetRPS, goalReadP99, g.RPS, g.P99ms, met(g.RPS >= goalGetRPS && g.P99ms <= goalReadP99 && g.Errors == 0))
		h := sc.HistoryList
		w("| history page of 50 out of %d: p99 ≤ %.0f ms | p99 %.1f ms (%.0f req/s at %d connections) | %s |\n",
			sc.HistoryCount, goalReadP99, h.P99ms, h.RPS, h.Connections, met(h.P99ms <= goalReadP99 && h.Errors == 0))
		sc.scaleGoals(w)
	}
	if rp := r.Replicas; rp != nil {
		rp.goals(w)
	}
	w("\n")

	if len(r.Release) > 0 {
		r.releaseSections(w)
	}

	if o := r.Overhead; o != nil {
		w("## 3. Control overhead\n\n")
		w("A full release without approval stage (canary apply → canary available → weight 25 → production\n")
		w("apply → production available → weight 0), Fledge (from the API call that triggers it until the API\n")
		w("reports `Succeeded`) against the floor program in `hack/bench/overhead.go`, which makes only those API\n")
		w("calls with client-go (server-side applies, waits by watch; its clock starts at its first call). The\n")
		w("floor's time is what Kubernetes itself needs; the difference is Fledge's own. Each of the %d\n", o.Fledge.N)
		w("repetitions (2 × -n: Kubernetes' own time varies from release to release by more than the overhead)\n")
		w("runs Fledge, the floor program, then Fledge again triggered by `fledge run` (the CLI's clock starts\n")
		w("before its process does), on the same manifests. Fledge runs with its\n")
		w("default settings, so its release includes what the floor program leaves out: the canary's promotion\n")
		w("to 100%% and the wait for production's endpoints to settle (the promotion hold is %s by default).\n\n", v1alpha1.DefaultPromotionHold)
		w("| | median | min – max |\n|---|---|---|\n")
		w("| Fledge | %s | %s |\n", ms(o.Fledge.Median), spread(o.Fledge))
		w("| floor program | %s | %s |\n", ms(o.Floor.Median), spread(o.Floor))
		w("| Fledge − floor | %s | %s |\n", ms(o.Overhead.Median), spread(o.Overhead))
		w("| Fledge ÷ floor (goal ≤ %.1f×) | %.3f× | %.2f× – %.2f× |\n", goalOverheadRatio, o.Ratio.Median, o.Ratio.Min, o.Ratio.Max)
		if o.FledgeCLI.N > 0 {
			w("| Fledge triggered by `fledge run` | %s | %s |\n", ms(o.FledgeCLI.Median), spread(o.FledgeCLI))
			w("| Fledge by `fledge run` ÷ floor | %.3f× | %.2f× – %.2f× |\n", o.CLIRatio.Median, o.CLIRatio.Min, o.CLIRatio.Max)
		}
		w("\n")
		w("Where the time goes, last repetition (Fledge's event log; offsets from the trigger):\n\n```\n%s\n```\n\n", strings.Join(o.FledgeTimeline, "\n"))
		w("Floor program, same repetition:\n\n```\n%s\n```\n\n", strings.Join(o.FloorTimeline, "\n"))
	}

	if a := r.Apply; a != nil {
		w("## 4. Apply throughput\n\n")
		w("%d objects (40%% ConfigMaps, 30%% Services, 30%% one-replica Deployments) applied into a fresh\n", a.Objects)
		w("namespace (\"create\"), then again with a new value in every object (\"update\"), by\n")
		w("`internal/kube.Apply` (the function Fledge's canary and production stages call; it reads and\n")
		w("dry-runs every object, then applies them, concurrently, in waves by kind), with the client the server builds from an\n")
		w("Environment's kubeconfig (%s), and by the built kubectl v1.36.3 (`kubectl apply\n", a.FledgeQPS)
		w("--server-side -f FILE -n NS`, its own rate limit). The last row is a diagnostic, not how Fledge runs:\n")
		w("kube.Apply with client-go's rate limiter off. Each repetition uses new namespaces, deleted after.\n\n")
		rc := Ratio(a.FledgeCreate.Median, a.KubectlCreate.Median)
		ru := Ratio(a.FledgeUpdate.Median, a.KubectlUpdate.Median)
		w("| | create: median | min – max | ÷ kubectl (goal ≤ %.2f×) | update: median | min – max | ÷ kubectl |\n|---|---|---|---|---|---|---|\n", goalApplyRatio)
		w("| Fledge (kube.Apply) | %s | %s | %.2f× %s | %s | %s | %.2f× |\n", ms(a.FledgeCreate.Median), spread(a.FledgeCreate), rc, met(rc <= goalApplyRatio),
			ms(a.FledgeUpdate.Median), spread(a.FledgeUpdate), ru)
		w("| kubectl apply --server-side | %s | %s | 1× | %s | %s | 1× |\n", ms(a.KubectlCreate.Median), spread(a.KubectlCreate),
			ms(a.KubectlUpdate.Median), spread(a.KubectlUpdate))
		if a.UnlimitedCreate.N > 0 {
			w("| kube.Apply, no client rate limit (diagnostic) | %s | %s | %.2f× | %s | %s | %.2f× |\n",
				ms(a.UnlimitedCreate.Median), spread(a.UnlimitedCreate), Ratio(a.UnlimitedCreate.Median, a.KubectlCreate.Median),
				ms(a.UnlimitedUpdate.Median), spread(a.UnlimitedUpdate), Ratio(a.UnlimitedUpdate.Median, a.KubectlUpdate.Median))
		}
		w("\nObjects per second (create, median): Fledge %.0f, kubectl %.0f.\n\n",
			float64(a.Objects)/(a.FledgeCreate.Median/1000), float64(a.Objects)/(a.KubectlCreate.Median/1000))
	}

	if s := r.Scale; s != nil {
		w("## 5. Scale of one server (SQLite)\n\n")
		w("%d deployments created through the API (8 clients) across %d pipelines with an approval stage\n", s.Deployments, s.Pipelines)
		w("(one-replica web page with a headless Service, own canary and production namespaces per pipeline), plus a history of\n")
		w("%d finished deployments in one more pipeline (one real cancelled run, copied through the store\n", s.HistoryCount)
		w("package while the server was stopped). Load generator: %s, on the same machine as the server and\n", s.Get.Tool)
		w("the control plane (it takes CPU from both).\n\n")
		w("| measure | value |\n|---|---|\n")
		w("| create a run (POST), p50 / p99 | %s / %s |\n", ms(s.CreateLatency.Median), ms(s.CreateLatency.P99))
		w("| steady state: waiting at approval / queued behind them / still running / failed | %d / %d / %d / %d (reached %.0f s after the first create) |\n",
			s.Waiting, s.Queued, s.StuckRunning, s.Failed, s.SteadyAfter.Median)
		w("| server RSS: idle (history loaded) / steady / after the load tests / at the end (peak) | %.0f / %.0f / %.0f / %.0f MiB (%.0f MiB) |\n",
			s.RSSIdleMiB, s.RSSMiB, s.RSSAfterLoadMiB, s.RSSEndMiB, s.RSSPeakMiB)
		w("| `GET /api/v1/deployments/{id}` at %d connections, %.0f s | %.0f req/s, p50 %s, p99 %s, %d errors |\n",
			s.Get.Connections, s.Get.Seconds, s.Get.RPS, ms(s.Get.P50ms), ms(s.Get.P99ms), s.Get.Errors)
		w("| `GET /api/v1/deployments?pipeline=history&limit=50` (%d in history) at %d connections | %.0f req/s, p50 %s, p99 %s, %d errors |\n",
			s.HistoryCount, s.HistoryList.Connections, s.HistoryList.RPS, ms(s.HistoryList.P50ms), ms(s.HistoryList.P99ms), s.HistoryList.Errors)
		w("| approve (POST, one client, while the approved runs proceed), p50 / p99 | %s / %s (%d approvals) |\n",
			ms(s.ApproveLatency.Median), ms(s.ApproveLatency.P99), s.ApproveLatency.N)
		w("| deployments finished while approving | %d of %d in %.0f s |\n\n", s.Drained, s.Deployments, s.DrainSeconds)
		s.scaleDetails(w)
	}
	if len(r.Analysis) > 0 {
		r.rollbackSection(w)
	}
	if rp := r.Replicas; rp != nil {
		rp.section(w)
	}
	w("%s", notes)
	return b.String()
}

// releaseSections writes benchmarks 1 and 2.
// releaseSystems are the systems of the release benchmark, in the order
// the report shows them.
var releaseSystems = []string{"fledge", "fledge-1pod", "argo-rollouts", "flagger"}

// releaseGoals writes the goal rows of the release benchmark: every phase,
// each against Argo Rollouts in the same run.
func (r *Results) releaseGoals(w func(string, ...any)) {
	argo, ok := r.Release["argo-rollouts"]
	if !ok {
		return
	}
	row := func(what string, goal float64, fl, pe Summary, sys string) {
		if fl.N == 0 || pe.N == 0 {
			w("| %s: %s ≤ %.1f× argo-rollouts | not measured | **missed** |\n", what, sys, goal)
			return
		}
		rt := Ratio(fl.Median, pe.Median)
		w("| %s: %s ≤ %.1f× argo-rollouts | %s (%s %s, argo-rollouts %s) | %s |\n", what, sys, goal,
			ratio(fl.Median, pe.Median), sys, ms(fl.Median), ms(pe.Median), met(rt <= goal))
	}
	one, full := r.Release["fledge-1pod"], r.Release["fledge"]
	if r.DataPlane == "" || strings.HasPrefix(r.DataPlane, "not used") {
		row("trigger → 25% canary live on the API objects (1-pod canary)", goalShareOnePod, one.ToCanary, argo.ToCanary, "fledge-1pod")
		row("trigger → 25% canary live on the API objects (full-size canary)", goalShareFull, full.ToCanary, argo.ToCanary, "fledge")
		row("approve → only the new version gets requests, on the API objects", goalAllServed, full.ToNewOnly, argo.ToNewOnly, "fledge")
		row("approve → done", goalDone, full.ToDone, argo.ToDone, "fledge")
		return
	}
	row("trigger → 25% ± 3% of requests on the canary (1-pod canary)", goalShareOnePod, one.ToShare, argo.ToShare, "fledge-1pod")
	row("trigger → 25% ± 3% of requests on the canary (full-size canary)", goalShareFull, full.ToShare, argo.ToShare, "fledge")
	row("approve → 100% of requests on the new version", goalAllServed, full.ToAll, argo.ToAll, "fledge")
	row("approve → 100% of requests on the new version", goalAllServed, one.ToAll, argo.ToAll, "fledge-1pod")
	for _, sys := range []string{"fledge", "fledge-1pod"} {
		x := r.Release[sys]
		row("approve → done (production on the new version, canary weight 0)", goalDone, x.ToDone, argo.ToDone, sys)
		w("| failed requests through a release (trigger → all served): %s 0 | %s in %d releases (%d requests) | %s |\n",
			sys, count(x.Failed.Max)+" at most", x.Failed.N, x.Requests, met(x.Failed.N > 0 && x.Failed.Max == 0))
		w("| answers by the old version once the new one had answered a batch alone (until %s after done): %s 0 | %s in %d releases | %s |\n",
			afterTail, sys, count(x.Stale.Max)+" at most", x.Stale.N, met(x.Stale.N > 0 && x.Stale.Max == 0))
	}
}

func (r *Results) releaseSections(w func(string, ...any)) {
	f := r.Release["fledge"]
	// partial notes a system whose run stopped early.
	partial := func(x ReleaseResult, n int) string {
		if x.Error == "" {
			return ""
		}
		return fmt.Sprintf(" (%d of %d repetitions, then: %s)", n, r.Repetitions, oneLine(x.Error))
	}
	plane := r.DataPlane != "" && !strings.HasPrefix(r.DataPlane, "not used")
	w("## 1. Trigger → 25%% on the canary\n\n")
	w("The systems take turns release by release (Fledge with its walkthrough's full-size canary, Fledge\n")
	w("with a 1-pod canary (`canaryDeployment.scale.replicas: 1`), Argo Rollouts, Flagger), the first of\n")
	w("each round rotating, with a %s pause between releases; each system's pods, Services and\n", releaseSettle)
	w("Ingresses are the walkthrough's (3 replicas). The clock starts at one API call for every system:\n")
	w("Fledge's `POST /api/v1/pipelines/{name}/runs`, the image patch of the Rollout or of Flagger's\n")
	w("Deployment. \"API objects\" is until the canary pods are Ready **and** weight 25 is on the canary\n")
	w("Ingress, polled every %s.", pollEvery)
	if plane {
		w(" \"Served\" is through the data plane (%s, in front of the kwok\n", r.DataPlane)
		w("pods, answered by a test agent with the version of the pod reached): batches of %d requests are sent\n", probeBatch)
		w("back to back from the trigger until the new version answers every request; the time is the start of the first of two\n")
		w("batches in a row with %.0f%% ± %.0f%% of the answers from the new version and none failed.", 25.0, shareTolerance*100)
	}
	w("\n\n| system | API objects: median | min – max | vs Fledge |")
	if plane {
		w(" served: median | min – max | vs Fledge | served − API objects | share at 25%%: median | min – max |")
	}
	w("\n|---|---|---|---|")
	if plane {
		w("---|---|---|---|---|---|")
	}
	w("\n")
	for _, name := range releaseSystems {
		x, ok := r.Release[name]
		if !ok {
			continue
		}
		if x.ToCanary.N == 0 {
			w("| %s | failed: %s | | |\n", name, oneLine(x.Error))
			continue
		}
		w("| %s | %s%s | %s | %s |", name, ms(x.ToCanary.Median), partial(x, x.ToCanary.N), spread(x.ToCanary), ratio(x.ToCanary.Median, f.ToCanary.Median))
		if plane {
			if x.ToShare.N == 0 {
				w(" never (%d releases) | | | | |", x.ShareNotSeen)
			} else {
				w(" %s%s | %s | %s | %s | %.1f%% | %.1f%% – %.1f%% |", ms(x.ToShare.Median), notSeen(x.ShareNotSeen), spread(x.ToShare), ratio(x.ToShare.Median, f.ToShare.Median),
					ms(x.Lag.Median), x.CanaryShare.Median, x.CanaryShare.Min, x.CanaryShare.Max)
			}
		}
		w("\n")
	}
	w("\n## 2. Approve → only the new version, and done\n\n")
	w("From the approval (one API call for every system: Fledge's `POST /api/v1/deployments/{id}/approve`;\n")
	w("Argo: the promote patch of the status, as `kubectl argo rollouts promote` sends it; Flagger: the\n")
	w("confirm-promotion webhook starts answering 200). \"New only\" is on the API objects: the first of the\n")
	w("canary route at weight 100 with the canary ready on the new version, or production on the new image\n")
	w("with every replica available and the canary weight 0 (\"production\"). \"Done\" is the system's own\n")
	w("word (Fledge `Succeeded`, Argo `Healthy`, Flagger `Succeeded`).")
	if plane {
		w(" \"All served\" is through the data plane: the start of the\n")
		w("first of two batches in a row answered by the new version alone; \"failed\" counts the failed requests\n")
		w("(errors and non-2xx) of each release's batches from the trigger until the new version answered\n")
		w("every request (the probe goes on after done for that, at most %s); \"old after\" counts the answers\n", allTimeout)
		w("by an older version once the new one had answered a batch alone, until %s after done (a data plane\n", afterTail)
		w("that is given requests back before it knows production's new endpoints sends them to old pods).")
	}
	w("\n\n| system | new only: median | min – max | production: median | min – max | done: median | min – max | vs Fledge |")
	if plane {
		w(" all served: median | min – max | vs Fledge | failed: max | old after: max |")
	}
	w("\n|---|---|---|---|---|---|---|---|")
	if plane {
		w("---|---|---|---|---|")
	}
	w("\n")
	for _, name := range releaseSystems {
		x, ok := r.Release[name]
		if !ok || x.ToProduction.N == 0 {
			continue
		}
		w("| %s | %s%s | %s | %s | %s | %s | %s | %s |", name,
			ms(x.ToNewOnly.Median), partial(x, x.ToNewOnly.N), spread(x.ToNewOnly),
			ms(x.ToProduction.Median), spread(x.ToProduction),
			ms(x.ToDone.Median), spread(x.ToDone), ratio(x.ToDone.Median, f.ToDone.Median))
		if plane {
			if x.ToAll.N == 0 {
				w(" never (%d releases) | | | %s | |", x.AllNotSeen, count(x.Failed.Max))
			} else {
				w(" %s%s | %s | %s | %s | %s |", ms(x.ToAll.Median), notSeen(x.AllNotSeen), spread(x.ToAll), ratio(x.ToAll.Median, f.ToAll.Median), count(x.Failed.Max), count(x.Stale.Max))
			}
		}
		w("\n")
	}
	for _, name := range []string{"fledge", "fledge-1pod"} {
		if x, ok := r.Release[name]; ok && x.CLI.N > 0 {
			w("\nThe CLI's own cost, beside these API-call clocks: one `fledge get deployment -o json` against the\n")
			w("same server took %s (%s) in the %s releases; `fledge run` and `fledge approve` pay it once\n", ms(x.CLI.Median), spread(x.CLI), name)
			w("each.\n")
			break
		}
	}
	w("\n")
}

// notSeen says how many releases never showed a data-plane figure.
func notSeen(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (not seen in %d)", n)
}

// rollbackMeasures are the measures of the analysis benchmark that have
// goals, with how to print them.
func rollbackMeasures(x RollbackResult) []struct {
	what string
	s    Summary
	f    func(float64) string
} {
	return []struct {
		what string
		s    Summary
		f    func(float64) string
	}{
		{"bad canary: first failing measurement → weight 0 on the API object", x.ToWeight0, ms},
		{"bad canary: first failing measurement → the bad version no longer served (data plane)", x.ToNotServed, ms},
		{"bad canary: requests the bad version served", x.BadRequests, count},
		{"bad canary: requests the bad version served after its first failure was seen", x.BadAfterFail, count},
	}
}

func count(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.0f", v)
}

// rollbackGoals writes the goal rows of the analysis benchmark.
func (r *Results) rollbackGoals(w func(string, ...any)) {
	f, ok := r.Analysis["fledge"]
	if !ok {
		return
	}
	for _, peer := range []struct {
		name string
		goal float64
	}{{"argo-rollouts", goalRollbackArgo}, {"flagger", goalRollbackFlagger}} {
		x, ok := r.Analysis[peer.name]
		if !ok {
			continue
		}
		pm := rollbackMeasures(x)
		for i, m := range rollbackMeasures(f) {
			if m.s.N == 0 || pm[i].s.N == 0 {
				continue
			}
			rt := Ratio(m.s.Median, pm[i].s.Median)
			w("| %s: Fledge ≤ %.1f× %s | %s (Fledge %s, %s %s) | %s |\n", m.what, peer.goal, peer.name,
				ratio(m.s.Median, pm[i].s.Median), m.f(m.s.Median), peer.name, m.f(pm[i].s.Median), met(rt <= peer.goal))
		}
	}
}

// rollbackSection writes the analysis benchmark.
func (r *Results) rollbackSection(w func(string, ...any)) {
	w("## 6. Automated rollback of a bad canary\n\n")
	w("Each system releases a bad version (the test agent answers %s of its requests with HTTP 500) and\n", rollbackErrorRate)
	w("must take it back by itself: the canary goes to weight %s, its analysis fails, the system sets the\n", rollbackWeight)
	w("weight to 0. The systems alternate release by release on one control plane, one data plane and one\n")
	w("Prometheus. Setup: %s.\n\n", r.AnalysisSetup)
	w("Every system runs the **same check**: the same PromQL on the same Prometheus, interval %s (Flagger's\n", rollbackInterval)
	w("floor, so all get it), success when the value is ≥ %s, and the first failing measurement fails the\n", rollbackThreshold)
	w("analysis. Fledge and Argo Rollouts wait one interval before the first measurement (`initialDelay`), as\n")
	w("Flagger does by its schedule: measured at once, the window holds no canary request yet, and the 0/0 (NaN)\n")
	w("is a failed measurement for Argo Rollouts (a retried provider error for Fledge), a verdict that would\n")
	w("not be about the bad version. Fledge: a `canarySteps` stage with setWeight %s, a 10 m pause and `backgroundAnalysis` with an\n", rollbackWeight)
	w("AnalysisTemplate (failureLimit 0, the beside-production NGINX layout); Argo Rollouts: a Rollout with NGINX\n")
	w("traffic routing, steps setWeight %s and a 10 m pause, background analysis from the pause with an\n", rollbackWeight)
	w("AnalysisTemplate of the Prometheus provider (failureLimit 0); Flagger: a Canary with the nginx provider,\n")
	w("stepWeight = maxWeight = %s held by a closed confirm-promotion gate, a MetricTemplate (Prometheus) with\n", rollbackWeight)
	w("thresholdRange.min %s and analysis.threshold 1 (its built-in request-success-rate reads ingress-nginx's\n", rollbackThreshold)
	w("metric names, which Traefik does not have).\n\n")
	w("Phases, from the trigger (Fledge: `fledge run` starts; the peers: the image patch is sent):\n\n")
	w("- **live**: trigger → the canary Ingress's `canary-weight` is %s (polled every %s);\n", rollbackWeight, pollEvery)
	w("- **first fail**: live → the first failing measurement, taken the same way for all three: the time\n")
	w("  Prometheus answered the system's query (its query log; each system's query names its own namespace)\n")
	w("  last before the bench saw the failure on the system's API (Fledge: a failed metric in the deployment's\n")
	w("  analyses; Argo Rollouts: `failed > 0` in the release's AnalysisRun; Flagger: `status.failedChecks > 0`);\n")
	w("- **on API**: first fail → the failure seen on the system's API (its own recording, plus the poll);\n")
	w("- **weight 0**: first fail → the canary weight 0 (or the canary Ingress gone) on the API object;\n")
	w("- **not served**: first fail → two consecutive batches of 40 requests through Traefik answered by the good\n")
	w("  version alone (the batches start once the bench has seen the failure);\n")
	w("- **bad requests**: requests the bad version answered (any status) out of a constant %d req/s load through\n", rollbackRate)
	w("  Traefik from before the trigger until 2 s after the bad version was no longer served; \"after fail\": those\n")
	w("  after the bench saw the failure (a second load, started then; the two overlap for a few milliseconds).\n\n")
	w("| system | live | first fail | on API | weight 0 | not served | bad requests | after fail |\n|---|---|---|---|---|---|---|---|\n")
	cell := func(s Summary, f func(float64) string) string {
		if s.N == 0 {
			return "–"
		}
		return fmt.Sprintf("%s (%s – %s)", f(s.Median), f(s.Min), f(s.Max))
	}
	for _, name := range []string{"fledge", "argo-rollouts", "flagger"} {
		x, ok := r.Analysis[name]
		if !ok {
			continue
		}
		w("| %s | %s | %s | %s | %s | %s | %s | %s |\n", name, cell(x.ToLive, ms), cell(x.ToFirstFail, ms), cell(x.ToSeen, ms), cell(x.ToWeight0, ms),
			cell(x.ToNotServed, ms), cell(x.BadRequests, count), cell(x.BadAfterFail, count))
		if x.Error != "" {
			w("| %s failed | %s | | | | | | |\n", name, oneLine(x.Error))
		}
	}
	w("\nMedian (min – max) of %d releases per system.\n\n", r.Analysis["fledge"].ToLive.N)
	w("What the numbers say: once a system has measured the failure, Fledge and Argo Rollouts take the weight to\n")
	w("0 within tens to a hundred or so milliseconds and Flagger one interval later (it rolls back at its next\n")
	w("tick, when failedChecks ≥ threshold). The requests the bad version served over the whole release are\n")
	w("dominated by the time to the first failing measurement, one interval at 25%% of the load for every system:\n")
	w("the reaction after it is a few requests for Fledge and Argo Rollouts, a quarter of the load for 10 s for\n")
	w("Flagger. Where the first measurement falls after the weight (the \"first fail\" column) sets the totals:\n")
	w("Fledge starts its background analysis's clock once it has read the weight back; Argo Rollouts starts\n")
	w("it when it creates the AnalysisRun at the pause step, which can come before the bench sees the weight\n")
	w("on the Ingress, so its first measurement can fall under one interval after it.\n\n")
}

// notes are what a reader needs to weigh the numbers.
const notes = `## Notes

- **What the systems do differs.** Fledge's canary is a full copy of the manifests (3 replicas) in
  a canary namespace, all its new pods started at once (maxSurge 100%, as Fledge sets for canary
  Deployments whose manifest leaves maxSurge unset); on approval the canary takes 100% of the
  requests while production rolls out, at full surge too since it takes none, then the weight
  goes back to 0. "fledge-1pod" sizes the canary to one pod (canaryDeployment.scale.replicas: 1):
  it cannot carry every request, so it is not promoted, and production rolls out under 75% of the
  requests as its manifest says (maxSurge 25%: one pod at a time). Argo Rollouts' canary at 25% is
  one pod of the Rollout; promotion scales that ReplicaSet to 3 and switches the stable Service,
  keeping the old pods for its scale-down delay (30 s). Flagger scales its canary Deployment to 3,
  then copies the spec to the primary Deployment (a rolling update) on promotion. Each is measured
  doing what it does by design.
- **Flagger's floor is its schedule:** it forces every analysis interval to at least 10 s
  (GetAnalysisInterval in pkg/apis/flagger/v1beta1/canary.go), and it checks the
  confirm-promotion gate once per interval, so its times are multiples of 10 s whatever the
  cluster does.
- **kwok pods are Ready at once:** no image pull, no container start, no readiness probe. The
  times are control-plane times; on a real cluster pod start-up adds the same to every system.
- **Through the data plane:** every figure is read on the same probe for every system (batches of
  50 requests through Traefik from the trigger until done). Trial runs of an earlier harness saw
  the canary get 6.5% of the requests at the 25% step: the weight was set while the canary's
  Service had no ready endpoint yet, or still the previous canary's terminating pods. Fledge now
  waits until the canary's Services have exactly its ready pods as endpoints before the first
  request goes to it (EndpointsNotSettled says when that did not happen within a minute); the
  share at 25% above is the measure. "Served − API objects" is how long Traefik (its provider
  throttle set to 200 ms here; 2 s is Traefik's default) takes to follow a weight written to the
  API server. A promoted canary gives the requests back to production as soon as production's
  endpoints settled (productionRelease.promotionHold is 0 s by default): Traefik builds its
  configuration from one watch of routes and endpoints, so the weight 0 it applies comes with the
  endpoints it already had, the new pods only. Section 2's "old after" column measures it: every
  answer after the new version had answered alone, until 1 s after done, came from the new version.
  Until f2a3570 the default hold was 2 s (Traefik's default throttle), spent after every release.
- **Fledge's waits watch:** kube.WaitRollout watches each workload, and the endpoints waits watch
  the namespace's pods and EndpointSlices (a read every 2 s is only the fallback for a broken
  watch), as the floor program does. What remains of the overhead is the
  extra requests of each step (namespace check, read and dry-run before every apply, read-back
  after every weight change), the state written to the store after every step, the promotion
  to 100% with its endpoints wait, which the floor program does not make.
- **Apply:** kube.Apply reads and dry-runs all objects concurrently (16 at a time), then applies
  them concurrently in waves by kind (config and RBAC, then Services and other kinds, then
  workloads, then Ingress and routes), with a client limit of QPS 300, burst 600 per environment.
  kubectl applies one object after the other.
- **This run's control plane** differs from earlier runs' in one setting: the controller-manager's
  client limit is 100 requests a second (burst 200) instead of Kubernetes' default 20 (burst 30).
  At the default the controllers were the limit of the replicas benchmark (the same rate of
  releases with one replica or three) and of the floor program (926 ms a release in the run at
  beefd3b, 359 ms at 424d51e). Every system gets the same control plane. Section 5's create p99
  was 205 ms at 424d51e (142 ms at 9b1f41a, before that setting): the controllers kept up with
  the executor's canary rollouts while the runs were created, and that phase used the two cores
  to the full (section 5's CPU table). The creates wait for SQLite's one writer behind the
  executor's steps; the writers now take turns in order of arrival instead of a freed connection
  going to a random waiter (BenchmarkContendedWrites in internal/store/sqlite, 64 writers at
  once: p99 about half), and section 5 measures the create p99 with it.
- **Fledge's endpoints waits, and what is left of them:** before the first request goes to the
  canary, and before production gets its requests back, Fledge waits until the Services'
  endpoints are exactly the ready pods, since a data plane would send part of the requests to
  pods that are gone or to the previous version. Two things made some releases a second slower
  (in the runs before this one, some of every ten near 1.3 s to the canary's share where the
  others took about 0.5 s). The EndpointSlice controller, when it synced a Service while its
  cache of EndpointSlices was behind its own last write, retries after a back-off that starts at
  1 s, and a full-surge rollout's burst of pod deletions makes that likely: the last pods deleted
  stay listed for that second although they are gone. Fledge now writes the Service's
  fledge.dev/endpoints-resync annotation once its endpoints have lagged the pods for 100 ms,
  which makes the controller sync it at once (measured apart on this control plane, 30 full-surge
  rollouts of 3 pods each way: waits over 300 ms 3 without, 0 with). What remains is the old
  pods' termination: kwok deletes a terminating pod about 100 ms after its deletion starts, and
  Fledge waits for the previous canary's pods to be gone before the canary's first request (the
  gap between RolloutComplete and HeaderRouteSet in section 3's event log). On a real cluster
  that is the old pods' grace period; data planes that send no new request to a terminating
  endpoint (ingress-nginx; Traefik since its EndpointSlice fencing) would not need it. Argo
  Rollouts raises its weight without waiting for endpoints; its "served − API objects" in
  section 1 is where the same controllers cost it.
- **Pod capacity:** the scale benchmark's pipelines and their pods stay on the control plane for
  the benchmarks after it. The fake node holds 20,000 pods (019b5d8); at 2,000 the analysis and
  replicas benchmarks could not schedule their canaries.
- **kwok's node heartbeat:** earlier runs saw pods stay unready for minutes, about 5 minutes
  after the control plane started. The cause was the local cluster's own: kwok renews the fake
  node's Lease only with --node-lease-duration-seconds, which it did not get, so after the
  controller-manager's grace period the node went Unknown and its pods Ready=False for good.
  internal/localcluster now sets it (TestNodeLeaseRenewed guards it).
- **Scale, what limited each figure** (the CPU table of section 5 gives the shares): creating the
  runs competes with the executor, which starts the pipelines' heads at once, 64 at a time (its
  MaxRunning), for SQLite's one writer and for the two cores, half of which the API server, etcd
  and the controllers take; the steady state (every head at approval) is reached at the pace of
  those 64 slots through canary rollouts on the control plane. GET one deployment and the history
  page use the server's CPU to the full (1.4 and 1.7 of the 2 cores, wrk most of the rest): they
  are CPU-bound. The GET's p99 is 4 to 5 times its p50: 64 requests take turns at the two
  SQLite read connections, and database/sql hands a freed connection to a random waiter, not the
  one that has waited longest. A deployment's view now takes its turn in order of arrival
  (in process, BenchmarkReads/GetDeployment64: p99 from about 10 ms to about 5 ms, p50 from 1.4
  to 2.0 ms). The run at 424d51e measured p99 18.4 ms at 8,887 requests a second, the one
  before it (9b1f41a, connections to any waiter) p99 25.1 ms at 10,878: turns trade
  throughput for the tail, a freed connection waits for the longest waiter to be woken instead
  of going to whichever request asks first. The view's JSON is now kept (1,024 deployments) and
  answered again while the one read shows nothing it depends on changed, so a GET no longer
  builds and encodes the view; section 5 measures it. Approvals compete with the
  releases they let go (production apply and rollout, then the pipeline's
  next run through its canary): the server and the control plane shared the cores about equally,
  and the releases finished at about 4 per second, the executor's 64 slots each holding a release
  for its rollouts. A profile of the server over the first minute of approvals (-pprof,
  a run at 6fecb39) put 58% of its CPU in the benchmark's own listing of the 500
  deployments waiting at approval, polled between batches, a fifth in the live deployment looked
  up for each listed one.
- **Scale, claims:** an executor's claim used to test every unfinished deployment for being the
  head of its pipeline, on every poll and every wake (each run created, each approval), holding
  SQLite's one writer meanwhile: 8.8 ms a claim with 10,000 unfinished deployments
  (BenchmarkClaimIdle in internal/store/sqlite; 17.8 ms in internal/store/postgres). It now looks
  at the heads only: 1.2 ms (4.1 ms on PostgreSQL). At 1,000 deployments the approve p99 was 503 ms
  before; at 10,000 it is in the table above.
- **Scale, the pipelines page:** it shows 50 of the 1,001 pipelines a page, with the overview of
  those alone. Two earlier runs missed the 1 s render there: at 6fecb39 the page drew every
  pipeline from an overview of all of them (1.6 s; that overview took the server 1.5 to 2.3 s and
  5.3 MB of JSON), and at 1f0ec33, paged, its cold load took 2.2 s because its first page holds
  the history pipeline, whose unfinished deployments SQLite found by walking all 100,000 of its
  finished rows (0.3 s for that query in the sqlite3 shell). The store now reads them through
  the index of unfinished deployments (BenchmarkActiveOfLongHistory: 9.2 ms → 45 µs at 20,000).
- **Scale, store size:** most of the file is the deployments' rows (about 4.2 KB each: the plan,
  which holds the rendered manifests so that any deployment can be shown and re-applied, and the
  state). On kwok a release writes 28 events and keeps 26: a one-replica Deployment's rollout
  on fake nodes has two progress lines (waiting, rolled out), so compaction keeps one each for the
  canary and production; with real pods a rollout writes a line per change of its status (one per
  replica becoming available), and all but the last go when the release ends (docs/operations.md,
  Retention). The history's 100,000 rows are copies of one cancelled run, so the per-release
  figure uses the tables' mean bytes per row.
- **Replicas:** idle replicas on PostgreSQL cost the database about 3 transactions a second each
  (a claim every 500 ms and the notification outbox's poll) and a few thousandths of a core;
  three replicas cost three times one. Running releases on this machine's control plane, every
  deployment ran exactly once in every phase, the kill included, but throughput does not grow
  from 1 to 3 replicas: the work is wait-bound (each run pauses 20 s, and parks meanwhile, so one
  replica's 64 slots are not what holds it back), the API server takes about one of the two
  cores, and the processes about all of them (section 7's CPU table); a second and third replica
  only add their own share of the load. At the controller-manager's default client limit (earlier
  runs) every phase ran at about 1.5 releases a second whatever the replicas. The executor's own
  scaling is measured with Kubernetes aside (section 7, "Executor throughput"): clusters that
  answer after fixed times, rollouts that hold their slot as real ones do, so that one replica's
  64 slots are the limit and three replicas have 192.
- **Replicas, takeover:** a deployment that waits longer than the lease (here the 20 s pause)
  parks: it holds no lease and no slot while it waits, so the killed replica held only the
  leases of the deployments it was stepping (61). Those ran out within the lease time (15 s);
  the survivors held each 11.8 s after the kill at the median and 13.5 s at the most. A claim
  takes deployments already started (taken over, or due after parking) before ones never
  started, so the dead replica's work goes before new runs as slots free. Earlier runs: 12.9 s
  and 24.7 s at 9116a84, where the survivors' slots were busy with their own rollouts and new
  runs were claimed in order of creation; 38 s and 56 s at 590305a, before waits parked.
  None was lost or run twice. The e2e test TestReplicasShareWork checks a takeover with slots
  to spare (10 pipelines, lease 3 s).
- **This run's analysis benchmark:** in the first invocation (header), Fledge's first measured
  bad release, right after the scale benchmark, showed neither a failing measurement nor weight 0
  within 3 minutes, so Fledge's analysis releases stopped there; Argo Rollouts' and Flagger's ran
  all ten. Its work folder, with the server's log, was removed at the end. The second invocation,
  at the same commit on a fresh control plane, measured the analysis benchmark of every system
  again; section 6 is that invocation's. The cause is not known yet: an isolated run of Fledge's
  analysis releases (three, same commit) passed as well.
- **Shared machine:** other checkouts' work may run on this machine during a run (the heavy
  tests and benchmarks take turns under one lock; unit tests do not). The CPU table does not see
  a process that starts and ends within a phase, nor wrk and Chromium until they are reaped.
- **Scale, reads:** a profile of the read paths (go test -bench BenchmarkReads
  ./internal/httpapi, in process) showed SQLite parsing each query, JSON decoding of every
  deployment's whole plan (its manifests) and indented JSON as most of the time. Statements are
  now prepared once per connection, a deployment's decoded plan head and state are kept by row
  version, the live deployment is read by id alone, and answers are compact JSON. An
  authenticated token is kept while the store's tokens revision holds (one single-row read instead
  of the token's; a revoke through any replica moves it), rows are read without their plan when
  the decoded plan is cached, and a history page's total sums per-pipeline counters instead of
  counting every row. GET one deployment reads the store once: one statement
  (GetDeploymentView) gives the row, the pipeline's live deployment, the decisions, the
  notifications and the tokens revision, which confirms a token authenticated from the cache; it
  made six reads before (the token check, the row, the live deployment, the decisions, two for
  the notifications), each its own read transaction. The decode cache holds the 10,000
  deployments under way (at 4096 more than half the GETs decoded a plan and state again). The load generator (wrk when installed, in its own process) runs on the
  same two cores as the server and takes about half of them.
`

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strings.ReplaceAll(s, "|", "\\|")
}
