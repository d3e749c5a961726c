package v1alpha1

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// KindAnalysisTemplate is the kind of a metric analysis template.
const KindAnalysisTemplate = "AnalysisTemplate"

// AnalysisTemplate says how to judge a canary by its metrics: metrics read
// from a provider and decided by conditions, and optionally a statistical
// comparison of the canary with production. A pipeline's analysis steps
// name templates and fill their arguments.
type AnalysisTemplate struct {
	TypeMeta `json:",inline" yaml:",inline"`
	Metadata ObjectMeta           `json:"metadata" yaml:"metadata"`
	Spec     AnalysisTemplateSpec `json:"spec" yaml:"spec"`
}

// AnalysisTemplateSpec lists a template's arguments, metrics and judge.
// At least one metric or a judge is required.
type AnalysisTemplateSpec struct {
	// Args are the values the template takes, written {{args.NAME}} in
	// queries, URLs and headers, and args.NAME in conditions.
	Args    []AnalysisTemplateArg `json:"args,omitempty" yaml:"args,omitempty"`
	Metrics []AnalysisMetric      `json:"metrics,omitempty" yaml:"metrics,omitempty"`
	// Judge compares the canary with production over the same window,
	// metric by metric, with a Mann-Whitney U test.
	Judge *AnalysisJudge `json:"judge,omitempty" yaml:"judge,omitempty"`
}

// AnalysisTemplateArg is an argument of a template. Without a default, the
// analysis step or the deployment must give it.
type AnalysisTemplateArg struct {
	Name    string  `json:"name" yaml:"name"`
	Default *string `json:"default,omitempty" yaml:"default,omitempty"`
}

// AnalysisMetric is one metric measured Count times, Interval apart, after
// InitialDelay, each measurement judged by the conditions.
type AnalysisMetric struct {
	Name     string         `json:"name" yaml:"name"`
	Provider MetricProvider `json:"provider" yaml:"provider"`
	// SuccessCondition and FailureCondition are CEL expressions over
	// `result` (the provider's answer) and `args` (the template's
	// arguments, strings) that yield a bool. Set at least one. With both,
	// a measurement that meets neither is Inconclusive; a failure
	// condition that holds wins over a success condition.
	SuccessCondition string `json:"successCondition,omitempty" yaml:"successCondition,omitempty"`
	FailureCondition string `json:"failureCondition,omitempty" yaml:"failureCondition,omitempty"`
	// Interval is the time between measurements (default 30s).
	Interval *Duration `json:"interval,omitempty" yaml:"interval,omitempty"`
	// Count is how many measurements decide the metric (default 1).
	// Measurements the provider could not answer do not count.
	Count int `json:"count,omitempty" yaml:"count,omitempty"`
	// InitialDelay is the wait before the first measurement (default 0).
	InitialDelay *Duration `json:"initialDelay,omitempty" yaml:"initialDelay,omitempty"`
	// FailureLimit is how many Failed measurements are tolerated; one more
	// fails the metric (default 0).
	FailureLimit *int `json:"failureLimit,omitempty" yaml:"failureLimit,omitempty"`
	// InconclusiveLimit is how many Inconclusive measurements are
	// tolerated; one more makes the metric Inconclusive (default 0).
	InconclusiveLimit *int `json:"inconclusiveLimit,omitempty" yaml:"inconclusiveLimit,omitempty"`
	// ConsecutiveErrorLimit is how many provider errors in a row are
	// tolerated; one more makes the metric Error (default 4).
	ConsecutiveErrorLimit *int `json:"consecutiveErrorLimit,omitempty" yaml:"consecutiveErrorLimit,omitempty"`
}

// Defaults of an analysis metric.
const (
	DefaultAnalysisInterval      = 30 * time.Second
	DefaultProviderTimeout       = 10 * time.Second
	DefaultJudgeWindow           = 5 * time.Minute
	DefaultJudgeStep             = 10 * time.Second
	DefaultAnalysisCount         = 1
	DefaultConsecutiveErrorLimit = 4
	// MaxAnalysisCount bounds a metric's count.
	MaxAnalysisCount = 1000
)

// Limits returns the metric's failure, inconclusive and consecutive error
// limits with defaults filled in.
func (m AnalysisMetric) Limits() (failure, inconclusive, consecutiveErrors int) {
	failure, inconclusive, consecutiveErrors = 0, 0, DefaultConsecutiveErrorLimit
	if m.FailureLimit != nil {
		failure = *m.FailureLimit
	}
	if m.InconclusiveLimit != nil {
		inconclusive = *m.InconclusiveLimit
	}
	if m.ConsecutiveErrorLimit != nil {
		consecutiveErrors = *m.ConsecutiveErrorLimit
	}
	return failure, inconclusive, consecutiveErrors
}

