package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/notify"
	"fledge.dev/fledge/internal/testenv"
	"fledge.dev/fledge/internal/webhook"
)

// TestOperations runs two releases under the real Prometheus, which
// scrapes the server's /metrics every 200ms, with a signed webhook
// notification:
//   - the first release is approved; on the second the canary takes 25%
//     and the release is rejected: PromQL sees the weight go 0 -> 25 -> 0
//     and each deployment counted once;
//   - the webhook receiver is down at first (a dead endpoint delays no
//     step), and the server is killed with SIGKILL after the approval was
//     asked for: once the receiver is up and the server restarted, every
//     notification arrives exactly once, signed;
//   - SIGTERM with an event stream open ends the stream at once and the
//     server exits within 2s, logging no ERROR.
func TestOperations(t *testing.T) {
	const p = "ops"
	promBin, err := testenv.PrometheusBinary()
	if err != nil {
		t.Fatalf("the metrics test needs the real Prometheus (Debian package prometheus; hack/install-deps.sh installs it): %v", err)
	}
	hookAddr := freeAddr(t)
	metricsAddr := freeAddr(t)
	s := startServerArgs(t, []string{
		"--metrics-listen", metricsAddr, "--external-url", "http://console.example",
		"--notification-backoff", "200ms", "--notification-max-backoff", "1s",
	})
	prom := startPrometheus(t, promBin, metricsAddr)

	dir := writeFixture(t, fixture{Pipeline: p, Environment: "local", Artifact: p, CanaryNS: p + "-c", ProdNS: p + "-p"})
	keyFile := filepath.Join(t.TempDir(), "hook.key")
	const hookKey = "ops-hook-signing-key-0123456789"
	if err := os.WriteFile(keyFile, []byte(hookKey), 0o600); err != nil {
		t.Fatal(err)
	}
	s.fledge("admin", "secret", "set", "ops-hook", "--value-file", keyFile)
	appendFile(t, filepath.Join(dir, "pipeline.yaml"), fmt.Sprintf(`  notifications:
    - name: audit
      events: [ApprovalNeeded, Succeeded, Rejected]
      webhook:
        url: http://%s/fledge
        signingSecret: ops-hook
`, hookAddr))
	s.fledge("admin", "apply", "-f", dir)

	// First release, with the receiver down.
	first := s.run("ci", p, "IMAGE_TAG=1.0")
	s.waitStatus(first.ID, 2*time.Minute, v1alpha1.StatusWaitingForApproval)
	s.fledge("alice", "approve", itoa(first.ID))
	s.waitStatus(first.ID, 2*time.Minute, v1alpha1.StatusSucceeded)
	d := s.deployment(first.ID)
	if len(d.Notifications) != 2 || d.Notifications[0].Done {
		t.Fatalf("notifications of the first release while the receiver is down: %+v", d.Notifications)
	}
	if out := s.fledge("alice", "describe", "deployment", itoa(first.ID)); !strings.Contains(out, "Notifications:") || !strings.Contains(out, "failed, retrying") {
		t.Errorf("describe deployment does not show the failing deliveries:\n%s", out)
	}

	// Second release: the canary takes 25%; the server dies right after
	// asking for approval.
	waitQuery(t, prom, `fledge_canary_weight_percent{pipeline="ops"}`, "0")
	s.kill()
	s.start("FLEDGE_FAULT_KILL_AT=after:OpenApproval")
	second := s.run("ci", p, "IMAGE_TAG=2.0")
	if !s.exited(2 * time.Minute) {
		t.Fatal("the server did not die at after:OpenApproval")
	}
	recv := startReceiver(t, hookAddr, hookKey)
	s.start()
	s.waitStatus(second.ID, time.Minute, v1alpha1.StatusWaitingForApproval)
	waitQuery(t, prom, `fledge_canary_weight_percent{pipeline="ops"}`, "25")
	waitQuery(t, prom, `fledge_approvals_waiting{pipeline="ops"}`, "1")

	// SIGTERM with an event stream open.
	stream := openStream(t, s, second.ID)
	logBefore := fileSize(t, s.logPath)
	stopped := time.Now()
	if err := s.Terminate(); err != nil {
		t.Fatal(err)
	}
	if !s.exited(2 * time.Second) {
		t.Fatalf("the server did not exit within 2s of SIGTERM with a stream open")
	}
	took := time.Since(stopped)
	select {
	case <-stream:
	case <-time.After(time.Second):
		t.Error("the event stream was not ended by the stop")
	}
	if tail := logSince(t, s.logPath, logBefore); strings.Contains(tail, "level=ERROR") {
		t.Errorf("a clean stop logged an ERROR:\n%s", tail)
	}
	t.Logf("SIGTERM to exit with a stream open: %s", took.Round(time.Millisecond))

	s.start()
	s.fledge("alice", "reject", itoa(second.ID), "--reason", "not today")
	s.waitStatus(second.ID, 2*time.Minute, v1alpha1.StatusRejected)
	waitQuery(t, prom, `fledge_canary_weight_percent{pipeline="ops"}`, "0")
	waitQuery(t, prom, `sum(fledge_deployments_finished_total{pipeline="ops",status="Rejected"})`, "1")

	// The weight as Prometheus recorded it over the whole test; a second
	// more, so that the range's last 200ms step is after the last change.
	time.Sleep(time.Second)
	values := queryRange(t, prom, `fledge_canary_weight_percent{pipeline="ops"}`, stopped.Add(-5*time.Minute), time.Now())
	if got := strings.Join(dedupe(values), " -> "); got != "0 -> 25 -> 0" {
		t.Errorf("canary weight over time: %s, want 0 -> 25 -> 0", got)
	}
	// Counted once: the first release by the first process, the second by
	// the last; their counters never saw another.
	if got := queryRange(t, prom, `max_over_time(fledge_deployments_finished_total{pipeline="ops",status="Succeeded"}[10m])`, time.Now(), time.Now()); strings.Join(got, ",") != "1" {
		t.Errorf("Succeeded counted %v, want 1", got)
	}

	// Every notification exactly once, signed: ApprovalNeeded and
	// Succeeded of the first release, ApprovalNeeded and Rejected of the
	// second.
	want := map[string]int{
		"ApprovalNeeded#" + itoa(first.Number): 1, "Succeeded#" + itoa(first.Number): 1,
		"ApprovalNeeded#" + itoa(second.Number): 1, "Rejected#" + itoa(second.Number): 1,
	}
	for deadline := time.Now().Add(time.Minute); ; {
		got := recv.counts()
		if fmt.Sprint(got) == fmt.Sprint(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("notifications received %v, want %v", got, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, m := range recv.messages() {
		if m.Event == v1alpha1.NotifyApprovalNeeded && m.URL != "http://console.example/deployments/"+itoa(m.DeploymentID) {
			t.Errorf("approval link %q", m.URL)
		}
	}
	for _, id := range []int64{first.ID, second.ID} {
		for _, n := range s.deployment(id).Notifications {
			if !n.Done {
				t.Errorf("deployment %d: notification %s not done: %+v", id, n.Event, n)
			}
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func logSince(t *testing.T, path string, off int64) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b[off:])
}

// startPrometheus runs the real Prometheus scraping target's /metrics
// every 200ms and returns its base URL.
func startPrometheus(t *testing.T, bin, target string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := testenv.StartPrometheus(ctx, testenv.PrometheusOptions{
		Bin: bin, Dir: t.TempDir(), Job: "fledge", ScrapeInterval: 200 * time.Millisecond, Targets: []string{target},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", p.Tail(40))
		}
	})
	return p.URL
}

type promResult struct {
	Status string `json:"status"`
	Data   struct {
		Result []struct {
			Value  []any   `json:"value"`
			Values [][]any `json:"values"`
		} `json:"result"`
	} `json:"data"`
	Error string `json:"error"`
}

func promGet(t *testing.T, u string) promResult {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r promResult
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Status != "success" {
		t.Fatalf("query %s: %v %s", u, err, r.Error)
	}
	return r
}

// waitQuery waits until the instant query's single value is want.
func waitQuery(t *testing.T, prom, q, want string) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		r := promGet(t, prom+"/api/v1/query?query="+url.QueryEscape(q))
		if len(r.Data.Result) == 1 {
			last = fmt.Sprint(r.Data.Result[0].Value[1])
			if last == want {
				return
			}
		}
	}
	t.Fatalf("PromQL %s = %q, want %q", q, last, want)
}

// queryRange returns the values of the range query's single series, every
// 200ms from start to end.
func queryRange(t *testing.T, prom, q string, start, end time.Time) []string {
	t.Helper()
	u := fmt.Sprintf("%s/api/v1/query_range?query=%s&start=%.3f&end=%.3f&step=0.2", prom, url.QueryEscape(q),
		float64(start.UnixMilli())/1000, float64(end.UnixMilli())/1000)
	r := promGet(t, u)
	if len(r.Data.Result) != 1 {
		t.Fatalf("PromQL %s: %d series, want 1", q, len(r.Data.Result))
	}
	var out []string
	for _, v := range r.Data.Result[0].Values {
		out = append(out, fmt.Sprint(v[1]))
	}
	if len(r.Data.Result[0].Values) == 0 && r.Data.Result[0].Value != nil {
		out = append(out, fmt.Sprint(r.Data.Result[0].Value[1]))
	}
	return out
}

func dedupe(vs []string) []string {
	var out []string
	for _, v := range vs {
		if len(out) == 0 || out[len(out)-1] != v {
			out = append(out, v)
		}
	}
	return out
}

// openStream opens the deployment's event stream and returns a channel
// closed when the server ends it.
func openStream(t *testing.T, s *server, id int64) <-chan struct{} {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/api/v1/deployments/%d/events?watch=true", s.url, id), nil)
	req.Header.Set("Authorization", "Bearer "+s.token("alice"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("event stream: %s", resp.Status)
	}
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatalf("event stream: %v", err)
	}
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, br)
	}()
	return ended
}

