package v1alpha1

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func validTemplate() AnalysisTemplate {
	def := "0.99"
	return AnalysisTemplate{
		TypeMeta: TypeMeta{APIVersion: APIVersion, Kind: KindAnalysisTemplate},
		Metadata: ObjectMeta{Name: "success-rate"},
		Spec: AnalysisTemplateSpec{
			Args: []AnalysisTemplateArg{{Name: "service"}, {Name: "threshold", Default: &def}, {Name: "param.IMAGE_TAG"}},
			Metrics: []AnalysisMetric{{
				Name: "success-rate",
				Provider: MetricProvider{Prometheus: &PrometheusProvider{
					Address: "http://prometheus:9090",
					Query:   `sum(rate(requests_total{service="{{args.service}}",code!~"5.."}[1m])) / sum(rate(requests_total{service="{{ args.service }}"}[1m]))`,
					Auth:    &MetricAuth{BearerSecretRef: "prom-token"},
				}},
				SuccessCondition: "result >= double(args.threshold)",
				Interval:         &Duration{30 * time.Second},
				Count:            5,
			}, {
				Name: "web-check",
				Provider: MetricProvider{Web: &WebProvider{
					URL:      "https://status.example/{{args.service}}",
					JSONPath: "$.ok",
					Headers:  []WebHeader{{Name: "X-Tag", Value: "{{args.param.IMAGE_TAG}}"}},
					Auth:     &MetricAuth{Basic: &BasicAuth{Username: "fledge", PasswordSecretRef: "status-pw"}},
				}},
				FailureCondition: "result == false",
			}},
			Judge: &AnalysisJudge{
				Prometheus: JudgePrometheus{Address: "http://prometheus:9090"},
				Metrics: []JudgeMetric{{
					Name: "latency", CanaryQuery: `q{ns="{{args.service}}"}`, ProductionQuery: "q", Direction: DirectionIncrease,
					AllowedIncreasePercent: 10, Critical: true,
				}},
			},
		},
	}
}

