package resourcefile_test

import (
	"path/filepath"
	"testing"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/resourcefile"
)

// Every resource under examples/ decodes, and every pipeline there is
// valid against the environments and artifacts beside it, as `fledge
// apply -f examples/...` would find them.
func TestExamplesValidate(t *testing.T) {
	t.Parallel()
	objs, err := resourcefile.DecodePathsWith([]string{filepath.Join("..", "..", "examples")}, resourcefile.Options{Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	refs := &v1alpha1.References{Environments: map[string]bool{}, Artifacts: map[string]bool{}}
	var pipelines []resourcefile.Object
	for _, o := range objs {
		switch o.Kind {
		case v1alpha1.KindEnvironment:
			refs.Environments[o.Name] = true
		case v1alpha1.KindArtifact:
			refs.Artifacts[o.Name] = true
		case v1alpha1.KindPipeline:
			pipelines = append(pipelines, o)
		}
	}
	if len(pipelines) < 6 {
		t.Fatalf("found %d pipelines under examples/, want every example's", len(pipelines))
	}
	for _, o := range pipelines {
		if err := o.Value.(*v1alpha1.Pipeline).Validate(refs); err != nil {
			t.Errorf("%s: pipeline %s: %v", o.Source, o.Name, err)
		}
	}
}