// Measurements returns the metric's count with its default.
func (m AnalysisMetric) Measurements() int {
	if m.Count == 0 {
		return DefaultAnalysisCount
	}
	return m.Count
}

// MetricProvider says where a metric comes from; exactly one field is set.
type MetricProvider struct {
	Prometheus *PrometheusProvider `json:"prometheus,omitempty" yaml:"prometheus,omitempty"`
	Web        *WebProvider        `json:"web,omitempty" yaml:"web,omitempty"`
}

// PrometheusProvider runs an instant PromQL query through Prometheus' HTTP
// API. The query must answer one number: a scalar, or a vector of one
// sample; `result` is that number (a double).
type PrometheusProvider struct {
	// Address is Prometheus' base URL (http://prometheus:9090).
	Address string `json:"address" yaml:"address"`
	Query   string `json:"query" yaml:"query"`
	// Auth authenticates to Prometheus with a Fledge secret.
	Auth *MetricAuth `json:"auth,omitempty" yaml:"auth,omitempty"`
	// TLS sets how the server's certificate is checked.
	TLS *MetricTLS `json:"tls,omitempty" yaml:"tls,omitempty"`
	// Timeout bounds one query (default 10s).
	Timeout *Duration `json:"timeout,omitempty" yaml:"timeout,omitempty"`
}

// WebProvider reads a JSON document over HTTP GET; `result` is the value
// JSONPath selects (any JSON value).
type WebProvider struct {
	URL string `json:"url" yaml:"url"`
	// Headers are sent with the request; values may use {{args.NAME}}.
	Headers []WebHeader `json:"headers,omitempty" yaml:"headers,omitempty"`
	// JSONPath selects the result (RFC 9535), e.g. $.data.successRate.
	// A path that selects one node gives that value; several give a list.
	JSONPath string      `json:"jsonPath" yaml:"jsonPath"`
	Auth     *MetricAuth `json:"auth,omitempty" yaml:"auth,omitempty"`
	TLS      *MetricTLS  `json:"tls,omitempty" yaml:"tls,omitempty"`
	// Timeout bounds one request (default 10s).
	Timeout *Duration `json:"timeout,omitempty" yaml:"timeout,omitempty"`
}

// WebHeader is a request header of the web provider.
type WebHeader struct {
	Name  string `json:"name" yaml:"name"`
	Value string `json:"value" yaml:"value"`
}

// MetricAuth authenticates a provider's requests with a Fledge secret
// (fledge secret set NAME); set exactly one field.
type MetricAuth struct {
	// BearerSecretRef names the secret whose value is sent as
	// "Authorization: Bearer <value>".
	BearerSecretRef string `json:"bearerSecretRef,omitempty" yaml:"bearerSecretRef,omitempty"`
	// Basic sends HTTP basic authentication.
	Basic *BasicAuth `json:"basic,omitempty" yaml:"basic,omitempty"`
}

// BasicAuth is a user name and the secret holding the password.
type BasicAuth struct {
	Username          string `json:"username" yaml:"username"`
	PasswordSecretRef string `json:"passwordSecretRef" yaml:"passwordSecretRef"`
}

// MetricTLS sets how a provider checks the server's certificate.
type MetricTLS struct {
	// CA is a PEM bundle of the authorities to trust instead of the
	// system's.
	CA string `json:"ca,omitempty" yaml:"ca,omitempty"`
	// ServerName overrides the name checked in the certificate.
	ServerName string `json:"serverName,omitempty" yaml:"serverName,omitempty"`
	// InsecureSkipVerify accepts any certificate (tests only).
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty" yaml:"insecureSkipVerify,omitempty"`
}

