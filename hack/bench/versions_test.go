package main

import (
	"maps"
	"testing"
)

func TestMergeVersions(t *testing.T) {
	earlier := map[string]string{"argo rollouts": "v1.10.1", "fledge (git)": "c614f84", "go": "go1.26.8"}
	now := map[string]string{"fledge (git)": "49e8328", "go": "go1.26.8", "kwok": "v0.8.0"}
	for _, tc := range []struct {
		name string
		o    options
		want map[string]string
	}{
		{
			name: "a run of its own reports its versions",
			o:    options{only: map[string]bool{"scale": true}},
			want: now,
		},
		{
			name: "a merge keeps the peers not run now and names what changed",
			o:    options{merge: "bench/results.json", only: map[string]bool{"scale": true, "overhead": true}},
			want: map[string]string{
				"argo rollouts": "v1.10.1",
				"fledge (git)":  "c614f84, and 49e8328 for overhead, scale",
				"go":            "go1.26.8",
				"kwok":          "v0.8.0",
			},
		},
	} {
		if got := mergeVersions(earlier, now, tc.o); !maps.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}
