package httpapi

import (
	"sort"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"

	"fledge.dev/fledge/api"
)

// The OpenAPI document and the served routes must list the same
// operations.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(api.OpenAPI, &doc); err != nil {
		t.Fatalf("parse openapi.yaml: %v", err)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	h := New(nil, nil)
	served := append([]string(nil), h.Routes()...)
	sort.Strings(documented)
	sort.Strings(served)
	if strings.Join(documented, "\n") != strings.Join(served, "\n") {
		t.Fatalf("routes differ from openapi.yaml\ndocumented:\n  %s\nserved:\n  %s",
			strings.Join(documented, "\n  "), strings.Join(served, "\n  "))
	}
}
