//go:build !faultinject

package server

import (
	"log/slog"
	"testing"
)

// TestFaultInjectionNotInProductionBuild: the fledge users run ignores
// FLEDGE_FAULT_KILL_AT; only the crash tests' build (-tags faultinject)
// can kill itself at a step boundary.
func TestFaultInjectionNotInProductionBuild(t *testing.T) {
	t.Setenv("FLEDGE_FAULT_KILL_AT", "after:ApplyCanary")
	hook, wrap := faultInjection(slog.New(slog.DiscardHandler))
	if hook != nil || wrap != nil {
		t.Fatal("a build without the faultinject tag armed the fault hook")
	}
}
