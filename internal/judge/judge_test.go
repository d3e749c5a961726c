package judge

import (
	"math"
	"strings"
	"testing"

	"fledge.dev/fledge/api/v1alpha1"
)

// Hollander and Wolfe, Nonparametric Statistical Methods (1973), p. 69:
// permeability constants of the human chorioamnion at term (x) and between
// 12 and 26 weeks of gestation (y). The book's one-sided exact test gives
// W = 35, P = 0.1272, and a Hodges-Lehmann shift of 0.305.
var (
	hwX = []float64{0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46}
	hwY = []float64{1.15, 0.88, 0.90, 0.74, 1.21}
)

func TestMannWhitneyWorkedExamples(t *testing.T) {
	for _, tc := range []struct {
		name      string
		x, y      []float64
		u, uy     float64
		p         float64
		exact     bool
		tolerance float64
	}{
		{name: "Hollander and Wolfe p. 69, exact", x: hwX, y: hwY, u: 35, uy: 15, p: 2 * 0.1272, exact: true, tolerance: 1e-4},
		// Aesop's race, the usual illustration of U: finishing order
		// T H H H H H T T T T T H. Tortoises finish ahead in 11 of the 36
		// tortoise-hare pairs, hares in 25. With finishing positions as
		// values, U counts the pairs where the tortoise finished later.
		{name: "tortoise and hare", x: []float64{1, 7, 8, 9, 10, 11}, y: []float64{2, 3, 4, 5, 6, 12}, u: 25, uy: 11, exact: true, p: -1},
		{name: "identical samples", x: []float64{1, 1, 1}, y: []float64{1, 1, 1}, u: 4.5, uy: 4.5, p: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MannWhitney(tc.x, tc.y)
			if err != nil {
				t.Fatal(err)
			}
			if got.U != tc.u || got.UY != tc.uy || got.Exact != tc.exact {
				t.Errorf("U=%v UY=%v exact=%v, want %v %v %v", got.U, got.UY, got.Exact, tc.u, tc.uy, tc.exact)
			}
			if tc.p >= 0 && math.Abs(got.P-tc.p) > tc.tolerance {
				t.Errorf("p=%v, want %v", got.P, tc.p)
			}
		})
	}
}

// The exact distribution must reproduce the published table of critical
// values of U for a two-tailed test at α = 0.05 with equal sample sizes
// (e.g. Siegel and Castellan, Nonparametric Statistics for the Behavioral
// Sciences, 2nd ed., Table J): the largest U whose p-value is at most 0.05.
func TestExactCriticalValues(t *testing.T) {
	table := map[int]int{5: 2, 6: 5, 7: 8, 8: 13, 9: 17, 10: 23, 11: 30, 12: 37, 13: 45, 14: 55, 15: 64, 16: 75, 17: 87, 18: 99, 19: 113, 20: 127}
	for n, want := range table {
		if p := exactTwoSided(n, n, want); p > 0.05 {
			t.Errorf("n=%d: p(U=%d)=%v, want at most 0.05", n, want, p)
		}
		if p := exactTwoSided(n, n, want+1); p <= 0.05 {
			t.Errorf("n=%d: p(U=%d)=%v, want above 0.05", n, want+1, p)
		}
	}
}

func TestUCountsSumToBinomial(t *testing.T) {
	for _, tc := range []struct{ m, n int }{{1, 1}, {3, 4}, {10, 5}, {12, 12}} {
		var sum float64
		for _, c := range uCounts(tc.m, tc.n) {
			sum += c
		}
		want := math.Round(math.Exp(lgamma(tc.m+tc.n+1) - lgamma(tc.m+1) - lgamma(tc.n+1)))
		if sum != want {
			t.Errorf("m=%d n=%d: %v arrangements, want C(m+n, m) = %v", tc.m, tc.n, sum, want)
		}
	}
}

func lgamma(x int) float64 {
	v, _ := math.Lgamma(float64(x))
	return v
}

