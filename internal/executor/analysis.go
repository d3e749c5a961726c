package executor

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/auth"
	"fledge.dev/fledge/internal/pipeline"
	"fledge.dev/fledge/internal/store"
)

// Analyzer runs metric analyses for the executor. Implementations must be
// safe for concurrent use.
type Analyzer interface {
	// Begin returns the initial progress of an analysis named name (the
	// step's gate, or "background") over the step's templates, taken from
	// the plan, with args = the deployment's arguments merged with the
	// step's own. Nothing is measured yet; each metric's NextAt is now plus
	// its initial delay.
	Begin(ctx context.Context, p *pipeline.Plan, name string, step v1alpha1.AnalysisStep, args map[string]string, now time.Time) (*v1alpha1.AnalysisRun, error)
	// Measure takes every measurement due at or before now and returns the
	// new progress (a copy; run is not modified) and the measurements
	// taken. The returned run's Phase is the verdict once every metric has
	// one (Failed as soon as any metric fails).
	Measure(ctx context.Context, p *pipeline.Plan, run *v1alpha1.AnalysisRun, now time.Time) (*v1alpha1.AnalysisRun, []v1alpha1.Measurement, error)
}

// ErrNoAnalyzer is the error of an analysis step on a server without an
// analysis engine.
var errNoAnalyzer = fmt.Errorf("analysis is not available on this server")

// analysisArgs are the arguments every analysis of the deployment gets:
// where it runs and its parameters (as param.NAME).
func (r *run) analysisArgs() map[string]string {
	rt := r.plan.Routing()
	args := map[string]string{
		"pipeline":            r.d.Pipeline,
		"deployment":          strconv.FormatInt(r.d.Number, 10),
		"canaryNamespace":     r.plan.CanaryNamespace,
		"productionNamespace": r.plan.ProductionNamespace,
		"ingress":             rt.Ingress,
		"httpRoute":           rt.HTTPRoute,
		"environment":         r.plan.Environment,
		"service":             r.service(),
	}
	if bg := r.state.BlueGreen; bg != nil && r.plan.BlueGreen != nil {
		// The new slot is judged as a canary is: canaryNamespace is its
		// namespace, productionNamespace the one users reach (the front
		// object's), as for a canary routed from production's.
		args["canaryNamespace"] = v1alpha1.SlotNamespace(r.plan.BlueGreen.Namespace, bg.To)
	}
	for k, v := range r.d.Parameters {
		args["param."+k] = v
	}
	return args
}

// service is the Service of the production namespace the routing splits
// (the first, when the Ingress or HTTPRoute has several), or "" when the
// plan's manifests cannot say.
func (r *run) service() string {
	if r.routing == nil {
		return ""
	}
	objs, err := r.routing.Manifests()
	if err != nil {
		return ""
	}
	names, err := r.routing.Services(objs)
	if err != nil || len(names) == 0 {
		return ""
	}
	return names[0]
}

// analysis runs an analysis step: it begins the analysis, measures what is
// due each time it is looked at, and acts on the verdict. Successful goes
// on, Failed ends the deployment, and Inconclusive or Error opens a gate
// where one person decides (approve continues, reject aborts).
func analysis(ctx context.Context, r *run, a pipeline.Action) (result, error) {
	gate := a.GateOf()
	cur := r.state.Analysis(gate)
	if cur != nil && (cur.Phase == v1alpha1.AnalysisInconclusive || cur.Phase == v1alpha1.AnalysisError) {
		return r.awaitGate(ctx, a, 1, 0)
	}
	if cur != nil && cur.Phase == v1alpha1.AnalysisSuccessful {
		return result{}, nil // recorded before a crash; the step completes now
	}
	if cur == nil && r.state.NoProduction && r.state.Weight == 0 {
		// A first release: production had nothing to split with, the
		// canary gets no requests, and there is nothing to compare.
		r.event(a.StageName, "AnalysisSkipped", "analysis %s did not run: the canary has no requests (weight kept at 0, no production to split with)", gate)
		return result{}, nil
	}
	if bg := r.state.BlueGreen; cur == nil && bg != nil && a.Index == 0 && bg.From == "" {
		// A blue/green first release: nothing serves, so no route carries
		// the testers' requests to the new slot, and there is nothing to
		// measure before the switch.
		r.event(a.StageName, "AnalysisSkipped", "analysis %s did not run: this is the first release in %s, so no route sends the testers' requests to slot %s before the switch",
			gate, bg.Namespace, bg.To)
		return result{}, nil
	}
	step := r.plan.AnalysisOf(a)
	res, err := r.advance(ctx, a.StageName, gate, *step, cur)
	if err != nil || res.finish != nil || res.analysis == nil {
		return res, err
	}
	switch res.analysis.Phase {
	case v1alpha1.AnalysisSuccessful:
		return res, nil
	case v1alpha1.AnalysisInconclusive, v1alpha1.AnalysisError:
		res.wait, res.gate = true, gate
		return res, nil
	}
	res.wait, res.until = true, nextAt(res.analysis, r.now())
	return res, nil
}

