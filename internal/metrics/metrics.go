// Package metrics holds Fledge's Prometheus metrics: one registry per
// server, the executor's observer, the API's request observer, an
// instrumented store, and a collector that reads the deployments' state
// from the store at scrape time (so every replica reports the same canary
// weights and waiting approvals, whichever replica runs them).
//
// Names follow Prometheus conventions: the fledge_ prefix, base units
// (seconds), _total for counters.
package metrics

import (
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is the set of metrics one Fledge server exports.
type Metrics struct {
	reg *prometheus.Registry
	// own are Fledge's collectors (not Go's and the process's).
	own []prometheus.Collector

	deploymentsStarted  *prometheus.CounterVec
	deploymentsFinished *prometheus.CounterVec
	stageDuration       *prometheus.HistogramVec
	stepDuration        *prometheus.HistogramVec
	claims              prometheus.Counter
	leaseLosses         prometheus.Counter
	resumes             prometheus.Counter
	requestDuration     *prometheus.HistogramVec
	webhookDeliveries   *prometheus.CounterVec
	storeDuration       *prometheus.HistogramVec
	notifications       *prometheus.CounterVec
}

// stepBuckets span a weight change (milliseconds) to a rollout (minutes).
var stepBuckets = []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// stageBuckets span a quick stage to an approval that waits a day.
var stageBuckets = []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 12 * 3600, 24 * 3600, 72 * 3600}

// New returns the metrics registered on a fresh registry, with the Go and
// process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		deploymentsStarted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fledge_deployments_started_total",
			Help: "Deployments started by this server, by pipeline and kind (Release, Rollback).",
		}, []string{"pipeline", "kind"}),
		deploymentsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fledge_deployments_finished_total",
			Help: "Deployments that ended on this server, by pipeline, kind and final status (Succeeded, Failed, Rejected, Cancelled).",
		}, []string{"pipeline", "kind", "status"}),
		stageDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "fledge_stage_duration_seconds",
			Help:    "How long pipeline stages took, by pipeline, stage type and result (Succeeded, Failed).",
			Buckets: stageBuckets,
		}, []string{"pipeline", "stage_type", "result"}),
		stepDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "fledge_step_duration_seconds",
			Help:    "How long one executor step took, by step (ApplyCanary, SetWeight, ...) and result (ok, error, wait).",
			Buckets: stepBuckets,
		}, []string{"step", "result"}),
		claims: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fledge_executor_claims_total",
			Help: "Deployments this server's executor claimed under a lease.",
		}),
		leaseLosses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fledge_executor_lease_losses_total",
			Help: "Runs this server's executor stopped because another executor took the deployment's lease.",
		}),
		resumes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fledge_executor_resumes_total",
			Help: "Claims that resumed a deployment already under way (after a restart, a takeover, or an approval wait).",
		}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "fledge_http_request_duration_seconds",
			Help:    "API request latency by route (the method and path pattern) and status code; event streams are left out.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "code"}),
		webhookDeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fledge_webhook_deliveries_total",
			Help: "CI webhook deliveries received, by source (github, generic) and result (accepted, ignored, unauthorized, duplicate, invalid, error).",
		}, []string{"source", "result"}),
		storeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "fledge_store_operation_duration_seconds",
			Help:    "Store operation latency by operation and result (ok, error).",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5},
		}, []string{"operation", "result"}),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fledge_notifications_total",
			Help: "Notification delivery attempts by sink (slack, webhook, email) and result (sent, failed, gave_up).",
		}, []string{"sink", "result"}),
	}
	m.own = []prometheus.Collector{
		m.deploymentsStarted, m.deploymentsFinished, m.stageDuration, m.stepDuration,
		m.claims, m.leaseLosses, m.resumes, m.requestDuration, m.webhookDeliveries,
		m.storeDuration, m.notifications,
	}
	m.reg.MustRegister(m.own...)
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Register adds more collectors (the store collector) to the registry.
func (m *Metrics) Register(c prometheus.Collector) error {
	if err := m.reg.Register(c); err != nil {
		return err
	}
	m.own = append(m.own, c)
	return nil
}

// fqName reads a metric's name out of its description.
var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// Names lists the names of Fledge's own metrics, sorted: what the
// documentation, the dashboard and the alert rules may refer to.
func (m *Metrics) Names() []string {
	ch := make(chan *prometheus.Desc)
	go func() {
		for _, c := range m.own {
			c.Describe(ch)
		}
		close(ch)
	}()
	var names []string
	for d := range ch {
		if sm := fqName.FindStringSubmatch(d.String()); sm != nil {
			names = append(names, sm[1])
		}
	}
	sort.Strings(names)
	return names
}

// Handler serves the metrics in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Gatherer is the registry, for tests that read values.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// ObserveRequest records one API request. route is the pattern it matched
// ("POST /api/v1/pipelines/{name}/runs"); webhook routes also count a
// delivery by result.
func (m *Metrics) ObserveRequest(route string, code int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	m.requestDuration.WithLabelValues(route, strconv.Itoa(code)).Observe(d.Seconds())
	if source, ok := webhookSource(route); ok {
		m.webhookDeliveries.WithLabelValues(source, webhookResult(code)).Inc()
	}
}

// webhookSource names the CI webhook a route receives.
func webhookSource(route string) (string, bool) {
	_, path, _ := strings.Cut(route, " ")
	rest, ok := strings.CutPrefix(path, "/api/v1/webhooks/")
	if !ok {
		return "", false
	}
	source, _, _ := strings.Cut(rest, "/")
	return source, true
}

// webhookResult maps the answer to a webhook delivery to its result.
func webhookResult(code int) string {
	switch {
	case code == http.StatusCreated:
		return "accepted"
	case code >= 200 && code < 300:
		return "ignored"
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return "unauthorized"
	case code == http.StatusConflict:
		return "duplicate"
	case code >= 400 && code < 500:
		return "invalid"
	}
	return "error"
}

// ObserveNotification records one notification delivery attempt.
func (m *Metrics) ObserveNotification(sink, result string) {
	m.notifications.WithLabelValues(sink, result).Inc()
}
