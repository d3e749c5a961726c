package v1alpha1

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// FieldError is one problem with one field of a resource.
type FieldError struct {
	// Field is a path like spec.stages[1].shiftTraffic.rampLimitPercent.
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e FieldError) Error() string { return e.Field + ": " + e.Message }

// ValidationError lists every problem found in one resource.
type ValidationError struct {
	Kind   string
	Name   string
	Errors []FieldError
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invalid %s %q: ", e.Kind, e.Name)
	for i, fe := range e.Errors {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(fe.Error())
	}
	return b.String()
}

type errs []FieldError

func (l *errs) add(field, format string, args ...any) {
	*l = append(*l, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (l errs) result(kind, name string) error {
	if len(l) == 0 {
		return nil
	}
	return &ValidationError{Kind: kind, Name: name, Errors: l}
}

var (
	// dnsLabel is a Kubernetes namespace or resource name (RFC 1123 label).
	dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	// dnsSubdomain is a Kubernetes object name.
	dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	// headerName is an HTTP header field name (an RFC 9110 token).
	headerName = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
	// headerValue is a tester header value: empty (the default) or
	// printable ASCII without spaces.
	headerValue = regexp.MustCompile(`^[!-~]*$`)
	// ParameterName is the form of a parameter name, as used in ${NAME}.
	ParameterName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// PayloadRef is one {{ .dotted.path }} of a trigger's parameter value;
	// group 1 is the path. A path segment is letters, digits, '_' and '-';
	// a segment of digits indexes an array.
	PayloadRef = regexp.MustCompile(`\{\{\s*\.([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)\s*\}\}`)
	// PayloadPath is a dotted path as a trigger's match key uses it.
	PayloadPath = regexp.MustCompile(`^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$`)
)

// Bounds of a pipeline's triggers.
const (
	MaxTriggers         = 10
	MaxTriggerTemplates = 50
)

func checkName(l *errs, field, name string) {
	switch {
	case name == "":
		l.add(field, "is required")
	case len(name) > 63:
		l.add(field, "must be at most 63 characters, got %d", len(name))
	case !dnsLabel.MatchString(name):
		l.add(field, "%q must consist of lower case letters, digits and '-', and start and end with a letter or digit", name)
	}
}

func checkMeta(l *errs, kind string, tm TypeMeta, m ObjectMeta) {
	if tm.APIVersion != APIVersion {
		l.add("apiVersion", "must be %q, got %q", APIVersion, tm.APIVersion)
	}
	if tm.Kind != kind {
		l.add("kind", "must be %q, got %q", kind, tm.Kind)
	}
	checkName(l, "metadata.name", m.Name)
	if len(m.Labels) > 64 {
		l.add("metadata.labels", "at most 64 labels, got %d", len(m.Labels))
	}
	for _, k := range sortedKeys(m.Labels) {
		if len(k) > 63 || !labelKey.MatchString(k) {
			l.add("metadata.labels", "key %q must be at most 63 ASCII letters, digits, '-', '_', '.' or '/', starting and ending with a letter or digit", k)
		}
		if v := m.Labels[k]; len(v) > 63 || !labelValue.MatchString(v) {
			l.add("metadata.labels."+k, "value %q must be at most 63 ASCII letters, digits, '-', '_' or '.'", v)
		}
	}
	if len(m.Description) > 2000 {
		l.add("metadata.description", "must be at most 2000 bytes, got %d", len(m.Description))
	} else if msg := CheckText(m.Description); msg != "" {
		l.add("metadata.description", "%s", msg)
	}
}

// cookieName is a tester cookie's name: a subset of RFC 6265's token
// that needs no quoting in a regular expression.
var cookieName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

var (
	labelKey   = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$`)
	labelValue = regexp.MustCompile(`^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$`)
)

// CheckText returns what is wrong with a free-text value (a parameter
// value, a description, a reason), or "": invalid UTF-8, control characters
// other than tab and newline (a carriage return too: printed raw it
// rewrites the line a reviewer reads), and invisible formatting characters (bidirectional
// overrides, zero-width characters) that make text read differently than
// it is. The renderer keeps any value inside its YAML scalar, so manifest
// structure is safe regardless; this is about what people review.
func CheckText(v string) string {
	if !utf8.ValidString(v) {
		return "is not valid UTF-8"
	}
	for i, r := range v {
		switch {
		case r == '\t' || r == '\n':
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return fmt.Sprintf("has control character %U at byte %d", r, i)
		case unicode.Is(unicode.Cf, r) || r == 0x2028 || r == 0x2029:
			return fmt.Sprintf("has invisible formatting character %U at byte %d (bidirectional overrides and zero-width characters are refused)", r, i)
		}
	}
	return ""
}

// Validate checks an environment on its own.
func (e *Environment) Validate() error {
	var l errs
	checkMeta(&l, KindEnvironment, e.TypeMeta, e.Metadata)
	s := e.Spec
	switch {
	case s.InCluster && s.Kubeconfig != nil:
		l.add("spec", "set either kubeconfig or inCluster, not both")
	case !s.InCluster && s.Kubeconfig == nil:
		l.add("spec.kubeconfig", "is required unless inCluster is true")
	case s.Kubeconfig != nil:
		k := s.Kubeconfig
		if (k.Path == "") == (k.Inline == "") {
			l.add("spec.kubeconfig", "set exactly one of path and inline")
		}
	}
	switch s.IngressLayout {
	case "", IngressLayoutCanaryNamespace, IngressLayoutBesideProduction:
	default:
		l.add("spec.ingressLayout", "must be %q or %q, got %q", IngressLayoutCanaryNamespace, IngressLayoutBesideProduction, s.IngressLayout)
	}
	if len(s.RegistryCredentials) > MaxRegistryCredentials {
		l.add("spec.registryCredentials", "must have at most %d entries, got %d", MaxRegistryCredentials, len(s.RegistryCredentials))
	}
	seen := map[string]bool{}
	for i, r := range s.RegistryCredentials {
		f := fmt.Sprintf("spec.registryCredentials[%d].secretRef", i)
		checkName(&l, f, r.SecretRef)
		if seen[r.SecretRef] {
			l.add(f, "names secret %q twice", r.SecretRef)
		}
		seen[r.SecretRef] = true
	}
	return l.result(KindEnvironment, e.Metadata.Name)
}

// Validate checks an artifact on its own; placeholders are checked when a
// pipeline that uses it is validated or run.
func (a *Artifact) Validate() error {
	var l errs
	checkMeta(&l, KindArtifact, a.TypeMeta, a.Metadata)
	if a.Spec.File != "" {
		l.add("spec.file", "must be resolved into spec.manifests by the client before it is sent")
	}
	if strings.TrimSpace(a.Spec.Manifests) == "" {
		l.add("spec.manifests", "is required and must hold at least one Kubernetes object")
	}
	return l.result(KindArtifact, a.Metadata.Name)
}

// References are the resources a pipeline uses, for cross-checks.
type References struct {
	Environments map[string]bool
	Artifacts    map[string]bool
	// Secrets are the webhook secrets; nil skips the check.
	Secrets map[string]bool
}

// stageOrder is the canary strategy's order; a stage type may not come
// before one with a lower rank.
var stageOrder = map[StageType]int{
	StageCanaryDeployment:  0,
	StageShiftTraffic:      1,
	StageCanarySteps:       1,
	StageApproval:          2,
	StageProductionRelease: 3,
	StageProductionWave:    4,
}

// Validate checks a pipeline as a whole and reports every problem at once.
// With refs non-nil, references to environments and artifacts are checked
// too.
func (p *Pipeline) Validate(refs *References) error {
	var l errs
	checkMeta(&l, KindPipeline, p.TypeMeta, p.Metadata)
	seenParam := map[string]bool{}
	for i, prm := range p.Spec.Parameters {
		f := fmt.Sprintf("spec.parameters[%d].name", i)
		switch {
		case prm.Name == "":
			l.add(f, "is required")
		case !ParameterName.MatchString(prm.Name):
			l.add(f, "%q must be letters, digits and '_', not starting with a digit", prm.Name)
		case seenParam[prm.Name]:
			l.add(f, "duplicate parameter %q", prm.Name)
		}
		if prm.Default != nil {
			if msg := CheckText(*prm.Default); msg != "" {
				l.add(fmt.Sprintf("spec.parameters[%d].default", i), "%s", msg)
			}
		}
		seenParam[prm.Name] = true
	}
	stages := p.Spec.Stages
	if len(stages) == 0 {
		l.add("spec.stages", "at least one stage is required")
	}
	seenStage := map[string]bool{}
	count := map[StageType]int{}
	last := -1
	var canaryNS, prodNS string
	var canaryField, prodField string
	var canaryEnv string
	targets := map[string]string{}
	for i, st := range stages {
		f := fmt.Sprintf("spec.stages[%d]", i)
		checkName(&l, f+".name", st.Name)
		if seenStage[st.Name] && st.Name != "" {
			l.add(f+".name", "duplicate stage name %q", st.Name)
		}
		seenStage[st.Name] = true
		t := st.Type()
		if t == "" {
			l.add(f, "set exactly one of canaryDeployment, shiftTraffic, canarySteps, approval, productionRelease, productionWave, blueGreen")
			continue
		}
		count[t]++
		// A blueGreen stage has no rank: it is the only stage (below).
		switch rank, ordered := stageOrder[t]; {
		case !ordered:
		case rank < last:
			l.add(f, "%s stage cannot come after a later stage of the canary strategy (order: canaryDeployment, shiftTraffic or canarySteps, approval, productionRelease, productionWave)", t)
		default:
			last = rank
		}
		switch t {
		case StageCanaryDeployment:
			c := st.CanaryDeployment
			f += ".canaryDeployment"
			checkSource(&l, f, c.Environment, c.Artifacts, refs)
			checkName(&l, f+".namespace", c.Namespace)
			switch {
			case c.IngressName == "" && c.HTTPRouteName == "":
				l.add(f+".ingressName", "is required: the name of the NGINX Ingress in the manifests (or set httpRouteName to split traffic with a Gateway API HTTPRoute)")
			case c.IngressName != "" && c.HTTPRouteName != "":
				l.add(f, "set either ingressName (NGINX) or httpRouteName (Gateway API), not both")
			case c.IngressName != "" && !dnsSubdomain.MatchString(c.IngressName):
				l.add(f+".ingressName", "%q is not a valid Kubernetes object name", c.IngressName)
			case c.HTTPRouteName != "" && !dnsSubdomain.MatchString(c.HTTPRouteName):
				l.add(f+".httpRouteName", "%q is not a valid Kubernetes object name", c.HTTPRouteName)
			}
			if h := c.TesterHeader; h != nil {
				checkTesterHeader(&l, f+".testerHeader", h)
			}
			if c.TesterCookie != "" && !cookieName.MatchString(c.TesterCookie) {
				l.add(f+".testerCookie", "%q must be 1 to 64 ASCII letters, digits, '-' or '_'", c.TesterCookie)
			}
			checkPositive(&l, f+".rolloutTimeout", c.RolloutTimeout)
			if sc := c.Scale; sc != nil {
				switch {
				case (sc.Replicas != 0) == (sc.Percent != 0):
					l.add(f+".scale", "set exactly one of replicas and percent")
				case sc.Replicas < 0 || sc.Replicas > 1000:
					l.add(f+".scale.replicas", "must be between 1 and 1000, got %d", sc.Replicas)
				case sc.Percent < 0 || sc.Percent > 100:
					l.add(f+".scale.percent", "must be between 1 and 100, got %d", sc.Percent)
				}
			}
			canaryNS, canaryField, canaryEnv = c.Namespace, f+".namespace", c.Environment
		case StageShiftTraffic:
			s := st.ShiftTraffic
			f += ".shiftTraffic"
			if s.RampLimitPercent < 1 || s.RampLimitPercent > 100 {
				l.add(f+".rampLimitPercent", "must be between 1 and 100, got %d", s.RampLimitPercent)
			}
			if s.BatchCount < 0 {
				l.add(f+".batchCount", "must be at least 1, got %d", s.BatchCount)
			}
			if s.BatchCount > 100 {
				l.add(f+".batchCount", "must be at most 100, got %d", s.BatchCount)
			}
			if s.BatchDelay != nil && s.BatchDelay.Duration < 0 {
				l.add(f+".batchDelay", "must not be negative")
			}
		case StageCanarySteps:
			st.CanarySteps.validate(&l, f+".canarySteps")
		case StageBlueGreen:
			st.BlueGreen.validate(&l, f+".blueGreen", refs)
		case StageApproval:
			a := st.Approval
			f += ".approval"
			if a.ApprovalsRequired < 0 {
				l.add(f+".approvalsRequired", "must be at least 1, got %d", a.ApprovalsRequired)
			}
			checkPositive(&l, f+".timeout", a.Timeout)
		case StageProductionRelease:
			r := st.ProductionRelease
			f += ".productionRelease"
			checkName(&l, f+".namespace", r.Namespace)
			checkPositive(&l, f+".rolloutTimeout", r.RolloutTimeout)
			if h := r.PromotionHold; h != nil && (h.Duration < 0 || h.Duration > MaxPromotionHold) {
				l.add(f+".promotionHold", "must be between 0s and %s, got %s", MaxPromotionHold, h.Duration)
			}
			switch r.RollbackOnFailure {
			case "", RollbackFailedWave, RollbackAllWaves:
			default:
				l.add(f+".rollbackOnFailure", "must be %q or %q, got %q", RollbackFailedWave, RollbackAllWaves, r.RollbackOnFailure)
			}
			prodNS, prodField = r.Namespace, f+".namespace"
			if canaryEnv != "" && r.Namespace != "" {
				targets[ProductionTarget{Environment: canaryEnv, Namespace: r.Namespace}.Name()] = "the production beside the canary (" + prodField + ")"
			}
			if canaryEnv != "" && canaryNS != "" {
				targets[ProductionTarget{Environment: canaryEnv, Namespace: canaryNS}.Name()] = "the canary's namespace (" + canaryField + ")"
			}
		case StageProductionWave:
			st.ProductionWave.validate(&l, f+".productionWave", refs, targets)
		}
	}
	if n := count[StageProductionWave]; n > MaxWaves {
		l.add("spec.stages", "at most %d productionWave stages, got %d", MaxWaves, n)
	}
	if count[StageProductionWave] > 0 && count[StageProductionRelease] == 0 {
		l.add("spec.stages", "productionWave stages need a productionRelease stage before them: it is the first wave, beside the canary")
	}
	for _, t := range []StageType{StageCanaryDeployment, StageShiftTraffic, StageCanarySteps, StageApproval, StageProductionRelease, StageBlueGreen} {
		if n := count[t]; n > 1 {
			l.add("spec.stages", "%d %s stages; a pipeline has at most one of each type", n, t)
		}
	}
	if count[StageCanarySteps] > 0 && (count[StageShiftTraffic] > 0 || count[StageApproval] > 0) {
		l.add("spec.stages", "a canarySteps stage replaces shiftTraffic and approval stages: write their weights and approval as steps")
	}
	if count[StageBlueGreen] > 0 {
		if len(stages) > 1 {
			l.add("spec.stages", "a blueGreen stage is the whole pipeline: it deploys, waits for its approval and switches by itself, so a pipeline with one has no other stage (got %d stages)", len(stages))
		}
	} else if len(stages) > 0 {
		if count[StageCanaryDeployment] == 0 {
			l.add("spec.stages", "a canaryDeployment stage is required (it names the environment and artifacts)")
		} else if stages[0].Type() != StageCanaryDeployment {
			l.add("spec.stages[0]", "the first stage must be canaryDeployment")
		}
		if count[StageCanarySteps] > 0 && count[StageCanaryDeployment] == 0 {
			l.add("spec.stages", "canarySteps needs a canaryDeployment stage before it")
		}
		if count[StageShiftTraffic] > 0 && count[StageCanaryDeployment] == 0 {
			l.add("spec.stages", "shiftTraffic needs a canaryDeployment stage before it")
		}
	}
	if canaryNS != "" && canaryNS == prodNS {
		l.add(prodField, "production namespace %q must differ from the canary namespace (%s)", prodNS, canaryField)
	}
	checkTriggers(&l, p.Spec.Triggers, seenParam, refs)
	if rb := p.Spec.Rollback; rb != nil {
		switch rb.RequiredRole {
		case "", RollbackByApprover, RollbackByDeployer:
		default:
			l.add("spec.rollback.requiredRole", "must be %q or %q, got %q", RollbackByApprover, RollbackByDeployer, rb.RequiredRole)
		}
	}
	checkNotifications(&l, p.Spec.Notifications, refs)
	return l.result(KindPipeline, p.Metadata.Name)
}

// checkTriggers checks each trigger's secret, events and mappings; the
// mappings are data (dotted paths), never code.
func checkTriggers(l *errs, triggers []Trigger, params map[string]bool, refs *References) {
	if len(triggers) > MaxTriggers {
		l.add("spec.triggers", "at most %d triggers, got %d", MaxTriggers, len(triggers))
	}
	for i, tr := range triggers {
		f := fmt.Sprintf("spec.triggers[%d]", i)
		var w *WebhookTrigger
		switch {
		case (tr.GitHub == nil) == (tr.Webhook == nil):
			l.add(f, "set exactly one of github and webhook")
			continue
		case tr.GitHub != nil:
			f += ".github"
			w = &tr.GitHub.WebhookTrigger
			if len(tr.GitHub.Events) == 0 {
				l.add(f+".events", "at least one event is required (one of %s)", strings.Join(GitHubEvents, ", "))
			}
			for j, ev := range tr.GitHub.Events {
				if !slices.Contains(GitHubEvents, ev) {
					l.add(fmt.Sprintf("%s.events[%d]", f, j), "unsupported GitHub event %q (want one of %s)", ev, strings.Join(GitHubEvents, ", "))
				}
			}
		default:
			f += ".webhook"
			w = tr.Webhook
		}
		checkName(l, f+".secretRef", w.SecretRef)
		if refs != nil && refs.Secrets != nil && w.SecretRef != "" && !refs.Secrets[w.SecretRef] {
			l.add(f+".secretRef", "webhook secret %q does not exist (create it with: fledge secret set %s --generate)", w.SecretRef, w.SecretRef)
		}
		templates := 0
		for _, name := range sortedKeys(w.Parameters) {
			v := w.Parameters[name]
			pf := f + ".parameters." + name
			if !params[name] {
				l.add(pf, "%q is not a declared parameter (add it to spec.parameters)", name)
			}
			refs := PayloadRef.FindAllStringIndex(v, -1)
			templates += len(refs)
			rest := PayloadRef.ReplaceAllString(v, "")
			if strings.Contains(rest, "{{") || strings.Contains(rest, "}}") {
				l.add(pf, "only {{ .dotted.path }} references are allowed (letters, digits, '_' and '-' between dots), got %q", v)
			}
		}
		if templates > MaxTriggerTemplates {
			l.add(f+".parameters", "at most %d payload references, got %d", MaxTriggerTemplates, templates)
		}
		for _, k := range sortedKeys(w.Match) {
			if !PayloadPath.MatchString(k) {
				l.add(f+".match", "key %q must be a dotted path of the payload, like workflow_run.conclusion", k)
			}
		}
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// checkSource checks the environment and artifacts a stage at field f
// deploys; with refs, that they exist.
func checkSource(l *errs, f, env string, artifacts []string, refs *References) {
	if env == "" {
		l.add(f+".environment", "is required")
	} else if refs != nil && !refs.Environments[env] {
		l.add(f+".environment", "environment %q does not exist", env)
	}
	if len(artifacts) == 0 {
		l.add(f+".artifacts", "at least one artifact is required")
	}
	for j, a := range artifacts {
		if refs != nil && !refs.Artifacts[a] {
			l.add(fmt.Sprintf("%s.artifacts[%d]", f, j), "artifact %q does not exist", a)
		}
	}
}

// checkTesterHeader checks a tester header at field f.
func checkTesterHeader(l *errs, f string, h *TesterHeader) {
	if !headerName.MatchString(h.Name) {
		l.add(f+".name", "%q is not a valid HTTP header name", h.Name)
	}
	switch {
	case strings.EqualFold(h.Value, "never"):
		l.add(f+".value", `"never" is NGINX's keyword to keep a request away from the canary; choose another value`)
	case !headerValue.MatchString(h.Value):
		l.add(f+".value", "%q must be printable ASCII without spaces", h.Value)
	}
}

func checkPositive(l *errs, field string, d *Duration) {
	if d != nil && d.Duration <= 0 {
		l.add(field, "must be positive, got %s", d.Duration)
	}
}

// CanaryStage returns the pipeline's canary deployment stage, if any.
func (p *Pipeline) CanaryStage() *CanaryDeploymentStage {
	for _, s := range p.Spec.Stages {
		if s.CanaryDeployment != nil {
			return s.CanaryDeployment
		}
	}
	return nil
}

// ProductionStage returns the pipeline's production release stage, if any.
func (p *Pipeline) ProductionStage() *ProductionReleaseStage {
	for _, s := range p.Spec.Stages {
		if s.ProductionRelease != nil {
			return s.ProductionRelease
		}
	}
	return nil
}