// receiver is a webhook endpoint that verifies signatures and counts
// notifications by event and deployment number.
type receiver struct {
	mu   sync.Mutex
	seen map[string]int
	// ofPipeline counts them by event, number and pipeline; byID by
	// delivery id.
	ofPipeline map[string]int
	byID       map[string]int
	msgs       []notify.Message
}

func startReceiver(t *testing.T, addr, key string) *receiver {
	t.Helper()
	r := &receiver{seen: map[string]int{}, ofPipeline: map[string]int{}, byID: map[string]int{}}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if _, err := webhook.VerifyGeneric(body, req.Header.Get(notify.SignatureHeader), req.Header.Get(notify.TimestampHeader), []byte(key), time.Now()); err != nil {
			t.Errorf("notification with a bad signature: %v", err)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var m notify.Message
		if err := json.Unmarshal(body, &m); err != nil {
			t.Errorf("notification body: %v", err)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		// Counted raw, not de-duplicated: a second delivery shows.
		r.seen[string(m.Event)+"#"+strconv.FormatInt(m.Number, 10)]++
		r.ofPipeline[string(m.Event)+"#"+strconv.FormatInt(m.Number, 10)+"@"+m.Pipeline]++
		r.byID[req.Header.Get(notify.DeliveryHeader)]++
		r.msgs = append(r.msgs, m)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return r
}

func (r *receiver) counts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.seen {
		out[k] = v
	}
	return out
}

func (r *receiver) deliveryCounts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.byID {
		out[k] = v
	}
	return out
}

