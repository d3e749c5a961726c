package render

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"fledge.dev/fledge/internal/golden"

	yaml "go.yaml.in/yaml/v3"
)

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// declare returns the declared set of the names.
func declare(names ...string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

// declareAll declares every key of values.
func declareAll(values map[string]string) map[string]bool {
	m := map[string]bool{}
	for n := range values {
		m[n] = true
	}
	return m
}

// decodeAll decodes every document of a rendered text into plain Go values.
func decodeAll(t *testing.T, text string) []any {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(text))
	var docs []any
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("rendered text is not valid YAML: %v\n%s", err, text)
		}
		docs = append(docs, v)
	}
}

// unjoin splits an errors.Join error; any other error is a list of one.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestRenderGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string // testdata/<golden>.golden
		input  string // testdata/<input>
		values map[string]string
	}{
		{
			name:   "webpage",
			input:  "webpage.yaml",
			values: map[string]string{"IMAGE_TAG": "2.1"},
		},
		{
			// The walkthrough's manifests with an injection attempt as the
			// image tag: it stays inside the two scalars that use it.
			name:   "webpage-injection",
			input:  "webpage.yaml",
			values: map[string]string{"IMAGE_TAG": "2.1\nkind: Secret"},
		},
		{
			name:  "scalars",
			input: "scalars.yaml",
			values: map[string]string{
				"NAME": "webpage", "LABEL_KEY": "tier", "TAG": "2.1",
				"REPLICAS": "3", "PORT": "8080", "DEBUG": "true",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Render(tt.input, readTestdata(t, tt.input), declareAll(tt.values), tt.values)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			golden.Check(t, filepath.Join("testdata", tt.name+".golden"), got)
		})
	}
}

// TestRenderWebpageStructure checks what the walkthrough needs of the
// rendered web page, independently of formatting.
func TestRenderWebpageStructure(t *testing.T) {
	t.Parallel()
	out, err := Render("webpage-manifest", readTestdata(t, "webpage.yaml"), declare("IMAGE_TAG"), map[string]string{"IMAGE_TAG": "2.1"})
	if err != nil {
		t.Fatal(err)
	}
	docs := decodeAll(t, out)
	if len(docs) != 3 {
		t.Fatalf("%d documents, want 3", len(docs))
	}
	var kinds []string
	for _, d := range docs {
		kinds = append(kinds, d.(map[string]any)["kind"].(string))
	}
	if want := []string{"Deployment", "Service", "Ingress"}; !reflect.DeepEqual(kinds, want) {
		t.Errorf("kinds = %v, want %v", kinds, want)
	}
	dep := docs[0].(map[string]any)
	spec := dep["spec"].(map[string]any)
	if spec["replicas"] != 3 {
		t.Errorf("replicas = %#v, want int 3", spec["replicas"])
	}
	c := spec["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
	if c["image"] != "registry.example.com/webpage:2.1" {
		t.Errorf("image = %#v", c["image"])
	}
	// "2.1" is a string in the manifest ("${IMAGE_TAG}" is quoted), not a float.
	if env := c["env"].([]any)[0].(map[string]any); env["value"] != "2.1" {
		t.Errorf("env VERSION = %#v, want string 2.1", env["value"])
	}
	ing := docs[2].(map[string]any)
	ann := ing["metadata"].(map[string]any)["annotations"].(map[string]any)
	if ann["nginx.ingress.kubernetes.io/rewrite-target"] != "/$2" {
		t.Errorf("rewrite-target = %#v", ann["nginx.ingress.kubernetes.io/rewrite-target"])
	}
	path := ing["spec"].(map[string]any)["rules"].([]any)[0].(map[string]any)["http"].(map[string]any)["paths"].([]any)[0].(map[string]any)["path"]
	if path != "/webpage(/|$)(.*)" {
		t.Errorf("path = %#v", path)
	}
}

func TestRenderEscapedPlaceholder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, text, want string
	}{
		{"plain", "a: $${X}\n", "a: ${X}\n"},
		{"quoted", "a: \"$${X}\"\n", "a: \"${X}\"\n"},
		{"next to a placeholder", "a: $${X}-${X}\n", "a: ${X}-1\n"},
		{"invalid name escaped", "a: $${not valid}\n", "a: ${not valid}\n"},
		{"undeclared name escaped", "a: $${UNDECLARED}\n", "a: ${UNDECLARED}\n"},
		{"in a key", "$${X}: 1\n", "${X}: 1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Render("a", tt.text, declare("X"), map[string]string{"X": "1"})
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if got != tt.want {
				t.Errorf("Render = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRenderPlainScalarIsResolvedAgain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		text  string
		value string
		want  any
	}{
		{"int", "v: ${X}\n", "3", 3},
		{"float", "v: ${X}\n", "2.1", 2.1},
		{"bool", "v: ${X}\n", "true", true},
		{"null", "v: ${X}\n", "null", nil},
		{"string", "v: ${X}\n", "webpage", "webpage"},
		{"double-quoted stays a string", "v: \"${X}\"\n", "3", "3"},
		{"single-quoted stays a string", "v: '${X}'\n", "true", "true"},
		{"literal block stays a string", "v: |\n  ${X}\n", "3", "3\n"},
		{"embedded in text", "v: x${X}\n", "3", "x3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := Render("a", tt.text, declare("X"), map[string]string{"X": tt.value})
			if err != nil {
				t.Fatal(err)
			}
			docs := decodeAll(t, out)
			if len(docs) != 1 {
				t.Fatalf("%d documents, want 1:\n%s", len(docs), out)
			}
			if got := docs[0].(map[string]any)["v"]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("v = %#v (%T), want %#v (%T); rendered:\n%s", got, got, tt.want, tt.want, out)
			}
		})
	}
}

