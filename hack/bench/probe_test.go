package main

import (
	"testing"
	"time"

	"fledge.dev/fledge/test/dataplane"
)

// batchesOf makes probe batches 100 ms apart from t0, each of 50
// requests with n answered by the new version "2" and the rest by "1".
func batchesOf(t0 time.Time, news []int, failed map[int]int) []batch {
	var bs []batch
	for i, n := range news {
		start := t0.Add(time.Duration(i) * 100 * time.Millisecond)
		r := dataplane.Result{Total: probeBatch, Versions: map[string]int{"2": n, "1": probeBatch - n}}
		r.Non2xx = failed[i]
		bs = append(bs, batch{start: start, end: start.Add(90 * time.Millisecond), res: r})
	}
	return bs
}

func TestReadPlane(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * 100 * time.Millisecond) }
	tests := []struct {
		name    string
		news    []int
		failed  map[int]int
		approve int // batch index of the approval
		want    planeSample
	}{
		{
			name: "share after two batches, all new after the approval",
			news: []int{0, 0, 12, 13, 12, 13, 50, 50, 50}, approve: 6,
			want: planeSample{ToShare: 200 * time.Millisecond, ShareSeen: true, AllSeen: true, Share: 50.0 / 200, Requests: 450},
		},
		{
			name: "one lucky batch does not count",
			news: []int{0, 12, 3, 12, 13, 12, 25, 50, 50, 50}, approve: 6,
			want: planeSample{ToShare: 300 * time.Millisecond, ShareSeen: true, ToAll: 100 * time.Millisecond, AllSeen: true, Share: 37.0 / 150, Requests: 500},
		},
		{
			name: "outside the ±3% band: never at 25%",
			news: []int{0, 10, 10, 10, 50, 50}, approve: 4,
			want: planeSample{AllSeen: true, Requests: 300},
		},
		{
			name: "failed requests counted until done",
			news: []int{0, 12, 13, 50, 50}, failed: map[int]int{0: 1, 4: 2}, approve: 3,
			want: planeSample{ToShare: 100 * time.Millisecond, ShareSeen: true, Share: 25.0 / 100, Failed: 3, Requests: 250},
		},
		{
			name: "the old version again after all new: stale",
			news: []int{0, 12, 13, 50, 50, 47, 50, 49}, approve: 3,
			want: planeSample{ToShare: 100 * time.Millisecond, ShareSeen: true, Share: 25.0 / 100, AllSeen: true, Stale: 4, Requests: 400},
		},
		{
			name: "one batch all new, then the old version again",
			news: []int{0, 12, 13, 50, 40, 50, 50}, approve: 3,
			want: planeSample{ToShare: 100 * time.Millisecond, ShareSeen: true, Share: 25.0 / 100, ToAll: 200 * time.Millisecond, AllSeen: true, Stale: 10, Requests: 350},
		},
		{
			name: "the old version before all new is not stale",
			news: []int{0, 12, 13, 40, 50, 50}, approve: 3,
			want: planeSample{ToShare: 100 * time.Millisecond, ShareSeen: true, Share: 25.0 / 100, ToAll: 100 * time.Millisecond, AllSeen: true, Requests: 300},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bs := batchesOf(t0, tt.news, tt.failed)
			s := releaseSample{Trigger: t0, Approve: at(tt.approve), Done: at(len(tt.news) - 1)}
			got := readPlane(bs, s, "2")
			if got != tt.want {
				t.Errorf("readPlane = %+v, want %+v", got, tt.want)
			}
		})
	}
}
