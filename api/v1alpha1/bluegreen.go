package v1alpha1

import "time"

// StageBlueGreen names the blue/green strategy's stage: the new version
// runs beside the live one, then every request moves to it at once.
const StageBlueGreen StageType = "blueGreen"

// The two slots of a blue/green pipeline. A release goes into the slot
// that does not serve; the switch makes it the live one.
const (
	SlotBlue  = "blue"
	SlotGreen = "green"
)

// Slots lists the slots in order.
var Slots = []string{SlotBlue, SlotGreen}

// OtherSlot returns the slot that is not s; "" (no slot serves yet, a
// first release) gives SlotBlue.
func OtherSlot(s string) string {
	if s == SlotBlue {
		return SlotGreen
	}
	return SlotBlue
}

// Defaults of a blueGreen stage.
const (
	// DefaultScaleDownDelay is how long the previous version stays scaled
	// after the switch, for an instant switch back.
	DefaultScaleDownDelay = 30 * time.Second
	// MaxScaleDownDelay bounds blueGreen.scaleDownDelay.
	MaxScaleDownDelay = 24 * time.Hour
)

// BlueGreenStage deploys the new version into the idle one of two slot
// namespaces beside the live one, waits until it is ready (testers reach
// it through the slot's Services, or with the tester header through the
// preview Ingress), optionally waits for an approval, switches every
// request to it at once by pointing the Ingress in Namespace at the new
// slot (read back), keeps the previous slot scaled for ScaleDownDelay so
// that aborting or rolling back switches back without a redeploy, and
// then scales the previous slot's Deployments to 0. A pipeline with a
// blueGreen stage has no other stage.
type BlueGreenStage struct {
	Environment string   `json:"environment" yaml:"environment"`
	Artifacts   []string `json:"artifacts" yaml:"artifacts"`
	// Namespace holds what users reach: the manifests' Ingress, pointed at
	// the live slot through ExternalName Services "<service>-blue" and
	// "<service>-green". The slots are the namespaces "<namespace>-blue"
	// and "<namespace>-green", which hold the manifests' other objects.
	Namespace string `json:"namespace" yaml:"namespace"`
	// IngressName is the NGINX Ingress of the manifests that users reach;
	// its backends are switched from one slot to the other. Set exactly
	// one of IngressName and HTTPRouteName.
	IngressName string `json:"ingressName,omitempty" yaml:"ingressName,omitempty"`
	// HTTPRouteName is the Gateway API HTTPRoute of the manifests that
	// users reach: it lives in Namespace, and its backend references to
	// the manifests' Services point at one slot's namespace, which a
	// ReferenceGrant there allows; the switch points them at the other
	// slot. The tester header's preview is a rule of the same route.
	HTTPRouteName string `json:"httpRouteName,omitempty" yaml:"httpRouteName,omitempty"`
	// TesterHeader sends a request to the new slot before the switch,
	// through the preview Ingress "<ingress>-preview" (an NGINX canary
	// Ingress with weight 0); default "redirect-to-canary: always".
	TesterHeader *TesterHeader `json:"testerHeader,omitempty" yaml:"testerHeader,omitempty"`
	// PrePromotionAnalysis, when set, judges the new slot by its metrics
	// once it is ready (testers reach it with the header), before the
	// approval and the switch: Failed fails the deployment with nothing
	// switched, Inconclusive or Error waits for a person at the gate
	// STAGE/pre-promotion.
	PrePromotionAnalysis *AnalysisStep `json:"prePromotionAnalysis,omitempty" yaml:"prePromotionAnalysis,omitempty"`
	// Approval, when set, waits for people after the new slot is ready and
	// before the switch.
	Approval *ApprovalStage `json:"approval,omitempty" yaml:"approval,omitempty"`
	// PostPromotionAnalysis, when set, judges the new slot once it takes
	// every request, while the previous slot stays scaled: Failed switches
	// back at once (nothing redeployed) and fails the deployment,
	// Inconclusive or Error waits for a person at the gate
	// STAGE/post-promotion with the previous slot still scaled. The
	// previous slot is scaled down only after it passed and the scale
	// down delay ran out.
	PostPromotionAnalysis *AnalysisStep `json:"postPromotionAnalysis,omitempty" yaml:"postPromotionAnalysis,omitempty"`
	// ScaleDownDelay is how long the previous slot stays scaled after the
	// switch (default 30s). Within it, fledge abort or fledge rollback to
	// the previous release switches back at once.
	ScaleDownDelay *Duration `json:"scaleDownDelay,omitempty" yaml:"scaleDownDelay,omitempty"`
	// RolloutTimeout bounds the wait for the new slot's workloads (default
	// 5m).
	RolloutTimeout *Duration `json:"rolloutTimeout,omitempty" yaml:"rolloutTimeout,omitempty"`
}

// The gates of a blueGreen stage's analyses, where people decide on an
// Inconclusive or Error verdict.
func PrePromotionGate(stage string) string  { return stage + "/pre-promotion" }
func PostPromotionGate(stage string) string { return stage + "/post-promotion" }

// SlotNamespace returns the namespace of slot ("blue" or "green") for a
// blueGreen stage whose namespace is ns.
func SlotNamespace(ns, slot string) string { return ns + "-" + slot }

// Header returns the stage's tester header with defaults filled in.
func (b *BlueGreenStage) Header() TesterHeader {
	c := CanaryDeploymentStage{TesterHeader: b.TesterHeader}
	return c.Header()
}

