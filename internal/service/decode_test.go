package service

import (
	"encoding/json"
	"testing"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/pipeline"
)

// TestPlanButManifests: a plan decoded for a view has every field but
// the manifests.
func TestPlanButManifests(t *testing.T) {
	in := pipeline.Plan{
		Pipeline: "web", PipelineGeneration: 3, Kind: v1alpha1.KindRelease, Manifests: "kind: Deployment\n",
		IngressName: "web", Stages: []v1alpha1.Stage{{Name: "approve", Approval: &v1alpha1.ApprovalStage{ApprovalsRequired: 2}}},
		Reason: "why",
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var got planButManifests
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := in
	want.Manifests = ""
	wb, _ := json.Marshal(want)
	gb, _ := json.Marshal(got.Plan)
	if string(gb) != string(wb) {
		t.Errorf("decoded plan\n got %s\nwant %s", gb, wb)
	}
}