// AnalysisJudge compares the canary with production: each metric is read
// as a series over the same window for both, and a Mann-Whitney U test at
// Confidence decides whether the canary differs by more than the allowed
// effect. The score is the weighted share of passing metrics (0-100).
type AnalysisJudge struct {
	// Prometheus answers the range queries.
	Prometheus JudgePrometheus `json:"prometheus" yaml:"prometheus"`
	// Window is how far back both series reach (default 5m) and Step the
	// resolution (default 10s).
	Window *Duration `json:"window,omitempty" yaml:"window,omitempty"`
	Step   *Duration `json:"step,omitempty" yaml:"step,omitempty"`
	// Confidence is the test's confidence in percent (default 95).
	Confidence int `json:"confidence,omitempty" yaml:"confidence,omitempty"`
	// PassScore and MarginalScore are the score thresholds: at or above
	// pass the verdict is Successful, below marginal Failed, in between
	// Inconclusive (defaults 95 and 75).
	PassScore     int           `json:"passScore,omitempty" yaml:"passScore,omitempty"`
	MarginalScore int           `json:"marginalScore,omitempty" yaml:"marginalScore,omitempty"`
	Metrics       []JudgeMetric `json:"metrics" yaml:"metrics"`
}

// JudgePrometheus is the Prometheus of a judge.
type JudgePrometheus struct {
	Address string      `json:"address" yaml:"address"`
	Auth    *MetricAuth `json:"auth,omitempty" yaml:"auth,omitempty"`
	TLS     *MetricTLS  `json:"tls,omitempty" yaml:"tls,omitempty"`
	Timeout *Duration   `json:"timeout,omitempty" yaml:"timeout,omitempty"`
}

// JudgeMetric is one metric the judge compares.
type JudgeMetric struct {
	Name string `json:"name" yaml:"name"`
	// CanaryQuery and ProductionQuery are PromQL range queries, one
	// series each, over the canary and production.
	CanaryQuery     string `json:"canaryQuery" yaml:"canaryQuery"`
	ProductionQuery string `json:"productionQuery" yaml:"productionQuery"`
	// Direction is the change that is bad: increase (latency, errors),
	// decrease (throughput, success rate) or either (default increase).
	Direction string `json:"direction,omitempty" yaml:"direction,omitempty"`
	// AllowedIncreasePercent and AllowedDecreasePercent are how far the
	// canary's mean may move from production's before a significant
	// change counts (default 0: any significant change in the bad
	// direction fails the metric).
	AllowedIncreasePercent int `json:"allowedIncreasePercent,omitempty" yaml:"allowedIncreasePercent,omitempty"`
	AllowedDecreasePercent int `json:"allowedDecreasePercent,omitempty" yaml:"allowedDecreasePercent,omitempty"`
	// Critical fails the whole verdict when this metric fails.
	Critical bool `json:"critical,omitempty" yaml:"critical,omitempty"`
	// Weight is the metric's share of the score (default 1).
	Weight int `json:"weight,omitempty" yaml:"weight,omitempty"`
}

// Judge directions.
const (
	DirectionIncrease = "increase"
	DirectionDecrease = "decrease"
	DirectionEither   = "either"
)

// Defaults of a judge.
const (
	DefaultJudgeConfidence = 95
	DefaultJudgePass       = 95
	DefaultJudgeMarginal   = 75
)

// ArgRef matches {{args.NAME}} in a provider's query, URL or headers;
// group 1 is the name.
var ArgRef = regexp.MustCompile(`\{\{\s*args\.([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\s*\}\}`)

// argName is an analysis argument's name: letters, digits and '_', with
// one optional dotted prefix, as the deployment's param.NAME arguments.
var argName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)

// Validate checks a template on its own; with refs.Secrets non-nil the
// secrets its providers name must exist. Conditions are compiled by the
// analysis engine when the template is applied (CEL is not a dependency of
// this package).
func (t *AnalysisTemplate) Validate(refs *References) error {
	var l errs
	checkMeta(&l, KindAnalysisTemplate, t.TypeMeta, t.Metadata)
	s := t.Spec
	declared := map[string]bool{}
	for i, a := range s.Args {
		f := fmt.Sprintf("spec.args[%d]", i)
		switch {
		case a.Name == "":
			l.add(f+".name", "is required")
		case !argName.MatchString(a.Name):
			l.add(f+".name", "%q must be letters, digits and '_' (one dotted prefix allowed, as in param.IMAGE_TAG)", a.Name)
		case declared[a.Name]:
			l.add(f+".name", "duplicate argument %q", a.Name)
		}
		if a.Default != nil {
			if msg := CheckText(*a.Default); msg != "" {
				l.add(f+".default", "%s", msg)
			}
		}
		declared[a.Name] = true
	}
	if len(s.Metrics) == 0 && s.Judge == nil {
		l.add("spec", "at least one metric or a judge is required")
	}
	seen := map[string]bool{}
	for i, m := range s.Metrics {
		f := fmt.Sprintf("spec.metrics[%d]", i)
		checkName(&l, f+".name", m.Name)
		if seen[m.Name] && m.Name != "" {
			l.add(f+".name", "duplicate metric %q", m.Name)
		}
		seen[m.Name] = true
		checkMetric(&l, f, m, declared, refs)
	}
	if j := s.Judge; j != nil {
		checkJudge(&l, "spec.judge", j, declared, refs)
	}
	return l.result(KindAnalysisTemplate, t.Metadata.Name)
}

