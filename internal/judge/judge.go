package judge

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"fledge.dev/fledge/api/v1alpha1"
)

// Direction says which way a change of a metric is bad.
type Direction string

// Directions. For latency and error rates an increase is bad; for
// throughput a decrease is; for a metric that should not move, either.
const (
	Increase Direction = "increase"
	Decrease Direction = "decrease"
	Either   Direction = "either"
)

// Metric is one metric to compare, with its two samples.
type Metric struct {
	Name string
	// Direction is the change that is bad.
	Direction Direction
	// AllowedIncrease is how much higher the canary's mean may be than the
	// baseline's, as a ratio (1.1: up to 10 % higher) before a significant
	// increase counts; 0 means 1 (any significant increase is bad).
	AllowedIncrease float64
	// AllowedDecrease is the same downwards (0.9: down to 10 % lower);
	// 0 means 1.
	AllowedDecrease float64
	// Critical fails the whole verdict when the metric fails, whatever
	// the score.
	Critical bool
	// Weight is the metric's share of the score; 0 means 1.
	Weight float64
	// Canary and Baseline are the readings over the same window.
	Canary   []float64
	Baseline []float64
}

// Config sets how sure the judge must be and where the score thresholds lie.
type Config struct {
	// Confidence of the test, e.g. 0.95: a difference counts only when the
	// two-sided p-value is below 1 - Confidence.
	Confidence float64
	// Pass and Marginal are score thresholds (0-100): at or above Pass the
	// verdict is Successful, below Marginal it is Failed, and in between a
	// person decides (Inconclusive).
	Pass     float64
	Marginal float64
	// MinSamples is the fewest readings each sample needs; a metric with
	// fewer is NoData. 0 means 3.
	MinSamples int
}

// DefaultConfig is 95 % confidence, pass at 95 and marginal at 75.
var DefaultConfig = Config{Confidence: 0.95, Pass: 95, Marginal: 75, MinSamples: 3}

// Classification is how one metric compares.
type Classification string

// Classifications. NoData is never a pass: a metric the source could not
// answer counts against the score, and a critical one makes the verdict
// Inconclusive at best.
const (
	Pass   Classification = "Pass"
	High   Classification = "High"
	Low    Classification = "Low"
	NoData Classification = "NoData"
)

// MetricResult is the judgement of one metric.
type MetricResult struct {
	Name           string
	Classification Classification
	// Failed reports whether the classification is bad for the metric's
	// direction (High for Increase, Low for Decrease, either for Either),
	// or NoData.
	Failed       bool
	Critical     bool
	Weight       float64
	P            float64
	Shift        Shift
	CanaryMean   float64
	BaselineMean float64
	// Ratio is CanaryMean / BaselineMean (±Inf when the baseline's mean
	// is 0 and the canary's is not, 1 when both are 0).
	Ratio  float64
	Reason string
}

// Result is the judge's verdict.
type Result struct {
	// Score is the weighted share of passing metrics, 0-100.
	Score   float64
	Phase   v1alpha1.AnalysisPhase
	Metrics []MetricResult
	Message string
}

// Validate checks the configuration and the metrics before judging.
func (c Config) Validate() error {
	var errs []error
	if !(c.Confidence > 0 && c.Confidence < 1) {
		errs = append(errs, fmt.Errorf("confidence %v: must be between 0 and 1 (e.g. 0.95)", c.Confidence))
	}
	if c.Pass < 0 || c.Pass > 100 || c.Marginal < 0 || c.Marginal > 100 {
		errs = append(errs, fmt.Errorf("thresholds pass %v and marginal %v: must be 0-100", c.Pass, c.Marginal))
	} else if c.Marginal > c.Pass {
		errs = append(errs, fmt.Errorf("marginal %v is above pass %v", c.Marginal, c.Pass))
	}
	if c.MinSamples < 0 {
		errs = append(errs, fmt.Errorf("minSamples %d: must not be negative", c.MinSamples))
	}
	return errors.Join(errs...)
}

func (m Metric) validate() error {
	var errs []error
	switch m.Direction {
	case Increase, Decrease, Either:
	default:
		errs = append(errs, fmt.Errorf("direction %q: must be increase, decrease or either", m.Direction))
	}
	if m.AllowedIncrease != 0 && m.AllowedIncrease < 1 {
		errs = append(errs, fmt.Errorf("allowedIncrease %v: must be at least 1", m.AllowedIncrease))
	}
	if m.AllowedDecrease != 0 && (m.AllowedDecrease > 1 || m.AllowedDecrease < 0) {
		errs = append(errs, fmt.Errorf("allowedDecrease %v: must be between 0 and 1", m.AllowedDecrease))
	}
	if m.Weight < 0 || math.IsNaN(m.Weight) || math.IsInf(m.Weight, 0) {
		errs = append(errs, fmt.Errorf("weight %v: must be a positive number", m.Weight))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("metric %q: %w", m.Name, err)
	}
	return nil
}

