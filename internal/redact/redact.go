// Package redact hides the data of Kubernetes Secrets inside manifests
// (an artifact's text, a deployment's rendered manifests) from those who
// read them through the API, and puts the stored values back when a
// redacted text is applied again (get then apply).
package redact

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Placeholder replaces each value of a Secret's data and stringData (the
// same text as v1alpha1.Redacted).
const Placeholder = "(redacted)"

// secretFields are the fields of a Secret that hold its values.
var secretFields = []string{"data", "stringData"}

// Secrets returns manifests with every value of every Secret's data and
// stringData replaced by Placeholder, and whether anything was replaced.
// Text without a Secret is returned as is. Text that cannot be parsed but
// may hold a Secret is withheld whole: nothing leaks by a parse error.
func Secrets(manifests string) (string, bool) {
	if !strings.Contains(manifests, "Secret") {
		return manifests, false
	}
	docs, err := parse(manifests)
	if err != nil {
		return Placeholder + " (the manifests hold a Secret and could not be parsed to hide only its values)\n", true
	}
	changed := false
	for _, d := range objects(docs) {
		for _, field := range secretFields {
			if m := secretMap(d, field); m != nil {
				for i := 1; i < len(m.Content); i += 2 {
					m.Content[i] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: Placeholder}
					changed = true
				}
			}
		}
	}
	if !changed {
		return manifests, false
	}
	out, err := encode(docs)
	if err != nil {
		return Placeholder + " (the manifests hold a Secret and could not be written back without its values)\n", true
	}
	return out, true
}

// Restore puts the values of stored back into the Secrets of applied
// where applied holds Placeholder: the same Secret (by namespace and name)
// and key. A placeholder with no stored value is an error naming it.
// Text with no placeholder is returned as is.
func Restore(applied, stored string) (string, error) {
	if !strings.Contains(applied, Placeholder) {
		return applied, nil
	}
	docs, err := parse(applied)
	if err != nil {
		return "", fmt.Errorf("parse manifests: %w", err)
	}
	var old []*yaml.Node
	if stored != "" {
		if old, err = parse(stored); err != nil {
			return "", fmt.Errorf("parse the stored manifests: %w", err)
		}
	}
	return rewrite(applied, docs, func(at value, n *yaml.Node) (bool, error) {
		if n.Value != Placeholder {
			return false, nil
		}
		v := storedValue(old, at)
		if v == nil || (v.Kind == yaml.ScalarNode && v.Value == Placeholder) {
			return false, fmt.Errorf("%s is the placeholder %s and there is no stored value to keep: give the value", at, Placeholder)
		}
		*n = *v
		return true, nil
	})
}

// storedValue returns the value at the place of at in docs, or nil.
func storedValue(docs []*yaml.Node, at value) *yaml.Node {
	var v *yaml.Node
	for _, d := range objects(docs) {
		if name(d) == at.secret {
			if m := secretMap(d, at.field); m != nil {
				v = lookup(m, at.key)
			}
		}
	}
	return v
}

func parse(text string) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(strings.NewReader(text))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		docs = append(docs, &n)
	}
}

func encode(docs []*yaml.Node) (string, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	for _, d := range docs {
		if err := enc.Encode(d); err != nil {
			return "", err
		}
	}
	if err := enc.Close(); err != nil {
		return "", err
	}
	return b.String(), nil
}

// root is a document's top-level mapping, or nil.
func root(d *yaml.Node) *yaml.Node {
	if d.Kind == yaml.DocumentNode && len(d.Content) == 1 {
		d = d.Content[0]
	}
	if d.Kind != yaml.MappingNode {
		return nil
	}
	return d
}

func lookup(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func scalar(m *yaml.Node, path ...string) string {
	for _, p := range path {
		m = lookup(m, p)
	}
	if m == nil || m.Kind != yaml.ScalarNode {
		return ""
	}
	return m.Value
}

// objects returns the objects of docs as the cluster gets them: each
// document's mapping, or the items of a List in its place (as kube.Decode
// expands them), so that a Secret inside a List is found too.
func objects(docs []*yaml.Node) []*yaml.Node {
	var out []*yaml.Node
	for _, d := range docs {
		r := root(d)
		if r == nil {
			continue
		}
		items := lookup(r, "items")
		if !strings.HasSuffix(scalar(r, "kind"), "List") || items == nil || items.Kind != yaml.SequenceNode {
			out = append(out, r)
			continue
		}
		for _, it := range items.Content {
			if it.Kind == yaml.MappingNode {
				out = append(out, it)
			}
		}
	}
	return out
}

// secretMap returns field (data or stringData) of a Secret document.
func secretMap(d *yaml.Node, field string) *yaml.Node {
	r := root(d)
	if r == nil || scalar(r, "kind") != "Secret" {
		return nil
	}
	m := lookup(r, field)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	return m
}

func name(d *yaml.Node) string {
	r := root(d)
	if ns := scalar(r, "metadata", "namespace"); ns != "" {
		return ns + "/" + scalar(r, "metadata", "name")
	}
	return scalar(r, "metadata", "name")
}
