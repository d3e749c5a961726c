package kube

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"
)

// document is one YAML document of a manifest file and the line it starts
// on (1-based).
type document struct {
	text string
	line int
}

// Decode parses multi-document YAML (JSON documents are YAML too) into
// objects, in order. Empty and comment-only documents are skipped; the
// items of a List are expanded in place. An error names the document by its
// 1-based index among the non-empty documents and by its first line, and
// says what is wrong.
func Decode(manifests string) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for i, doc := range splitDocuments(manifests) {
		objs, err := decodeDocument(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d (line %d): %w", i+1, doc.line, err)
		}
		out = append(out, objs...)
	}
	return out, nil
}

// splitDocuments cuts YAML text at "---" lines, as the YAML reader of
// apimachinery does ("---" followed by nothing or by a comment), and drops
// the parts that hold only white space.
func splitDocuments(text string) []document {
	var (
		docs  []document
		cur   strings.Builder
		start = 1
	)
	flush := func() {
		if strings.TrimSpace(cur.String()) != "" {
			docs = append(docs, document{text: cur.String(), line: start})
		}
		cur.Reset()
	}
	lines := strings.SplitAfter(text, "\n")
	for i, line := range lines {
		if rest, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "---"); ok {
			if r := strings.TrimSpace(rest); r == "" || strings.HasPrefix(r, "#") {
				flush()
				start = i + 2
				continue
			}
		}
		if cur.Len() == 0 && strings.TrimSpace(line) == "" {
			// Report the first line with content as the document's start.
			start = i + 2
			continue
		}
		cur.WriteString(line)
	}
	flush()
	return docs
}

// yamlLine finds the line numbers in YAML parser errors.
var yamlLine = regexp.MustCompile(`line (\d+)`)

// decodeDocument turns one document into objects: none for a document that
// is only comments, one, or the items of a List.
func decodeDocument(doc document) ([]*unstructured.Unstructured, error) {
	js, err := yaml.YAMLToJSONStrict([]byte(doc.text))
	if err != nil {
		// Make the parser's line numbers count from the top of the file.
		msg := yamlLine.ReplaceAllStringFunc(err.Error(), func(m string) string {
			n, convErr := strconv.Atoi(strings.TrimPrefix(m, "line "))
			if convErr != nil {
				return m
			}
			return "line " + strconv.Itoa(n+doc.line-1)
		})
		return nil, fmt.Errorf("invalid YAML: %s", strings.TrimPrefix(msg, "error converting YAML to JSON: "))
	}
	var v any
	if err := utiljson.Unmarshal(js, &v); err != nil {
		return nil, fmt.Errorf("invalid YAML: %w", err)
	}
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("not an object but %s: a manifest must be a mapping with apiVersion, kind and metadata", describe(v))
	}
	kind, _ := m["kind"].(string)
	if items, isList := m["items"]; isList && strings.HasSuffix(kind, "List") {
		return expandList(items)
	}
	if err := checkObject(m); err != nil {
		return nil, err
	}
	return []*unstructured.Unstructured{{Object: m}}, nil
}

// expandList returns the items of a List, each checked like a document.
func expandList(items any) ([]*unstructured.Unstructured, error) {
	if items == nil {
		return nil, nil
	}
	list, ok := items.([]any)
	if !ok {
		return nil, fmt.Errorf("items of a List must be a sequence, not %s", describe(items))
	}
	out := make([]*unstructured.Unstructured, 0, len(list))
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("list item %d: not an object but %s", i+1, describe(item))
		}
		if k, _ := m["kind"].(string); strings.HasSuffix(k, "List") && m["items"] != nil {
			return nil, fmt.Errorf("list item %d: a List inside a List is not supported", i+1)
		}
		if err := checkObject(m); err != nil {
			return nil, fmt.Errorf("list item %d: %w", i+1, err)
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	return out, nil
}

// checkObject verifies the fields every applied object needs.
func checkObject(m map[string]any) error {
	var problems []string
	for _, field := range []string{"apiVersion", "kind"} {
		switch v := m[field].(type) {
		case string:
			if v == "" {
				problems = append(problems, field+" is empty")
			}
		case nil:
			problems = append(problems, field+" is missing")
		default:
			problems = append(problems, fmt.Sprintf("%s must be a string, not %s", field, describe(v)))
		}
	}
	switch md := m["metadata"].(type) {
	case nil:
		problems = append(problems, "metadata.name is missing")
	case map[string]any:
		switch name := md["name"].(type) {
		case string:
			if name == "" {
				problems = append(problems, "metadata.name is empty")
			}
		case nil:
			if _, ok := md["generateName"]; ok {
				problems = append(problems, "metadata.name is missing (generateName cannot be used: server-side apply needs a fixed name)")
			} else {
				problems = append(problems, "metadata.name is missing")
			}
		default:
			problems = append(problems, fmt.Sprintf("metadata.name must be a string, not %s", describe(name)))
		}
	default:
		problems = append(problems, fmt.Sprintf("metadata must be a mapping, not %s", describe(md)))
	}
	if len(problems) == 0 {
		return nil
	}
	return errors.New(withName(m, joinList(problems)))
}

// withName prefixes a message with the object's kind and name when it has
// them, so that the user can find it.
func withName(m map[string]any, msg string) string {
	kind, _ := m["kind"].(string)
	var name string
	if md, ok := m["metadata"].(map[string]any); ok {
		name, _ = md["name"].(string)
	}
	switch {
	case kind != "" && name != "":
		return kind + "/" + name + ": " + msg
	case kind != "":
		return kind + ": " + msg
	case name != "":
		return "object " + strconv.Quote(name) + ": " + msg
	}
	return msg
}

// describe names the YAML type of a decoded value.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("a string (%q)", truncate(v, 40))
	case bool:
		return "a boolean"
	case int64, float64:
		return "a number"
	case []any:
		return "a sequence"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("%T", v)
}

// truncate shortens s to at most n runes.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