// Each broken field of a template is refused with an error naming it.
func TestAnalysisTemplateValidate(t *testing.T) {
	t.Parallel()
	refs := &References{Secrets: map[string]bool{"prom-token": true, "status-pw": true}}
	neg, big := -1, 1001
	tests := []struct {
		name   string
		mutate func(*AnalysisTemplate)
		field  string
		msg    string
	}{
		{"valid", func(*AnalysisTemplate) {}, "", ""},
		{"wrong kind", func(a *AnalysisTemplate) { a.Kind = "Pipeline" }, "kind", "must be"},
		{"no metric nor judge", func(a *AnalysisTemplate) { a.Spec.Metrics, a.Spec.Judge = nil, nil }, "spec", "at least one metric or a judge"},
		{"bad arg name", func(a *AnalysisTemplate) { a.Spec.Args[0].Name = "1x" }, "spec.args[0].name", "must be letters"},
		{"duplicate arg", func(a *AnalysisTemplate) { a.Spec.Args[1].Name = "service" }, "spec.args[1].name", "duplicate argument"},
		{"unknown arg in query", func(a *AnalysisTemplate) {
			a.Spec.Metrics[0].Provider.Prometheus.Query = "up{job=\"{{args.job}}\"}"
		}, "spec.metrics[0].provider.prometheus.query", "{{args.job}}, which is not a declared argument"},
		{"other template text", func(a *AnalysisTemplate) { a.Spec.Metrics[0].Provider.Prometheus.Query = "up{job=\"{{ .job }}\"}" }, "spec.metrics[0].provider.prometheus.query", "only {{args.NAME}}"},
		{"unknown arg in header", func(a *AnalysisTemplate) { a.Spec.Metrics[1].Provider.Web.Headers[0].Value = "{{args.nope}}" }, "spec.metrics[1].provider.web.headers[0].value", "args.nope"},
		{"unknown arg in judge", func(a *AnalysisTemplate) { a.Spec.Judge.Metrics[0].ProductionQuery = "{{args.nope}}" }, "spec.judge.metrics[0].productionQuery", "args.nope"},
		{"no provider", func(a *AnalysisTemplate) { a.Spec.Metrics[0].Provider = MetricProvider{} }, "spec.metrics[0].provider", "exactly one of prometheus and web"},
		{"address not a URL", func(a *AnalysisTemplate) { a.Spec.Metrics[0].Provider.Prometheus.Address = "prometheus:9090" }, "spec.metrics[0].provider.prometheus.address", "http or https URL"},
		{"empty query", func(a *AnalysisTemplate) { a.Spec.Metrics[0].Provider.Prometheus.Query = " " }, "spec.metrics[0].provider.prometheus.query", "is required"},
		{"jsonPath", func(a *AnalysisTemplate) { a.Spec.Metrics[1].Provider.Web.JSONPath = "data.ok" }, "spec.metrics[1].provider.web.jsonPath", "starting with $"},
		{"no condition", func(a *AnalysisTemplate) { a.Spec.Metrics[0].SuccessCondition = "" }, "spec.metrics[0].successCondition", "set successCondition, failureCondition or both"},
		{"zero interval", func(a *AnalysisTemplate) { a.Spec.Metrics[0].Interval = &Duration{} }, "spec.metrics[0].interval", "must be positive"},
		{"negative interval", func(a *AnalysisTemplate) { a.Spec.Metrics[0].Interval = &Duration{-time.Second} }, "spec.metrics[0].interval", "must be positive, got -1s"},
		{"negative count", func(a *AnalysisTemplate) { a.Spec.Metrics[0].Count = -2 }, "spec.metrics[0].count", "between 1 and 1000"},
		{"negative initial delay", func(a *AnalysisTemplate) { a.Spec.Metrics[0].InitialDelay = &Duration{-time.Second} }, "spec.metrics[0].initialDelay", "must not be negative"},
		{"negative failure limit", func(a *AnalysisTemplate) { a.Spec.Metrics[0].FailureLimit = &neg }, "spec.metrics[0].failureLimit", "between 0 and 1000, got -1"},
		{"negative inconclusive limit", func(a *AnalysisTemplate) { a.Spec.Metrics[0].InconclusiveLimit = &neg }, "spec.metrics[0].inconclusiveLimit", "got -1"},
		{"huge error limit", func(a *AnalysisTemplate) { a.Spec.Metrics[0].ConsecutiveErrorLimit = &big }, "spec.metrics[0].consecutiveErrorLimit", "got 1001"},
		{"missing secret", func(a *AnalysisTemplate) { a.Spec.Metrics[0].Provider.Prometheus.Auth.BearerSecretRef = "gone" }, "spec.metrics[0].provider.prometheus.auth.bearerSecretRef", `secret "gone" does not exist`},
		{"both auths", func(a *AnalysisTemplate) {
			a.Spec.Metrics[0].Provider.Prometheus.Auth.Basic = &BasicAuth{Username: "u", PasswordSecretRef: "prom-token"}
		}, "spec.metrics[0].provider.prometheus.auth", "exactly one of bearerSecretRef and basic"},
		{"basic user with colon", func(a *AnalysisTemplate) { a.Spec.Metrics[1].Provider.Web.Auth.Basic.Username = "a:b" }, "spec.metrics[1].provider.web.auth.basic.username", "may not contain ':'"},
		{"bad CA", func(a *AnalysisTemplate) { a.Spec.Metrics[0].Provider.Prometheus.TLS = &MetricTLS{CA: "nope"} }, "spec.metrics[0].provider.prometheus.tls.ca", "no PEM certificate"},
		{"zero timeout", func(a *AnalysisTemplate) { a.Spec.Metrics[1].Provider.Web.Timeout = &Duration{} }, "spec.metrics[1].provider.web.timeout", "must be positive"},
		{"duplicate metric", func(a *AnalysisTemplate) { a.Spec.Metrics[1].Name = "success-rate" }, "spec.metrics[1].name", "duplicate metric"},
		{"judge confidence", func(a *AnalysisTemplate) { a.Spec.Judge.Confidence = 100 }, "spec.judge.confidence", "between 50 and 99"},
		{"judge marginal above pass", func(a *AnalysisTemplate) { a.Spec.Judge.PassScore, a.Spec.Judge.MarginalScore = 60, 70 }, "spec.judge.marginalScore", "between 0 and passScore (60)"},
		{"judge direction", func(a *AnalysisTemplate) { a.Spec.Judge.Metrics[0].Direction = "up" }, "spec.judge.metrics[0].direction", `got "up"`},
		{"judge step", func(a *AnalysisTemplate) {
			a.Spec.Judge.Window, a.Spec.Judge.Step = &Duration{time.Minute}, &Duration{30 * time.Second}
		}, "spec.judge.step", "at least 3 times"},
		{"judge without metrics", func(a *AnalysisTemplate) { a.Spec.Judge.Metrics = nil }, "spec.judge.metrics", "at least one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := validTemplate()
			tt.mutate(&a)
			err := a.Validate(refs)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("valid template refused: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("want a ValidationError naming %s, got %v", tt.field, err)
			}
			for _, fe := range ve.Errors {
				if fe.Field == tt.field && strings.Contains(fe.Message, tt.msg) {
					return
				}
			}
			t.Fatalf("want %s: ...%s..., got %v", tt.field, tt.msg, ve.Errors)
		})
	}
}

// Defaults of the limits follow Argo Rollouts' (failures 0, inconclusive 0,
// consecutive errors 4).
func TestAnalysisMetricDefaults(t *testing.T) {
	t.Parallel()
	var m AnalysisMetric
	if f, i, e := m.Limits(); f != 0 || i != 0 || e != DefaultConsecutiveErrorLimit {
		t.Fatalf("limits %d %d %d", f, i, e)
	}
	if m.Measurements() != 1 {
		t.Fatalf("count %d", m.Measurements())
	}
	two, zero := 2, 0
	m = AnalysisMetric{Count: 3, FailureLimit: &two, ConsecutiveErrorLimit: &zero}
	if f, _, e := m.Limits(); f != 2 || e != 0 || m.Measurements() != 3 {
		t.Fatalf("limits %d %d count %d", f, e, m.Measurements())
	}
	if p, mg := (&AnalysisJudge{PassScore: 60}).Scores(); p != 60 || mg != 60 {
		t.Fatalf("scores %d %d", p, mg)
	}
}
