package resourcefile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"fledge.dev/fledge/api/v1alpha1"
)

// Limits on what is read. A file over MaxFileSize is refused unread; a
// document with more than MaxNodes nodes (counting every expansion of an
// alias) or nested deeper than MaxDepth is refused before it is decoded.
const (
	MaxFileSize = 4 << 20
	MaxNodes    = 10000
	MaxDepth    = 100
)

// Object is one resource read from a file, ready to be sent to the API.
type Object struct {
	// Kind is Environment, Artifact, AnalysisTemplate or Pipeline.
	Kind string
	// Name is the resource's metadata.name.
	Name string
	// Value is a *v1alpha1.Environment, *v1alpha1.Artifact,
	// *v1alpha1.AnalysisTemplate or *v1alpha1.Pipeline.
	Value any
	// Source is where the document starts, as file:line.
	Source string
	// ManifestFile is the file an Artifact's spec.file named, as read;
	// empty otherwise.
	ManifestFile string
}

// Options change how DecodePathsWith finds files.
type Options struct {
	// Recursive descends into subdirectories of the directories given.
	Recursive bool
}

// Error is one problem in a resource file, located by file and line (zero
// when the problem is the file as a whole).
type Error struct {
	File string
	Line int
	Msg  string
}

// Error returns file:line: message, as compilers write them.
func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// DecodeFile reads and decodes one resource file.
func DecodeFile(path string) ([]Object, error) {
	data, err := readBounded(path)
	if err != nil {
		return nil, err
	}
	return Decode(path, data)
}

// DecodePaths decodes the files named, and the *.yaml and *.yml files of the
// directories named (not their subdirectories), in sorted order. A file
// found in a directory that an Artifact of the set names in spec.file holds
// Kubernetes manifests, not resources, and is skipped. It reports every
// problem of every file at once and returns no object if there is any.
func DecodePaths(paths []string) ([]Object, error) {
	return DecodePathsWith(paths, Options{})
}

// DecodePathsWith is DecodePaths with options.
func DecodePathsWith(paths []string, opts Options) ([]Object, error) {
	files, errs := expand(paths, opts.Recursive)
	type result struct {
		objs []Object
		err  error
	}
	results := make([]result, len(files))
	manifests := map[string]bool{}
	for i, f := range files {
		o, err := DecodeFile(f.path)
		results[i] = result{o, err}
		for _, obj := range o {
			if obj.ManifestFile != "" {
				manifests[absPath(obj.ManifestFile)] = true
			}
		}
	}
	var objs []Object
	for i, f := range files {
		if f.inDir && manifests[absPath(f.path)] {
			continue // an artifact's manifests, next to the resource files
		}
		if results[i].err != nil {
			errs = append(errs, results[i].err)
			continue
		}
		objs = append(objs, results[i].objs...)
	}
	errs = append(errs, duplicates(objs)...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return objs, nil
}

// Decode decodes the YAML documents of one file; name is used in messages
// and to find the files that Artifacts refer to.
func Decode(name string, data []byte) ([]Object, error) {
	if len(data) > MaxFileSize {
		return nil, tooLarge(name)
	}
	d := &decoder{file: name}
	objs := d.decode(data)
	d.errs = append(d.errs, duplicates(objs)...)
	if len(d.errs) > 0 {
		return nil, errors.Join(d.errs...)
	}
	return objs, nil
}

func tooLarge(name string) error {
	return &Error{File: name, Msg: fmt.Sprintf("file is larger than %d bytes (4 MiB); refusing to read it", MaxFileSize)}
}

// readBounded reads a whole file, refusing one over MaxFileSize.
func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read resource file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read resource file: %w", err)
	}
	if fi.IsDir() {
		return nil, &Error{File: path, Msg: "is a directory"}
	}
	if fi.Size() > MaxFileSize {
		return nil, tooLarge(path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read resource file %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, tooLarge(path)
	}
	return data, nil
}

// file is a file to read, and whether it was found in a directory rather
// than named.
type file struct {
	path  string
	inDir bool
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return filepath.Clean(p)
}

// expand turns paths into the files to read, in order.
func expand(paths []string, recursive bool) ([]file, []error) {
	var files []file
	var errs []error
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("read resource files: %w", err))
			continue
		}
		if !fi.IsDir() {
			files = append(files, file{path: p})
			continue
		}
		var found []string
		if recursive {
			err = filepath.WalkDir(p, func(path string, de fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if !de.IsDir() && isYAML(de.Name()) {
					found = append(found, path)
				}
				return nil
			})
		} else {
			var entries []fs.DirEntry
			entries, err = os.ReadDir(p)
			for _, de := range entries {
				if !de.IsDir() && isYAML(de.Name()) {
					found = append(found, filepath.Join(p, de.Name()))
				}
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("read resource directory %s: %w", p, err))
			continue
		}
		if len(found) == 0 {
			errs = append(errs, &Error{File: p, Msg: "directory holds no .yaml or .yml file"})
		}
		for _, f := range found {
			files = append(files, file{path: f, inDir: true})
		}
	}
	return files, errs
}

