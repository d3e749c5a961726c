package v1alpha1

import (
	"fmt"
	"strings"
)

// StageCanarySteps names a stage that runs a list of canary steps between
// the canary deployment and the production release.
const StageCanarySteps StageType = "canarySteps"

// CanaryStepsStage is any list of steps between the canary deployment and
// the production release: weights, pauses, approvals and analyses, in the
// order given. It replaces the shiftTraffic and approval stages (a pipeline
// has one or the other), which expand into the same steps.
type CanaryStepsStage struct {
	Steps []CanaryStep `json:"steps" yaml:"steps"`
	// BackgroundAnalysis runs from the first weight above 0 until the
	// stage ends, measured between steps and during pauses and approvals.
	// Failed aborts the deployment at once; Inconclusive or Error stops
	// it at the gate STAGE/background for a person (approve continues
	// without it, reject aborts).
	BackgroundAnalysis *AnalysisStep `json:"backgroundAnalysis,omitempty" yaml:"backgroundAnalysis,omitempty"`
}

// BackgroundGate is the gate of a canarySteps stage's background analysis,
// and the analysis's name.
func BackgroundGate(stage string) string { return stage + "/background" }

// CanaryStep is one step; exactly one of its fields is set.
type CanaryStep struct {
	// SetWeight sends this percentage of the requests to the canary (0 to
	// 100), read back from the data plane.
	SetWeight *int `json:"setWeight,omitempty" yaml:"setWeight,omitempty"`
	// Pause holds the canary's weight for a duration, or until someone
	// resumes the deployment (fledge resume) when no duration is given.
	Pause *PauseStep `json:"pause,omitempty" yaml:"pause,omitempty"`
	// Approval waits for people, as an approval stage does.
	Approval *ApprovalStage `json:"approval,omitempty" yaml:"approval,omitempty"`
	// Analysis runs AnalysisTemplates to a verdict: Successful goes on,
	// Failed aborts the deployment, Inconclusive waits for a person.
	Analysis *AnalysisStep `json:"analysis,omitempty" yaml:"analysis,omitempty"`
}

// CanaryStepKind names what a canary step does.
type CanaryStepKind string

// Canary step kinds.
const (
	StepKindSetWeight CanaryStepKind = "setWeight"
	StepKindPause     CanaryStepKind = "pause"
	StepKindApproval  CanaryStepKind = "approval"
	StepKindAnalysis  CanaryStepKind = "analysis"
)

// Kind returns the step's kind, or "" when none or several fields are set.
func (s CanaryStep) Kind() CanaryStepKind {
	var k CanaryStepKind
	n := 0
	if s.SetWeight != nil {
		k, n = StepKindSetWeight, n+1
	}
	if s.Pause != nil {
		k, n = StepKindPause, n+1
	}
	if s.Approval != nil {
		k, n = StepKindApproval, n+1
	}
	if s.Analysis != nil {
		k, n = StepKindAnalysis, n+1
	}
	if n != 1 {
		return ""
	}
	return k
}

// String describes the step in one line, as describe shows it.
func (s CanaryStep) String() string {
	switch s.Kind() {
	case StepKindSetWeight:
		return fmt.Sprintf("setWeight %d%%", *s.SetWeight)
	case StepKindPause:
		if s.Pause.Duration == nil {
			return "pause until resumed"
		}
		return "pause " + s.Pause.Duration.Duration.String()
	case StepKindApproval:
		n := max(s.Approval.ApprovalsRequired, DefaultApprovalsRequired)
		out := fmt.Sprintf("approval by %d", n)
		if s.Approval.RequireDistinctFromTrigger {
			out += " (not the trigger)"
		}
		return out
	case StepKindAnalysis:
		names := make([]string, len(s.Analysis.Templates))
		for i, t := range s.Analysis.Templates {
			names[i] = t.Name
		}
		return "analysis " + strings.Join(names, ", ")
	}
	return "invalid step"
}

// PauseStep holds the canary's weight.
type PauseStep struct {
	// Duration of the pause; none waits until the deployment is resumed.
	Duration *Duration `json:"duration,omitempty" yaml:"duration,omitempty"`
}

// AnalysisTemplateRef names an AnalysisTemplate.
type AnalysisTemplateRef struct {
	Name string `json:"name" yaml:"name"`
}

// AnalysisArg gives a template argument its value for one step.
type AnalysisArg struct {
	Name  string `json:"name" yaml:"name"`
	Value string `json:"value" yaml:"value"`
}

// AnalysisStep runs templates with arguments.
type AnalysisStep struct {
	Templates []AnalysisTemplateRef `json:"templates" yaml:"templates"`
	Args      []AnalysisArg         `json:"args,omitempty" yaml:"args,omitempty"`
}

// MaxCanarySteps bounds a canarySteps stage.
const MaxCanarySteps = 100

