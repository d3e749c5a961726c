package api_test

import (
	"context"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"fledge.dev/fledge/api"
	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/apischema"
)

func loadDoc(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPI)
	if err != nil {
		t.Fatalf("api/openapi.yaml does not load: %v", err)
	}
	return doc
}

// TestOpenAPIValid validates the document against the OpenAPI 3 rules.
func TestOpenAPIValid(t *testing.T) {
	doc := loadDoc(t)
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("api/openapi.yaml is invalid: %v", err)
	}
}

// TestOpenAPIOperationIDs requires a unique operationId on every operation,
// so that generated clients have stable method names.
func TestOpenAPIOperationIDs(t *testing.T) {
	doc := loadDoc(t)
	seen := map[string]string{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			where := method + " " + path
			if op.OperationID == "" {
				t.Errorf("%s has no operationId", where)
				continue
			}
			if other, ok := seen[op.OperationID]; ok {
				t.Errorf("operationId %q is used by %s and %s", op.OperationID, other, where)
			}
			seen[op.OperationID] = where
		}
	}
}

// schemaTypes pairs each schema of the document with the Go type the API
// encodes as JSON. The resource kinds are listed first: their schemas are
// also checked for required fields.
var schemaTypes = []struct {
	schema   string
	value    any
	resource bool
}{
	{"Environment", v1alpha1.Environment{}, true},
	{"Artifact", v1alpha1.Artifact{}, true},
	{"AnalysisTemplate", v1alpha1.AnalysisTemplate{}, true},
	{"Pipeline", v1alpha1.Pipeline{}, true},
	{"Deployment", v1alpha1.Deployment{}, false},
	{"DeploymentList", v1alpha1.DeploymentList{}, false},
	{"Event", v1alpha1.Event{}, false},
	{"EventList", v1alpha1.EventList{}, false},
	{"RunRequest", v1alpha1.RunRequest{}, false},
	{"RollbackRequest", v1alpha1.RollbackRequest{}, false},
	{"RollbackPreview", v1alpha1.RollbackPreview{}, false},
	{"DecisionRequest", v1alpha1.DecisionRequest{}, false},
	{"Status", v1alpha1.Status{}, false},
	{"ApplyResponse", v1alpha1.ApplyResponse{}, false},
	{"WhoAmI", v1alpha1.WhoAmI{}, false},
	{"Token", v1alpha1.Token{}, false},
	{"TokenRequest", v1alpha1.TokenRequest{}, false},
	{"TokenList", v1alpha1.TokenList{}, false},
	{"AuditEntry", v1alpha1.AuditEntry{}, false},
	{"AuditList", v1alpha1.AuditList{}, false},
	{"SecretRequest", v1alpha1.SecretRequest{}, false},
	{"SecretList", v1alpha1.SecretList{}, false},
	{"WebhookResult", v1alpha1.WebhookResult{}, false},
	{"MeasurementList", v1alpha1.MeasurementList{}, false},
}

// TestOpenAPIMatchesGoTypes fails when a field of an api/v1alpha1 type is
// missing from its schema, when a schema has a property the type lacks, or
// when their JSON types differ, so the document cannot drift from the code.
// For resources, a field is required in the schema exactly when its Go
// field has no omitempty.
func TestOpenAPIMatchesGoTypes(t *testing.T) {
	doc := loadDoc(t)
	for _, st := range schemaTypes {
		ref := doc.Components.Schemas[st.schema]
		if ref == nil || ref.Value == nil {
			t.Errorf("components.schemas has no %s", st.schema)
			continue
		}
		c := &typeCheck{t: t, resource: st.resource, seen: map[*openapi3.Schema]bool{}}
		c.compare(st.schema, reflect.TypeOf(st.value), ref.Value)
	}
}

type typeCheck struct {
	t        *testing.T
	resource bool
	seen     map[*openapi3.Schema]bool
}

var (
	timeType     = reflect.TypeOf(time.Time{})
	durationType = reflect.TypeOf(v1alpha1.Duration{})
)

// jsonField is one JSON property of a Go struct.
type jsonField struct {
	name      string
	typ       reflect.Type
	omitempty bool
}

// jsonFields lists the JSON properties of a struct as encoding/json writes
// them, embedded structs flattened.
func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, jsonField{name: name, typ: f.Type, omitempty: slices.Contains(strings.Split(opts, ","), "omitempty")})
	}
	return out
}

func (c *typeCheck) compare(where string, t reflect.Type, s *openapi3.Schema) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	want := ""
	switch {
	case t == timeType:
		if s.Type.Is("string") && s.Format == "date-time" {
			return
		}
		c.t.Errorf("%s: Go type time.Time wants {type: string, format: date-time}, schema has type %v format %q", where, s.Type.Slice(), s.Format)
		return
	case t == durationType:
		want = "string"
	case t.Kind() == reflect.String:
		want = "string"
	case t.Kind() == reflect.Bool:
		want = "boolean"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		want = "integer"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		want = "number"
	case t.Kind() == reflect.Slice:
		want = "array"
	case t.Kind() == reflect.Map, t.Kind() == reflect.Struct:
		want = "object"
	default:
		c.t.Errorf("%s: Go type %s has no JSON schema mapping in this test", where, t)
		return
	}
	if !s.Type.Is(want) && !(want == "object" && s.Type == nil && len(s.AllOf) > 0) {
		c.t.Errorf("%s: Go type %s wants schema type %s, schema has %v", where, t, want, s.Type.Slice())
		return
	}
	switch {
	case t.Kind() == reflect.Slice:
		if s.Items == nil {
			c.t.Errorf("%s: array schema without items", where)
			return
		}
		c.compare(where+"[]", t.Elem(), s.Items.Value)
	case t.Kind() == reflect.Map:
		if s.AdditionalProperties.Schema == nil {
			c.t.Errorf("%s: map type %s wants additionalProperties with a schema", where, t)
			return
		}
		c.compare(where+"{}", t.Elem(), s.AdditionalProperties.Schema.Value)
	case t.Kind() == reflect.Struct && t != durationType:
		if c.seen[s] {
			return
		}
		c.seen[s] = true
		props, required := apischema.Properties(s)
		fields := jsonFields(t)
		names := map[string]bool{}
		for _, f := range fields {
			names[f.name] = true
			p, ok := props[f.name]
			if !ok {
				c.t.Errorf("%s: Go field %s.%s (json %q) is missing from the schema", where, t.Name(), f.name, f.name)
				continue
			}
			if c.resource && f.omitempty == slices.Contains(required, f.name) {
				if f.omitempty {
					c.t.Errorf("%s.%s: optional in Go (omitempty) but required in the schema", where, f.name)
				} else {
					c.t.Errorf("%s.%s: required in Go (no omitempty) but not listed in the schema's required", where, f.name)
				}
			}
			c.compare(where+"."+f.name, f.typ, p.Value)
		}
		var extra []string
		for name := range props {
			if !names[name] {
				extra = append(extra, name)
			}
		}
		sort.Strings(extra)
		for _, name := range extra {
			c.t.Errorf("%s: schema property %q has no field in Go type %s", where, name, t)
		}
	}
}
