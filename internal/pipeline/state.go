package pipeline

import (
	"fmt"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

// Step is one unit of work the executor performs and then records.
type Step string

// Steps. Each is safe to repeat after a crash: Kubernetes writes are
// server-side applies and weights are read back.
const (
	StepApplyCanary Step = "ApplyCanary"
	StepWaitCanary  Step = "WaitCanaryRollout"
	StepSetWeight   Step = "SetWeight"
	StepBatchDelay  Step = "BatchDelay"
	StepPause       Step = "Pause"
	StepAnalysis    Step = "Analysis"
	// StepBackgroundEnd ends a canarySteps stage's background analysis:
	// a last measurement, then its verdict (see v1alpha1.CanaryStepsStage).
	StepBackgroundEnd     Step = "BackgroundAnalysisEnd"
	StepOpenApproval      Step = "OpenApproval"
	StepAwaitApproval     Step = "AwaitApproval"
	StepApplyProduction   Step = "ApplyProduction"
	StepWaitProduction    Step = "WaitProductionRollout"
	StepRestoreProduction Step = "RestoreProduction"
	// StepApplyTargets and StepWaitTargets release a productionWave
	// stage's targets (or a rollback's), StepRestoreTargets gives the
	// targets a failed run touched back what they ran before.
	StepApplyTargets   Step = "ApplyTargets"
	StepWaitTargets    Step = "WaitTargetsRollout"
	StepRestoreTargets Step = "RestoreTargets"
	StepResetWeight    Step = "ResetWeight"
	StepDone           Step = "Done"
)

// Action is the next step with what it needs.
type Action struct {
	Step Step
	// StageIndex is -1 for finishing steps.
	StageIndex int
	StageName  string
	// Weight is the target canary weight of StepSetWeight.
	Weight int
	// Batch and Batches number a StepSetWeight (1-based).
	Batch, Batches int
	// Index is the step's position in a canarySteps stage (0-based), and
	// Gate the name people decide at (see GateName); both are unset for
	// the steps of other stages.
	Index int
	Gate  string
}

// GateName is the name under which people decide on step index (0-based)
// of a canarySteps stage: an approval, an indefinite pause, an
// inconclusive analysis. Decisions and events carry it as their stage.
func GateName(stage string, index int) string {
	return fmt.Sprintf("%s/step-%d", stage, index+1)
}

// GateOf returns the name people decide at for action a: its gate within
// a canarySteps stage, or its stage.
func (a Action) GateOf() string {
	if a.Gate != "" {
		return a.Gate
	}
	return a.StageName
}

// Outcome is how a run ends.
type Outcome struct {
	Status  v1alpha1.DeploymentStatus `json:"status"`
	Message string                    `json:"message,omitempty"`
}

// State is a deployment's progress, persisted after every step.
type State struct {
	// Stage is the index of the current stage; equal to the stage count
	// once all stages are done.
	Stage int `json:"stage"`
	// Sub is the position inside the current stage (or finishing).
	Sub    int                   `json:"sub"`
	Stages []v1alpha1.StageState `json:"stages"`
	// Weight is the canary weight last written and read back.
	Weight int `json:"weight"`
	// ProductionTouched is set once production manifests were applied by
	// this run, so a failure restores the previous release.
	ProductionTouched bool `json:"productionTouched,omitempty"`
	// ProductionDone is set when production runs this run's manifests.
	ProductionDone bool `json:"productionDone,omitempty"`
	// Finishing is set once the outcome is known; the finishing steps run.
	Finishing *Outcome `json:"finishing,omitempty"`
	// Final is set when the run has ended.
	Final *Outcome `json:"final,omitempty"`
	// ApprovalDeadline is when a waiting approval times out; nil for a
	// gate without a timeout (a pause until resumed).
	ApprovalDeadline *time.Time `json:"approvalDeadline,omitempty"`
	// Gate is where the current stage waits for people when it is a step
	// of a canarySteps stage (see GateName); "" otherwise.
	Gate string `json:"gate,omitempty"`
	// NextBatchAt is when the next shift-traffic batch may start, or a
	// timed pause ends.
	NextBatchAt *time.Time `json:"nextBatchAt,omitempty"`
	// Analyses are the analyses of the run's steps, in the order they
	// began; the last one is under way while its phase is Running.
	Analyses []v1alpha1.AnalysisRun `json:"analyses,omitempty"`
	// BackgroundAccepted is set when a person let the deployment go on
	// after its background analysis was inconclusive.
	BackgroundAccepted bool `json:"backgroundAccepted,omitempty"`
	// NoProduction is set when a weight was kept at 0 because production
	// had nothing to split with (a pipeline's first release): the canary
	// gets no requests, and its analyses have nothing to measure.
	NoProduction bool `json:"noProduction,omitempty"`
	// BlueGreen is where a blue/green run stands (nil for the canary).
	BlueGreen *v1alpha1.BlueGreenStatus `json:"blueGreen,omitempty"`
	// Targets are the production targets of the plan's productionWave
	// stages (or a rollback's), with how far this run took each.
	Targets []v1alpha1.TargetState `json:"targets,omitempty"`
	// ProductionPrevious is the deployment the production beside the
	// canary ran before this run applied to it (0: none), recorded for a
	// pipeline whose failed waves roll back every target.
	ProductionPrevious int64 `json:"productionPrevious,omitempty"`
	// RollbackAll is the plan's productionRelease.rollbackOnFailure "all":
	// a failure restores every target the run released.
	RollbackAll bool `json:"rollbackAll,omitempty"`
}

// Analysis returns the analysis named name, or nil.
func (s *State) Analysis(name string) *v1alpha1.AnalysisRun {
	for i := range s.Analyses {
		if s.Analyses[i].Name == name {
			return &s.Analyses[i]
		}
	}
	return nil
}

// SetAnalysis records run, replacing the analysis of the same name.
func (s *State) SetAnalysis(run v1alpha1.AnalysisRun) {
	if cur := s.Analysis(run.Name); cur != nil {
		*cur = run
		return
	}
	s.Analyses = append(s.Analyses, run)
}

// NewState returns the progress of a deployment that has not started.
func NewState(p *Plan) *State {
	s := &State{}
	for i := 0; i < p.StageCount(); i++ {
		st := v1alpha1.StageState{Name: p.StageName(i), Type: p.StageType(i), Status: v1alpha1.StagePending}
		if i < len(p.Stages) && p.Stages[i].Approval != nil {
			st.ApprovalsRequired = max(p.Stages[i].Approval.ApprovalsRequired, v1alpha1.DefaultApprovalsRequired)
		}
		if i < len(p.Stages) && p.Stages[i].BlueGreen != nil && p.Stages[i].BlueGreen.Approval != nil {
			st.ApprovalsRequired = max(p.Stages[i].BlueGreen.Approval.ApprovalsRequired, v1alpha1.DefaultApprovalsRequired)
		}
		s.Stages = append(s.Stages, st)
	}
	if p.BlueGreen != nil {
		s.BlueGreen = &v1alpha1.BlueGreenStatus{Namespace: p.BlueGreen.Namespace}
	}
	s.Targets = p.targetStates()
	s.RollbackAll = p.rollbackAll()
	return s
}

// Status is the API status this state shows.
func (s *State) Status() v1alpha1.DeploymentStatus {
	switch {
	case s.Final != nil:
		return s.Final.Status
	case s.Finishing != nil:
		return v1alpha1.StatusRunning
	case s.Stage < len(s.Stages) && s.Stages[s.Stage].Status == v1alpha1.StageWaiting:
		return v1alpha1.StatusWaitingForApproval
	}
	return v1alpha1.StatusRunning
}

// CurrentStageName names the stage being run, or "" when finishing. A
// canarySteps stage waiting for people names its gate (see GateName).
func (s *State) CurrentStageName() string {
	if s.Finishing == nil && s.Final == nil && s.Stage < len(s.Stages) {
		if s.Gate != "" && s.Stages[s.Stage].Status == v1alpha1.StageWaiting {
			return s.Gate
		}
		return s.Stages[s.Stage].Name
	}
	return ""
}

// stageSteps lists the steps of stage i.
func stageSteps(p *Plan, i int) []Action {
	name := p.StageName(i)
	a := func(st Step) Action { return Action{Step: st, StageIndex: i, StageName: name} }
	switch p.StageType(i) {
	case v1alpha1.StageCanaryDeployment:
		return []Action{a(StepApplyCanary), a(StepWaitCanary)}
	case v1alpha1.StageShiftTraffic:
		ws := Weights(p.Stages[i].ShiftTraffic)
		var out []Action
		for b, w := range ws {
			if b > 0 {
				out = append(out, a(StepBatchDelay))
			}
			act := a(StepSetWeight)
			act.Weight, act.Batch, act.Batches = w, b+1, len(ws)
			out = append(out, act)
		}
		return out
	case v1alpha1.StageCanarySteps:
		return canarySteps(p.Stages[i].CanarySteps, a)
	case v1alpha1.StageApproval:
		return []Action{a(StepOpenApproval), a(StepAwaitApproval)}
	case v1alpha1.StageBlueGreen:
		return blueGreenSteps(p.Stages[i].BlueGreen, a)
	case v1alpha1.StageProductionRelease:
		if p.HasWaves() {
			// The canary hands every request back to production before
			// the next waves, which may wait for hours.
			return []Action{a(StepApplyProduction), a(StepWaitProduction), a(StepResetWeight)}
		}
		return []Action{a(StepApplyProduction), a(StepWaitProduction)}
	case v1alpha1.StageRollback:
		if p.BlueGreen != nil {
			return blueGreenSteps(nil, a)
		}
		var out []Action
		if !p.RollbackSkipsProduction {
			out = append(out, a(StepApplyProduction), a(StepWaitProduction))
		}
		if len(p.RollbackTargets) > 0 {
			out = append(out, a(StepApplyTargets), a(StepWaitTargets))
		}
		return out
	case v1alpha1.StageProductionWave:
		out := gateSteps(p.Stages[i].ProductionWave.Steps, a)
		return append(out, a(StepApplyTargets), a(StepWaitTargets))
	}
	return nil
}

// canarySteps expands a canarySteps stage into steps; a builds an action
// of the stage.
func canarySteps(c *v1alpha1.CanaryStepsStage, a func(Step) Action) []Action {
	weights := 0
	for _, st := range c.Steps {
		if st.SetWeight != nil {
			weights++
		}
	}
	var out []Action
	batch := 0
	for j, st := range c.Steps {
		if st.Kind() != v1alpha1.StepKindSetWeight {
			out = append(out, gateStep(st, j, a)...)
			continue
		}
		batch++
		act := a(StepSetWeight)
		act.Index, act.Gate = j, GateName(act.StageName, j)
		act.Weight, act.Batch, act.Batches = *st.SetWeight, batch, weights
		out = append(out, act)
	}
	if c.BackgroundAnalysis != nil {
		act := a(StepBackgroundEnd)
		act.Index, act.Gate = len(c.Steps), v1alpha1.BackgroundGate(act.StageName)
		out = append(out, act)
	}
	return out
}

// gateSteps expands steps without weights (a wave's) into steps.
func gateSteps(steps []v1alpha1.CanaryStep, a func(Step) Action) []Action {
	var out []Action
	for j, st := range steps {
		out = append(out, gateStep(st, j, a)...)
	}
	return out
}

// gateStep expands step j of a stage, a pause, an approval or an
// analysis, into the steps that perform it at its gate.
func gateStep(st v1alpha1.CanaryStep, j int, a func(Step) Action) []Action {
	at := func(step Step) Action {
		act := a(step)
		act.Index, act.Gate = j, GateName(act.StageName, j)
		return act
	}
	switch st.Kind() {
	case v1alpha1.StepKindPause:
		return []Action{at(StepPause)}
	case v1alpha1.StepKindApproval:
		return []Action{at(StepOpenApproval), at(StepAwaitApproval)}
	case v1alpha1.StepKindAnalysis:
		return []Action{at(StepAnalysis)}
	}
	return nil
}

// finishingSteps lists the steps that end a run with outcome o.
func (s *State) finishingSteps() []Action {
	if s.BlueGreen != nil {
		return s.blueGreenFinishing()
	}
	var out []Action
	failed := s.Finishing.Status != v1alpha1.StatusSucceeded
	if failed && s.restoresTargets() {
		out = append(out, Action{Step: StepRestoreTargets, StageIndex: -1})
	}
	if failed && s.ProductionTouched && (!s.ProductionDone || s.RollbackAll) {
		out = append(out, Action{Step: StepRestoreProduction, StageIndex: -1})
	}
	return append(out, Action{Step: StepResetWeight, StageIndex: -1})
}

// Next returns the step to perform now.
func (s *State) Next(p *Plan) Action {
	if s.Final != nil {
		return Action{Step: StepDone, StageIndex: -1}
	}
	if s.Finishing != nil {
		steps := s.finishingSteps()
		if s.Sub < len(steps) {
			return steps[s.Sub]
		}
		return Action{Step: StepDone, StageIndex: -1}
	}
	steps := stageSteps(p, s.Stage)
	return steps[s.Sub]
}

// Start marks the current stage running if it has not started; it returns
// true when it did (the caller records a "stage started" event).
func (s *State) Start(now time.Time) bool {
	if s.Finishing != nil || s.Final != nil || s.Stage >= len(s.Stages) {
		return false
	}
	st := &s.Stages[s.Stage]
	if st.Status != v1alpha1.StagePending {
		return false
	}
	st.Status = v1alpha1.StageRunning
	st.StartedAt = &now
	return true
}

// Complete records that action a succeeded at now and moves to the next
// step. It returns true when a stage ended with it.
func (s *State) Complete(p *Plan, a Action, now time.Time) (stageDone bool) {
	if a.Step != s.Next(p).Step {
		panic(fmt.Sprintf("pipeline: completing %s but the next step is %s", a.Step, s.Next(p).Step))
	}
	switch a.Step {
	case StepSetWeight:
		s.Weight = a.Weight
	case StepResetWeight:
		s.Weight = 0
	case StepApplyProduction:
		s.ProductionTouched = true
	case StepWaitProduction:
		s.ProductionDone = true
	case StepAwaitApproval, StepAnalysis, StepPause, StepBackgroundEnd:
		// The wait for people (if any) is over.
		s.ApprovalDeadline, s.NextBatchAt, s.Gate = nil, nil, ""
		if s.Stage < len(s.Stages) && s.Stages[s.Stage].Status == v1alpha1.StageWaiting {
			s.Stages[s.Stage].Status = v1alpha1.StageRunning
		}
	case StepBatchDelay, StepKeepPrevious:
		s.NextBatchAt = nil
	}
	s.Sub++
	if s.Finishing != nil {
		if s.Sub >= len(s.finishingSteps()) {
			f := *s.Finishing
			s.Final = &f
		}
		return false
	}
	if s.Sub < len(stageSteps(p, s.Stage)) {
		return false
	}
	st := &s.Stages[s.Stage]
	st.Status = v1alpha1.StageSucceeded
	st.EndedAt = &now
	s.Stage++
	s.Sub = 0
	if s.Stage >= len(s.Stages) {
		s.Finishing = &Outcome{Status: v1alpha1.StatusSucceeded}
	}
	return true
}

// Wait marks the current stage as waiting for people at gate (the stage's
// name, or a canarySteps gate), until deadline (nil: no timeout).
func (s *State) Wait(gate string, deadline *time.Time) {
	s.Stages[s.Stage].Status = v1alpha1.StageWaiting
	s.ApprovalDeadline = deadline
	if gate != s.Stages[s.Stage].Name {
		s.Gate = gate
	}
}

// Finish ends the run with status and message: the current stage (if
// any) is marked failed, later stages skipped, and the finishing steps run.
// A second call while finishing is ignored.
func (s *State) Finish(status v1alpha1.DeploymentStatus, message string, now time.Time) {
	if s.Finishing != nil || s.Final != nil {
		return
	}
	if s.Stage == 0 && s.Sub == 0 && len(s.Stages) > 0 && s.Stages[0].Status == v1alpha1.StagePending {
		// Nothing was touched yet (a queued run): there is nothing to undo.
		for i := range s.Stages {
			s.Stages[i].Status = v1alpha1.StageSkipped
		}
		s.endTargets(message, now)
		s.Final = &Outcome{Status: status, Message: message}
		return
	}
	if s.Stage < len(s.Stages) {
		cur := s.Stages[s.Stage]
		if (cur.Type == v1alpha1.StageProductionRelease || cur.Type == v1alpha1.StageRollback) && cur.Status != v1alpha1.StagePending {
			// An apply may have failed half way: restore the live release.
			s.ProductionTouched = true
		}
	}
	for i := s.Stage; i < len(s.Stages); i++ {
		st := &s.Stages[i]
		if i == s.Stage && st.Status != v1alpha1.StagePending {
			st.Status = v1alpha1.StageFailed
			st.Message = message
			st.EndedAt = &now
			continue
		}
		st.Status = v1alpha1.StageSkipped
	}
	s.ApprovalDeadline = nil
	s.NextBatchAt = nil
	s.Gate = ""
	s.endTargets(message, now)
	for i := range s.Analyses {
		if !s.Analyses[i].Phase.Done() {
			s.Analyses[i].Phase = v1alpha1.AnalysisError
			s.Analyses[i].Message = "stopped: the deployment ended (" + message + ")"
			s.Analyses[i].EndedAt = &now
		}
	}
	s.Finishing = &Outcome{Status: status, Message: message}
	s.Sub = 0
}

// ProductionStage returns the index of the plan's production release, or
// -1 when it has none.
func (p *Plan) ProductionStage() int {
	for i := range p.Stages {
		if p.StageType(i) == v1alpha1.StageProductionRelease {
			return i
		}
	}
	return -1
}

// Promote skips what is left before the production release: the current
// stage ends (Succeeded, with message) wherever it was, the stages between
// it and production are Skipped, and any wait (a gate, a deadline, a
// timed pause) is dropped; analyses still running end Inconclusive with
// the message: nothing judged them. It returns false, changing
// nothing, when the run is finishing or already at production.
func (s *State) Promote(p *Plan, message string, now time.Time) bool {
	prod := p.ProductionStage()
	if s.Finishing != nil || s.Final != nil || prod < 0 || s.Stage >= prod {
		return false
	}
	for i := s.Stage; i < prod; i++ {
		st := &s.Stages[i]
		st.Message = message
		if st.Status == v1alpha1.StagePending {
			st.Status = v1alpha1.StageSkipped
			continue
		}
		st.Status = v1alpha1.StageSucceeded
		st.EndedAt = &now
	}
	for i := range s.Analyses {
		if !s.Analyses[i].Phase.Done() {
			s.Analyses[i].Phase = v1alpha1.AnalysisInconclusive
			s.Analyses[i].Message = "ended before a verdict: " + message
			s.Analyses[i].EndedAt = &now
		}
	}
	s.Stage, s.Sub = prod, 0
	s.ApprovalDeadline, s.NextBatchAt, s.Gate = nil, nil, ""
	return true
}

// FinishingFailed is used when a finishing step itself cannot complete
// (for example production cannot be restored): the outcome becomes Failed
// with both messages, and the remaining finishing steps still run.
func (s *State) FinishingFailed(a Action, message string) {
	if s.Finishing == nil {
		return
	}
	s.Finishing.Status = v1alpha1.StatusFailed
	if s.Finishing.Message != "" {
		s.Finishing.Message += "; "
	}
	s.Finishing.Message += message
	// Skip the failed step and go on with the rest.
	s.Sub++
	if s.Sub >= len(s.finishingSteps()) {
		f := *s.Finishing
		s.Final = &f
	}
}
