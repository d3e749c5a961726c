package main

import (
	"math"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	t.Parallel()
	xs := []float64{5, 1, 4, 2, 3} // unsorted on purpose
	for _, tc := range []struct {
		p, want float64
	}{
		{0, 1}, {10, 1.4}, {25, 2}, {50, 3}, {90, 4.6}, {100, 5}, {-1, 1}, {101, 5},
	} {
		if got := Percentile(xs, tc.p); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("Percentile(%v, %v) = %v, want %v", xs, tc.p, got, tc.want)
		}
	}
	if xs[0] != 5 {
		t.Errorf("Percentile sorted its input: %v", xs)
	}
	if !math.IsNaN(Percentile(nil, 50)) {
		t.Errorf("Percentile of no samples should be NaN")
	}
}

func TestMedian(t *testing.T) {
	t.Parallel()
	if got := Median([]float64{7}); got != 7 {
		t.Errorf("median of one = %v", got)
	}
	if got := Median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("median of an even count = %v, want 2.5", got)
	}
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	s := Summarize(Millis([]time.Duration{300 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond}), "ms")
	if s.N != 3 || s.Median != 200 || s.Min != 100 || s.Max != 300 || s.Unit != "ms" {
		t.Errorf("summary: %+v", s)
	}
	if s.Raw[0] != 300 {
		t.Errorf("raw samples should keep the measured order: %v", s.Raw)
	}
	if e := Summarize(nil, "ms"); e.N != 0 || e.Raw == nil {
		t.Errorf("empty summary: %+v", e)
	}
	if !math.IsNaN(Ratio(1, 0)) || Ratio(1, 4) != 0.25 {
		t.Errorf("ratio")
	}
}