func TestNormalApproximationWithTies(t *testing.T) {
	// x = 1 1 2 3, y = 2 3 3 4 4 4 by hand: joint ranks 1.5 1.5 3.5 5.5 |
	// 3.5 5.5 5.5 ... Tie groups: {1,1} {2,2} {3,3,3} {4,4,4}: Σ(t³-t) =
	// 6+6+24+24 = 60. R_x = 1.5+1.5+3.5+6 = 12.5, U = 12.5 - 10 = 2.5.
	// Var = 4·6/12·(11 - 60/90) = 20.667; z = (2.5 - 12 + 0.5)/4.546 = -1.980.
	got, err := MannWhitney([]float64{1, 1, 2, 3}, []float64{2, 3, 3, 4, 4, 4})
	if err != nil {
		t.Fatal(err)
	}
	if got.Exact || got.U != 2.5 {
		t.Fatalf("U=%v exact=%v, want 2.5 with the normal approximation", got.U, got.Exact)
	}
	if math.Abs(got.Z-(-9/math.Sqrt(2*(11-60.0/90)))) > 1e-9 {
		t.Errorf("z=%v", got.Z)
	}
	if math.Abs(got.P-0.0477) > 0.001 {
		t.Errorf("p=%v, want about 0.0477", got.P)
	}
}

func TestMannWhitneyRefusesBadInput(t *testing.T) {
	if _, err := MannWhitney(nil, []float64{1}); err == nil {
		t.Error("empty sample accepted")
	}
	if _, err := MannWhitney([]float64{math.NaN()}, []float64{1}); err == nil || !strings.Contains(err.Error(), "x[0] is NaN") {
		t.Errorf("NaN: %v", err)
	}
}

func TestHodgesLehmann(t *testing.T) {
	got, err := HodgesLehmann(hwX, hwY, 0.95)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got.Estimate-0.305) > 1e-9 {
		t.Errorf("estimate %v, want 0.305 (Hollander and Wolfe)", got.Estimate)
	}
	if !(got.Low <= got.Estimate && got.Estimate <= got.High) || got.Low > 0 || got.High < 0 {
		t.Errorf("interval [%v, %v] must hold the estimate and 0 (the test is not significant)", got.Low, got.High)
	}
	if _, err := HodgesLehmann(hwX, hwY, 1); err == nil {
		t.Error("confidence 1 accepted")
	}
}

func TestNormalQuantile(t *testing.T) {
	for p, want := range map[float64]float64{0.975: 1.959964, 0.5: 0, 0.95: 1.644854, 0.995: 2.575829} {
		if got := normalQuantile(p); math.Abs(got-want) > 1e-5 {
			t.Errorf("quantile(%v)=%v, want %v", p, got, want)
		}
	}
}

func seq(start, step float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = start + step*float64(i%7) + 0.001*float64(i)
	}
	return out
}