// advance begins the analysis name when cur is nil, or takes what is due
// of it, and says so in events. The result carries the new progress (nil
// when nothing changed; then it waits for the next measurement) and its
// measurements; a Failed verdict finishes the run.
func (r *run) advance(ctx context.Context, stage, name string, step v1alpha1.AnalysisStep, cur *v1alpha1.AnalysisRun) (result, error) {
	an := r.e.cfg.Analyzer
	if an == nil {
		return result{}, errNoAnalyzer
	}
	now := r.now()
	if cur == nil {
		args := r.analysisArgs()
		for _, arg := range step.Args {
			args[arg.Name] = arg.Value
		}
		run, err := an.Begin(ctx, r.plan, name, step, args, now)
		if err != nil {
			return result{}, fmt.Errorf("begin analysis %s: %w", name, err)
		}
		r.event(stage, "AnalysisStarted", "analysis %s started: %s", name, strings.Join(run.Templates, ", "))
		return result{wait: true, until: nextAt(run, now), analysis: run}, nil
	}
	next, ms, err := an.Measure(ctx, r.plan, cur, now)
	if err != nil {
		return result{}, fmt.Errorf("measure analysis %s: %w", name, err)
	}
	if len(ms) == 0 && next.Phase == cur.Phase {
		// Nothing was due: nothing to record.
		return result{wait: true, until: nextAt(cur, now)}, nil
	}
	res := result{analysis: next, measurements: ms}
	for _, m := range ms {
		r.measured(stage, m)
	}
	switch next.Phase {
	case v1alpha1.AnalysisSuccessful:
		r.event(stage, "AnalysisSuccessful", "analysis %s successful: %s", name, next.Message)
	case v1alpha1.AnalysisFailed:
		msg := fmt.Sprintf("analysis %s failed: %s", name, next.Message)
		r.event(stage, "AnalysisFailed", "%s", msg)
		res.finish = &pipeline.Outcome{Status: v1alpha1.StatusFailed, Message: msg}
	case v1alpha1.AnalysisInconclusive, v1alpha1.AnalysisError:
		r.event(stage, "Analysis"+string(next.Phase), "analysis %s was %s: %s; waiting for a person: approve to continue, reject to abort",
			name, strings.ToLower(string(next.Phase)), next.Message)
	}
	return res, nil
}

// measured queues the event that carries measurement m; the store keeps
// the measurement with it, in the transaction of the state that counted
// it.
func (r *run) measured(stage string, m v1alpha1.Measurement) {
	msg := fmt.Sprintf("%s/%s/%s: %s", m.Analysis, m.Template, m.Metric, m.Phase)
	if m.Value != "" {
		msg += " " + m.Value
	}
	if m.Message != "" {
		msg += " (" + m.Message + ")"
	}
	r.pending = append(r.pending, store.Event{
		DeploymentID: r.d.ID, Time: r.now(), Stage: stage, Type: "AnalysisMeasurement", Message: msg, Measurement: &m,
	})
}

// nextAt is when the earliest metric of run is due, or now when none is.
func nextAt(run *v1alpha1.AnalysisRun, now time.Time) time.Time {
	var at time.Time
	for _, m := range run.Metrics {
		if m.NextAt != nil && (at.IsZero() || m.NextAt.Before(at)) {
			at = *m.NextAt
		}
	}
	if at.IsZero() {
		return now
	}
	return at
}

// pausedWhat says what a pause holds: the canary's weight, or a wave.
func (r *run) pausedWhat(a pipeline.Action) string {
	if r.plan.StageType(a.StageIndex) == v1alpha1.StageProductionWave {
		return "before releasing wave " + a.StageName
	}
	return fmt.Sprintf("with the canary at %d%%", r.state.Weight)
}

