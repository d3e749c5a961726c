package analysis

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

// Analyzer runs the metric analyses of deployments: Start lays out an
// analysis over its templates, Step takes the measurements that are due
// and tallies them into verdicts. It holds no state of its own (the run is
// the state, stored by the executor), so it is safe for concurrent use and
// a restarted server continues a run where the stored copy stands.
type Analyzer struct {
	// Secrets opens the secrets providers authenticate with.
	Secrets Secrets
	Log     *slog.Logger
	// Clock is the wall clock used for FinishedAt (time.Now if nil).
	Clock func() time.Time
}

// Start returns the initial progress of an analysis called name over the
// named templates (their specs frozen in specs), with args the deployment's
// and the step's arguments. Every argument a template declares must be
// given or have a default. Nothing is measured yet; each metric's NextAt
// is now + its initialDelay.
func (a *Analyzer) Start(name string, templates []string, specs map[string]v1alpha1.AnalysisTemplateSpec, args map[string]string, now time.Time) (*v1alpha1.AnalysisRun, error) {
	if len(templates) == 0 {
		return nil, fmt.Errorf("analysis %s: no templates", name)
	}
	run := &v1alpha1.AnalysisRun{Name: name, Templates: slices.Clone(templates), Args: cloneArgs(args), Phase: v1alpha1.AnalysisRunning, StartedAt: now}
	for _, tn := range templates {
		spec, ok := specs[tn]
		if !ok {
			return nil, fmt.Errorf("analysis %s: template %q is not in the deployment's plan", name, tn)
		}
		if _, err := resolveArgs(tn, spec, args); err != nil {
			return nil, fmt.Errorf("analysis %s: %w", name, err)
		}
		if j := spec.Judge; j != nil {
			// The judge compares a window of data: it waits for one.
			next := now.Add(j.Window.Or(v1alpha1.DefaultJudgeWindow))
			run.Metrics = append(run.Metrics, v1alpha1.MetricProgress{Template: tn, Metric: judgeMetric, Phase: v1alpha1.AnalysisRunning, NextAt: &next})
		}
		for _, m := range spec.Metrics {
			next := now.Add(m.InitialDelay.Or(0))
			run.Metrics = append(run.Metrics, v1alpha1.MetricProgress{Template: tn, Metric: m.Name, Phase: v1alpha1.AnalysisRunning, NextAt: &next})
		}
	}
	return run, nil
}

// resolveArgs returns the arguments a template sees: each declared one
// from args, else its default; a missing one is an error.
func resolveArgs(template string, spec v1alpha1.AnalysisTemplateSpec, args map[string]string) (map[string]string, error) {
	if missing := MissingArgs(spec, args); len(missing) > 0 {
		return nil, fmt.Errorf("template %q: argument(s) %s not given and without a default", template, strings.Join(missing, ", "))
	}
	out := make(map[string]string, len(spec.Args))
	for _, d := range spec.Args {
		if v, ok := args[d.Name]; ok {
			out[d.Name] = v
		} else {
			out[d.Name] = *d.Default
		}
	}
	return out, nil
}