// validate checks the stage's steps; f is its field path.
func (c *CanaryStepsStage) validate(l *errs, f string) {
	if len(c.Steps) == 0 {
		l.add(f+".steps", "at least one step is required")
	}
	if len(c.Steps) > MaxCanarySteps {
		l.add(f+".steps", "at most %d steps, got %d", MaxCanarySteps, len(c.Steps))
	}
	if c.BackgroundAnalysis != nil {
		c.BackgroundAnalysis.validate(l, f+".backgroundAnalysis")
	}
	for i, s := range c.Steps {
		sf := fmt.Sprintf("%s.steps[%d]", f, i)
		if s.Kind() == "" {
			l.add(sf, "set exactly one of setWeight, pause, approval, analysis")
			continue
		}
		s.validate(l, sf)
	}
}

// validate checks a step whose kind is set; f is its field path.
func (s CanaryStep) validate(l *errs, f string) {
	switch s.Kind() {
	case StepKindSetWeight:
		if w := *s.SetWeight; w < 0 || w > 100 {
			l.add(f+".setWeight", "must be between 0 and 100, got %d", w)
		}
	case StepKindPause:
		if d := s.Pause.Duration; d != nil && d.Duration < 0 {
			l.add(f+".pause.duration", "must not be negative, got %s", d.Duration)
		}
	case StepKindApproval:
		if s.Approval.ApprovalsRequired < 0 {
			l.add(f+".approval.approvalsRequired", "must be at least 1, got %d", s.Approval.ApprovalsRequired)
		}
		checkPositive(l, f+".approval.timeout", s.Approval.Timeout)
	case StepKindAnalysis:
		s.Analysis.validate(l, f+".analysis")
	}
}

func (a *AnalysisStep) validate(l *errs, f string) {
	if len(a.Templates) == 0 {
		l.add(f+".templates", "at least one template is required")
	}
	seen := map[string]bool{}
	for i, t := range a.Templates {
		tf := fmt.Sprintf("%s.templates[%d].name", f, i)
		checkName(l, tf, t.Name)
		if seen[t.Name] && t.Name != "" {
			l.add(tf, "template %q is listed twice", t.Name)
		}
		seen[t.Name] = true
	}
	args := map[string]bool{}
	for i, a := range a.Args {
		af := fmt.Sprintf("%s.args[%d]", f, i)
		switch {
		case a.Name == "":
			l.add(af+".name", "is required")
		case !ParameterName.MatchString(strings.ReplaceAll(a.Name, ".", "_")):
			l.add(af+".name", "%q must be letters, digits, '_' and '.'", a.Name)
		case args[a.Name]:
			l.add(af+".name", "argument %q is given twice", a.Name)
		}
		args[a.Name] = true
		if msg := CheckText(a.Value); msg != "" {
			l.add(af+".value", "%s", msg)
		}
	}
}

// UsesAnalysis reports whether any stage of the pipeline runs an analysis.
func (p *Pipeline) UsesAnalysis() bool {
	for _, st := range p.Spec.Stages {
		if len(st.Analyses()) > 0 {
			return true
		}
	}
	return false
}

// Analyses lists the analyses of a stage with their field paths inside
// the stage: canarySteps.backgroundAnalysis, canarySteps.steps[N].analysis,
// blueGreen.prePromotionAnalysis, blueGreen.postPromotionAnalysis.
func (s Stage) Analyses() []AnalysisAt {
	var out []AnalysisAt
	if s.CanarySteps != nil {
		for _, at := range s.CanarySteps.Analyses() {
			at.Field = "canarySteps." + at.Field
			out = append(out, at)
		}
	}
	if b := s.BlueGreen; b != nil {
		if b.PrePromotionAnalysis != nil {
			out = append(out, AnalysisAt{Field: "blueGreen.prePromotionAnalysis", Step: b.PrePromotionAnalysis})
		}
		if b.PostPromotionAnalysis != nil {
			out = append(out, AnalysisAt{Field: "blueGreen.postPromotionAnalysis", Step: b.PostPromotionAnalysis})
		}
	}
	return out
}

// AnalysisAt is one analysis of a canarySteps stage with its field path
// inside the stage: backgroundAnalysis, or steps[N].analysis.
type AnalysisAt struct {
	Field string
	Step  *AnalysisStep
}

// Analyses lists the stage's analyses: the background analysis first,
// then the analysis steps in order.
func (c *CanaryStepsStage) Analyses() []AnalysisAt {
	var out []AnalysisAt
	if c.BackgroundAnalysis != nil {
		out = append(out, AnalysisAt{Field: "backgroundAnalysis", Step: c.BackgroundAnalysis})
	}
	for i, s := range c.Steps {
		if s.Analysis != nil {
			out = append(out, AnalysisAt{Field: fmt.Sprintf("steps[%d].analysis", i), Step: s.Analysis})
		}
	}
	return out
}
