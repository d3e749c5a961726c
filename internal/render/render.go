// Package render fills ${NAME} placeholders of manifest text with a run's
// parameters. Substitution happens inside YAML scalars only (keys and
// values), after the text is parsed, so a parameter value can never change
// the structure of a manifest: "2.1\nkind: Secret" stays one string.
package render

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// placeholder matches ${NAME}; $${NAME} is an escaped literal ${NAME}.
var placeholder = regexp.MustCompile(`\$?\$\{([^}]*)\}`)

var validName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Limits bound what one render may produce.
const (
	MaxInput     = 4 << 20
	MaxNodes     = 100_000
	MaxDepth     = 100
	MaxValueSize = 4096
)

// Error is a rendering failure that names the artifact, line and parameter.
type Error struct {
	Artifact string
	Line     int
	Param    string
	Msg      string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("render")
	if e.Artifact != "" {
		fmt.Fprintf(&b, " artifact %q", e.Artifact)
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, " line %d", e.Line)
	}
	b.WriteString(": ")
	if e.Param != "" {
		fmt.Fprintf(&b, "parameter %q: ", e.Param)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// isNull reports whether a scalar is (or, with its tag cleared by a
// substitution, resolves to) YAML null.
func isNull(n *yaml.Node) bool {
	if n.Kind != yaml.ScalarNode {
		return false
	}
	if n.Tag == "!!null" {
		return true
	}
	if n.Tag == "" && n.Style == 0 {
		switch strings.ToLower(n.Value) {
		case "", "~", "null":
			return true
		}
	}
	return false
}

// Placeholders returns the distinct parameter names the manifests use in
// YAML scalars (comments do not count, as Render never fills them), sorted.
// Escaped ($${X}) and malformed placeholders are not included. Text that
// is not valid YAML is scanned as text.
func Placeholders(text string) []string {
	seen := map[string]bool{}
	add := func(s string) {
		for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
			if strings.HasPrefix(m[0], "$$") || !validName.MatchString(m[1]) {
				continue
			}
			seen[m[1]] = true
		}
	}
	dec := yaml.NewDecoder(strings.NewReader(text))
	var scalars []string
	parsed := true
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			parsed = false
			break
		}
		n := 0
		if err := walk(&doc, 0, &n, func(s *yaml.Node) { scalars = append(scalars, s.Value) }); err != nil {
			parsed = false
			break
		}
	}
	if parsed {
		for _, s := range scalars {
			add(s)
		}
	} else {
		add(text)
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Render parses the multi-document YAML text, replaces placeholders in every
// scalar with values, and returns the documents re-encoded, separated by
// "---". declared lists the parameters the pipeline declares: a placeholder
// that is not declared, or declared but absent from values, is an error.
// All errors are collected; nothing partial is returned.
func Render(artifact, text string, declared map[string]bool, values map[string]string) (string, error) {
	if len(text) > MaxInput {
		return "", &Error{Artifact: artifact, Msg: fmt.Sprintf("manifests are %d bytes, over the limit of %d", len(text), MaxInput)}
	}
	for name, v := range values {
		if len(v) > MaxValueSize {
			return "", &Error{Artifact: artifact, Param: name, Msg: fmt.Sprintf("value is %d bytes, over the limit of %d", len(v), MaxValueSize)}
		}
		if strings.ContainsAny(v, "\x00") {
			return "", &Error{Artifact: artifact, Param: name, Msg: "value contains a NUL byte"}
		}
	}
	dec := yaml.NewDecoder(strings.NewReader(text))
	var docs []*yaml.Node
	var problems []error
	for i := 1; ; i++ {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", &Error{Artifact: artifact, Msg: fmt.Sprintf("document %d is not valid YAML: %v", i, err)}
		}
		n := 0
		if err := walk(&doc, 0, &n, func(s *yaml.Node) {
			problems = append(problems, substitute(artifact, s, declared, values)...)
		}); err != nil {
			return "", &Error{Artifact: artifact, Line: doc.Line, Msg: fmt.Sprintf("document %d: %v", i, err)}
		}
		if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 && isNull(doc.Content[0]) {
			continue
		}
		if doc.Kind == 0 {
			continue
		}
		docs = append(docs, &doc)
	}
	if len(problems) > 0 {
		return "", errors.Join(problems...)
	}
	var out bytes.Buffer
	for i, d := range docs {
		if i > 0 {
			out.WriteString("---\n")
		}
		enc := yaml.NewEncoder(&out)
		enc.SetIndent(2)
		if err := enc.Encode(d); err != nil {
			return "", &Error{Artifact: artifact, Msg: fmt.Sprintf("encode document %d: %v", i+1, err)}
		}
		if err := enc.Close(); err != nil {
			return "", &Error{Artifact: artifact, Msg: fmt.Sprintf("encode document %d: %v", i+1, err)}
		}
	}
	return out.String(), nil
}

// walk visits every scalar, refusing aliases (which could expand a small
// text into a huge one) and bounding node count and depth.
func walk(n *yaml.Node, depth int, count *int, visit func(*yaml.Node)) error {
	*count++
	if *count > MaxNodes {
		return fmt.Errorf("more than %d YAML nodes", MaxNodes)
	}
	if depth > MaxDepth {
		return fmt.Errorf("nesting deeper than %d levels (line %d)", MaxDepth, n.Line)
	}
	switch n.Kind {
	case yaml.AliasNode:
		return fmt.Errorf("YAML aliases are not allowed in manifests (line %d)", n.Line)
	case yaml.ScalarNode:
		visit(n)
	}
	for _, c := range n.Content {
		if err := walk(c, depth+1, count, visit); err != nil {
			return err
		}
	}
	return nil
}

func substitute(artifact string, s *yaml.Node, declared map[string]bool, values map[string]string) []error {
	if !strings.Contains(s.Value, "${") {
		return nil
	}
	var problems []error
	out := placeholder.ReplaceAllStringFunc(s.Value, func(m string) string {
		if strings.HasPrefix(m, "$$") {
			return m[1:]
		}
		name := m[2 : len(m)-1]
		switch {
		case !validName.MatchString(name):
			problems = append(problems, &Error{Artifact: artifact, Line: s.Line, Param: name, Msg: "is not a valid parameter name (letters, digits and '_', not starting with a digit)"})
		case !declared[name]:
			problems = append(problems, &Error{Artifact: artifact, Line: s.Line, Param: name, Msg: "is not declared by the pipeline"})
		default:
			v, ok := values[name]
			if !ok {
				problems = append(problems, &Error{Artifact: artifact, Line: s.Line, Param: name, Msg: "is not set and has no default"})
				return m
			}
			return v
		}
		return m
	})
	if len(problems) > 0 {
		return problems
	}
	if s.Value != out {
		s.Value = out
		if s.Style == 0 {
			// A plain scalar is re-resolved, so replicas: ${N} becomes an int.
			s.Tag = ""
		}
		if strings.ContainsAny(out, "\n") {
			s.Style = yaml.DoubleQuotedStyle
			s.Tag = "!!str"
		}
	}
	return nil
}
