package analysis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/judge"
)

// judgeMetric is the name of a template's judge in the run's metrics.
const judgeMetric = "judge"

// judgeAsMetric is how the judge is tallied: one verdict, retried every
// step while Prometheus cannot answer, up to the default consecutive error
// limit.
func judgeAsMetric(j *v1alpha1.AnalysisJudge) v1alpha1.AnalysisMetric {
	return v1alpha1.AnalysisMetric{Count: 1, Interval: &v1alpha1.Duration{Duration: j.Step.Or(v1alpha1.DefaultJudgeStep)}}
}

// judgeConfig is the judge's configuration from the template.
func judgeConfig(j *v1alpha1.AnalysisJudge) judge.Config {
	c := judge.DefaultConfig
	if j.Confidence != 0 {
		c.Confidence = float64(j.Confidence) / 100
	}
	pass, marginal := j.Scores()
	c.Pass, c.Marginal = float64(pass), float64(marginal)
	return c
}

// runJudge reads each judge metric's canary and production series over the
// window ending now and lets the judge compare them. A Prometheus that
// does not answer is an Error measurement (never a pass); a series with no
// data is the judge's NoData, which counts against the score.
func (a *Analyzer) runJudge(ctx context.Context, j *v1alpha1.AnalysisJudge, args map[string]string, now time.Time) (v1alpha1.AnalysisPhase, string, string) {
	c, err := newHTTPClient(ctx, j.Prometheus.Auth, j.Prometheus.TLS, j.Prometheus.Timeout, a.Secrets)
	if err != nil {
		return v1alpha1.AnalysisError, "", err.Error()
	}
	prom := &Prometheus{client: c, Address: fill(j.Prometheus.Address, args)}
	window, step := j.Window.Or(v1alpha1.DefaultJudgeWindow), j.Step.Or(v1alpha1.DefaultJudgeStep)
	series := func(q string) ([]float64, error) {
		v, err := prom.Range(ctx, fill(q, args), now.Add(-window), now, step)
		if errors.Is(err, ErrNoData) {
			return nil, nil
		}
		return v, err
	}
	var metrics []judge.Metric
	for _, m := range j.Metrics {
		canary, err := series(m.CanaryQuery)
		if err != nil {
			return v1alpha1.AnalysisError, "", fmt.Sprintf("judge metric %s, canary: %v", m.Name, err)
		}
		production, err := series(m.ProductionQuery)
		if err != nil {
			return v1alpha1.AnalysisError, "", fmt.Sprintf("judge metric %s, production: %v", m.Name, err)
		}
		dir := judge.Direction(m.Direction)
		if dir == "" {
			dir = judge.Increase
		}
		jm := judge.Metric{Name: m.Name, Direction: dir, Critical: m.Critical, Weight: float64(m.Weight), Canary: canary, Baseline: production}
		if m.AllowedIncreasePercent > 0 {
			jm.AllowedIncrease = 1 + float64(m.AllowedIncreasePercent)/100
		}
		if m.AllowedDecreasePercent > 0 {
			jm.AllowedDecrease = 1 - float64(m.AllowedDecreasePercent)/100
		}
		metrics = append(metrics, jm)
	}
	res, err := judge.Judge(judgeConfig(j), metrics)
	if err != nil {
		return v1alpha1.AnalysisError, "", err.Error()
	}
	type metricValue struct {
		Name           string  `json:"name"`
		Classification string  `json:"classification"`
		P              float64 `json:"p"`
		CanaryMean     float64 `json:"canaryMean"`
		ProductionMean float64 `json:"productionMean"`
	}
	value := struct {
		Score   float64       `json:"score"`
		Metrics []metricValue `json:"metrics"`
	}{Score: res.Score}
	for _, r := range res.Metrics {
		value.Metrics = append(value.Metrics, metricValue{Name: r.Name, Classification: string(r.Classification), P: finiteOr0(r.P), CanaryMean: finiteOr0(r.CanaryMean), ProductionMean: finiteOr0(r.BaselineMean)})
	}
	b, err := json.Marshal(value)
	if err != nil {
		return v1alpha1.AnalysisError, "", fmt.Sprintf("encode the judge's result: %v", err)
	}
	return res.Phase, string(b), res.Message
}

func finiteOr0(f float64) float64 {
	if f != f || f > 1e308 || f < -1e308 {
		return 0
	}
	return f
}
