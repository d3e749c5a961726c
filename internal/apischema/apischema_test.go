package apischema

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/reference.md")

const referencePath = "../../docs/reference.md"

// docs/reference.md is generated from the schemas: a change of a field
// that does not regenerate it fails here.
func TestReferenceUpToDate(t *testing.T) {
	var b bytes.Buffer
	if err := WriteReference(&b); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(referencePath, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(referencePath)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/apischema -update to create it)", err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("docs/reference.md is out of date with api/openapi.yaml: run go test ./internal/apischema -update")
	}
}

// Every field of every resource has a description: the reference and
// explain are only as good as the schemas.
func TestEveryFieldDescribed(t *testing.T) {
	var walk func(f Field)
	n := 0
	walk = func(f Field) {
		n++
		if strings.TrimSpace(f.Description) == "" {
			t.Errorf("%s.%s has no description in api/openapi.yaml", strings.ToLower(f.Kind), f.Path)
		}
		for _, c := range children(f.Kind, f.Path, f.schema) {
			walk(c)
		}
	}
	for _, k := range Kinds() {
		f, err := Lookup(k)
		if err != nil {
			t.Fatal(err)
		}
		walk(f)
	}
	if n < 50 {
		t.Errorf("walked %d fields, want the whole resource trees (50 or more)", n)
	}
}

func TestLookup(t *testing.T) {
	for _, tc := range []struct {
		path       string
		wantType   string
		wantFields []string
		wantErr    string
	}{
		{path: "pipeline.spec.stages.shiftTraffic", wantType: "ShiftTrafficStage", wantFields: []string{"batchCount", "batchDelay", "rampLimitPercent"}},
		{path: "pipelines.spec.stages", wantType: "[]Stage", wantFields: []string{"approval", "blueGreen", "canaryDeployment", "canarySteps", "name", "productionRelease", "productionWave", "shiftTraffic"}},
		{path: "Pipeline.spec.stages.approval.approvalsRequired", wantType: "integer"},
		{path: "env.spec.ingressLayout", wantType: "string"},
		{path: "environment", wantType: "Environment", wantFields: []string{"apiVersion", "kind", "metadata", "spec"}},
		{path: "artifact.spec", wantType: "ArtifactSpec", wantFields: []string{"file", "manifests"}},
		{path: "pipeline.spec.triggers.github.events", wantType: "[]string"},
		{path: "pipeline.spec.stages.shiftTraffic.rampLimit", wantErr: `field "rampLimit" does not exist in pipeline.spec.stages.shiftTraffic; its fields are: batchCount, batchDelay, rampLimitPercent`},
		{path: "pipeline.spec.stages.name.x", wantErr: `pipeline.spec.stages.name is a string and has no field "x"`},
		{path: "deployment", wantErr: `unknown resource "deployment"`},
	} {
		f, err := Lookup(tc.path)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Lookup(%q) error = %v, want %q", tc.path, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("Lookup(%q): %v", tc.path, err)
			continue
		}
		if f.Type != tc.wantType {
			t.Errorf("Lookup(%q).Type = %q, want %q", tc.path, f.Type, tc.wantType)
		}
		var names []string
		for _, c := range f.Fields {
			names = append(names, c.Name)
		}
		if strings.Join(names, ",") != strings.Join(tc.wantFields, ",") {
			t.Errorf("Lookup(%q) fields = %v, want %v", tc.path, names, tc.wantFields)
		}
	}
}

func TestWriteExplain(t *testing.T) {
	f, err := Lookup("pipeline.spec.stages.shiftTraffic")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteExplain(&b, f, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"KIND:     Pipeline\n",
		"FIELD:    shiftTraffic <ShiftTrafficStage>\n",
		"  rampLimitPercent\t<integer> -required-\n    The canary's final share of requests, in percent. From 1 to 100.\n",
		"  batchCount\t<integer>\n",
		"Default: 1.",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("explain output lacks %q:\n%s", want, b.String())
		}
	}
}