func cloneArgs(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Step takes every measurement due at or before now and returns the new
// progress (a copy; run is not modified) and the measurements taken. The
// returned run's Phase is the verdict once it has one: Failed as soon as a
// metric fails; otherwise, once every metric is decided, Error if one
// errored, Inconclusive if one was inconclusive, else Successful. An error
// is returned only when the run cannot be continued at all (its template
// is gone from the plan); a provider that does not answer is a
// measurement of phase Error.
func (a *Analyzer) Step(ctx context.Context, specs map[string]v1alpha1.AnalysisTemplateSpec, run *v1alpha1.AnalysisRun, now time.Time) (*v1alpha1.AnalysisRun, []v1alpha1.Measurement, error) {
	out := cloneRun(run)
	if out.Phase.Done() {
		return out, nil, nil
	}
	var taken []v1alpha1.Measurement
	for i := range out.Metrics {
		mp := &out.Metrics[i]
		if mp.Phase.Done() || mp.NextAt == nil || mp.NextAt.After(now) {
			continue
		}
		spec, ok := specs[mp.Template]
		if !ok {
			return nil, nil, fmt.Errorf("analysis %s: template %q is not in the deployment's plan", out.Name, mp.Template)
		}
		args, err := resolveArgs(mp.Template, spec, out.Args)
		if err != nil {
			return nil, nil, fmt.Errorf("analysis %s: %w", out.Name, err)
		}
		var m v1alpha1.AnalysisMetric
		var meas v1alpha1.Measurement
		if mp.Metric == judgeMetric && spec.Judge != nil {
			m = judgeAsMetric(spec.Judge)
			meas = v1alpha1.Measurement{StartedAt: now}
			meas.Phase, meas.Value, meas.Message = a.runJudge(ctx, spec.Judge, args, now)
			meas.FinishedAt = now
		} else {
			var ok bool
			if m, ok = metricOf(spec, mp.Metric); !ok {
				return nil, nil, fmt.Errorf("analysis %s: template %q has no metric %q", out.Name, mp.Template, mp.Metric)
			}
			meas = a.measure(ctx, m, args, now)
		}
		meas.Analysis, meas.Template, meas.Metric = out.Name, mp.Template, mp.Metric
		taken = append(taken, meas)
		Tally(mp, m, meas.Phase, now)
		if mp.Phase.Done() {
			a.log().Info("analysis metric decided", "analysis", out.Name, "template", mp.Template, "metric", mp.Metric, "phase", mp.Phase, "last", meas.Message)
		}
		if mp.Phase == v1alpha1.AnalysisFailed {
			out.Message = fmt.Sprintf("metric %s/%s failed: %s (%d of %d measurements failed, failureLimit %d)",
				mp.Template, mp.Metric, meas.Message, mp.Failed, mp.Count, limitOf(m.FailureLimit))
		}
	}
	decide(out, now)
	return out, taken, nil
}

func limitOf(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

func metricOf(spec v1alpha1.AnalysisTemplateSpec, name string) (v1alpha1.AnalysisMetric, bool) {
	for _, m := range spec.Metrics {
		if m.Name == name {
			return m, true
		}
	}
	return v1alpha1.AnalysisMetric{}, false
}

// measure reads a metric once and judges the answer by its conditions.
func (a *Analyzer) measure(ctx context.Context, m v1alpha1.AnalysisMetric, args map[string]string, now time.Time) v1alpha1.Measurement {
	meas := v1alpha1.Measurement{StartedAt: now}
	clock := a.Clock
	if clock == nil {
		clock = time.Now
	}
	wall := clock()
	finish := func(phase v1alpha1.AnalysisPhase, msg string) v1alpha1.Measurement {
		meas.Phase, meas.Message = phase, msg
		meas.FinishedAt = now.Add(clock().Sub(wall))
		return meas
	}
	p, err := NewProvider(ctx, m.Provider, args, a.Secrets)
	if err != nil {
		return finish(v1alpha1.AnalysisError, err.Error())
	}
	result, err := p.Measure(ctx)
	if err != nil {
		return finish(v1alpha1.AnalysisError, err.Error())
	}
	meas.Value = jsonValue(result)
	phase, msg, err := Evaluate(m, p.Numeric(), result, args)
	if err != nil {
		return finish(v1alpha1.AnalysisError, err.Error())
	}
	return finish(phase, msg)
}

// Evaluate decides one answer by a metric's conditions: a failure
// condition that holds fails it (whatever the success condition says); a
// success condition that holds passes it; with both conditions set and
// neither holding it is Inconclusive; with one condition set, the answer
// that does not meet it is the other outcome.
func Evaluate(m v1alpha1.AnalysisMetric, numeric bool, result any, args map[string]string) (v1alpha1.AnalysisPhase, string, error) {
	eval := func(expr string) (bool, error) {
		c, _, err := Compile(expr, numeric)
		if err != nil {
			return false, fmt.Errorf("condition %q: %w", expr, err)
		}
		return c.Eval(result, args)
	}
	value := jsonValue(result)
	if m.FailureCondition != "" {
		failed, err := eval(m.FailureCondition)
		if err != nil {
			return "", "", err
		}
		if failed {
			return v1alpha1.AnalysisFailed, fmt.Sprintf("value %s meets failureCondition %q", value, m.FailureCondition), nil
		}
	}
	if m.SuccessCondition == "" {
		return v1alpha1.AnalysisSuccessful, fmt.Sprintf("value %s does not meet failureCondition %q", value, m.FailureCondition), nil
	}
	ok, err := eval(m.SuccessCondition)
	if err != nil {
		return "", "", err
	}
	switch {
	case ok:
		return v1alpha1.AnalysisSuccessful, fmt.Sprintf("value %s meets successCondition %q", value, m.SuccessCondition), nil
	case m.FailureCondition != "":
		return v1alpha1.AnalysisInconclusive, fmt.Sprintf("value %s meets neither successCondition %q nor failureCondition %q", value, m.SuccessCondition, m.FailureCondition), nil
	}
	return v1alpha1.AnalysisFailed, fmt.Sprintf("value %s does not meet successCondition %q", value, m.SuccessCondition), nil
}

// Tally counts one measurement of phase into a metric's progress and
// decides the metric when its limits say so, as Argo Rollouts does, with
// two differences that keep a failing source from passing: a provider
// error does not count towards count (the measurement is taken again at
// the next interval until consecutiveErrorLimit is exceeded, then the
// metric is Error), and a metric whose measurements were never Successful
// is Inconclusive at best.
func Tally(mp *v1alpha1.MetricProgress, m v1alpha1.AnalysisMetric, phase v1alpha1.AnalysisPhase, now time.Time) {
	failureLimit, inconclusiveLimit, errorLimit := m.Limits()
	if phase == v1alpha1.AnalysisError {
		mp.Errors++
		mp.ConsecutiveErrors++
	} else {
		mp.ConsecutiveErrors = 0
		mp.Count++
		switch phase {
		case v1alpha1.AnalysisSuccessful:
			mp.Successful++
		case v1alpha1.AnalysisFailed:
			mp.Failed++
		case v1alpha1.AnalysisInconclusive:
			mp.Inconclusive++
		}
	}
	switch {
	case mp.Failed > failureLimit:
		mp.Phase = v1alpha1.AnalysisFailed
	case mp.ConsecutiveErrors > errorLimit:
		mp.Phase = v1alpha1.AnalysisError
	case mp.Inconclusive > inconclusiveLimit:
		mp.Phase = v1alpha1.AnalysisInconclusive
	case mp.Count >= m.Measurements() && mp.Successful == 0:
		mp.Phase = v1alpha1.AnalysisInconclusive
	case mp.Count >= m.Measurements():
		mp.Phase = v1alpha1.AnalysisSuccessful
	}
	if mp.Phase.Done() {
		mp.NextAt = nil
		return
	}
	next := now.Add(m.Interval.Or(v1alpha1.DefaultAnalysisInterval))
	mp.NextAt = &next
}

// decide sets the run's phase from its metrics'.
func decide(run *v1alpha1.AnalysisRun, now time.Time) {
	var failed, errored, inconclusive []string
	running := false
	for _, mp := range run.Metrics {
		name := mp.Template + "/" + mp.Metric
		switch mp.Phase {
		case v1alpha1.AnalysisFailed:
			failed = append(failed, name)
		case v1alpha1.AnalysisError:
			errored = append(errored, fmt.Sprintf("%s (%d provider errors in a row)", name, mp.ConsecutiveErrors))
		case v1alpha1.AnalysisInconclusive:
			inconclusive = append(inconclusive, fmt.Sprintf("%s (%d successful, %d failed, %d inconclusive of %d)", name, mp.Successful, mp.Failed, mp.Inconclusive, mp.Count))
		case v1alpha1.AnalysisRunning, "":
			running = true
		}
	}
	switch {
	case len(failed) > 0:
		run.Phase = v1alpha1.AnalysisFailed
		if run.Message == "" {
			run.Message = "metric(s) failed: " + strings.Join(failed, ", ")
		}
	case running:
		return
	case len(errored) > 0:
		run.Phase = v1alpha1.AnalysisError
		run.Message = "the metric source kept failing: " + strings.Join(errored, ", ")
	case len(inconclusive) > 0:
		run.Phase = v1alpha1.AnalysisInconclusive
		run.Message = "inconclusive: " + strings.Join(inconclusive, ", ")
	default:
		run.Phase = v1alpha1.AnalysisSuccessful
		run.Message = fmt.Sprintf("all %d metric(s) successful", len(run.Metrics))
	}
	for i := range run.Metrics {
		run.Metrics[i].NextAt = nil
	}
	end := now
	run.EndedAt = &end
}

func cloneRun(r *v1alpha1.AnalysisRun) *v1alpha1.AnalysisRun {
	out := *r
	out.Templates = slices.Clone(r.Templates)
	out.Args = cloneArgs(r.Args)
	out.Metrics = slices.Clone(r.Metrics)
	for i := range out.Metrics {
		if t := out.Metrics[i].NextAt; t != nil {
			c := *t
			out.Metrics[i].NextAt = &c
		}
	}
	if r.EndedAt != nil {
		e := *r.EndedAt
		out.EndedAt = &e
	}
	return &out
}

func (a *Analyzer) log() *slog.Logger {
	if a.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Log
}
