package v1alpha1

import "time"

// AnalysisPhase is where an analysis, or one measurement of it, stands.
type AnalysisPhase string

// Analysis phases. A run is Running until each metric has a verdict;
// Successful lets the deployment continue, Failed aborts it, Inconclusive
// parks it for a person, and Error (a metric source that kept failing) is
// never a pass: the deployment parks like Inconclusive.
const (
	AnalysisRunning      AnalysisPhase = "Running"
	AnalysisSuccessful   AnalysisPhase = "Successful"
	AnalysisFailed       AnalysisPhase = "Failed"
	AnalysisInconclusive AnalysisPhase = "Inconclusive"
	AnalysisError        AnalysisPhase = "Error"
)

// Done reports whether the phase is a verdict.
func (p AnalysisPhase) Done() bool {
	return p != "" && p != AnalysisRunning
}

// Measurement is one reading of one metric and what it meant.
type Measurement struct {
	// Analysis names the analysis the measurement belongs to: the step's
	// name, or "background".
	Analysis string `json:"analysis" yaml:"analysis"`
	// Template and Metric name the AnalysisTemplate and its metric.
	Template string `json:"template" yaml:"template"`
	Metric   string `json:"metric" yaml:"metric"`
	// Phase is Successful, Failed, Inconclusive or Error (the provider
	// could not answer).
	Phase AnalysisPhase `json:"phase" yaml:"phase"`
	// Value is the provider's answer as JSON (a number, a list, an object),
	// empty when it did not answer.
	Value string `json:"value,omitempty" yaml:"value,omitempty"`
	// Message says which condition decided and with what values, or the
	// provider's error.
	Message    string    `json:"message,omitempty" yaml:"message,omitempty"`
	StartedAt  time.Time `json:"startedAt" yaml:"startedAt"`
	FinishedAt time.Time `json:"finishedAt" yaml:"finishedAt"`
}

// MeasurementList is a deployment's measurements in the order they were
// taken, and what each metric was judged against.
type MeasurementList struct {
	Items []Measurement `json:"items" yaml:"items"`
	// Metrics are the metrics of the deployment's analyses with their
	// conditions and the thresholds read from them, for charts.
	Metrics []MetricSummary `json:"metrics,omitempty" yaml:"metrics,omitempty"`
}

// MetricSummary is one metric of an analysis: its conditions as the
// template froze them, and the numeric thresholds they set.
type MetricSummary struct {
	Analysis         string            `json:"analysis" yaml:"analysis"`
	Template         string            `json:"template" yaml:"template"`
	Metric           string            `json:"metric" yaml:"metric"`
	SuccessCondition string            `json:"successCondition,omitempty" yaml:"successCondition,omitempty"`
	FailureCondition string            `json:"failureCondition,omitempty" yaml:"failureCondition,omitempty"`
	Thresholds       []MetricThreshold `json:"thresholds,omitempty" yaml:"thresholds,omitempty"`
}

// MetricThreshold is a line a metric's value is compared with: the value
// passes a success threshold when "value OPERATOR threshold" holds, and
// fails a failure threshold when it holds.
type MetricThreshold struct {
	// Condition is ThresholdSuccess or ThresholdFailure.
	Condition string  `json:"condition" yaml:"condition"`
	Operator  string  `json:"operator" yaml:"operator"`
	Value     float64 `json:"value" yaml:"value"`
}

// The conditions a threshold comes from.
const (
	ThresholdSuccess = "success"
	ThresholdFailure = "failure"
)

// MetricProgress counts the measurements of one metric of an analysis.
type MetricProgress struct {
	Template          string        `json:"template" yaml:"template"`
	Metric            string        `json:"metric" yaml:"metric"`
	Phase             AnalysisPhase `json:"phase" yaml:"phase"`
	Count             int           `json:"count" yaml:"count"`
	Successful        int           `json:"successful" yaml:"successful"`
	Failed            int           `json:"failed" yaml:"failed"`
	Inconclusive      int           `json:"inconclusive" yaml:"inconclusive"`
	Errors            int           `json:"errors" yaml:"errors"`
	ConsecutiveErrors int           `json:"consecutiveErrors" yaml:"consecutiveErrors"`
	// NextAt is when the next measurement is due; nil once the metric has
	// its verdict.
	NextAt *time.Time `json:"nextAt,omitempty" yaml:"nextAt,omitempty"`
}

// AnalysisRun is the durable progress of one analysis of a deployment
// (an analysis step, or the background analysis). The executor stores it
// with the deployment's state after every measurement, so a restarted
// server resumes it without taking any measurement twice.
type AnalysisRun struct {
	// Name is the step's name, or "background".
	Name string `json:"name" yaml:"name"`
	// Templates are the AnalysisTemplates it runs and Args the arguments
	// they were given (deployment values and the step's own).
	Templates []string          `json:"templates" yaml:"templates"`
	Args      map[string]string `json:"args,omitempty" yaml:"args,omitempty"`
	Phase     AnalysisPhase     `json:"phase" yaml:"phase"`
	// Message explains the phase: for Failed, the metric, its values and
	// the condition that failed.
	Message   string           `json:"message,omitempty" yaml:"message,omitempty"`
	Metrics   []MetricProgress `json:"metrics" yaml:"metrics"`
	StartedAt time.Time        `json:"startedAt" yaml:"startedAt"`
	EndedAt   *time.Time       `json:"endedAt,omitempty" yaml:"endedAt,omitempty"`
}

// NextAt is the earliest time a metric of the run needs a measurement, or
// nil when none does.
func (r *AnalysisRun) NextAt() *time.Time {
	var next *time.Time
	for i := range r.Metrics {
		if t := r.Metrics[i].NextAt; t != nil && (next == nil || t.Before(*next)) {
			next = t
		}
	}
	return next
}