func checkMetric(l *errs, f string, m AnalysisMetric, declared map[string]bool, refs *References) {
	p := m.Provider
	switch {
	case (p.Prometheus == nil) == (p.Web == nil):
		l.add(f+".provider", "set exactly one of prometheus and web")
	case p.Prometheus != nil:
		pf := f + ".provider.prometheus"
		checkEndpoint(l, pf+".address", p.Prometheus.Address, declared)
		if strings.TrimSpace(p.Prometheus.Query) == "" {
			l.add(pf+".query", "is required")
		}
		checkArgRefs(l, pf+".query", p.Prometheus.Query, declared)
		checkAccess(l, pf, p.Prometheus.Auth, p.Prometheus.TLS, p.Prometheus.Timeout, refs)
	default:
		wf := f + ".provider.web"
		checkEndpoint(l, wf+".url", p.Web.URL, declared)
		if !strings.HasPrefix(p.Web.JSONPath, "$") {
			l.add(wf+".jsonPath", "%q must be a JSONPath starting with $", p.Web.JSONPath)
		}
		for i, h := range p.Web.Headers {
			hf := fmt.Sprintf("%s.headers[%d]", wf, i)
			if !headerName.MatchString(h.Name) {
				l.add(hf+".name", "%q is not a valid HTTP header name", h.Name)
			}
			if strings.ContainsAny(h.Value, "\r\n") {
				l.add(hf+".value", "must be one line")
			}
			checkArgRefs(l, hf+".value", h.Value, declared)
		}
		checkAccess(l, wf, p.Web.Auth, p.Web.TLS, p.Web.Timeout, refs)
	}
	if m.SuccessCondition == "" && m.FailureCondition == "" {
		l.add(f+".successCondition", "set successCondition, failureCondition or both")
	}
	if m.Interval != nil && m.Interval.Duration <= 0 {
		l.add(f+".interval", "must be positive, got %s", m.Interval.Duration)
	}
	if m.Count < 0 || m.Count > MaxAnalysisCount {
		l.add(f+".count", "must be between 1 and %d, got %d", MaxAnalysisCount, m.Count)
	}
	if m.InitialDelay != nil && m.InitialDelay.Duration < 0 {
		l.add(f+".initialDelay", "must not be negative, got %s", m.InitialDelay.Duration)
	}
	for _, lim := range []struct {
		name string
		v    *int
	}{{"failureLimit", m.FailureLimit}, {"inconclusiveLimit", m.InconclusiveLimit}, {"consecutiveErrorLimit", m.ConsecutiveErrorLimit}} {
		if lim.v != nil && (*lim.v < 0 || *lim.v > MaxAnalysisCount) {
			l.add(f+"."+lim.name, "must be between 0 and %d, got %d", MaxAnalysisCount, *lim.v)
		}
	}
}

