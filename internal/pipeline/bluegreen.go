package pipeline

import (
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

// Steps of the blue/green strategy (a blueGreen stage, and the rollback
// of a blue/green pipeline). "New" is the slot the deployment runs in,
// "previous" the one that served when it began.
const (
	// StepChooseSlot reads which slot the Ingress routes to and records
	// the other one as the deployment's.
	StepChooseSlot Step = "ChooseSlot"
	// StepApplyNew applies the manifests (without the Ingress) into the
	// new slot's namespace.
	StepApplyNew Step = "ApplyNewSlot"
	// StepWaitNew waits for the new slot's rollout and endpoints and
	// opens the preview Ingress to testers.
	StepWaitNew Step = "WaitNewSlot"
	// StepSwitchTraffic points the Ingress at the new slot, read back.
	StepSwitchTraffic Step = "SwitchTraffic"
	// StepKeepPrevious keeps the previous slot scaled for the scale down
	// delay, for an instant switch back.
	StepKeepPrevious Step = "KeepPreviousSlot"
	// StepScaleDownPrevious scales the previous slot's Deployments to 0
	// (the finishing step of a blue/green deployment that succeeded).
	StepScaleDownPrevious Step = "ScaleDownPreviousSlot"
	// StepSwitchBack points the Ingress at the previous slot again when
	// it was switched (a finishing step of one that did not succeed).
	StepSwitchBack Step = "SwitchBack"
	// StepRemoveNew removes the preview Ingress and the new slot's
	// objects unless they serve (the last finishing step of one that did
	// not succeed).
	StepRemoveNew Step = "RemoveNewSlot"
)

// BlueGreenPlan is what a blue/green deployment needs beyond the
// manifests, frozen with its plan.
type BlueGreenPlan struct {
	// Namespace holds the Ingress users reach; the slots are
	// v1alpha1.SlotNamespace(Namespace, slot).
	Namespace string `json:"namespace"`
	// Ingress is the manifests' Ingress whose backends switch slots
	// (NGINX), HTTPRoute the manifests' HTTPRoute (Gateway API): one is
	// set.
	Ingress      string                `json:"ingress,omitempty"`
	HTTPRoute    string                `json:"httpRoute,omitempty"`
	TesterHeader v1alpha1.TesterHeader `json:"testerHeader"`
	// ScaleDownDelay is how long the previous slot stays scaled after the
	// switch.
	ScaleDownDelay time.Duration `json:"scaleDownDelay"`
	// Hold is how long a slot that no longer gets requests keeps its pods
	// after the Ingress was read back: data planes follow the API server a
	// little later (v1alpha1.DataPlaneFollow, Traefik's throttle).
	// The previous slot is scaled down no sooner, and a slot switched away
	// from is removed no sooner.
	Hold time.Duration `json:"hold"`
}

// blueGreenSteps lists the steps of blueGreen stage bg, or of a
// blue/green pipeline's rollback (bg nil: no analysis, no approval); a
// builds an action of the stage. An analysis's action has Index 0 before
// the switch, 1 after it.
func blueGreenSteps(bg *v1alpha1.BlueGreenStage, a func(Step) Action) []Action {
	if bg == nil {
		bg = &v1alpha1.BlueGreenStage{}
	}
	analysis := func(index int, gate func(string) string) Action {
		act := a(StepAnalysis)
		act.Index, act.Gate = index, gate(act.StageName)
		return act
	}
	out := []Action{a(StepChooseSlot), a(StepApplyNew), a(StepWaitNew)}
	if bg.PrePromotionAnalysis != nil {
		out = append(out, analysis(0, v1alpha1.PrePromotionGate))
	}
	if bg.Approval != nil {
		out = append(out, a(StepOpenApproval), a(StepAwaitApproval))
	}
	out = append(out, a(StepSwitchTraffic))
	if bg.PostPromotionAnalysis != nil {
		out = append(out, analysis(1, v1alpha1.PostPromotionGate))
	}
	return append(out, a(StepKeepPrevious))
}

// blueGreenAnalysis returns the analysis of a blueGreen stage's action a
// (Index 0 before the switch, 1 after it).
func blueGreenAnalysis(bg *v1alpha1.BlueGreenStage, a Action) *v1alpha1.AnalysisStep {
	if a.Index == 0 {
		return bg.PrePromotionAnalysis
	}
	return bg.PostPromotionAnalysis
}

// blueGreenFinishing lists the finishing steps of a blue/green run:
// success scales the previous slot down; anything else switches back (a
// step that changes nothing when the switch had not happened) and removes
// the new slot.
func (s *State) blueGreenFinishing() []Action {
	if s.Finishing.Status == v1alpha1.StatusSucceeded {
		return []Action{{Step: StepScaleDownPrevious, StageIndex: -1}}
	}
	return []Action{{Step: StepSwitchBack, StageIndex: -1}, {Step: StepRemoveNew, StageIndex: -1}}
}

// IsBlueGreen reports whether the plan runs the blue/green strategy.
func (p *Plan) IsBlueGreen() bool { return p.BlueGreen != nil }
