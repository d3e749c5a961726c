package resourcefile

import (
	"encoding"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

var (
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	timeType            = reflect.TypeFor[time.Time]()
)

func reflectTypeOf(v any) reflect.Type { return reflect.TypeOf(v) }

// checker walks a document's nodes alongside the Go type it decodes into,
// so that an unknown or duplicate field, or a value of the wrong shape, is
// reported with its line and its path in the document, all at once.
type checker struct {
	d    *decoder
	root string // the kind, used as the path of the document itself
}

func (c *checker) where(path string) string {
	if path == "" {
		return c.root
	}
	return path
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (c *checker) check(n *yaml.Node, t reflect.Type, path string) {
	n = deref(n)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // null leaves the zero value
	}
	if t == timeType {
		if n.Kind != yaml.ScalarNode {
			c.d.errorf(n.Line, "%s: expected a timestamp, got %s", c.where(path), describe(n))
		}
		return
	}
	if reflect.PointerTo(t).Implements(textUnmarshalerType) {
		if n.Kind != yaml.ScalarNode {
			c.d.errorf(n.Line, "%s: expected a string, got %s", c.where(path), describe(n))
			return
		}
		// The decoder reports a failed UnmarshalText without a line, so
		// try it here first.
		u := reflect.New(t).Interface().(encoding.TextUnmarshaler)
		if err := u.UnmarshalText([]byte(n.Value)); err != nil {
			c.d.errorf(n.Line, "%s: %v", c.where(path), err)
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			c.d.errorf(n.Line, "%s: expected a mapping, got %s", c.where(path), describe(n))
			return
		}
		fields := fieldsOf(t)
		c.pairs(n, t, path, map[string]int{}, func(key, val *yaml.Node) {
			ft, ok := fields[key.Value]
			if !ok {
				msg := fmt.Sprintf("unknown field %q in %s", key.Value, c.where(path))
				if s := suggest(key.Value, fields); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				c.d.errorf(key.Line, "%s", msg)
				return
			}
			c.check(val, ft, join(path, key.Value))
		})
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			c.d.errorf(n.Line, "%s: expected a mapping, got %s", c.where(path), describe(n))
			return
		}
		c.pairs(n, t, path, map[string]int{}, func(key, val *yaml.Node) {
			c.check(val, t.Elem(), join(path, key.Value))
		})
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			c.d.errorf(n.Line, "%s: expected a list, got %s", c.where(path), describe(n))
			return
		}
		for i, e := range n.Content {
			c.check(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			c.d.errorf(n.Line, "%s: expected a string, got %s", c.where(path), describe(n))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
			c.d.errorf(n.Line, "%s: expected an integer, got %s", c.where(path), describe(n))
		}
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			c.d.errorf(n.Line, "%s: expected true or false, got %s", c.where(path), describe(n))
		}
	}
}

// pairs calls fn for each key and value of a mapping, following merge keys
// ("<<: *anchor") and reporting duplicate and non-string keys. Keys given
// directly win over merged ones, as in the decoder.
func (c *checker) pairs(n *yaml.Node, t reflect.Type, path string, seen map[string]int, fn func(key, val *yaml.Node)) {
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		if key.Kind == yaml.ScalarNode && key.ShortTag() == "!!merge" {
			merges = append(merges, deref(val))
			continue
		}
		if key.Kind != yaml.ScalarNode {
			c.d.errorf(key.Line, "%s: keys must be strings, got %s", c.where(path), describe(key))
			continue
		}
		if first, dup := seen[key.Value]; dup {
			c.d.errorf(key.Line, "duplicate field %q in %s (first at line %d)", key.Value, c.where(path), first)
			continue
		}
		seen[key.Value] = key.Line
		fn(key, val)
	}
	for _, m := range merges {
		var maps []*yaml.Node
		switch m.Kind {
		case yaml.MappingNode:
			maps = []*yaml.Node{m}
		case yaml.SequenceNode:
			for _, e := range m.Content {
				maps = append(maps, deref(e))
			}
		}
		for _, mm := range maps {
			if mm.Kind != yaml.MappingNode {
				c.d.errorf(mm.Line, "%s: a merge (<<) takes a mapping or a list of mappings", c.where(path))
				continue
			}
			// A merged key does not count as a duplicate, it is overridden.
			merged := map[string]int{}
			c.pairs(mm, t, path, merged, func(key, val *yaml.Node) {
				if _, ok := seen[key.Value]; ok {
					return
				}
				fn(key, val)
			})
			for k, l := range merged {
				if _, ok := seen[k]; !ok {
					seen[k] = l
				}
			}
		}
	}
}

// fieldsOf maps the YAML keys of a struct type to their Go types, following
// the yaml tags as the decoder does (inline structs included).
func fieldsOf(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(","+opts+",", ",inline,") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range fieldsOf(ft) {
					out[k] = v
				}
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

// suggest returns the known field that an unknown one was most likely
// meant to be, or "".
func suggest(name string, fields map[string]reflect.Type) string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	lname := strings.ToLower(name)
	best, bestDist := "", -1
	for _, k := range keys {
		lk := strings.ToLower(k)
		if lk == lname {
			return k
		}
		d := levenshtein(lname, lk)
		near := d <= 2 || d*3 <= len(lk)
		if len(lname) >= 3 && (strings.HasPrefix(lk, lname) || strings.HasPrefix(lname, lk)) {
			near = true
		}
		if near && (bestDist < 0 || d < bestDist) {
			best, bestDist = k, d
		}
	}
	return best
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