// pause holds the weight: for its duration, or, without one, until a
// person resumes (approves at the step's gate) or rejects.
func pause(ctx context.Context, r *run, a pipeline.Action) (result, error) {
	p := r.plan.Stages[a.StageIndex].GateSteps()[a.Index].Pause
	gate := a.GateOf()
	if p.Duration == nil {
		if r.state.Gate == gate {
			return r.awaitGate(ctx, a, 1, 0)
		}
		r.event(a.StageName, "Paused", "paused at %s %s until resumed: fledge resume %s#%d", gate, r.pausedWhat(a), r.d.Pipeline, r.d.Number)
		return result{wait: true, gate: gate}, nil
	}
	if at := r.state.NextBatchAt; at != nil {
		if r.now().Before(*at) {
			// fledge resume ends it early: a decision at its gate.
			by, err := r.resumedBy(ctx, gate)
			if err != nil || by == "" {
				return result{wait: true, until: *at}, err
			}
			r.event(a.StageName, "Resumed", "pause at %s ended early: resumed by %s", gate, by)
			return result{}, nil
		}
		r.event(a.StageName, "Resumed", "pause at %s ended", gate)
		return result{}, nil
	}
	at := r.now().Add(p.Duration.Duration)
	r.event(a.StageName, "Paused", "paused at %s %s until %s (%s)", gate, r.pausedWhat(a), at.Format(time.RFC3339), p.Duration.Duration)
	return result{wait: true, until: at, nextBatchAt: &at}, nil
}

// resumedBy returns who resumed the pause at gate, or "".
func (r *run) resumedBy(ctx context.Context, gate string) (string, error) {
	ds, err := r.e.cfg.Store.ListDecisions(ctx, r.d.ID)
	if err != nil {
		return "", fmt.Errorf("list decisions: %w", err)
	}
	for _, d := range ds {
		if d.Stage == gate && d.Decision == string(v1alpha1.DecisionApprove) {
			return d.User, nil
		}
	}
	return "", nil
}

// awaitGate counts the decisions at a's gate: a rejection ends the run,
// need distinct approvals complete the step, a passed deadline (an
// approval's, after timeout) fails the run; otherwise it waits, parked.
func (r *run) awaitGate(ctx context.Context, a pipeline.Action, need int, timeout time.Duration) (result, error) {
	gate := a.GateOf()
	ds, err := r.e.cfg.Store.ListDecisions(ctx, r.d.ID)
	if err != nil {
		return result{}, fmt.Errorf("list decisions: %w", err)
	}
	res := result{decisions: len(ds)}
	var approvers []string
	for _, d := range ds {
		if d.Stage != gate {
			continue
		}
		if d.Decision == string(v1alpha1.DecisionReject) {
			msg := fmt.Sprintf("rejected by %s at %s", d.User, gate)
			if a.Gate == "" {
				msg = fmt.Sprintf("rejected by %s at stage %s", d.User, gate)
			}
			if d.Reason != "" {
				msg += ": " + d.Reason
			}
			res.finish = &pipeline.Outcome{Status: v1alpha1.StatusRejected, Message: msg}
			return res, nil
		}
		if user := auth.Canonical(d.User); !slices.Contains(approvers, user) {
			approvers = append(approvers, user)
		}
	}
	if len(approvers) >= need {
		slices.Sort(approvers)
		r.event(gate, "ApprovalGranted", "%d of %d approvals: %s", len(approvers), need, strings.Join(approvers, ", "))
		return res, nil
	}
	dl := r.state.ApprovalDeadline
	if dl != nil && !r.now().Before(*dl) {
		msg := fmt.Sprintf("approval timed out after %s with %d of %d approvals", timeout, len(approvers), need)
		r.event(gate, "ApprovalTimedOut", "%s", msg)
		res.finish = &pipeline.Outcome{Status: v1alpha1.StatusFailed, Message: msg}
		return res, nil
	}
	res.wait = true
	if dl != nil {
		res.until = *dl
	} else {
		// No timeout: park until a decision or a cancellation wakes it.
		res.until = r.now().Add(parkForever)
	}
	return res, nil
}

// parkForever is how long a gate without a timeout stays parked before the
// executor looks at it again on its own.
const parkForever = 24 * time.Hour
