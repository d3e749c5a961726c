package metrics

import (
	"context"
	"encoding/json"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/pipeline"
	"fledge.dev/fledge/internal/store"
)

// StoreCollector reads the deployments under way from the store at scrape
// time: what they show is the same on every replica, whichever one runs a
// deployment, and never stale after a takeover.
type StoreCollector struct {
	Store store.Store
	// Clock returns the current time (default time.Now).
	Clock func() time.Time
	// Timeout bounds the store reads of one scrape (default 5s).
	Timeout time.Duration
	// Pending, when set, counts the notifications not yet delivered.
	Pending func(ctx context.Context) (int, error)
}

var (
	activeDesc = prometheus.NewDesc("fledge_deployments_active",
		"Deployments not yet ended, by pipeline and status (Queued, Running, WaitingForApproval).",
		[]string{"pipeline", "status"}, nil)
	weightDesc = prometheus.NewDesc("fledge_canary_weight_percent",
		"The canary's share of requests, in percent, of the deployment under way of each pipeline (0 when none is).",
		[]string{"pipeline"}, nil)
	waitingDesc = prometheus.NewDesc("fledge_approvals_waiting",
		"Deployments waiting for approval, by pipeline.",
		[]string{"pipeline"}, nil)
	waitAgeDesc = prometheus.NewDesc("fledge_approval_wait_seconds",
		"How long the oldest deployment waiting for approval has waited, by pipeline (0 when none waits).",
		[]string{"pipeline"}, nil)
	pendingDesc = prometheus.NewDesc("fledge_notifications_pending",
		"Notifications written to the outbox and not yet delivered or given up.",
		nil, nil)
	scrapeErrorDesc = prometheus.NewDesc("fledge_store_scrape_error",
		"1 when the last scrape could not read the deployments from the store.",
		nil, nil)
)

// Describe implements prometheus.Collector.
func (c *StoreCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{activeDesc, weightDesc, waitingDesc, waitAgeDesc, pendingDesc, scrapeErrorDesc} {
		ch <- d
	}
}

// activeStatuses are the statuses of deployments not yet ended.
var activeStatuses = []string{string(v1alpha1.StatusQueued), string(v1alpha1.StatusRunning), string(v1alpha1.StatusWaitingForApproval)}

// Collect implements prometheus.Collector.
func (c *StoreCollector) Collect(ch chan<- prometheus.Metric) {
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	now := time.Now()
	if c.Clock != nil {
		now = c.Clock()
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	failed := 0.0
	if err := c.collectDeployments(ctx, ch, now); err != nil {
		failed = 1
	}
	if c.Pending != nil {
		if n, err := c.Pending(ctx); err == nil {
			ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(n))
		} else {
			failed = 1
		}
	}
	ch <- prometheus.MustNewConstMetric(scrapeErrorDesc, prometheus.GaugeValue, failed)
}

func (c *StoreCollector) collectDeployments(ctx context.Context, ch chan<- prometheus.Metric, now time.Time) error {
	pipelines, err := c.Store.ListResources(ctx, v1alpha1.KindPipeline)
	if err != nil {
		return err
	}
	// Every deployment not ended, page by page (there are few).
	var live []store.Deployment
	for before := int64(0); ; {
		page, err := c.Store.ListDeployments(ctx, store.DeploymentFilter{Statuses: activeStatuses, BeforeID: before, Limit: 500})
		if err != nil {
			return err
		}
		live = append(live, page...)
		if len(page) < 500 {
			break
		}
		before = page[len(page)-1].ID
	}
	type perPipeline struct {
		active  map[string]int
		weight  int
		waiting int
		oldest  time.Duration
	}
	by := map[string]*perPipeline{}
	get := func(name string) *perPipeline {
		p := by[name]
		if p == nil {
			p = &perPipeline{active: map[string]int{}}
			by[name] = p
		}
		return p
	}
	for _, r := range pipelines {
		get(r.Name)
	}
	for _, d := range live {
		p := get(d.Pipeline)
		p.active[d.Status]++
		if len(d.State) == 0 {
			continue
		}
		var st pipeline.State
		if json.Unmarshal(d.State, &st) != nil {
			continue
		}
		if d.StartedAt != nil && st.Weight > p.weight {
			p.weight = st.Weight
		}
		if d.Status == string(v1alpha1.StatusWaitingForApproval) {
			p.waiting++
			if st.Stage < len(st.Stages) && st.Stages[st.Stage].StartedAt != nil {
				if age := now.Sub(*st.Stages[st.Stage].StartedAt); age > p.oldest {
					p.oldest = age
				}
			}
		}
	}
	for name, p := range by {
		for _, s := range activeStatuses {
			ch <- prometheus.MustNewConstMetric(activeDesc, prometheus.GaugeValue, float64(p.active[s]), name, s)
		}
		ch <- prometheus.MustNewConstMetric(weightDesc, prometheus.GaugeValue, float64(p.weight), name)
		ch <- prometheus.MustNewConstMetric(waitingDesc, prometheus.GaugeValue, float64(p.waiting), name)
		ch <- prometheus.MustNewConstMetric(waitAgeDesc, prometheus.GaugeValue, p.oldest.Seconds(), name)
	}
	return nil
}
