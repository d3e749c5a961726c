// Package apischema reads the resource schemas of the OpenAPI document
// (api/openapi.yaml) for people: the fields of Environment, Artifact and
// Pipeline, their types and descriptions, as `fledge explain` prints them
// and as docs/reference.md lists them. The document is checked against the
// Go types of api/v1alpha1 by the api package's tests, so what is read here
// is what the server accepts.
package apischema

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"

	"fledge.dev/fledge/api"
	"fledge.dev/fledge/api/v1alpha1"
)

// Field is one field of a resource, or the resource itself.
type Field struct {
	// Kind is the resource kind the field belongs to.
	Kind string
	// Path is the dotted path from the kind, without the kind
	// ("spec.stages.shiftTraffic"); empty for the resource itself.
	Path string
	// Name is the last element of Path (the kind for the resource).
	Name string
	// Type is the field's type as the reference writes it: string,
	// integer, boolean, []T, map[string]T, or the name of an object.
	Type string
	// Required says the field must be set.
	Required bool
	// Description is the schema's description, with its bounds, default
	// and allowed values appended.
	Description string
	// Fields are the fields of an object (or of an array's objects),
	// ordered by name.
	Fields []Field

	schema *openapi3.Schema
}

var (
	loadOnce sync.Once
	loaded   *openapi3.T
	errLoad  error
)

func document() (*openapi3.T, error) {
	loadOnce.Do(func() {
		loaded, errLoad = openapi3.NewLoader().LoadFromData(api.OpenAPI)
		if errLoad != nil {
			errLoad = fmt.Errorf("load api/openapi.yaml: %w", errLoad)
		}
	})
	return loaded, errLoad
}

// Kinds are the resource kinds that can be explained.
func Kinds() []string { return append([]string(nil), v1alpha1.Kinds...) }

// Lookup returns the field a dotted path names: a kind (pipeline, env,
// Pipeline, pipelines), optionally followed by field names
// (pipeline.spec.stages.shiftTraffic). Arrays are stepped through: the
// fields of stages are those of each stage.
func Lookup(path string) (Field, error) {
	doc, err := document()
	if err != nil {
		return Field{}, err
	}
	parts := strings.Split(strings.Trim(path, "."), ".")
	kind := v1alpha1.KindOfPlural(parts[0])
	if kind == "" {
		return Field{}, fmt.Errorf("unknown resource %q: want environment, artifact or pipeline", parts[0])
	}
	ref := doc.Components.Schemas[kind]
	if ref == nil || ref.Value == nil {
		return Field{}, fmt.Errorf("api/openapi.yaml has no schema for %s", kind)
	}
	f := newField(kind, "", kind, ref, true)
	f.Type = kind
	for i, name := range parts[1:] {
		props, required := Properties(elem(f.schema))
		p, ok := props[name]
		if !ok {
			where := strings.ToLower(kind)
			if f.Path != "" {
				where += "." + f.Path
			}
			if len(props) == 0 {
				return Field{}, fmt.Errorf("%s is a %s and has no field %q", where, f.Type, name)
			}
			return Field{}, fmt.Errorf("field %q does not exist in %s; its fields are: %s", name, where, strings.Join(sortedKeys(props), ", "))
		}
		f = newField(kind, strings.Join(parts[1:i+2], "."), name, p, slices.Contains(required, name))
	}
	f.Fields = children(kind, f.Path, f.schema)
	return f, nil
}

// newField describes a property; its children are left to the caller.
func newField(kind, path, name string, ref *openapi3.SchemaRef, required bool) Field {
	return Field{
		Kind: kind, Path: path, Name: name, Type: typeName(ref), Required: required,
		Description: describe(ref.Value), schema: ref.Value,
	}
}

// children lists the fields of an object, or of an array's items.
func children(kind, path string, s *openapi3.Schema) []Field {
	props, required := Properties(elem(s))
	var out []Field
	for _, name := range sortedKeys(props) {
		p := name
		if path != "" {
			p = path + "." + name
		}
		out = append(out, newField(kind, p, name, props[name], slices.Contains(required, name)))
	}
	return out
}

// elem steps through arrays to the schema of their items.
func elem(s *openapi3.Schema) *openapi3.Schema {
	for s != nil && s.Type.Is("array") && s.Items != nil {
		s = s.Items.Value
	}
	return s
}

// Properties merges the properties and required names of a schema and of
// its allOf.
func Properties(s *openapi3.Schema) (map[string]*openapi3.SchemaRef, []string) {
	props := map[string]*openapi3.SchemaRef{}
	if s == nil {
		return props, nil
	}
	req := append([]string(nil), s.Required...)
	for name, p := range s.Properties {
		props[name] = p
	}
	for _, sub := range s.AllOf {
		p, r := Properties(sub.Value)
		for name, v := range p {
			props[name] = v
		}
		req = append(req, r...)
	}
	return props, req
}

// typeName writes a schema's type: the component name of an object
// reference, []T for arrays, map[string]T for maps.
func typeName(ref *openapi3.SchemaRef) string {
	if ref == nil || ref.Value == nil {
		return "any"
	}
	if ref.Ref != "" {
		return ref.Ref[strings.LastIndex(ref.Ref, "/")+1:]
	}
	s := ref.Value
	switch {
	case s.Type.Is("array"):
		return "[]" + typeName(s.Items)
	case s.Type.Is("object") && s.AdditionalProperties.Schema != nil:
		return "map[string]" + typeName(s.AdditionalProperties.Schema)
	case s.Type.Is("string") && s.Format == "date-time":
		return "time"
	case len(s.Type.Slice()) == 1:
		return s.Type.Slice()[0]
	}
	return "object"
}

// describe is a schema's description with its bounds, default and allowed
// values, on one paragraph.
func describe(s *openapi3.Schema) string {
	if s == nil {
		return ""
	}
	d := strings.Join(strings.Fields(s.Description), " ")
	var notes []string
	if len(s.Enum) > 0 {
		vals := make([]string, len(s.Enum))
		for i, v := range s.Enum {
			vals[i] = fmt.Sprint(v)
		}
		if len(vals) > 1 {
			notes = append(notes, "One of: "+strings.Join(vals, ", ")+".")
		}
	}
	switch {
	case s.Min != nil && s.Max != nil:
		notes = append(notes, fmt.Sprintf("From %g to %g.", *s.Min, *s.Max))
	case s.Min != nil:
		notes = append(notes, fmt.Sprintf("At least %g.", *s.Min))
	case s.Max != nil:
		notes = append(notes, fmt.Sprintf("At most %g.", *s.Max))
	}
	if s.MaxLength != nil {
		notes = append(notes, fmt.Sprintf("At most %d characters.", *s.MaxLength))
	}
	if s.Default != nil {
		notes = append(notes, fmt.Sprintf("Default: %v.", s.Default))
	}
	if s.ReadOnly {
		notes = append(notes, "Read-only: set by the server.")
	}
	for _, n := range notes {
		if !strings.Contains(d, n) {
			if d != "" {
				d += " "
			}
			d += n
		}
	}
	return d
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