// AsCanaryDeployment returns what rendering a run of the stage shares with
// a canary deployment stage: the environment, the artifacts, the Ingress
// and the tester header, with the blue slot as namespace.
func (b *BlueGreenStage) AsCanaryDeployment() *CanaryDeploymentStage {
	return &CanaryDeploymentStage{
		Environment: b.Environment, Artifacts: b.Artifacts, Namespace: SlotNamespace(b.Namespace, SlotBlue),
		IngressName: b.IngressName, HTTPRouteName: b.HTTPRouteName, TesterHeader: b.TesterHeader, RolloutTimeout: b.RolloutTimeout,
	}
}

// Namespaces lists the namespaces the stage deploys to: its own, then the
// slots'.
func (b *BlueGreenStage) Namespaces() []string {
	return []string{b.Namespace, SlotNamespace(b.Namespace, SlotBlue), SlotNamespace(b.Namespace, SlotGreen)}
}

// BlueGreenStage returns the pipeline's blueGreen stage, if any.
func (p *Pipeline) BlueGreenStage() *BlueGreenStage {
	for _, s := range p.Spec.Stages {
		if s.BlueGreen != nil {
			return s.BlueGreen
		}
	}
	return nil
}

// validate checks the stage; f is its field path.
func (b *BlueGreenStage) validate(l *errs, f string, refs *References) {
	checkSource(l, f, b.Environment, b.Artifacts, refs)
	checkName(l, f+".namespace", b.Namespace)
	if n := len(SlotNamespace(b.Namespace, SlotGreen)); b.Namespace != "" && n > 63 {
		l.add(f+".namespace", "must be at most %d characters: the slot namespaces %s and %s would be %d characters long",
			63-len("-green"), SlotNamespace(b.Namespace, SlotBlue), SlotNamespace(b.Namespace, SlotGreen), n)
	}
	switch {
	case b.IngressName == "" && b.HTTPRouteName == "":
		l.add(f+".ingressName", "set ingressName (an NGINX Ingress) or httpRouteName (a Gateway API HTTPRoute): the object of the manifests whose backends switch from one slot to the other")
	case b.IngressName != "" && b.HTTPRouteName != "":
		l.add(f+".httpRouteName", "set only one of ingressName and httpRouteName")
	case b.HTTPRouteName != "":
		if !dnsSubdomain.MatchString(b.HTTPRouteName) {
			l.add(f+".httpRouteName", "%q is not a valid Kubernetes object name", b.HTTPRouteName)
		}
	case !dnsSubdomain.MatchString(b.IngressName):
		l.add(f+".ingressName", "%q is not a valid Kubernetes object name", b.IngressName)
	case len(b.IngressName)+len(PreviewSuffix) > 253:
		l.add(f+".ingressName", "must leave room for the preview Ingress %s%s", b.IngressName, PreviewSuffix)
	}
	if a := b.PrePromotionAnalysis; a != nil {
		a.validate(l, f+".prePromotionAnalysis")
	}
	if a := b.PostPromotionAnalysis; a != nil {
		a.validate(l, f+".postPromotionAnalysis")
	}
	if h := b.TesterHeader; h != nil {
		checkTesterHeader(l, f+".testerHeader", h)
	}
	if a := b.Approval; a != nil {
		if a.ApprovalsRequired < 0 {
			l.add(f+".approval.approvalsRequired", "must be at least 1, got %d", a.ApprovalsRequired)
		}
		checkPositive(l, f+".approval.timeout", a.Timeout)
	}
	if d := b.ScaleDownDelay; d != nil && (d.Duration < 0 || d.Duration > MaxScaleDownDelay) {
		l.add(f+".scaleDownDelay", "must be between 0s and %s, got %s", MaxScaleDownDelay, d.Duration)
	}
	checkPositive(l, f+".rolloutTimeout", b.RolloutTimeout)
}

// PreviewSuffix ends the name of a blue/green pipeline's preview Ingress.
const PreviewSuffix = "-preview"

// BlueGreenStatus is where a blue/green deployment stands: which slot
// served when it began, which one it deploys, and the switch.
type BlueGreenStatus struct {
	// Namespace holds the Ingress users reach.
	Namespace string `json:"namespace" yaml:"namespace"`
	// From is the slot that served when the deployment began ("" for a
	// pipeline's first release: nothing served), FromDeployment the
	// deployment it ran and FromNumber its number in the pipeline.
	From           string `json:"from,omitempty" yaml:"from,omitempty"`
	FromDeployment int64  `json:"fromDeployment,omitempty" yaml:"fromDeployment,omitempty"`
	FromNumber     int64  `json:"fromNumber,omitempty" yaml:"fromNumber,omitempty"`
	// To is the slot this deployment runs in.
	To string `json:"to,omitempty" yaml:"to,omitempty"`
	// Switched is set once every request went to To (read back), with
	// the time; SwitchedBack once they went back to From.
	Switched     bool       `json:"switched,omitempty" yaml:"switched,omitempty"`
	SwitchedAt   *time.Time `json:"switchedAt,omitempty" yaml:"switchedAt,omitempty"`
	SwitchedBack bool       `json:"switchedBack,omitempty" yaml:"switchedBack,omitempty"`
	// ScaleDownAt is when From is scaled down (the switch plus the scale
	// down delay); until then a switch back is instant.
	ScaleDownAt *time.Time `json:"scaleDownAt,omitempty" yaml:"scaleDownAt,omitempty"`
	// ScaledDown is set once From's Deployments were scaled to 0.
	ScaledDown bool `json:"scaledDown,omitempty" yaml:"scaledDown,omitempty"`
}

// InWindow reports whether the previous slot is still scaled for an
// instant switch back: the switch happened and the previous slot is
// neither scaled down nor switched back to.
func (s *BlueGreenStatus) InWindow() bool {
	return s != nil && s.Switched && !s.SwitchedBack && !s.ScaledDown && s.From != ""
}