// TestRenderDropsDocumentsEmptiedBySubstitution: a document that is null
// after substitution is dropped, as a null document of the input is, so
// that the output does not depend on where the null came from.
func TestRenderDropsDocumentsEmptiedBySubstitution(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"", "null", "~"} {
		got, err := Render("a", "a: 1\n---\n${A}\n---\nb: 2\n", declare("A"), map[string]string{"A": v})
		if err != nil {
			t.Fatal(err)
		}
		if want := "a: 1\n---\nb: 2\n"; got != want {
			t.Errorf("A=%q: Render = %q, want %q", v, got, want)
		}
	}
}

// TestRenderExplicitTagKept: a scalar the manifest author tagged !!str must
// stay a string after substitution, as it does without a placeholder.
func TestRenderExplicitTagKept(t *testing.T) {
	t.Parallel()
	text := "env:\n  - name: VERSION\n    value: !!str ${V}\n  - name: FIXED\n    value: !!str 2.1\n"
	out, err := Render("a", text, declare("V"), map[string]string{"V": "2.1"})
	if err != nil {
		t.Fatal(err)
	}
	env := decodeAll(t, out)[0].(map[string]any)["env"].([]any)
	for _, e := range env {
		e := e.(map[string]any)
		if e["value"] != "2.1" {
			t.Errorf("%s = %#v (%T), want the string 2.1; rendered:\n%s", e["name"], e["value"], e["value"], out)
		}
	}
}

// TestRenderInjection renders values that try to break out of their scalar
// and checks that the decoded structure is the same as with a harmless value:
// same documents, same keys, and each field is exactly one string.
func TestRenderInjection(t *testing.T) {
	t.Parallel()
	const text = `apiVersion: v1
kind: ConfigMap
metadata:
  name: cm
  labels:
    app: "${V}"
data:
  plain: ${V}
  double: "${V}"
  single: '${V}'
  embedded: prefix-${V}-suffix
  literal: |
    ${V}
  folded: >
    ${V}
  flow: {k: "${V}"}
  list:
    - ${V}
`
	values := []string{
		"2.1\nkind: Secret",
		"2.1\r\nkind: Secret",
		"\nkind: Secret\n",
		"---\nkind: Secret\n",
		"2.1\n---\napiVersion: v1\nkind: Secret\n",
		`x", "y`,
		`x', 'y`,
		"}",
		"{a: b}",
		"[a, b]",
		"*alias",
		"&anchor",
		"&anchor x\ny: *anchor",
		"a: b",
		"- x",
		"? x",
		"# comment",
		"x # comment",
		"!!binary aGk=",
		"!Secret",
		"|",
		">-",
		"%YAML 1.1",
		"@x",
		"`x`",
		"\"",
		"'",
		"\\",
		"\\n",
		" leading space",
		"trailing space ",
		"tab\there",
		"x\n  nested: y",
		"${OTHER}",
		"$${OTHER}",
		"\u2028line separator",
		"emoji 🚀",
		strings.Repeat("long ", 100),
	}
	for _, v := range values {
		t.Run(fmt.Sprintf("%q", v), func(t *testing.T) {
			t.Parallel()
			out, err := Render("a", text, declare("V", "OTHER"), map[string]string{"V": v, "OTHER": "other"})
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			docs := decodeAll(t, out)
			if len(docs) != 1 {
				t.Fatalf("%d documents, want 1:\n%s", len(docs), out)
			}
			want := map[string]any{
				"apiVersion": "v1",
				"kind":       "ConfigMap",
				"metadata":   map[string]any{"name": "cm", "labels": map[string]any{"app": v}},
				"data": map[string]any{
					"plain":    v,
					"double":   v,
					"single":   v,
					"embedded": "prefix-" + v + "-suffix",
					"literal":  v + "\n",
					"folded":   v + "\n",
					"flow":     map[string]any{"k": v},
					"list":     []any{v},
				},
			}
			if !reflect.DeepEqual(docs[0], want) {
				t.Errorf("decoded structure changed\n--- got\n%#v\n--- want\n%#v\n--- rendered\n%s", docs[0], want, out)
			}
		})
	}
}

