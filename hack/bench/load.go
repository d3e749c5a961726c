package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

// LoadResult is one HTTP load test.
type LoadResult struct {
	Tool        string  `json:"tool"`
	Connections int     `json:"connections"`
	Seconds     float64 `json:"seconds"`
	Requests    int64   `json:"requests"`
	Errors      int64   `json:"errors"`
	RPS         float64 `json:"rps"`
	P50ms       float64 `json:"p50_ms"`
	P90ms       float64 `json:"p90_ms"`
	P99ms       float64 `json:"p99_ms"`
	MaxMs       float64 `json:"max_ms"`
}

// wrkScript picks a path at random per request and prints the results as
// one JSON line.
const wrkScript = `
local paths = {%s}
%s
math.randomseed(os.time())
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRKJSON {\"requests\":%%d,\"duration_us\":%%d,\"errors\":%%d,\"p50\":%%d,\"p90\":%%d,\"p99\":%%d,\"max\":%%d}\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout + e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
`

// load runs a GET load test of paths at conns connections for d, with wrk
// when it is installed, else with the Go load generator below.
func (b *bench) load(ctx context.Context, s *fledgeServer, paths []string, conns int, d time.Duration) (LoadResult, error) {
	if _, err := exec.LookPath("wrk"); err == nil {
		return b.wrk(ctx, s, paths, conns, d)
	}
	return goLoad(ctx, s, paths, conns, d)
}

func (b *bench) wrk(ctx context.Context, s *fledgeServer, paths []string, conns int, d time.Duration) (LoadResult, error) {
	base := s.url
	auth := fmt.Sprintf("wrk.headers[%q] = %q", v1alpha1.UserHeader, "bench")
	if s.token != "" {
		auth = fmt.Sprintf("wrk.headers[\"Authorization\"] = %q", "Bearer "+s.token)
	}
	quoted := make([]string, len(paths))
	for i, p := range paths {
		quoted[i] = fmt.Sprintf("%q", p)
	}
	script, err := b.writeFile(fmt.Sprintf("wrk-%d.lua", time.Now().UnixNano()), fmt.Sprintf(wrkScript, strings.Join(quoted, ","), auth))
	if err != nil {
		return LoadResult{}, err
	}
	threads := 2
	cmd := exec.CommandContext(ctx, "wrk", "-t", fmt.Sprint(threads), "-c", fmt.Sprint(conns),
		"-d", fmt.Sprintf("%ds", int(d.Seconds())), "--timeout", "10s", "-s", script, base)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return LoadResult{}, fmt.Errorf("wrk: %w: %s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		rest, ok := strings.CutPrefix(line, "WRKJSON ")
		if !ok {
			continue
		}
		var w map[string]int64
		if err := json.Unmarshal([]byte(rest), &w); err != nil {
			return LoadResult{}, fmt.Errorf("wrk output %q: %w", rest, err)
		}
		secs := float64(w["duration_us"]) / 1e6
		us := func(k string) float64 { return float64(w[k]) / 1000 }
		return LoadResult{
			Tool: "wrk", Connections: conns, Seconds: secs, Requests: w["requests"], Errors: w["errors"],
			RPS: float64(w["requests"]) / secs, P50ms: us("p50"), P90ms: us("p90"), P99ms: us("p99"), MaxMs: us("max"),
		}, nil
	}
	return LoadResult{}, fmt.Errorf("wrk printed no result:\n%s", out)
}

// goLoad is the fallback load generator: conns goroutines, each with its
// own keep-alive connection, sending GETs back to back for d.
func goLoad(ctx context.Context, s *fledgeServer, paths []string, conns int, d time.Duration) (LoadResult, error) {
	base := s.url
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		mu   sync.Mutex
		lats []float64
		errs int64
		wg   sync.WaitGroup
	)
	start := time.Now()
	for c := 0; c < conns; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 10 * time.Second}
			var local []float64
			var bad int64
			for i := c; ctx.Err() == nil; i++ {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+paths[i%len(paths)], nil)
				s.authorize(req, "bench")
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						bad++
					}
					continue
				}
				_, _ = io.Copy(io.Discard, bufio.NewReader(resp.Body))
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					bad++
				}
				local = append(local, float64(time.Since(t0))/float64(time.Millisecond))
			}
			mu.Lock()
			lats = append(lats, local...)
			errs += bad
			mu.Unlock()
		}(c)
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	sum := Summarize(lats, "ms")
	return LoadResult{
		Tool: "go (hack/bench)", Connections: conns, Seconds: secs, Requests: int64(len(lats)), Errors: errs,
		RPS: float64(len(lats)) / secs, P50ms: sum.Median, P90ms: sum.P90, P99ms: sum.P99, MaxMs: sum.Max,
	}, nil
}
