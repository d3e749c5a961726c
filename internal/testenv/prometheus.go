package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrPrometheusMissing means the Prometheus server is not installed (the
// Debian package prometheus; hack/install-deps.sh installs it).
var ErrPrometheusMissing = errors.New("prometheus missing: install the Debian package prometheus (hack/install-deps.sh)")

// PrometheusBinary is $FLEDGE_PROMETHEUS_BIN, else prometheus on PATH; it
// returns ErrPrometheusMissing when neither is there.
func PrometheusBinary() (string, error) {
	if p := os.Getenv("FLEDGE_PROMETHEUS_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%w: FLEDGE_PROMETHEUS_BIN: %w", ErrPrometheusMissing, err)
		}
		return p, nil
	}
	p, err := exec.LookPath("prometheus")
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrPrometheusMissing, err)
	}
	return p, nil
}

// PrometheusOptions configures a Prometheus server for a test.
type PrometheusOptions struct {
	// Bin defaults to PrometheusBinary().
	Bin string
	// Dir holds the configuration, the data and the log; it must exist.
	Dir string
	// Targets are the host:port addresses scraped at /metrics, as job
	// Job.
	Targets []string
	// Job names the scrape job (label job); default "test".
	Job string
	// ScrapeInterval defaults to 1s.
	ScrapeInterval time.Duration
	// QueryLog, when set, is a file where the server logs every query it
	// answers, one JSON object a line with its time (global.query_log_file).
	QueryLog string
}

// Prometheus is the real Prometheus server as a subprocess on a free
// loopback port, with its data in a folder of the test's. Stop ends it
// and Start starts it again on the same address and data.
type Prometheus struct {
	// URL is the server's base URL, like http://127.0.0.1:PORT.
	URL string
	// LogPath receives the server's output.
	LogPath string

	opts PrometheusOptions
	addr string
	cmd  *exec.Cmd
	done chan struct{}
}

// StartPrometheus writes the configuration, starts the server and waits
// until it is ready (/-/ready). Series appear a few seconds later (the
// first scrape of Prometheus 2.42 waits for its discovery): WaitSeries
// waits for them.
func StartPrometheus(ctx context.Context, opts PrometheusOptions) (*Prometheus, error) {
	if opts.Bin == "" {
		bin, err := PrometheusBinary()
		if err != nil {
			return nil, err
		}
		opts.Bin = bin
	}
	if opts.Job == "" {
		opts.Job = "test"
	}
	if opts.ScrapeInterval <= 0 {
		opts.ScrapeInterval = time.Second
	}
	if len(opts.Targets) == 0 {
		return nil, errors.New("prometheus: no target to scrape")
	}
	quoted := make([]string, len(opts.Targets))
	for i, t := range opts.Targets {
		quoted[i] = strconv.Quote(t)
	}
	queryLog := ""
	if opts.QueryLog != "" {
		queryLog = "\n  query_log_file: " + strconv.Quote(opts.QueryLog)
	}
	// The timeout must not exceed the interval.
	cfg := fmt.Sprintf(`global:
  scrape_interval: %[1]s
  scrape_timeout: %[1]s
  evaluation_interval: %[1]s%[4]s
scrape_configs:
  - job_name: %[2]q
    static_configs:
      - targets: [%[3]s]
`, model(opts.ScrapeInterval), opts.Job, strings.Join(quoted, ", "), queryLog)
	if err := os.WriteFile(filepath.Join(opts.Dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		return nil, fmt.Errorf("prometheus: write configuration: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("prometheus: pick a port: %w", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := &Prometheus{URL: "http://" + addr, LogPath: filepath.Join(opts.Dir, "prometheus.log"), opts: opts, addr: addr}
	if err := p.Start(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// model writes d as a Prometheus duration (whole milliseconds).
func model(d time.Duration) string {
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

// Start starts the server (again, after Stop) and waits until it is
// ready; on a failure the server is stopped and the error has the end of
// its log.
func (p *Prometheus) Start(ctx context.Context) error {
	if p.running() {
		return errors.New("prometheus: already running")
	}
	logf, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("prometheus: log: %w", err)
	}
	cmd := exec.Command(p.opts.Bin,
		"--config.file", filepath.Join(p.opts.Dir, "prometheus.yml"),
		"--storage.tsdb.path", filepath.Join(p.opts.Dir, "data"),
		"--web.listen-address", p.addr,
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("prometheus: start %s: %w", p.opts.Bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	p.cmd, p.done = cmd, done

	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(p.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-done:
			return fmt.Errorf("prometheus exited at start; log %s:\n%s", p.LogPath, p.Tail(30))
		case <-ctx.Done():
			p.Stop()
			return fmt.Errorf("prometheus: wait for /-/ready: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Stop()
			return fmt.Errorf("prometheus not ready after 30s; log %s:\n%s", p.LogPath, p.Tail(30))
		}
	}
}

func (p *Prometheus) running() bool {
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Stop ends the server (SIGTERM, SIGKILL after 10 s) and waits for it;
// stopping a stopped server does nothing.
func (p *Prometheus) Stop() {
	if !p.running() {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// Tail returns the last n lines of the server's log.
func (p *Prometheus) Tail(n int) string {
	b, _ := os.ReadFile(p.LogPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Sample is one series of an instant vector.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Query evaluates an instant query now and returns its series; a scalar
// result is one sample without labels.
func (p *Prometheus) Query(ctx context.Context, q string) ([]Sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/api/v1/query?query="+url.QueryEscape(q), nil)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", q, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", q, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("query %s: read answer: %w", q, err)
	}
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("query %s: %s: decode %.200q: %w", q, resp.Status, body, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query %s: %s: %s", q, resp.Status, r.Error)
	}
	switch r.Data.ResultType {
	case "scalar":
		var v [2]any
		if err := json.Unmarshal(r.Data.Result, &v); err != nil {
			return nil, fmt.Errorf("query %s: decode scalar: %w", q, err)
		}
		f, err := parseValue(v[1])
		if err != nil {
			return nil, fmt.Errorf("query %s: %w", q, err)
		}
		return []Sample{{Value: f}}, nil
	case "vector":
		var vec []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(r.Data.Result, &vec); err != nil {
			return nil, fmt.Errorf("query %s: decode vector: %w", q, err)
		}
		out := make([]Sample, len(vec))
		for i, s := range vec {
			f, err := parseValue(s.Value[1])
			if err != nil {
				return nil, fmt.Errorf("query %s: %w", q, err)
			}
			out[i] = Sample{Labels: s.Metric, Value: f}
		}
		return out, nil
	default:
		return nil, fmt.Errorf("query %s: result type %q, want a vector or a scalar", q, r.Data.ResultType)
	}
}

// parseValue reads a sample value, which the API writes as a string
// ("0.5", "NaN", "+Inf").
func parseValue(v any) (float64, error) {
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("sample value %v: want a string", v)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("sample value %q: %w", s, err)
	}
	return f, nil
}

// WaitSeries polls the query until it returns at least one series, and
// returns them; it fails after timeout with the last error or answer.
func (p *Prometheus) WaitSeries(ctx context.Context, q string, timeout time.Duration) ([]Sample, error) {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		s, err := p.Query(ctx, q)
		if err == nil && len(s) > 0 {
			return s, nil
		}
		last = err
		if time.Now().After(deadline) {
			if last == nil {
				last = errors.New("no series")
			}
			return nil, fmt.Errorf("query %s: nothing after %s: %w", q, timeout, last)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}
