package main

import (
	"math"
	"slices"
	"time"
)

// Summary describes repeated measurements of one quantity.
type Summary struct {
	N      int     `json:"n"`
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	P10    float64 `json:"p10"`
	P90    float64 `json:"p90"`
	P99    float64 `json:"p99"`
	// Unit is what the numbers are in: "ms", "s", "req/s", "MiB".
	Unit string `json:"unit"`
	// Raw are the samples in the order measured.
	Raw []float64 `json:"raw"`
}

// Percentile returns the p-th percentile (0 to 100) of xs by linear
// interpolation between the closest ranks (the definition of NumPy's
// default and of Excel's PERCENTILE.INC). It returns NaN for no samples.
func Percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return percentileSorted(s, p)
}

func percentileSorted(s []float64, p float64) float64 {
	switch {
	case p <= 0:
		return s[0]
	case p >= 100:
		return s[len(s)-1]
	}
	rank := p / 100 * float64(len(s)-1)
	lo := int(math.Floor(rank))
	hi := int(math.Ceil(rank))
	frac := rank - float64(lo)
	return s[lo] + (s[hi]-s[lo])*frac
}

// Median returns the middle value of xs (the mean of the two middle ones
// for an even count); NaN for no samples.
func Median(xs []float64) float64 { return Percentile(xs, 50) }

// Summarize computes the summary of samples in unit.
func Summarize(xs []float64, unit string) Summary {
	if len(xs) == 0 {
		return Summary{Unit: unit, Raw: []float64{}}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return Summary{
		N:      len(xs),
		Median: percentileSorted(s, 50),
		Min:    s[0],
		Max:    s[len(s)-1],
		P10:    percentileSorted(s, 10),
		P90:    percentileSorted(s, 90),
		P99:    percentileSorted(s, 99),
		Unit:   unit,
		Raw:    slices.Clone(xs),
	}
}

// Millis converts durations to milliseconds.
func Millis(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = float64(d) / float64(time.Millisecond)
	}
	return out
}

// Ratio returns a/b, NaN when b is zero.
func Ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}