func checkJudge(l *errs, f string, j *AnalysisJudge, declared map[string]bool, refs *References) {
	checkEndpoint(l, f+".prometheus.address", j.Prometheus.Address, declared)
	checkAccess(l, f+".prometheus", j.Prometheus.Auth, j.Prometheus.TLS, j.Prometheus.Timeout, refs)
	checkPositive(l, f+".window", j.Window)
	checkPositive(l, f+".step", j.Step)
	if j.Window != nil && j.Step != nil && j.Step.Duration > 0 && j.Window.Duration/j.Step.Duration < 3 {
		l.add(f+".step", "must fit at least 3 times in the window (%s), got %s", j.Window.Duration, j.Step.Duration)
	}
	if j.Confidence != 0 && (j.Confidence < 50 || j.Confidence > 99) {
		l.add(f+".confidence", "must be between 50 and 99 (percent), got %d", j.Confidence)
	}
	pass, marginal := j.Scores()
	if pass < 0 || pass > 100 {
		l.add(f+".passScore", "must be between 0 and 100, got %d", pass)
	}
	if marginal < 0 || marginal > pass {
		l.add(f+".marginalScore", "must be between 0 and passScore (%d), got %d", pass, marginal)
	}
	if len(j.Metrics) == 0 {
		l.add(f+".metrics", "at least one metric is required")
	}
	seen := map[string]bool{}
	for i, m := range j.Metrics {
		mf := fmt.Sprintf("%s.metrics[%d]", f, i)
		checkName(l, mf+".name", m.Name)
		if seen[m.Name] && m.Name != "" {
			l.add(mf+".name", "duplicate metric %q", m.Name)
		}
		seen[m.Name] = true
		for _, q := range []struct{ field, v string }{{"canaryQuery", m.CanaryQuery}, {"productionQuery", m.ProductionQuery}} {
			if strings.TrimSpace(q.v) == "" {
				l.add(mf+"."+q.field, "is required")
			}
			checkArgRefs(l, mf+"."+q.field, q.v, declared)
		}
		switch m.Direction {
		case "", DirectionIncrease, DirectionDecrease, DirectionEither:
		default:
			l.add(mf+".direction", "must be %q, %q or %q, got %q", DirectionIncrease, DirectionDecrease, DirectionEither, m.Direction)
		}
		if m.AllowedIncreasePercent < 0 {
			l.add(mf+".allowedIncreasePercent", "must not be negative, got %d", m.AllowedIncreasePercent)
		}
		if m.AllowedDecreasePercent < 0 || m.AllowedDecreasePercent > 100 {
			l.add(mf+".allowedDecreasePercent", "must be between 0 and 100, got %d", m.AllowedDecreasePercent)
		}
		if m.Weight < 0 {
			l.add(mf+".weight", "must not be negative, got %d", m.Weight)
		}
	}
}

// Scores returns the pass and marginal scores with defaults filled in.
func (j *AnalysisJudge) Scores() (pass, marginal int) {
	pass, marginal = j.PassScore, j.MarginalScore
	if pass == 0 {
		pass = DefaultJudgePass
	}
	if marginal == 0 {
		marginal = DefaultJudgeMarginal
		if marginal > pass {
			marginal = pass
		}
	}
	return pass, marginal
}

// checkEndpoint checks an http or https URL, which may use arguments.
func checkEndpoint(l *errs, field, raw string, declared map[string]bool) {
	checkArgRefs(l, field, raw, declared)
	if raw == "" {
		l.add(field, "is required")
		return
	}
	if ArgRef.FindString(raw) == raw {
		return // the whole URL is an argument: checked when it is measured
	}
	u, err := url.Parse(ArgRef.ReplaceAllString(raw, "x"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		l.add(field, "%q must be an http or https URL", raw)
	}
}

// checkArgRefs reports {{args.NAME}} references to undeclared arguments
// and other {{ }} text.
func checkArgRefs(l *errs, field, v string, declared map[string]bool) {
	for _, m := range ArgRef.FindAllStringSubmatch(v, -1) {
		if !declared[m[1]] {
			l.add(field, "uses {{args.%s}}, which is not a declared argument (add it to spec.args)", m[1])
		}
	}
	rest := ArgRef.ReplaceAllString(v, "")
	if strings.Contains(rest, "{{") || strings.Contains(rest, "}}") {
		l.add(field, "only {{args.NAME}} references are allowed, got %q", v)
	}
}

func checkAccess(l *errs, f string, auth *MetricAuth, tls *MetricTLS, timeout *Duration, refs *References) {
	if a := auth; a != nil {
		secret := func(field, name string) {
			checkName(l, field, name)
			if refs != nil && refs.Secrets != nil && name != "" && !refs.Secrets[name] {
				l.add(field, "secret %q does not exist (create it with: fledge secret set %s)", name, name)
			}
		}
		switch {
		case (a.BearerSecretRef == "") == (a.Basic == nil):
			l.add(f+".auth", "set exactly one of bearerSecretRef and basic")
		case a.Basic != nil:
			if a.Basic.Username == "" || strings.Contains(a.Basic.Username, ":") {
				l.add(f+".auth.basic.username", "is required and may not contain ':'")
			}
			secret(f+".auth.basic.passwordSecretRef", a.Basic.PasswordSecretRef)
		default:
			secret(f+".auth.bearerSecretRef", a.BearerSecretRef)
		}
	}
	if t := tls; t != nil && t.CA != "" {
		if !x509.NewCertPool().AppendCertsFromPEM([]byte(t.CA)) {
			l.add(f+".tls.ca", "holds no PEM certificate")
		}
	}
	checkPositive(l, f+".timeout", timeout)
}
