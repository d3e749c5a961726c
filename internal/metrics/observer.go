package metrics

import (
	"encoding/json"
	"strings"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/pipeline"
	"fledge.dev/fledge/internal/store"
)

// Claimed counts a claim; a deployment that had started before is a
// resume.
func (m *Metrics) Claimed(d store.Deployment) {
	m.claims.Inc()
	if d.StartedAt != nil {
		m.resumes.Inc()
	}
}

// LeaseLost counts a run stopped because another executor took its lease.
func (m *Metrics) LeaseLost(int64) { m.leaseLosses.Inc() }

// Step records how long one executor step took and how it ended ("ok",
// "error", or "wait" for a step that must be looked at again).
func (m *Metrics) Step(step, result string, took time.Duration) {
	m.stepDuration.WithLabelValues(step, result).Observe(took.Seconds())
}

// Recorded reads the events the executor has just stored with a
// deployment's state: starts and ends of deployments and stages.
func (m *Metrics) Recorded(d store.Deployment, events []store.Event) {
	var st *pipeline.State
	for _, e := range events {
		switch e.Type {
		case "DeploymentStarted":
			m.deploymentsStarted.WithLabelValues(d.Pipeline, d.Kind).Inc()
		case "StageSucceeded", "StageFailed":
			if st == nil {
				st = &pipeline.State{}
				if json.Unmarshal(d.State, st) != nil {
					continue
				}
			}
			for _, s := range st.Stages {
				if s.Name == e.Stage && s.StartedAt != nil {
					m.stageDuration.WithLabelValues(d.Pipeline, string(s.Type), strings.TrimPrefix(e.Type, "Stage")).
						Observe(e.Time.Sub(*s.StartedAt).Seconds())
				}
			}
		default:
			status, ok := strings.CutPrefix(e.Type, "Deployment")
			if ok && v1alpha1.DeploymentStatus(status).Final() {
				m.deploymentsFinished.WithLabelValues(d.Pipeline, d.Kind, status).Inc()
			}
		}
	}
}
