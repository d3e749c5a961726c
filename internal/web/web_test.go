package web

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
)

func setup(t *testing.T) *Console {
	t.Helper()
	c, err := New()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func do(t *testing.T, h http.Handler, method, target string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func checkSecurityHeaders(t *testing.T, what string, w *httptest.ResponseRecorder) {
	t.Helper()
	h := w.Header()
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: Content-Security-Policy %q lacks %q", what, csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("%s: Content-Security-Policy allows unsafe sources: %q", what, csp)
	}
	for k, v := range map[string]string{
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
		"Referrer-Policy":        "same-origin",
	} {
		if got := h.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got, v)
		}
	}
}

func TestShellRoutes(t *testing.T) {
	t.Parallel()
	c := setup(t)
	cases := []struct {
		path  string
		code  int
		title string
	}{
		{"/", 200, "Pipelines"},
		{"/pipelines", 200, "Pipelines"},
		{"/pipelines/webpage-canary", 200, "Pipeline webpage-canary"},
		{"/pipelines/webpage-canary/history", 200, "History of webpage-canary"},
		{"/deployments", 200, "Deployments"},
		{"/deployments?pipeline=a&before=10", 200, "Deployments"},
		{"/deployments/42", 200, "Deployment 42"},
		{"/deployments/0", 404, "Not found"},
		{"/deployments/abc", 404, "Not found"},
		{"/pipelines/Bad_Name", 404, "Not found"},
		{"/nope", 404, "Not found"},
		{"/pipelines/a/b", 404, "Not found"},
	}
	for _, tc := range cases {
		w := do(t, c, http.MethodGet, tc.path)
		if w.Code != tc.code {
			t.Errorf("GET %s: status %d, want %d", tc.path, w.Code, tc.code)
		}
		if ct := w.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("GET %s: Content-Type %q", tc.path, ct)
		}
		if cc := w.Header().Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q, want no-cache (the shell names the asset version)", tc.path, cc)
		}
		checkSecurityHeaders(t, "GET "+tc.path, w)
		body := w.Body.String()
		if !strings.Contains(body, "<title>"+tc.title+" · Fledge</title>") {
			t.Errorf("GET %s: title %q missing from:\n%s", tc.path, tc.title, body)
		}
		if !strings.Contains(body, `<script type="module" src="`+c.AssetURL("app.js")+`"></script>`) {
			t.Errorf("GET %s: no versioned module script in the shell", tc.path)
		}
		if strings.Contains(body, "<script>") || strings.Contains(body, " style=") || strings.Contains(body, "<style") {
			t.Errorf("GET %s: inline script or style would be blocked by the CSP", tc.path)
		}
	}
}

func TestShellPreloadsEveryModule(t *testing.T) {
	t.Parallel()
	c := setup(t)
	body := do(t, c, http.MethodGet, "/deployments/7").Body.String()
	for _, m := range c.modules {
		if !strings.Contains(body, `<link rel="modulepreload" href="`+c.AssetURL(m)+`">`) {
			t.Errorf("shell does not preload %s (a waterfall of module loads slows the first render)", m)
		}
	}
	if len(c.modules) < 5 {
		t.Fatalf("only %d modules found: %v", len(c.modules), c.modules)
	}
}