// TestRenderInjectionInKey: a placeholder used as a key stays one key.
func TestRenderInjectionInKey(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"a\nkind: Secret", "a: b", "{a: b}", "*x", "? x"} {
		out, err := Render("a", "labels:\n  ${K}: v\n  other: w\n", declare("K"), map[string]string{"K": v})
		if err != nil {
			t.Fatalf("Render(%q): %v", v, err)
		}
		docs := decodeAll(t, out)
		want := []any{map[string]any{"labels": map[string]any{v: "v", "other": "w"}}}
		if !reflect.DeepEqual(docs, want) {
			t.Errorf("key %q: decoded %#v, want %#v\n%s", v, docs, want, out)
		}
	}
}

func TestRenderErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		text     string
		declared map[string]bool
		values   map[string]string
		want     []Error
	}{
		{
			name:     "undeclared placeholder",
			text:     "a: 1\nb: ${FOO}\n",
			declared: declare("X"),
			values:   map[string]string{"X": "1", "FOO": "set but not declared"},
			want:     []Error{{Artifact: "art", Line: 2, Param: "FOO", Msg: "is not declared by the pipeline"}},
		},
		{
			name:     "declared but unset",
			text:     "a:\n  b:\n    c: x-${IMAGE_TAG}\n",
			declared: declare("IMAGE_TAG"),
			values:   map[string]string{},
			want:     []Error{{Artifact: "art", Line: 3, Param: "IMAGE_TAG", Msg: "is not set and has no default"}},
		},
		{
			name:     "invalid placeholder name",
			text:     "a: ${1TAG}\n",
			declared: declare("1TAG"),
			values:   map[string]string{"1TAG": "x"},
			want:     []Error{{Artifact: "art", Line: 1, Param: "1TAG", Msg: "is not a valid parameter name (letters, digits and '_', not starting with a digit)"}},
		},
		{
			name: "placeholder with spaces and dashes",
			text: "a: ${ X }\nb: ${IMAGE-TAG}\nc: ${}\n",
			want: []Error{
				{Artifact: "art", Line: 1, Param: " X ", Msg: "is not a valid parameter name (letters, digits and '_', not starting with a digit)"},
				{Artifact: "art", Line: 2, Param: "IMAGE-TAG", Msg: "is not a valid parameter name (letters, digits and '_', not starting with a digit)"},
				{Artifact: "art", Line: 3, Param: "", Msg: "is not a valid parameter name (letters, digits and '_', not starting with a digit)"},
			},
		},
		{
			name:     "several errors at once, across documents",
			text:     "a: ${UNDECLARED}-${UNSET}\n---\nkind: x\nb:\n  - ${1X}\n  - ${OK}\n---\n${ALSO_UNDECLARED}: 1\n",
			declared: declare("UNSET", "OK"),
			values:   map[string]string{"OK": "fine"},
			want: []Error{
				{Artifact: "art", Line: 1, Param: "UNDECLARED", Msg: "is not declared by the pipeline"},
				{Artifact: "art", Line: 1, Param: "UNSET", Msg: "is not set and has no default"},
				{Artifact: "art", Line: 5, Param: "1X", Msg: "is not a valid parameter name (letters, digits and '_', not starting with a digit)"},
				{Artifact: "art", Line: 8, Param: "ALSO_UNDECLARED", Msg: "is not declared by the pipeline"},
			},
		},
		{
			name:     "alias",
			text:     "a: &x 1\nb: *x\n",
			declared: declare(),
			want:     []Error{{Artifact: "art", Line: 1, Msg: "document 1: YAML aliases are not allowed in manifests (line 2)"}},
		},
		{
			name: "alias in the second document",
			text: "a: 1\n---\nbase: &b {x: 1}\nderived:\n  <<: *b\n",
			want: []Error{{Artifact: "art", Line: 2, Msg: "document 2: YAML aliases are not allowed in manifests (line 5)"}},
		},
		{
			name: "nesting deeper than the limit",
			text: strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1) + "\n",
			want: []Error{{Artifact: "art", Line: 1, Msg: "document 1: nesting deeper than 100 levels (line 1)"}},
		},
		{
			name: "more nodes than the limit",
			text: "[" + strings.Repeat("0,", MaxNodes) + "]\n",
			want: []Error{{Artifact: "art", Line: 1, Msg: "document 1: more than 100000 YAML nodes"}},
		},
		{
			name: "input over the size limit",
			text: "a: 1\n#" + strings.Repeat("x", MaxInput),
			want: []Error{{Artifact: "art", Msg: fmt.Sprintf("manifests are %d bytes, over the limit of %d", MaxInput+6, MaxInput)}},
		},
		{
			name:     "value over the size limit",
			text:     "a: ${V}\n",
			declared: declare("V"),
			values:   map[string]string{"V": strings.Repeat("v", MaxValueSize+1)},
			want:     []Error{{Artifact: "art", Param: "V", Msg: "value is 4097 bytes, over the limit of 4096"}},
		},
		{
			name:     "value with a NUL byte",
			text:     "a: ${V}\n",
			declared: declare("V"),
			values:   map[string]string{"V": "a\x00b"},
			want:     []Error{{Artifact: "art", Param: "V", Msg: "value contains a NUL byte"}},
		},
		{
			name:     "value limits apply to unused values too",
			text:     "a: 1\n",
			declared: declare(),
			values:   map[string]string{"UNUSED": strings.Repeat("v", MaxValueSize+1)},
			want:     []Error{{Artifact: "art", Param: "UNUSED", Msg: "value is 4097 bytes, over the limit of 4096"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := Render("art", tt.text, tt.declared, tt.values)
			if err == nil {
				t.Fatalf("Render = nil error, output:\n%s", out)
			}
			if out != "" {
				t.Errorf("Render returned partial output %q with an error", out)
			}
			var got []Error
			for _, e := range unjoin(err) {
				var re *Error
				if !errors.As(e, &re) {
					t.Fatalf("error %v is %T, want *render.Error", e, e)
				}
				got = append(got, *re)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors differ\n--- got\n%+v\n--- want\n%+v", got, tt.want)
			}
		})
	}
}

