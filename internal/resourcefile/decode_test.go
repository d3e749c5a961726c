package resourcefile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

func TestDecodePathsValidDirectory(t *testing.T) {
	t.Parallel()
	objs, err := DecodePaths([]string{"testdata/valid"})
	if err != nil {
		t.Fatalf("DecodePaths: %v", err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.Kind+"/"+o.Name+" "+o.Source)
	}
	want := []string{
		"Artifact/webpage-manifests testdata/valid/artifact.yaml:1",
		"Environment/local-cluster testdata/valid/environment.yaml:1",
		"Environment/in-cluster testdata/valid/multi.yml:2",
		"Artifact/inline-manifests testdata/valid/multi.yml:9",
		"Pipeline/webpage-canary-deployment-pipeline testdata/valid/pipeline.yaml:2",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("objects:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	a := objs[0].Value.(*v1alpha1.Artifact)
	manifest, err := os.ReadFile("testdata/valid/manifests/webpage.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if a.Spec.File != "" || a.Spec.Manifests != string(manifest) {
		t.Errorf("artifact file not resolved: file=%q manifests=%q", a.Spec.File, a.Spec.Manifests)
	}

	p := objs[4].Value.(*v1alpha1.Pipeline)
	if len(p.Spec.Stages) != 4 {
		t.Fatalf("stages: %d", len(p.Spec.Stages))
	}
	if got := p.Spec.Stages[3].ProductionRelease.RolloutTimeout.Or(0); got != 5*time.Minute {
		t.Errorf("aliased rolloutTimeout = %v, want 5m", got)
	}
	if got := p.Spec.Stages[1].ShiftTraffic.RampLimitPercent; got != 25 {
		t.Errorf("rampLimitPercent = %d", got)
	}
	if p.Spec.Parameters[1].Default == nil || *p.Spec.Parameters[1].Default != "3" {
		t.Errorf("parameter default = %v", p.Spec.Parameters[1].Default)
	}
	if p.APIVersion != v1alpha1.APIVersion || p.Kind != v1alpha1.KindPipeline || p.Metadata.Labels["team"] != "web" {
		t.Errorf("meta: %+v %+v", p.TypeMeta, p.Metadata)
	}
}

func TestDecodePathsRecursive(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), envYAML("a"))
	write(t, filepath.Join(dir, "sub", "b.yml"), envYAML("b"))
	write(t, filepath.Join(dir, "sub", "ignored.json"), "{}")

	flat, err := DecodePaths([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(flat) != 1 || flat[0].Name != "a" {
		t.Errorf("non-recursive: %+v", flat)
	}
	deep, err := DecodePathsWith([]string{dir}, Options{Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(deep) != 2 || deep[1].Name != "b" {
		t.Errorf("recursive: %+v", deep)
	}
}

// TestDecodeErrors has one case per error a resource file can hold.
func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	const dir = "testdata/errors/"
	tests := []struct {
		file string
		want []string // every line of the error, in order
	}{
		{"unknown-field.yaml", []string{
			dir + `unknown-field.yaml:15: unknown field "rampLimit" in spec.stages[1].shiftTraffic (did you mean "rampLimitPercent"?)`,
		}},
		{"unknown-top-field.yaml", []string{
			dir + `unknown-top-field.yaml:3: unknown field "metdata" in Environment (did you mean "metadata"?)`,
		}},
		{"duplicate-key.yaml", []string{
			dir + `duplicate-key.yaml:7: duplicate field "inCluster" in spec (first at line 6)`,
		}},
		{"wrong-apiversion.yaml", []string{
			dir + `wrong-apiversion.yaml:1: apiVersion "fledge.dev/v1" is not supported; want "fledge.dev/v1alpha1"`,
		}},
		{"missing-apiversion.yaml", []string{
			dir + `missing-apiversion.yaml:1: apiVersion is missing; want "fledge.dev/v1alpha1"`,
		}},
		{"unknown-kind.yaml", []string{
			dir + `unknown-kind.yaml:9: unknown kind "Deployment"; want one of Environment, Artifact, AnalysisTemplate, Pipeline`,
		}},
		{"missing-kind.yaml", []string{
			dir + `missing-kind.yaml:1: kind is missing; want one of Environment, Artifact, AnalysisTemplate, Pipeline`,
		}},
		{"not-a-mapping.yaml", []string{
			dir + `not-a-mapping.yaml:1: document is a list; want a mapping with apiVersion, kind, metadata and spec`,
		}},
		{"syntax-error.yaml", []string{
			dir + `syntax-error.yaml:3: invalid YAML: did not find expected ',' or ']'`,
		}},
		{"bad-duration.yaml", []string{
			dir + `bad-duration.yaml:13: spec.stages[0].canaryDeployment.rolloutTimeout: invalid duration "5 minutes": want a number with a unit, like 30s, 5m or 24h`,
		}},
		{"wrong-type.yaml", []string{
			dir + `wrong-type.yaml:10: spec.stages[0].canaryDeployment.artifacts: expected a list, got "a"`,
			dir + `wrong-type.yaml:15: spec.stages[1].shiftTraffic.rampLimitPercent: expected an integer, got "25%"`,
		}},
		{"wrong-shape.yaml", []string{
			dir + `wrong-shape.yaml:6: spec.kubeconfig: expected a mapping, got "/etc/kubeconfig"`,
		}},
		{"invalid-pipeline.yaml", []string{
			dir + `invalid-pipeline.yaml:15: invalid Pipeline "p": spec.stages[1].shiftTraffic.rampLimitPercent: must be between 1 and 100, got 0`,
		}},
		{"invalid-environment.yaml", []string{
			dir + `invalid-environment.yaml:4: invalid Environment "Not_A_Name": metadata.name: "Not_A_Name" must consist of lower case letters, digits and '-', and start and end with a letter or digit`,
		}},
		{"artifact-missing-file.yaml", []string{
			dir + `artifact-missing-file.yaml:6: invalid Artifact "a": spec.file: read resource file: open testdata/errors/does-not-exist.yaml: no such file or directory`,
		}},
		{"artifact-both.yaml", []string{
			dir + `artifact-both.yaml:7: invalid Artifact "a": spec.file: set either spec.manifests or spec.file, not both`,
		}},
		{"duplicate-object.yaml", []string{
			dir + `duplicate-object.yaml:8: Environment "e" is defined twice (first at testdata/errors/duplicate-object.yaml:1)`,
		}},
		{"alias-bomb.yaml", []string{
			dir + `alias-bomb.yaml:6: document has more than 10000 nodes once aliases are expanded; refusing it`,
		}},
		{"deep.yaml", []string{
			dir + `deep.yaml:6: document is nested deeper than 100 levels; refusing it`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			objs, err := DecodeFile(dir + tt.file)
			if err == nil {
				t.Fatalf("no error; objects: %+v", objs)
			}
			if objs != nil {
				t.Errorf("objects returned with an error: %+v", objs)
			}
			if got, want := err.Error(), strings.Join(tt.want, "\n"); got != want {
				t.Errorf("error:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestDecodePathsSkipsManifests shows that a directory may hold an
// Artifact's Kubernetes manifests next to the resource files, as the
// examples do, while a manifests file named with -f is still an error.
func TestDecodePathsSkipsManifests(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "artifact.yaml"), "apiVersion: fledge.dev/v1alpha1\nkind: Artifact\nmetadata: {name: web}\nspec: {file: manifests.yaml}\n")
	write(t, filepath.Join(dir, "manifests.yaml"), "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n")

	objs, err := DecodePaths([]string{dir})
	if err != nil {
		t.Fatalf("DecodePaths: %v", err)
	}
	if len(objs) != 1 || objs[0].Kind != "Artifact" || objs[0].ManifestFile != filepath.Join(dir, "manifests.yaml") {
		t.Fatalf("objects: %+v", objs)
	}
	_, err = DecodePaths([]string{dir, filepath.Join(dir, "manifests.yaml")})
	if want := filepath.Join(dir, "manifests.yaml") + `:1: apiVersion "v1" is not supported`; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want it to contain %s", err, want)
	}
}

func TestDecodeFileTooLarge(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "big.yaml")
	write(t, path, "# "+strings.Repeat("x", MaxFileSize))
	_, err := DecodeFile(path)
	if err == nil || !strings.Contains(err.Error(), "file is larger than 4194304 bytes (4 MiB)") {
		t.Fatalf("err = %v", err)
	}
	_, err = Decode("big.yaml", make([]byte, MaxFileSize+1))
	if err == nil || !strings.HasPrefix(err.Error(), "big.yaml: file is larger") {
		t.Fatalf("Decode err = %v", err)
	}
}

func TestDecodePathsReportsEveryFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), envYAML("same"))
	write(t, filepath.Join(dir, "b.yaml"), envYAML("same"))
	write(t, filepath.Join(dir, "c.yaml"), "apiVersion: fledge.dev/v1alpha1\nkind: Environment\nmetadata: {name: c}\nspec: {inClust: true}\n")
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}

	objs, err := DecodePaths([]string{dir, empty, filepath.Join(dir, "missing.yaml")})
	if err == nil {
		t.Fatalf("no error: %+v", objs)
	}
	for _, want := range []string{
		empty + ": directory holds no .yaml or .yml file",
		"missing.yaml: no such file or directory",
		filepath.Join(dir, "c.yaml") + `:4: unknown field "inClust" in spec (did you mean "inCluster"?)`,
		filepath.Join(dir, "b.yaml") + `:1: Environment "same" is defined twice (first at ` + filepath.Join(dir, "a.yaml") + `:1)`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestSuggest(t *testing.T) {
	t.Parallel()
	fields := fieldsOf(reflectTypeOf(v1alpha1.CanaryDeploymentStage{}))
	for in, want := range map[string]string{
		"ingress":      "ingressName",
		"namespce":     "namespace",
		"Environment":  "environment",
		"artifact":     "artifacts",
		"somethingodd": "",
	} {
		if got := suggest(in, fields); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}

func envYAML(name string) string {
	return "apiVersion: fledge.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: " + name + "\nspec:\n  inCluster: true\n"
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