func (r *receiver) pipelineCounts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.ofPipeline {
		out[k] = v
	}
	return out
}

func (r *receiver) messages() []notify.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]notify.Message(nil), r.msgs...)
}

// TestShutdownReleasesLeases: SIGTERM while a deployment's step runs (a
// canary rollout wait that cannot complete) with its event stream open: the
// server exits within 2s without an ERROR, the run is paused at its
// recorded step and its lease released, so the next server resumes it at
// once instead of after the 30s lease.
func TestShutdownReleasesLeases(t *testing.T) {
	const p = "shutdown"
	s := startServerArgs(t, []string{"--lease-ttl", "30s"})
	s.fledge("admin", "apply", "-f", writeFixture(t, fixture{Pipeline: p, Environment: "local", Artifact: p, CanaryNS: p + "-c", ProdNS: p + "-p", Unready: true, CanaryTimeout: "20s", NoApproval: true}))
	d := s.run("ci", p, "IMAGE_TAG=1.0")
	s.waitEvent(d.ID, time.Minute, "Applied", "canary namespace")
	stream := openStream(t, s, d.ID)

	logBefore := fileSize(t, s.logPath)
	if err := s.Terminate(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	if !s.exited(2 * time.Second) {
		t.Fatal("the server did not exit within 2s of SIGTERM while a step ran")
	}
	t.Logf("SIGTERM to exit with a running step and a stream open: %s", time.Since(stopped).Round(time.Millisecond))
	select {
	case <-stream:
	case <-time.After(time.Second):
		t.Error("the event stream was not ended by the stop")
	}
	log := logSince(t, s.logPath, logBefore)
	if strings.Contains(log, "level=ERROR") {
		t.Errorf("a clean stop logged an ERROR:\n%s", log)
	}
	if !strings.Contains(log, "paused by shutdown") {
		t.Errorf("the running deployment was not paused by the stop:\n%s", log)
	}

	s.start()
	resumed := time.Now()
	for {
		if metricValue(t, s, "fledge_executor_resumes_total") == "1" {
			break
		}
		if time.Since(resumed) > 10*time.Second {
			t.Fatal("the deployment was not resumed within 10s of the restart: its lease was not released (it lasts 30s)")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("resumed %s after the restart", time.Since(resumed).Round(time.Millisecond))
	if st := s.deployment(d.ID).Status; st != v1alpha1.StatusRunning {
		t.Errorf("status after the restart: %s, want Running", st)
	}
	// The resumed wait runs out (the pods never become ready) and the
	// release fails as it would have without the restart.
	s.waitStatus(d.ID, time.Minute, v1alpha1.StatusFailed)
}

// metricValue reads one unlabelled sample from the server's /metrics.
func metricValue(t *testing.T, s *server, name string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}