// Judge compares every metric and returns the score and verdict.
func Judge(c Config, metrics []Metric) (Result, error) {
	if err := c.Validate(); err != nil {
		return Result{}, fmt.Errorf("judge: %w", err)
	}
	if len(metrics) == 0 {
		return Result{}, errors.New("judge: no metrics to compare")
	}
	if c.MinSamples == 0 {
		c.MinSamples = 3
	}
	var errs []error
	for _, m := range metrics {
		errs = append(errs, m.validate())
	}
	if err := errors.Join(errs...); err != nil {
		return Result{}, fmt.Errorf("judge: %w", err)
	}

	var res Result
	var total, passed float64
	criticalFailed, criticalNoData := []string{}, []string{}
	for _, m := range metrics {
		r, err := c.compare(m)
		if err != nil {
			return Result{}, fmt.Errorf("judge: metric %q: %w", m.Name, err)
		}
		res.Metrics = append(res.Metrics, r)
		total += r.Weight
		if !r.Failed {
			passed += r.Weight
		}
		if r.Critical && r.Failed {
			if r.Classification == NoData {
				criticalNoData = append(criticalNoData, r.Name)
			} else {
				criticalFailed = append(criticalFailed, r.Name)
			}
		}
	}
	res.Score = 100 * passed / total

	switch {
	case len(criticalFailed) > 0:
		res.Phase = v1alpha1.AnalysisFailed
		res.Message = fmt.Sprintf("critical metric %s failed", strings.Join(criticalFailed, ", "))
	case res.Score < c.Marginal:
		res.Phase = v1alpha1.AnalysisFailed
		res.Message = fmt.Sprintf("score %.1f is below marginal %.1f", res.Score, c.Marginal)
	case len(criticalNoData) > 0:
		res.Phase = v1alpha1.AnalysisInconclusive
		res.Message = fmt.Sprintf("critical metric %s has no data", strings.Join(criticalNoData, ", "))
	case res.Score < c.Pass:
		res.Phase = v1alpha1.AnalysisInconclusive
		res.Message = fmt.Sprintf("score %.1f is marginal (pass %.1f, marginal %.1f)", res.Score, c.Pass, c.Marginal)
	default:
		res.Phase = v1alpha1.AnalysisSuccessful
		res.Message = fmt.Sprintf("score %.1f (pass %.1f)", res.Score, c.Pass)
	}
	var failing []string
	for _, r := range res.Metrics {
		if r.Failed {
			failing = append(failing, r.Name+": "+r.Reason)
		}
	}
	if len(failing) > 0 {
		res.Message += "; " + strings.Join(failing, "; ")
	}
	return res, nil
}

// compare classifies one metric.
func (c Config) compare(m Metric) (MetricResult, error) {
	r := MetricResult{Name: m.Name, Critical: m.Critical, Weight: m.Weight}
	if r.Weight == 0 {
		r.Weight = 1
	}
	canary, baseline := finite(m.Canary), finite(m.Baseline)
	if len(canary) < c.MinSamples || len(baseline) < c.MinSamples {
		r.Classification, r.Failed = NoData, true
		r.Reason = fmt.Sprintf("%d canary and %d baseline readings, %d each needed", len(canary), len(baseline), c.MinSamples)
		return r, nil
	}
	r.CanaryMean, r.BaselineMean = mean(canary), mean(baseline)
	r.Ratio = ratio(r.CanaryMean, r.BaselineMean)

	t, err := MannWhitney(canary, baseline)
	if err != nil {
		return r, err
	}
	r.P = t.P
	if r.Shift, err = HodgesLehmann(canary, baseline, c.Confidence); err != nil {
		return r, err
	}
	allowedUp, allowedDown := m.AllowedIncrease, m.AllowedDecrease
	if allowedUp == 0 {
		allowedUp = 1
	}
	if allowedDown == 0 {
		allowedDown = 1
	}
	alpha := 1 - c.Confidence
	switch {
	case t.P >= alpha:
		r.Classification = Pass
		r.Reason = fmt.Sprintf("no significant difference (p=%.3g)", t.P)
	case r.CanaryMean > r.BaselineMean && r.Ratio > allowedUp:
		r.Classification = High
		r.Reason = fmt.Sprintf("canary mean %.4g is %s baseline %.4g (allowed %.3gx, p=%.3g)", r.CanaryMean, ratioText(r.Ratio), r.BaselineMean, allowedUp, t.P)
	case r.CanaryMean < r.BaselineMean && r.Ratio < allowedDown:
		r.Classification = Low
		r.Reason = fmt.Sprintf("canary mean %.4g is %s baseline %.4g (allowed %.3gx, p=%.3g)", r.CanaryMean, ratioText(r.Ratio), r.BaselineMean, allowedDown, t.P)
	default:
		r.Classification = Pass
		r.Reason = fmt.Sprintf("difference within the allowed effect (%s, p=%.3g)", ratioText(r.Ratio), t.P)
	}
	switch r.Classification {
	case High:
		r.Failed = m.Direction == Increase || m.Direction == Either
	case Low:
		r.Failed = m.Direction == Decrease || m.Direction == Either
	}
	return r, nil
}

func finite(v []float64) []float64 {
	out := make([]float64, 0, len(v))
	for _, x := range v {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			out = append(out, x)
		}
	}
	return out
}

func ratio(a, b float64) float64 {
	switch {
	case b != 0:
		return a / b
	case a == 0:
		return 1
	case a > 0:
		return math.Inf(1)
	default:
		return math.Inf(-1)
	}
}

func ratioText(r float64) string {
	if math.IsInf(r, 0) {
		return "above a zero"
	}
	return fmt.Sprintf("%.3gx", r)
}
