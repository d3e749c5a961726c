package executor

import (
	"context"
	"fmt"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/pipeline"
)

// backgroundOf returns the background analysis of a's canarySteps stage,
// or nil.
func (r *run) backgroundOf(a pipeline.Action) *v1alpha1.AnalysisStep {
	if a.StageIndex < 0 || a.StageIndex >= len(r.plan.Stages) || r.plan.Kind == v1alpha1.KindRollback {
		return nil
	}
	if c := r.plan.Stages[a.StageIndex].CanarySteps; c != nil {
		return c.BackgroundAnalysis
	}
	return nil
}

// background measures the background analysis of a's stage before a runs.
// It starts once the canary has requests (a weight above 0). It returns
// handled when a must not run now: the analysis failed (res.finish), or it
// was inconclusive and waits for a person at its gate (res.wait); other
// changes are in res for the caller to record before a runs.
func (r *run) background(ctx context.Context, a pipeline.Action) (res result, handled bool, err error) {
	bg := r.backgroundOf(a)
	if bg == nil {
		return result{}, false, nil
	}
	name := v1alpha1.BackgroundGate(a.StageName)
	cur := r.state.Analysis(name)
	if a.Step == pipeline.StepBackgroundEnd && cur != nil {
		return result{}, false, nil // the step ends it
	}
	switch {
	case cur == nil && r.state.Weight == 0:
		return result{}, false, nil
	case cur != nil && cur.Phase == v1alpha1.AnalysisSuccessful:
		return result{}, false, nil
	case cur != nil && !cur.Phase.Done() && r.now().Before(nextAt(cur, r.now())):
		return result{}, false, nil // nothing due
	case cur != nil && cur.Phase.Done():
		// Inconclusive or Error (Failed ended the run).
		if r.state.BackgroundAccepted {
			return result{}, false, nil
		}
		return r.backgroundGate(ctx, a, name)
	}
	res, err = r.advance(ctx, a.StageName, name, *bg, cur)
	res.wait, res.until = false, time.Time{}
	if err != nil || res.finish != nil {
		return res, true, err
	}
	if res.analysis != nil && res.analysis.Phase.Done() && res.analysis.Phase != v1alpha1.AnalysisSuccessful {
		res.wait, res.gate = true, name
		return res, true, nil
	}
	return res, false, nil
}

// backgroundGate waits at the background analysis's gate: approve lets the
// stage go on without it, reject aborts.
func (r *run) backgroundGate(ctx context.Context, a pipeline.Action, name string) (result, bool, error) {
	g := pipeline.Action{Step: a.Step, StageIndex: a.StageIndex, StageName: a.StageName, Gate: name}
	res, err := r.awaitGate(ctx, g, 1, 0)
	if err != nil || res.finish != nil {
		return res, true, err
	}
	if res.wait {
		if r.state.Gate != name {
			res.gate = name
		}
		return res, true, nil
	}
	res.backgroundAccepted = true
	return res, false, nil
}

// backgroundDue is when the background analysis of a's stage next
// measures, or zero when none is under way.
func (r *run) backgroundDue(a pipeline.Action) time.Time {
	if r.backgroundOf(a) == nil {
		return time.Time{}
	}
	cur := r.state.Analysis(v1alpha1.BackgroundGate(a.StageName))
	if cur == nil || cur.Phase.Done() {
		return time.Time{}
	}
	return nextAt(cur, r.now())
}

// backgroundEnd ends the stage's background analysis: what is due is
// measured, and an analysis still running becomes Successful when it
// measured something and nothing failed. One that never measured is
// Inconclusive, never a pass: a person decides at its gate. A canary that
// never had requests (its weight stayed 0, as on a first release) had
// nothing to analyse, and the step says so.
func backgroundEnd(ctx context.Context, r *run, a pipeline.Action) (result, error) {
	bg := r.backgroundOf(a)
	name := a.GateOf()
	cur := r.state.Analysis(name)
	switch {
	case cur == nil:
		r.event(a.StageName, "BackgroundAnalysisSkipped", "background analysis %s did not run: the canary had no requests during stage %s (weight 0)", name, a.StageName)
		return result{}, nil
	case cur.Phase == v1alpha1.AnalysisSuccessful || (cur.Phase.Done() && r.state.BackgroundAccepted):
		return result{}, nil
	case cur.Phase.Done():
		return r.awaitGate(ctx, a, 1, 0)
	}
	res, err := r.advance(ctx, a.StageName, name, *bg, cur)
	if err != nil || res.finish != nil {
		return res, err
	}
	next := cur
	if res.analysis != nil {
		next = res.analysis
	}
	res.wait, res.until = false, time.Time{}
	if next.Phase.Done() {
		if next.Phase != v1alpha1.AnalysisSuccessful {
			res.wait, res.gate = true, name
		}
		return res, nil
	}
	ended := *next
	now := r.now()
	ended.EndedAt = &now
	ended.Metrics = append([]v1alpha1.MetricProgress(nil), next.Metrics...)
	measured := 0
	for i := range ended.Metrics {
		measured += ended.Metrics[i].Count
		ended.Metrics[i].NextAt = nil
	}
	res.analysis = &ended
	if measured == 0 {
		ended.Phase = v1alpha1.AnalysisInconclusive
		ended.Message = fmt.Sprintf("stage %s ended before any measurement", a.StageName)
		r.event(a.StageName, "AnalysisInconclusive", "analysis %s was inconclusive: %s; waiting for a person: approve to continue, reject to abort", name, ended.Message)
		res.wait, res.gate = true, name
		return res, nil
	}
	ended.Phase = v1alpha1.AnalysisSuccessful
	ended.Message = fmt.Sprintf("stopped at the end of stage %s after %d measurements, none failed", a.StageName, measured)
	r.event(a.StageName, "AnalysisSuccessful", "analysis %s successful: %s", name, ended.Message)
	return res, nil
}
