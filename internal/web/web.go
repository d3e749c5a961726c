// Package web serves Fledge's web console: an HTML shell rendered on the
// server and a few hand-written ES modules (no build step) that talk to the
// public HTTP API only, exactly as any other client does. Every asset is
// embedded in the binary; nothing is loaded from the network.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"
)

//go:embed assets/shell.html
var shellHTML string

//go:embed assets/ui
var uiFS embed.FS

// AssetPrefix is the URL folder of the console's static files. The next
// path element is the asset version, a hash of every file, so that a
// versioned URL never changes content and can be cached for a year.
const AssetPrefix = "/ui/"

// ContentSecurityPolicy is sent with every console response: only this
// origin may provide scripts, styles, images and API connections, and no
// other site may frame the console.
const ContentSecurityPolicy = "default-src 'self'; base-uri 'none'; object-src 'none'; form-action 'self'; frame-ancestors 'none'"

// Cache-Control values: versioned assets are immutable; the shell and
// unversioned asset URLs are revalidated on every use.
const (
	cacheImmutable  = "public, max-age=31536000, immutable"
	cacheRevalidate = "no-cache"
)

// contentTypes maps the extensions of embedded files to their types, so
// they do not depend on the host's MIME database.
var contentTypes = map[string]string{
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".html": "text/html; charset=utf-8",
}

type asset struct {
	body  []byte
	ctype string
	etag  string
}

// Console is the http.Handler of the web console.
type Console struct {
	version string
	assets  map[string]asset
	shell   *template.Template
	modules []string
}

// New returns the console handler with its embedded assets indexed.
func New() (*Console, error) {
	c := &Console{assets: map[string]asset{}}
	sum := sha256.New()
	sub, err := fs.Sub(uiFS, "assets/ui")
	if err != nil {
		return nil, fmt.Errorf("console assets: %w", err)
	}
	var names []string
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		names = append(names, p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("console assets: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		body, err := fs.ReadFile(sub, name)
		if err != nil {
			return nil, fmt.Errorf("console asset %s: %w", name, err)
		}
		ctype, ok := contentTypes[path.Ext(name)]
		if !ok {
			return nil, fmt.Errorf("console asset %s: no content type for its extension", name)
		}
		h := sha256.Sum256(body)
		c.assets[name] = asset{body: body, ctype: ctype, etag: `"` + hex.EncodeToString(h[:8]) + `"`}
		fmt.Fprintf(sum, "%s\x00%x\x00", name, h)
		if path.Ext(name) == ".js" {
			c.modules = append(c.modules, name)
		}
	}
	c.version = hex.EncodeToString(sum.Sum(nil)[:6])
	c.shell, err = template.New("shell").Parse(shellHTML)
	if err != nil {
		return nil, fmt.Errorf("console shell template: %w", err)
	}
	return c, nil
}

// Version is the hash of the embedded assets that versions their URLs.
func (c *Console) Version() string { return c.version }

// AssetURL returns the versioned URL of an embedded file, like
// /ui/0123abcd4567/app.js.
func (c *Console) AssetURL(name string) string { return AssetPrefix + c.version + "/" + name }

// Routes of the single-page console; the browser's router knows the same
// list (assets/ui/app.js). Anything else is answered with 404.
var (
	pipelineRoute   = regexp.MustCompile(`^/pipelines/([a-z0-9]([-a-z0-9]*[a-z0-9])?)$`)
	historyRoute    = regexp.MustCompile(`^/pipelines/([a-z0-9]([-a-z0-9]*[a-z0-9])?)/history$`)
	deploymentRoute = regexp.MustCompile(`^/deployments/([1-9][0-9]{0,18})$`)
)

// pageTitle returns the document title of a console route, and false when
// the path is no page of the console.
func pageTitle(p string) (string, bool) {
	switch {
	case p == "/" || p == "/pipelines":
		return "Pipelines", true
	case p == "/deployments":
		return "Deployments", true
	case pipelineRoute.MatchString(p):
		return "Pipeline " + pipelineRoute.FindStringSubmatch(p)[1], true
	case historyRoute.MatchString(p):
		return "History of " + historyRoute.FindStringSubmatch(p)[1], true
	case deploymentRoute.MatchString(p):
		return "Deployment " + deploymentRoute.FindStringSubmatch(p)[1], true
	}
	return "Not found", false
}

// setSecurityHeaders applies the headers every console response carries.
func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
}

// ServeHTTP serves the shell for console routes and the embedded assets.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if strings.HasPrefix(r.URL.Path, AssetPrefix) {
		c.serveAsset(w, r)
		return
	}
	c.serveShell(w, r)
}

func (c *Console) serveAsset(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, AssetPrefix)
	version, name, ok := strings.Cut(rest, "/")
	a, found := c.assets[name]
	if !ok || !found {
		w.Header().Set("Cache-Control", cacheRevalidate)
		http.NotFound(w, r)
		return
	}
	// A page loaded before an upgrade may still ask for an older version:
	// it gets the current file, but nobody may cache it under that URL.
	if version == c.version {
		w.Header().Set("Cache-Control", cacheImmutable)
	} else {
		w.Header().Set("Cache-Control", cacheRevalidate)
	}
	w.Header().Set("Content-Type", a.ctype)
	w.Header().Set("ETag", a.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

type shellData struct {
	Title   string
	Version string
	Style   string
	Script  string
	Icon    string
	Modules []string
}

func (c *Console) serveShell(w http.ResponseWriter, r *http.Request) {
	title, ok := pageTitle(r.URL.Path)
	d := shellData{
		Title: title, Version: c.version,
		Style: c.AssetURL("style.css"), Script: c.AssetURL("app.js"), Icon: c.AssetURL("favicon.svg"),
	}
	for _, m := range c.modules {
		if m != "app.js" {
			d.Modules = append(d.Modules, c.AssetURL(m))
		}
	}
	var buf bytes.Buffer
	if err := c.shell.Execute(&buf, d); err != nil {
		http.Error(w, "render console: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", cacheRevalidate)
	code := http.StatusOK
	if !ok {
		code = http.StatusNotFound
	}
	h.Set("Content-Length", fmt.Sprint(buf.Len()))
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}
