package analysis

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/theory/jsonpath"

	"fledge.dev/fledge/api/v1alpha1"
)

// Web reads a JSON document over HTTP GET and selects the result with an
// RFC 9535 JSONPath (github.com/theory/jsonpath): one node gives its value,
// several give a list, none is ErrNoData.
type Web struct {
	client *httpClient
	URL    string
	Header http.Header
	Path   *jsonpath.Path
}

func newWeb(ctx context.Context, w *v1alpha1.WebProvider, args map[string]string, secrets Secrets) (*Web, error) {
	path, err := jsonpath.Parse(w.JSONPath)
	if err != nil {
		return nil, fmt.Errorf("jsonPath %q: %w", w.JSONPath, err)
	}
	c, err := newHTTPClient(ctx, w.Auth, w.TLS, w.Timeout, secrets)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	for _, hd := range w.Headers {
		h.Add(hd.Name, fill(hd.Value, args))
	}
	return &Web{client: c, URL: fill(w.URL, args), Header: h, Path: path}, nil
}

// Kind implements Provider.
func (*Web) Kind() string { return "web" }

// Numeric implements Provider: the result is any JSON value.
func (*Web) Numeric() bool { return false }

// Measure implements Provider.
func (w *Web) Measure(ctx context.Context) (any, error) {
	_, body, err := w.client.get(ctx, w.URL, w.Header, func(s int) bool { return s >= 200 && s < 300 })
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("web: the answer is not JSON: %w", err)
	}
	nodes := w.Path.Select(doc)
	switch len(nodes) {
	case 0:
		return nil, fmt.Errorf("web: %s selects nothing: %w", w.Path, ErrNoData)
	case 1:
		return nodes[0], nil
	}
	return []any(nodes), nil
}
