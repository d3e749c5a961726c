package main

import (
	"strings"
	"testing"
)

func TestParseThroughput(t *testing.T) {
	t.Parallel()
	out := `goos: linux
BenchmarkReplicaThroughput/replicas=1-2         	       1	40389501781 ns/op	      1278 cpu-µs/step	        14.26 deployments/s	        85.57 steps/s
BenchmarkReplicaThroughput/replicas=3-2         	       1	14523597039 ns/op	      1294 cpu-µs/step	        39.66 deployments/s	       238.0 steps/s
PASS
`
	for _, tc := range []struct {
		name string
		out  string
		n    int
		want ThroughputRep
		err  string
	}{
		{"one", out, 1, ThroughputRep{Replicas: 1, Seconds: 40.389501781, StepsPerSecond: 85.57, DeploymentsPerSecond: 14.26, CPUPerStep: 1278}, ""},
		{"three", out, 3, ThroughputRep{Replicas: 3, Seconds: 14.523597039, StepsPerSecond: 238, DeploymentsPerSecond: 39.66, CPUPerStep: 1294}, ""},
		{
			"no GOMAXPROCS suffix", "BenchmarkReplicaThroughput/replicas=3 1 2000000000 ns/op 10 steps/s\n", 3,
			ThroughputRep{Replicas: 3, Seconds: 2, StepsPerSecond: 10},
			"",
		},
		{"absent", out, 2, ThroughputRep{}, "no result line"},
		{"not replicas=30", "BenchmarkReplicaThroughput/replicas=30-2 1 1 ns/op 1 steps/s\n", 3, ThroughputRep{}, "no result line"},
		{"no steps", "BenchmarkReplicaThroughput/replicas=1-2 1 100 ns/op\n", 1, ThroughputRep{}, "no steps/s"},
		{"bad number", "BenchmarkReplicaThroughput/replicas=1-2 1 x ns/op\n", 1, ThroughputRep{}, "not a number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseThroughput(tc.out, tc.n)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
