// Package judge compares a canary with its baseline, metric by metric, and
// turns the comparisons into one score and verdict.
//
// Each metric is a pair of samples taken over the same window (the canary's
// readings and production's). A Mann-Whitney U test decides whether the two
// differ at all; when they do, the size of the difference is checked against
// what the metric allows in each direction (more latency is bad, more
// throughput is not). The share of passing metrics, weighted, is the score;
// a critical metric that fails fails the whole verdict.
package judge

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// exactLimit is the largest sample size for which the exact distribution of
// U is used when there are no ties; beyond it, and with ties, the normal
// approximation with tie and continuity corrections is used.
const exactLimit = 50

// UTest is the result of a two-sided Mann-Whitney U test of x against y.
type UTest struct {
	// U is the statistic for x: the number of pairs (xi, yj) with xi > yj,
	// ties counting one half.
	U float64
	// UY is the statistic for y; U + UY = len(x)·len(y).
	UY float64
	// Z is the standardised statistic (0 when the exact test was used and
	// the variance is zero).
	Z float64
	// P is the two-sided p-value.
	P float64
	// Exact reports whether P comes from the exact distribution of U.
	Exact bool
}

// MannWhitney runs a two-sided Mann-Whitney U (Wilcoxon rank-sum) test of
// the samples x and y. NaN values are refused: a missing reading must be
// handled by the caller, not ranked.
func MannWhitney(x, y []float64) (UTest, error) {
	m, n := len(x), len(y)
	if m == 0 || n == 0 {
		return UTest{}, errors.New("mann-whitney: both samples need at least one value")
	}
	for i, v := range x {
		if math.IsNaN(v) {
			return UTest{}, fmt.Errorf("mann-whitney: x[%d] is NaN", i)
		}
	}
	for i, v := range y {
		if math.IsNaN(v) {
			return UTest{}, fmt.Errorf("mann-whitney: y[%d] is NaN", i)
		}
	}
	ranks, ties := rank(x, y)
	var rx float64
	for i := range m {
		rx += ranks[i]
	}
	mf, nf := float64(m), float64(n)
	u := rx - mf*(mf+1)/2
	t := UTest{U: u, UY: mf*nf - u}

	if ties == 0 && m <= exactLimit && n <= exactLimit {
		t.Exact = true
		t.P = exactTwoSided(m, n, int(math.Round(math.Min(t.U, t.UY))))
		return t, nil
	}

	nn := mf + nf
	variance := mf * nf / 12 * ((nn + 1) - ties/(nn*(nn-1)))
	if variance <= 0 {
		// Every value is the same: the samples cannot be told apart.
		t.P = 1
		return t, nil
	}
	d := u - mf*nf/2
	// Continuity correction towards the mean.
	switch {
	case d > 0:
		d = math.Max(d-0.5, 0)
	case d < 0:
		d = math.Min(d+0.5, 0)
	}
	t.Z = d / math.Sqrt(variance)
	t.P = math.Min(1, 2*normalSF(math.Abs(t.Z)))
	return t, nil
}

// rank gives the mid-ranks of x followed by y in their joint order, and the
// tie term Σ(t³ - t) over groups of tied values.
func rank(x, y []float64) ([]float64, float64) {
	type item struct {
		v float64
		i int
	}
	all := make([]item, 0, len(x)+len(y))
	for i, v := range x {
		all = append(all, item{v, i})
	}
	for i, v := range y {
		all = append(all, item{v, len(x) + i})
	}
	slices.SortFunc(all, func(a, b item) int {
		switch {
		case a.v < b.v:
			return -1
		case a.v > b.v:
			return 1
		}
		return 0
	})
	ranks := make([]float64, len(all))
	var ties float64
	for lo := 0; lo < len(all); {
		hi := lo + 1
		for hi < len(all) && all[hi].v == all[lo].v {
			hi++
		}
		mid := float64(lo+hi+1) / 2 // ranks lo+1..hi, averaged
		for k := lo; k < hi; k++ {
			ranks[all[k].i] = mid
		}
		if t := float64(hi - lo); t > 1 {
			ties += t*t*t - t
		}
		lo = hi
	}
	return ranks, ties
}

// exactTwoSided is the exact two-sided p-value P(U ≤ u or U ≥ mn-u) for
// samples of sizes m and n without ties, where u ≤ mn/2.
func exactTwoSided(m, n, u int) float64 {
	counts := uCounts(m, n)
	var total, tail float64
	for k, c := range counts {
		total += c
		if k <= u {
			tail += c
		}
	}
	return math.Min(1, 2*tail/total)
}

// uCounts returns, for every u in 0..m·n, the number of arrangements of m
// and n values in which the U statistic of the first sample is u. It builds
// the table by the recurrence f(i, j, u) = f(i-1, j, u-j) + f(i, j-1, u):
// the largest value is either from the first sample (beating all j of the
// second) or from the second.
func uCounts(m, n int) []float64 {
	// prev[j] holds f(i-1, j, ·); cur[j] holds f(i, j, ·).
	prev := make([][]float64, n+1)
	for j := range prev {
		prev[j] = []float64{1} // f(0, j, 0) = 1
	}
	for i := 1; i <= m; i++ {
		cur := make([][]float64, n+1)
		cur[0] = []float64{1} // f(i, 0, 0) = 1
		for j := 1; j <= n; j++ {
			f := make([]float64, i*j+1)
			for u, c := range prev[j] {
				f[u+j] += c
			}
			for u, c := range cur[j-1] {
				f[u] += c
			}
			cur[j] = f
		}
		prev = cur
	}
	return prev[n]
}

// normalSF is the upper tail of the standard normal distribution.
func normalSF(z float64) float64 {
	return 0.5 * math.Erfc(z/math.Sqrt2)
}

// normalQuantile is the inverse of the standard normal distribution
// function, for 0 < p < 1, found by bisection on Erfc (exact to far more
// digits than a confidence level needs).
func normalQuantile(p float64) float64 {
	lo, hi := -40.0, 40.0
	for range 200 {
		mid := (lo + hi) / 2
		if 1-normalSF(mid) < p {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// Shift is the Hodges-Lehmann estimate of how far x lies above y, with a
// confidence interval.
type Shift struct {
	Estimate float64
	Low      float64
	High     float64
}

// HodgesLehmann estimates the location shift of x relative to y as the
// median of all pairwise differences xi - yj, with the distribution-free
// confidence interval at the given level (e.g. 0.95) bounded by order
// statistics of those differences (normal approximation of the critical
// value of U).
func HodgesLehmann(x, y []float64, confidence float64) (Shift, error) {
	m, n := len(x), len(y)
	if m == 0 || n == 0 {
		return Shift{}, errors.New("hodges-lehmann: both samples need at least one value")
	}
	if !(confidence > 0 && confidence < 1) {
		return Shift{}, fmt.Errorf("hodges-lehmann: confidence %v is not between 0 and 1", confidence)
	}
	d := make([]float64, 0, m*n)
	for _, a := range x {
		for _, b := range y {
			d = append(d, a-b)
		}
	}
	slices.Sort(d)
	s := Shift{Estimate: median(d)}
	mn := float64(m * n)
	z := normalQuantile(1 - (1-confidence)/2)
	k := int(math.Floor(mn/2 - z*math.Sqrt(mn*float64(m+n+1)/12)))
	if k < 0 {
		k = 0
	}
	if k >= len(d)/2 {
		k = (len(d) - 1) / 2
	}
	s.Low, s.High = d[k], d[len(d)-1-k]
	return s, nil
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}