func TestRenderInvalidYAML(t *testing.T) {
	t.Parallel()
	_, err := Render("art", "a: 1\n---\nb: [1, 2\n", nil, nil)
	var re *Error
	if !errors.As(err, &re) {
		t.Fatalf("Render = %v, want a *render.Error", err)
	}
	if re.Artifact != "art" || !strings.HasPrefix(re.Msg, "document 2 is not valid YAML: yaml: ") {
		t.Errorf("error = %+v", re)
	}
}

func TestRenderLimitsAreInclusive(t *testing.T) {
	t.Parallel()
	v := strings.Repeat("v", MaxValueSize)
	out, err := Render("art", "a: ${V}\n", declare("V"), map[string]string{"V": v})
	if err != nil {
		t.Fatalf("value of exactly MaxValueSize: %v", err)
	}
	if docs := decodeAll(t, out); !reflect.DeepEqual(docs, []any{map[string]any{"a": v}}) {
		t.Errorf("value of exactly MaxValueSize rendered as %q", out)
	}
	deep := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth) + "\n"
	if _, err := Render("art", deep, nil, nil); err != nil {
		t.Errorf("nesting of exactly MaxDepth: %v", err)
	}
}

func TestRenderEmptyDocuments(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, text, want string }{
		{"empty text", "", ""},
		{"only a comment", "# nothing\n", ""},
		{"only separators", "---\n---\n", ""},
		{"null document dropped", "a: 1\n--- null\n---\nb: 2\n", "a: 1\n---\nb: 2\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Render("art", tt.text, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Render = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  Error
		want string
	}{
		{
			Error{Artifact: "webpage-manifest", Line: 21, Param: "IMAGE_TAG", Msg: "is not set and has no default"},
			`render artifact "webpage-manifest" line 21: parameter "IMAGE_TAG": is not set and has no default`,
		},
		{Error{Artifact: "a", Msg: "too big"}, `render artifact "a": too big`},
		{Error{Msg: "bare"}, `render: bare`},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	_, err := Render("webpage-manifest", "a:\n  b: ${IMAGE_TAG}\n", declare("IMAGE_TAG"), nil)
	if want := `render artifact "webpage-manifest" line 2: parameter "IMAGE_TAG": is not set and has no default`; err == nil || err.Error() != want {
		t.Errorf("Render error = %v, want %s", err, want)
	}
}

func TestPlaceholders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		text string
		want []string
	}{
		{"none", "a: 1\n", []string{}},
		{"empty", "", []string{}},
		{"sorted and distinct", "b: ${B}\na: ${A}-${B}\nc: ${A}\n", []string{"A", "B"}},
		{"escaped is left out", "a: $${ESCAPED}\nb: ${USED}\n", []string{"USED"}},
		{"invalid names are left out", "a: ${1X} ${A-B} ${} ${ X }\n", []string{}},
		{"unclosed", "a: ${OPEN\n", []string{}},
		{"lower case and underscores", "a: ${_x1} ${image_tag}\n", []string{"_x1", "image_tag"}},
		{"dollar without brace", "a: $X $5 /$2\n", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Placeholders(tt.text); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Placeholders = %#v, want %#v", got, tt.want)
			}
		})
	}
	got := Placeholders(readTestdata(t, "webpage.yaml"))
	if want := []string{"IMAGE_TAG"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Placeholders(webpage.yaml) = %v, want %v", got, want)
	}
}