func TestJudge(t *testing.T) {
	base := seq(100, 3, 20)   // latency around 100-118 ms
	slow := seq(400, 3, 20)   // 300 ms slower
	same := seq(100.5, 3, 20) // indistinguishable
	higher := seq(104, 3, 20) // significantly but slightly higher
	lowThru := seq(50, 3, 20) // throughput halved
	for _, tc := range []struct {
		name    string
		config  Config
		metrics []Metric
		phase   v1alpha1.AnalysisPhase
		score   float64
		message string
	}{
		{
			name:   "same latency passes",
			config: DefaultConfig,
			metrics: []Metric{
				{Name: "latency", Direction: Increase, Canary: same, Baseline: base},
			},
			phase: v1alpha1.AnalysisSuccessful, score: 100,
		},
		{
			name:   "slower canary fails",
			config: DefaultConfig,
			metrics: []Metric{
				{Name: "latency", Direction: Increase, Canary: slow, Baseline: base},
			},
			phase: v1alpha1.AnalysisFailed, score: 0, message: "latency: canary mean",
		},
		{
			name:   "an increase within the allowed effect passes",
			config: DefaultConfig,
			metrics: []Metric{
				{Name: "latency", Direction: Increase, AllowedIncrease: 1.1, Canary: higher, Baseline: base},
			},
			phase: v1alpha1.AnalysisSuccessful, score: 100,
		},
		{
			name:   "the same increase with no allowance fails",
			config: DefaultConfig,
			metrics: []Metric{
				{Name: "latency", Direction: Increase, Canary: higher, Baseline: base},
			},
			phase: v1alpha1.AnalysisFailed, score: 0,
		},
		{
			name:   "faster canary is not bad for latency",
			config: DefaultConfig,
			metrics: []Metric{
				{Name: "latency", Direction: Increase, Canary: base, Baseline: slow},
			},
			phase: v1alpha1.AnalysisSuccessful, score: 100,
		},
		{
			name:   "lower throughput is bad when a decrease is",
			config: DefaultConfig,
			metrics: []Metric{
				{Name: "throughput", Direction: Decrease, Canary: lowThru, Baseline: base},
			},
			phase: v1alpha1.AnalysisFailed, score: 0,
		},
		{
			name:   "one of four failing is marginal",
			config: DefaultConfig,
			metrics: []Metric{
				{Name: "a", Direction: Increase, Canary: same, Baseline: base},
				{Name: "b", Direction: Increase, Canary: same, Baseline: base},
				{Name: "c", Direction: Increase, Canary: same, Baseline: base},
				{Name: "d", Direction: Increase, Canary: slow, Baseline: base},
			},
			phase: v1alpha1.AnalysisInconclusive, score: 75, message: "marginal",
		},
		{
			name:   "a failing critical metric fails whatever the score",
			config: DefaultConfig,
			metrics: []Metric{
				{Name: "a", Direction: Increase, Weight: 9, Canary: same, Baseline: base},
				{Name: "errors", Direction: Increase, Critical: true, Canary: slow, Baseline: base},
			},
			phase: v1alpha1.AnalysisFailed, score: 90, message: "critical metric errors failed",
		},
		{
			name:   "no data is never a pass",
			config: DefaultConfig,
			metrics: []Metric{
				{Name: "a", Direction: Increase, Canary: []float64{math.NaN(), 1}, Baseline: base},
			},
			phase: v1alpha1.AnalysisFailed, score: 0, message: "1 canary and 20 baseline readings",
		},
		{
			name:   "a critical metric without data waits for a person",
			config: Config{Confidence: 0.95, Pass: 50, Marginal: 10},
			metrics: []Metric{
				{Name: "a", Direction: Increase, Canary: same, Baseline: base},
				{Name: "errors", Direction: Increase, Critical: true, Canary: nil, Baseline: base},
			},
			phase: v1alpha1.AnalysisInconclusive, score: 50, message: "critical metric errors has no data",
		},
		{
			name:   "errors from zero",
			config: DefaultConfig,
			metrics: []Metric{
				{Name: "5xx", Direction: Increase, Canary: seq(1, 1, 20), Baseline: make([]float64, 20)},
			},
			phase: v1alpha1.AnalysisFailed, score: 0, message: "above a zero baseline",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Judge(tc.config, tc.metrics)
			if err != nil {
				t.Fatal(err)
			}
			if got.Phase != tc.phase || math.Abs(got.Score-tc.score) > 1e-9 {
				t.Errorf("phase %s score %v, want %s %v (%s)", got.Phase, got.Score, tc.phase, tc.score, got.Message)
			}
			if !strings.Contains(got.Message, tc.message) {
				t.Errorf("message %q lacks %q", got.Message, tc.message)
			}
		})
	}
}

func TestJudgeRefusesBadConfig(t *testing.T) {
	m := []Metric{{Name: "latency", Direction: Increase, Canary: []float64{1, 2, 3}, Baseline: []float64{1, 2, 3}}}
	for _, tc := range []struct {
		name    string
		config  Config
		metrics []Metric
		want    string
	}{
		{"confidence", Config{Confidence: 95, Pass: 95, Marginal: 75}, m, "confidence 95"},
		{"thresholds", Config{Confidence: 0.95, Pass: 50, Marginal: 75}, m, "marginal 75 is above pass 50"},
		{"no metrics", DefaultConfig, nil, "no metrics"},
		{"direction", DefaultConfig, []Metric{{Name: "x", Direction: "up"}}, `metric "x": direction "up"`},
		{"allowed increase", DefaultConfig, []Metric{{Name: "x", Direction: Increase, AllowedIncrease: 0.5}}, "allowedIncrease 0.5"},
		{"allowed decrease", DefaultConfig, []Metric{{Name: "x", Direction: Decrease, AllowedDecrease: 1.5}}, "allowedDecrease 1.5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Judge(tc.config, tc.metrics)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to say %q", err, tc.want)
			}
		})
	}
}