func TestAssets(t *testing.T) {
	t.Parallel()
	c := setup(t)
	want := map[string]string{
		"app.js":              "text/javascript; charset=utf-8",
		"pages/deployment.js": "text/javascript; charset=utf-8",
		"style.css":           "text/css; charset=utf-8",
		"favicon.svg":         "image/svg+xml",
	}
	for name, ctype := range want {
		u := c.AssetURL(name)
		w := do(t, c, http.MethodGet, u)
		if w.Code != 200 {
			t.Fatalf("GET %s: %d", u, w.Code)
		}
		if got := w.Header().Get("Content-Type"); got != ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", u, got, ctype)
		}
		if got := w.Header().Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
			t.Errorf("GET %s: Cache-Control %q, want immutable for a versioned URL", u, got)
		}
		checkSecurityHeaders(t, "GET "+u, w)
		etag := w.Header().Get("ETag")
		if etag == "" || w.Body.Len() == 0 {
			t.Fatalf("GET %s: ETag %q, %d bytes", u, etag, w.Body.Len())
		}
		if w := do(t, c, http.MethodGet, u, "If-None-Match", etag); w.Code != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match: %d, want 304", u, w.Code)
		}
		if w := do(t, c, http.MethodHead, u); w.Code != 200 || w.Body.Len() != 0 {
			t.Errorf("HEAD %s: %d with %d bytes", u, w.Code, w.Body.Len())
		}
	}

	// An older version's URL still works (a tab open across an upgrade)
	// but must not be cached as immutable.
	w := do(t, c, http.MethodGet, AssetPrefix+"000000000000/app.js")
	if w.Code != 200 || w.Header().Get("Cache-Control") != "no-cache" {
		t.Errorf("stale version: %d, Cache-Control %q", w.Code, w.Header().Get("Cache-Control"))
	}
	for _, p := range []string{AssetPrefix + c.Version() + "/nope.js", AssetPrefix + "app.js", AssetPrefix + c.Version() + "/../web.go", AssetPrefix + c.Version() + "/pages"} {
		w := do(t, c, http.MethodGet, p)
		if w.Code != 404 {
			t.Errorf("GET %s: %d, want 404", p, w.Code)
		}
		checkSecurityHeaders(t, "GET "+p, w)
	}
}

func TestMethods(t *testing.T) {
	t.Parallel()
	c := setup(t)
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		w := do(t, c, m, "/deployments")
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s /deployments: %d, Allow %q", m, w.Code, w.Header().Get("Allow"))
		}
		checkSecurityHeaders(t, m, w)
	}
	w := do(t, c, http.MethodHead, "/pipelines")
	if w.Code != 200 || w.Body.Len() != 0 || w.Header().Get("Content-Length") == "" {
		t.Errorf("HEAD /pipelines: %d, %d bytes, Content-Length %q", w.Code, w.Body.Len(), w.Header().Get("Content-Length"))
	}
}

func TestVersionChangesWithContent(t *testing.T) {
	t.Parallel()
	a, b := setup(t), setup(t)
	if a.Version() != b.Version() || len(a.Version()) != 12 {
		t.Fatalf("version must be a stable 12-hex hash, got %q and %q", a.Version(), b.Version())
	}
}

// The console must never turn API strings into markup: every text goes
// through textContent or attributes set by the DOM, and the CSP forbids
// eval. This keeps anyone from adding a shortcut later.
func TestScriptsBuildNoMarkup(t *testing.T) {
	t.Parallel()
	forbidden := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|createContextualFragment|srcdoc`)
	sub, _ := fs.Sub(uiFS, "assets/ui")
	n := 0
	err := fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) != ".js" {
			return err
		}
		n++
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if m := forbidden.FindString(line); m != "" && !strings.HasPrefix(strings.TrimSpace(line), "//") {
				t.Errorf("%s:%d uses %s: build elements with h() and text nodes instead", p, i+1, m)
			}
		}
		return nil
	})
	if err != nil || n == 0 {
		t.Fatalf("walk scripts: %v (%d files)", err, n)
	}
}

// Every relative import of every module names an embedded file, and no
// module loads anything from another origin.
func TestModuleImportsResolve(t *testing.T) {
	t.Parallel()
	c := setup(t)
	imp := regexp.MustCompile(`(?m)^\s*import\s[^'"]*['"]([^'"]+)['"]`)
	for name, a := range c.assets {
		if path.Ext(name) != ".js" {
			continue
		}
		for _, m := range imp.FindAllStringSubmatch(string(a.body), -1) {
			spec := m[1]
			if !strings.HasPrefix(spec, "./") && !strings.HasPrefix(spec, "../") {
				t.Errorf("%s imports %q: only relative imports of embedded modules are allowed", name, spec)
				continue
			}
			target := path.Join(path.Dir(name), spec)
			if _, ok := c.assets[target]; !ok {
				t.Errorf("%s imports %q, which is not embedded (%s)", name, spec, target)
			}
		}
		// The SVG namespace is a name, not an address: nothing is loaded.
		body := strings.ReplaceAll(string(a.body), "'http://www.w3.org/2000/svg'", "")
		if strings.Contains(body, "http://") || strings.Contains(body, "https://") {
			t.Errorf("%s names an absolute URL; the console loads nothing from the network", name)
		}
	}
}