func isYAML(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return ext == ".yaml" || ext == ".yml"
}

// duplicates reports objects of the same kind and name defined twice.
func duplicates(objs []Object) []error {
	var errs []error
	first := map[string]Object{}
	for _, o := range objs {
		key := o.Kind + "/" + o.Name
		if f, ok := first[key]; ok {
			file, line := splitSource(o.Source)
			errs = append(errs, &Error{File: file, Line: line, Msg: fmt.Sprintf("%s %q is defined twice (first at %s)", o.Kind, o.Name, f.Source)})
			continue
		}
		first[key] = o
	}
	return errs
}

func splitSource(src string) (string, int) {
	i := strings.LastIndexByte(src, ':')
	if i < 0 {
		return src, 0
	}
	n, err := strconv.Atoi(src[i+1:])
	if err != nil {
		return src, 0
	}
	return src[:i], n
}

// decoder decodes the documents of one file and collects its errors.
type decoder struct {
	file string
	errs []error
}

func (d *decoder) errorf(line int, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// document is one YAML document and, once checked, the object it becomes.
type document struct {
	root   *yaml.Node // the document's content (a mapping once checked)
	kind   string
	target any // nil when the document is skipped or invalid
}

func (d *decoder) decode(data []byte) []Object {
	// First pass: parse every document into nodes, so that bounds, kinds
	// and fields are checked with the lines of the source before anything
	// is decoded into a typed value.
	var docs []*document
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			d.syntaxError(err)
			break
		}
		docs = append(docs, d.check(&n))
	}

	// Second pass: decode the same stream again, strictly, into the types.
	// The documents are the same as in the first pass, in the same order.
	dec = yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var objs []Object
	for _, doc := range docs {
		if doc.target == nil {
			var skip yaml.Node
			if err := dec.Decode(&skip); err != nil {
				d.syntaxError(err)
				break
			}
			continue
		}
		if err := dec.Decode(doc.target); err != nil {
			d.decodeError(doc.root.Line, err)
			continue
		}
		if o, ok := d.finish(doc); ok {
			objs = append(objs, o)
		}
	}
	return objs
}

var lineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// syntaxError turns a yaml parse error into a located Error.
func (d *decoder) syntaxError(err error) {
	if m := lineRE.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		d.errorf(n, "invalid YAML: %s", m[2])
		return
	}
	d.errs = append(d.errs, &Error{File: d.file, Msg: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")})
}

// decodeError reports an error of the typed decode; the checks of the first
// pass make it rare.
func (d *decoder) decodeError(docLine int, err error) {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		for _, msg := range te.Errors {
			if m := lineRE.FindStringSubmatch(msg); m != nil {
				n, _ := strconv.Atoi(m[1])
				d.errorf(n, "%s", m[2])
			} else {
				d.errorf(docLine, "%s", msg)
			}
		}
		return
	}
	d.errorf(docLine, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
}

// check bounds a document, reads its apiVersion and kind, and checks its
// fields against the kind's type.
func (d *decoder) check(n *yaml.Node) *document {
	doc := &document{root: n}
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return doc
		}
		doc.root = n.Content[0]
	}
	root := doc.root
	if line, msg := bounds(root); msg != "" {
		d.errorf(line, "%s", msg)
		return doc
	}
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return doc // an empty document, as between two "---"
	}
	if root.Kind != yaml.MappingNode {
		d.errorf(root.Line, "document is %s; want a mapping with apiVersion, kind, metadata and spec", describe(root))
		return doc
	}
	apiVersion, avLine := scalarField(root, "apiVersion")
	kind, kindLine := scalarField(root, "kind")
	ok := true
	switch {
	case avLine == 0:
		d.errorf(root.Line, "apiVersion is missing; want %q", v1alpha1.APIVersion)
		ok = false
	case apiVersion != v1alpha1.APIVersion:
		d.errorf(avLine, "apiVersion %q is not supported; want %q", apiVersion, v1alpha1.APIVersion)
		ok = false
	}
	var target any
	switch kind {
	case v1alpha1.KindEnvironment:
		target = &v1alpha1.Environment{}
	case v1alpha1.KindArtifact:
		target = &v1alpha1.Artifact{}
	case v1alpha1.KindPipeline:
		target = &v1alpha1.Pipeline{}
	case v1alpha1.KindAnalysisTemplate:
		target = &v1alpha1.AnalysisTemplate{}
	default:
		want := strings.Join(v1alpha1.Kinds, ", ")
		if kindLine == 0 {
			d.errorf(root.Line, "kind is missing; want one of %s", want)
		} else {
			d.errorf(kindLine, "unknown kind %q; want one of %s", kind, want)
		}
		return doc
	}
	if !ok {
		return doc
	}
	c := &checker{d: d, root: kind}
	before := len(d.errs)
	c.check(root, reflectTypeOf(target), "")
	if len(d.errs) > before {
		return doc
	}
	doc.kind = kind
	doc.target = target
	return doc
}

