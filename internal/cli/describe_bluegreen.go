package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

// blueGreenSettings writes the settings of blueGreen stage b named stage,
// indented by in.
func (d *describer) blueGreenSettings(in int, stage string, b *v1alpha1.BlueGreenStage, dur func(*v1alpha1.Duration, time.Duration) string) {
	d.kv(in, "Strategy", "blue/green: the new version beside the live one, then every request at once")
	d.kv(in, "Environment", b.Environment)
	d.kv(in, "Artifacts", strings.Join(b.Artifacts, ", "))
	front, preview := "ingress "+b.IngressName, "preview ingress "+b.IngressName+v1alpha1.PreviewSuffix
	if b.HTTPRouteName != "" {
		front, preview = "HTTPRoute "+b.HTTPRouteName, "a rule of HTTPRoute "+b.HTTPRouteName
	}
	d.kv(in, "Namespace", b.Namespace+" ("+front+")")
	d.kv(in, "Slots", fmt.Sprintf("%s, %s",
		v1alpha1.SlotNamespace(b.Namespace, v1alpha1.SlotBlue), v1alpha1.SlotNamespace(b.Namespace, v1alpha1.SlotGreen)))
	h := b.Header()
	d.kv(in, "Tester header", h.Name+": "+h.Value+" ("+preview+")")
	if a := b.PrePromotionAnalysis; a != nil {
		d.kv(in, "Pre-promotion", "analysis "+analysisText(*a)+" (gate "+v1alpha1.PrePromotionGate(stage)+")")
	}
	if a := b.Approval; a != nil {
		n := strconv.Itoa(a.ApprovalsRequired)
		if a.ApprovalsRequired == 0 {
			n = strconv.Itoa(v1alpha1.DefaultApprovalsRequired) + " (default)"
		}
		d.kv(in, "Approval", n+" before the switch, timeout "+dur(a.Timeout, v1alpha1.DefaultApprovalTimeout))
	} else {
		d.kv(in, "Approval", "none: the switch follows the new slot's rollout")
	}
	if a := b.PostPromotionAnalysis; a != nil {
		d.kv(in, "Post-promotion", "analysis "+analysisText(*a)+" (gate "+v1alpha1.PostPromotionGate(stage)+"); failed, it switches back")
	}
	d.kv(in, "Scale down delay", dur(b.ScaleDownDelay, v1alpha1.DefaultScaleDownDelay))
	d.kv(in, "Rollout timeout", dur(b.RolloutTimeout, v1alpha1.DefaultRolloutTimeout))
}

// blueGreen writes where a blue/green deployment stands: the slots, the
// switch and the scale down.
func (d *describer) blueGreen(dep v1alpha1.Deployment) {
	st := dep.BlueGreen
	if st == nil {
		return
	}
	slot := func(s string) string {
		return s + " (" + v1alpha1.SlotNamespace(st.Namespace, s) + ")"
	}
	d.printf("Blue/green:\n")
	switch {
	case st.To == "":
		d.kv(2, "Slots", "not chosen yet")
		return
	case st.From == "":
		d.kv(2, "Previous slot", "none: the first release in "+st.Namespace)
	default:
		from := slot(st.From)
		if st.FromNumber != 0 {
			from += fmt.Sprintf(", deployment #%d", st.FromNumber)
		}
		d.kv(2, "Previous slot", from)
	}
	d.kv(2, "New slot", slot(st.To)+fmt.Sprintf(", deployment #%d", dep.Number))
	switch {
	case st.SwitchedBack:
		d.kv(2, "Traffic", "switched back to "+st.From)
	case st.Switched:
		d.kv(2, "Traffic", "every request to "+st.To+" since "+timestamp(d.now, st.SwitchedAt))
	default:
		d.kv(2, "Traffic", "not switched: every request still goes to the previous slot (testers reach the new one)")
	}
	switch {
	case st.From == "":
	case st.ScaledDown:
		d.kv(2, "Previous slot scaled down", "yes")
	case st.InWindow() && !dep.Status.Final():
		d.kv(2, "Instant switch back until", timestamp(d.now, st.ScaleDownAt)+" (fledge abort, or fledge rollback to the previous release)")
	}
}
