package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

// The commands of docs/bluegreen.md, run as written in a directory holding
// the repository's examples, against a server that knows the kubeconfig
// `fledge dev cluster up` writes: the first release goes into the blue
// slot, the second into green, describe shows what the page quotes while
// it waits, and the rollback within the scale down delay switches back.
func TestDocsBlueGreenCommands(t *testing.T) {
	blocks := shScripts(t, "docs/bluegreen.md")
	if len(blocks) != 3 {
		t.Fatalf("docs/bluegreen.md has %d sh blocks, want the three this test runs", len(blocks))
	}
	s, sh := examplesShell(t, "docs/bluegreen.md")
	t.Cleanup(func() {
		for _, ns := range []string{"ns-bg-prod", "ns-bg-prod-blue", "ns-bg-prod-green"} {
			_, _ = cluster.Kubectl(t.Context(), "delete", "namespace", ns, "--wait=false")
		}
	})
	const pipeline = "webpage-blue-green"

	sh.run(blocks[0])
	first := s.waitStatus(s.latest(pipeline).ID, time.Minute, v1alpha1.StatusSucceeded)
	if slot := servedSlot(t, "ns-bg-prod"); slot != v1alpha1.SlotBlue {
		t.Fatalf("after the first block the Ingress routes to %q", slot)
	}

	out := sh.run(blocks[1])
	page, err := os.ReadFile(filepath.Join(repoRoot, "docs", "bluegreen.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, quoted, _ := strings.Cut(string(page), "`describe` shows, while it waits:\n\n```\n")
	quoted, _, _ = strings.Cut(quoted, "```")
	flat := strings.Join(strings.Fields(out), " ")
	for _, l := range strings.Split(strings.TrimSpace(quoted), "\n") {
		if !strings.Contains(flat, strings.Join(strings.Fields(l), " ")) {
			t.Errorf("docs/bluegreen.md quotes %q; fledge describe printed:\n%s", l, out)
		}
	}
	second := s.latest(pipeline)
	s.waitEvent(second.ID, time.Minute, "TrafficSwitched", "now goes to slot green")

	hasFacts(t, "rollback", sh.run(blocks[2]), "switches back to #1")
	if d := s.waitStatus(second.ID, time.Minute, v1alpha1.StatusCancelled); d.Live || !s.deployment(first.ID).Live {
		t.Errorf("after the rollback: #2 live %v, #1 live %v", d.Live, s.deployment(first.ID).Live)
	}
	if slot := servedSlot(t, "ns-bg-prod"); slot != v1alpha1.SlotBlue {
		t.Errorf("after the rollback the Ingress routes to %q", slot)
	}
}
