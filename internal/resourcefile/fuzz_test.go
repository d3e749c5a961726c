package resourcefile

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"fledge.dev/fledge/api/v1alpha1"
)

// FuzzDecode: decoding any bytes never panics and stays within its
// bounds, and whatever it accepts is a valid resource that encodes to the
// JSON the API takes.
func FuzzDecode(f *testing.F) {
	for _, dir := range []string{"testdata/valid", "testdata/errors", "../cli/testdata/hostile"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.y*ml"))
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil && len(b) < 64<<10 {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := Decode("fuzz.yaml", data)
		if err != nil {
			if objs != nil {
				t.Fatal("objects returned with an error")
			}
			return
		}
		for _, o := range objs {
			var verr error
			switch v := o.Value.(type) {
			case *v1alpha1.Environment:
				verr = v.Validate()
			case *v1alpha1.Artifact:
				verr = v.Validate()
			case *v1alpha1.Pipeline:
				verr = v.Validate(nil)
			default:
				t.Fatalf("decoded a %T", o.Value)
			}
			if verr != nil {
				t.Fatalf("accepted an invalid %s: %v", o.Kind, verr)
			}
			if _, err := json.Marshal(o.Value); err != nil {
				t.Fatalf("accepted %s does not encode: %v", o.Kind, err)
			}
		}
	})
}