// scalarField returns the value and line of a top-level scalar field, or a
// zero line when it is absent.
func scalarField(m *yaml.Node, key string) (string, int) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			v := deref(m.Content[i+1])
			if v.Kind != yaml.ScalarNode {
				return "", v.Line
			}
			return v.Value, v.Line
		}
	}
	return "", 0
}

// bounds refuses documents too large or too deep once aliases are
// expanded. It stops at the first node over a limit, so an alias bomb
// costs no more than MaxNodes steps.
func bounds(root *yaml.Node) (int, string) {
	count := 0
	var line int
	var msg string
	var walk func(n *yaml.Node, depth int) bool
	walk = func(n *yaml.Node, depth int) bool {
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		count++
		if count > MaxNodes {
			line, msg = n.Line, fmt.Sprintf("document has more than %d nodes once aliases are expanded; refusing it", MaxNodes)
			return false
		}
		if depth > MaxDepth {
			line, msg = n.Line, fmt.Sprintf("document is nested deeper than %d levels; refusing it", MaxDepth)
			return false
		}
		for _, c := range n.Content {
			if !walk(c, depth+1) {
				return false
			}
		}
		return true
	}
	walk(root, 1)
	return line, msg
}

// finish resolves an Artifact's file, validates the object and returns it.
func (d *decoder) finish(doc *document) (Object, bool) {
	var (
		name     string
		err      error
		manifest string
	)
	switch v := doc.target.(type) {
	case *v1alpha1.Environment:
		name = v.Metadata.Name
		err = v.Validate()
	case *v1alpha1.Artifact:
		name = v.Metadata.Name
		if v.Spec.File != "" {
			var ok bool
			if manifest, ok = d.resolveFile(doc.root, v); !ok {
				return Object{}, false
			}
		}
		err = v.Validate()
	case *v1alpha1.Pipeline:
		name = v.Metadata.Name
		err = v.Validate(nil)
	case *v1alpha1.AnalysisTemplate:
		// Conditions are compiled by the server when it is applied.
		name = v.Metadata.Name
		err = v.Validate(nil)
	}
	if err != nil {
		var ve *v1alpha1.ValidationError
		if !errors.As(err, &ve) {
			d.errorf(doc.root.Line, "invalid %s %q: %v", doc.kind, name, err)
			return Object{}, false
		}
		for _, fe := range ve.Errors {
			d.errorf(lineOf(doc.root, fe.Field), "invalid %s %q: %s: %s", doc.kind, name, fe.Field, fe.Message)
		}
		return Object{}, false
	}
	return Object{
		Kind:         doc.kind,
		Name:         name,
		Value:        doc.target,
		Source:       fmt.Sprintf("%s:%d", d.file, doc.root.Line),
		ManifestFile: manifest,
	}, true
}

// resolveFile reads an Artifact's spec.file, relative to the resource
// file's directory, into spec.manifests, and returns the path read.
func (d *decoder) resolveFile(root *yaml.Node, a *v1alpha1.Artifact) (string, bool) {
	line := lineOf(root, "spec.file")
	if a.Spec.Manifests != "" {
		d.errorf(line, "invalid Artifact %q: spec.file: set either spec.manifests or spec.file, not both", a.Metadata.Name)
		return "", false
	}
	p := a.Spec.File
	if !filepath.IsAbs(p) {
		p = filepath.Join(filepath.Dir(d.file), p)
	}
	data, err := readBounded(p)
	if err != nil {
		d.errorf(line, "invalid Artifact %q: spec.file: %v", a.Metadata.Name, err)
		return "", false
	}
	a.Spec.Manifests = string(data)
	a.Spec.File = ""
	return p, true
}

// lineOf finds the line of a field path like spec.stages[1].shiftTraffic
// in a document; when the field is absent, it is the line of the nearest
// enclosing field that is present.
func lineOf(root *yaml.Node, field string) int {
	line := root.Line
	n := root
	for _, seg := range strings.Split(field, ".") {
		name, rest, _ := strings.Cut(seg, "[")
		if name != "" {
			key, val := lookup(n, name)
			if key == nil {
				return line
			}
			line, n = key.Line, val
		}
		for rest != "" {
			idx, after, ok := strings.Cut(rest, "]")
			if !ok {
				return line
			}
			i, err := strconv.Atoi(idx)
			n = deref(n)
			if err != nil || n.Kind != yaml.SequenceNode || i < 0 || i >= len(n.Content) {
				return line
			}
			n = deref(n.Content[i])
			line = n.Line
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return line
}

// lookup finds a key of a mapping node.
func lookup(n *yaml.Node, key string) (*yaml.Node, *yaml.Node) {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i], deref(n.Content[i+1])
		}
	}
	return nil, nil
}

func deref(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

// describe names a node's kind for messages.
func describe(n *yaml.Node) string {
	n = deref(n)
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int":
			return "an integer " + n.Value
		case "!!float":
			return "a number " + n.Value
		case "!!bool":
			return "a boolean " + n.Value
		case "!!null":
			return "null"
		}
		return strconv.Quote(n.Value)
	}
	return "empty"
}