// TestPlaceholdersMatchRender: the names Placeholders reports are exactly
// the ones Render needs, so declaring them is enough and nothing more is
// asked for. A placeholder in a comment is not rendered, so it must not be
// required either.
func TestPlaceholdersMatchRender(t *testing.T) {
	t.Parallel()
	text := "# TODO: use ${REGISTRY} once it exists\nimage: example.com/webpage:${IMAGE_TAG}\n"
	got := Placeholders(text)
	if want := []string{"IMAGE_TAG"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Placeholders = %v, want %v", got, want)
	}
	if _, err := Render("a", text, declare(got...), map[string]string{"IMAGE_TAG": "2.1"}); err != nil {
		t.Errorf("Render with the reported placeholders declared: %v", err)
	}
}

// hasNullDocument reports whether a rendered text holds a document that is
// only null (or empty), which a second render drops.
func hasNullDocument(t *testing.T, text string) bool {
	t.Helper()
	if text == "" {
		return false
	}
	// Render separates documents with "---" lines; an empty document is not
	// even returned by the decoder, so count them.
	want := 1
	for _, line := range strings.Split(text, "\n") {
		if line == "---" {
			want++
		}
	}
	dec := yaml.NewDecoder(strings.NewReader(text))
	for n := 0; ; n++ {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return n != want
		}
		if err != nil {
			t.Fatalf("rendered text is not valid YAML: %v\n%s", err, text)
		}
		if len(doc.Content) == 1 && doc.Content[0].Kind == yaml.ScalarNode && doc.Content[0].Tag == "!!null" {
			return true
		}
	}
}

// FuzzRender checks that Render never panics and that a rendered text is a
// fixed point: rendering it again with the same parameters changes nothing.
// Texts with escapes ($${X}) and values with '$' are not checked for the
// fixed point: they legitimately produce a new ${X} in the output.
func FuzzRender(f *testing.F) {
	entries, err := os.ReadDir("testdata")
	if err != nil {
		f.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if filepath.Ext(e.Name()) == ".yaml" {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, n := range names {
		text := readTestdata(f, n)
		f.Add(text, "2.1")
		f.Add(text, "2.1\nkind: Secret")
	}
	f.Add("a: ${V}\nb: \"${V}\"\nc: '${V}'\nd: |\n  ${V}\n", `x", "y`)
	f.Add("${V}: {k: \"${V}\"}\n---\n- ${V}\n", "{a: b}")
	f.Add("a: &x 1\nb: *x\n", "*x")
	f.Add("a: $${V} ${V}\n", "&anchor")
	f.Fuzz(func(t *testing.T, text, value string) {
		names := Placeholders(text)
		declared := declare(append(names, "V")...)
		values := map[string]string{"V": value}
		for _, n := range names {
			values[n] = value
		}
		out, err := Render("fuzz", text, declared, values)
		if err != nil {
			if out != "" {
				t.Fatalf("partial output with error %v", err)
			}
			return
		}
		if strings.Contains(text, "$$") || strings.Contains(value, "$") {
			return
		}
		if hasNullDocument(t, out) {
			t.Fatalf("a null document was not dropped:\n%s", out)
		}
		again, err := Render("fuzz", out, declared, values)
		if err != nil {
			t.Fatalf("rendering the output again: %v\n--- output\n%s", err, out)
		}
		if again != out {
			t.Fatalf("not a fixed point\n--- first\n%s\n--- second\n%s", out, again)
		}
	})
}
