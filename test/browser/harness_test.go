package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/auth"
	"fledge.dev/fledge/internal/service"
	"fledge.dev/fledge/internal/store/sqlite"
	"fledge.dev/fledge/internal/testenv"
)

// server is a `fledge serve` subprocess (testenv.Process, as test/e2e
// runs it).
type server struct {
	*testenv.Process
	t     *testing.T
	url   string
	store string
	// token is the admin token the test's own API calls use; empty on a
	// server without authentication.
	token string
}

// newStore makes an SQLite store file holding the bootstrap admin token
// and returns its path and the token. The store is written before the
// server starts, through the service the server uses.
func newStore(t *testing.T) (path, admin string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "fledge.db")
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: path})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	defer st.Close()
	admin = bootstrap(t, service.New(service.Config{Store: st}))
	return path, admin
}

// bootstrap creates the admin token of a new store and returns it.
func bootstrap(t *testing.T, svc *service.Service) string {
	t.Helper()
	secret, err := auth.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if _, created, err := svc.Bootstrap(context.Background(), secret); err != nil || !created {
		t.Fatalf("bootstrap the admin token: created=%v err=%v", created, err)
	}
	return secret
}

// startServer runs `fledge serve` on a free port with the store file and
// its admin token (see newStore); args are extra flags.
func startServer(t *testing.T, store, admin string, args ...string) *server {
	t.Helper()
	p := testenv.NewProcess(t, fledgeBin)
	s := &server{Process: p, t: t, url: p.URL(), store: store, token: admin}
	t.Cleanup(func() { s.Stop(t) })
	s.Start(t, append([]string{
		"--store", store,
		"--lease-ttl", "3s", "--poll-interval", "200ms", "--log-level", "info",
	}, args...))
	return s
}

// api calls the HTTP API with the admin token (or as user on a server
// without authentication) and decodes the answer into out; it fails the
// test on an unexpected status.
func (s *server) api(method, path, user string, body, out any, want ...int) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if s.token != "" {
		req.Header.Set(v1alpha1.AuthorizationHeader, "Bearer "+s.token)
	} else if user != "" {
		req.Header.Set(v1alpha1.UserHeader, user)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if len(want) == 0 {
		want = []int{200, 201}
	}
	if !slices.Contains(want, resp.StatusCode) {
		s.t.Fatalf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("%s %s: decode: %v\n%s", method, path, err, b)
		}
	}
}

// createToken creates an API token with roles and returns its secret.
func (s *server) createToken(name string, roles ...string) string {
	s.t.Helper()
	var ct v1alpha1.CreatedToken
	s.api(http.MethodPost, "/api/v1/tokens", "", v1alpha1.TokenRequest{Name: name, Roles: roles}, &ct)
	if ct.Secret == "" {
		s.t.Fatalf("token %s created without a secret", name)
	}
	return ct.Secret
}

func (s *server) deployment(id int64) v1alpha1.Deployment {
	var d v1alpha1.Deployment
	s.api(http.MethodGet, fmt.Sprintf("/api/v1/deployments/%d", id), "", nil, &d)
	return d
}

// fixture is a canary pipeline against the local cluster.
type fixture struct {
	Pipeline, Environment, Artifact string
	CanaryNS, ProdNS                string
	DefaultTag                      string
}

// resources returns the fixture's Environment, Artifact and Pipeline as the
// API takes them.
func (f fixture) resources(t *testing.T) (env, art, pl map[string]any) {
	t.Helper()
	manifests, err := os.ReadFile(filepath.Join(repoRoot, "examples", "webpage", "manifests.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	meta := func(name, desc string) map[string]any {
		return map[string]any{"name": name, "description": desc}
	}
	env = map[string]any{
		"apiVersion": v1alpha1.APIVersion, "kind": "Environment", "metadata": meta(f.Environment, "the local control plane"),
		"spec": map[string]any{"kubeconfig": map[string]any{"path": cluster.Kubeconfig()}},
	}
	art = map[string]any{
		"apiVersion": v1alpha1.APIVersion, "kind": "Artifact", "metadata": meta(f.Artifact, "The web page's Deployment, Service and Ingress"),
		"spec": map[string]any{"manifests": string(manifests)},
	}
	pl = map[string]any{
		"apiVersion": v1alpha1.APIVersion, "kind": "Pipeline", "metadata": meta(f.Pipeline, "Canary release of the web page through an NGINX ingress"),
		"spec": map[string]any{
			"parameters": []any{map[string]any{"name": "IMAGE_TAG", "default": f.DefaultTag, "description": "The image version the build produced"}},
			"stages": []any{
				map[string]any{"name": "canary-deploy-stage", "canaryDeployment": map[string]any{
					"environment": f.Environment, "artifacts": []string{f.Artifact}, "namespace": f.CanaryNS,
					"ingressName": "webpage-ingress", "rolloutTimeout": "4m",
				}},
				map[string]any{"name": "shift-traffic-stage", "shiftTraffic": map[string]any{"rampLimitPercent": 25, "batchCount": 1}},
				map[string]any{"name": "approval-stage", "approval": map[string]any{"approvalsRequired": 1, "timeout": "24h"}},
				map[string]any{"name": "switch-to-production-stage", "productionRelease": map[string]any{"namespace": f.ProdNS, "rolloutTimeout": "4m"}},
			},
		},
	}
	return env, art, pl
}

// apply puts the fixture's resources through the API.
func (s *server) apply(f fixture) {
	s.t.Helper()
	env, art, pl := f.resources(s.t)
	s.api(http.MethodPut, "/api/v1/environments/"+f.Environment, "ci", env, nil)
	s.api(http.MethodPut, "/api/v1/artifacts/"+f.Artifact, "ci", art, nil)
	s.api(http.MethodPut, "/api/v1/pipelines/"+f.Pipeline, "ci", pl, nil)
}

// browser is one headless Chromium with a fresh profile, and one tab.
type browser struct {
	t   *testing.T
	ctx context.Context
	// base is the console's URL.
	base string

	mu       sync.Mutex
	problems []string
}

// accessToken finds a token in a URL, to keep it out of test logs.
var accessToken = regexp.MustCompile(`access_token=[^&\s)]+`)

// newBrowser starts Chromium with the flags a sandboxed CI machine needs
// and a new profile; it records JavaScript exceptions and CSP violations,
// which fail the test at its end.
func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(desktopWidth, desktopHeight),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: ctx, base: base}
	// Start the browser now, so that a failure to launch is reported here.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(desktopWidth, desktopHeight)); err != nil {
		cancelCtx()
		cancelAlloc()
		t.Fatalf("start chromium %s: %v", chromium, err)
	}
	lctx, stopListen := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range chromedp.Console(lctx) {
			if err != nil {
				return
			}
			line := accessToken.ReplaceAllString(fmt.Sprintf("console %s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line), "access_token=REDACTED")
			switch {
			case m.IsException(), m.Source == "security", strings.Contains(m.Text, "Content Security Policy"):
				b.mu.Lock()
				b.problems = append(b.problems, line)
				b.mu.Unlock()
			case m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning:
				// Failed API calls are logged by the browser; the test
				// checks that the page shows them.
				t.Log(line)
			}
		}
	}()
	t.Cleanup(func() {
		stopListen()
		<-done
		cancelCtx()
		cancelAlloc()
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, p := range b.problems {
			t.Errorf("browser: %s", p)
		}
	})
	return b
}

// do runs steps with a timeout, failing the test with what was attempted.
func (b *browser) do(what string, timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.png("failure-" + strings.NewReplacer(" ", "-", "/", "-").Replace(what))
		b.t.Fatalf("browser: %s: %v", what, err)
	}
}

// open loads a console URL in the tab and waits for the page's first data.
func (b *browser) open(path, page string) {
	b.t.Helper()
	b.do("open "+path, 30*time.Second, chromedp.Navigate(b.base+path))
	b.waitReady(page)
}

// waitReady waits until the router marks page as rendered with its data.
func (b *browser) waitReady(page string) {
	b.t.Helper()
	b.waitJS("page "+page+" ready", 30*time.Second, fmt.Sprintf(`document.documentElement.dataset.ready === %q`, page))
}

// waitJS polls a JavaScript predicate.
func (b *browser) waitJS(what string, timeout time.Duration, expr string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		b.png("failure-wait")
		body, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.getElementById('main').innerText`))
		b.t.Fatalf("browser: wait for %s (%s): %v\npage text:\n%s", what, expr, err, body)
	}
}

// eval evaluates a JavaScript expression and decodes its value.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("browser: eval %s: %v", expr, err)
	}
	return v
}

// text returns the visible text of the first element matching sel.
func (b *browser) text(sel string) string {
	b.t.Helper()
	return eval[string](b, fmt.Sprintf(`(document.querySelector(%q) || {innerText: ''}).innerText`, sel))
}

// click clicks the element matching the CSS selector once it is visible.
func (b *browser) click(sel string) {
	b.t.Helper()
	b.do("click "+sel, 15*time.Second, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// typeInto replaces the value of an input by typing.
func (b *browser) typeInto(sel, value string) {
	b.t.Helper()
	b.do("type into "+sel, 15*time.Second,
		chromedp.WaitVisible(chromedp.CSS(sel)),
		void(chromedp.Evaluate[bool](fmt.Sprintf(`(e => { e.value = ''; e.focus(); return true })(document.querySelector(%q))`, sel))),
		chromedp.SendKeys(chromedp.CSS(sel), value, chromedp.NodeVisible))
}

// signIn signs the console in with an API token through the sign-in card
// (signing out first if needed) and waits until the page shows its data
// again as name.
func (b *browser) signIn(token, name, page string) {
	b.t.Helper()
	if eval[bool](b, `!!document.querySelector('#identity .who')`) {
		b.click("#identity button")
	}
	b.waitReady("sign-in")
	b.typeInto(`.signin input[name="token"]`, token)
	b.click(`.signin button[type="submit"]`)
	b.waitJS("signed in as "+name, 15*time.Second, fmt.Sprintf(
		`(document.querySelector('#identity .who') || {}).textContent === %q && document.documentElement.dataset.ready === %q`, name, page))
}

// clearCache empties the browser's HTTP cache, for a cold-cache load.
func (b *browser) clearCache() {
	b.t.Helper()
	b.do("clear the cache", 10*time.Second, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, network.ClearBrowserCache, cdp.Empty{})
		return err
	}))
}

// void drops the value of an action, to run it among others in do.
func void[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := a(ctx, t)
		return chromedp.Void{}, err
	}
}

// checkA11y fails the test when a control of the page has no accessible
// name (a field without a label, a button or link without text, an image
// without alt) or when a text's contrast is below WCAG AA.
func (b *browser) checkA11y(where string) {
	b.t.Helper()
	bad := eval[[]string](b, `(() => {
		const bad = [];
		const desc = (e) => e.outerHTML.slice(0, 120);
		for (const e of document.querySelectorAll('input, select, textarea')) {
			if ((!e.labels || e.labels.length === 0) && !e.getAttribute('aria-label')) bad.push('field without label: ' + desc(e));
		}
		for (const e of document.querySelectorAll('button, a[href]')) {
			if (!e.textContent.trim() && !e.getAttribute('aria-label')) bad.push('control without name: ' + desc(e));
		}
		for (const e of document.querySelectorAll('img')) {
			if (!e.hasAttribute('alt')) bad.push('image without alt: ' + desc(e));
		}
		if (document.querySelectorAll('main h1').length !== 1) bad.push('main has ' + document.querySelectorAll('main h1').length + ' h1');
		// WCAG contrast of every text against the background it sits on.
		const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
		const lum = ([r, g, b]) => {
			const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
			return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
		};
		const background = (e) => {
			for (let n = e; n; n = n.parentElement) {
				const c = rgb(getComputedStyle(n).backgroundColor);
				if (c.length === 3 || (c.length === 4 && c[3] === 1)) return c.slice(0, 3);
			}
			return [255, 255, 255];
		};
		const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
		const seen = new Set();
		for (let t = walker.nextNode(); t; t = walker.nextNode()) {
			const e = t.parentElement;
			if (!t.textContent.trim() || seen.has(e) || e.closest('[hidden], .visually-hidden, noscript, option, meter') || e.closest('button:disabled')) continue;
			seen.add(e);
			const cs = getComputedStyle(e);
			if (cs.visibility === 'hidden' || cs.display === 'none') continue;
			const fg = rgb(cs.color).slice(0, 3);
			const l1 = lum(fg), l2 = lum(background(e));
			const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
			const size = parseFloat(cs.fontSize), bold = parseInt(cs.fontWeight, 10) >= 700;
			const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
			if (ratio < need) bad.push('contrast ' + ratio.toFixed(2) + ' < ' + need + ' for "' + t.textContent.trim().slice(0, 40) + '" (' + cs.color + ' on ' + background(e).join(',') + ')');
		}
		return bad;
	})()`)
	for _, x := range bad {
		b.t.Errorf("accessibility (%s): %s", where, x)
	}
}

// The two screens every page is checked and photographed at.
const (
	desktopWidth, desktopHeight = 1440, 900
	phoneWidth, phoneHeight     = 390, 844
)

// shot checks the page at a desktop's 1440x900 and at a phone's 390x844
// (accessibility basics, layout: see checkLayout) and writes a full-page
// PNG of each to the screenshot folder, the phone's as name-phone.
func (b *browser) shot(name string) {
	b.t.Helper()
	b.checkA11y(name)
	b.checkLayout(name)
	b.png(name)
	b.phone(func() {
		b.checkLayout(name + " (phone)")
		b.png(name + "-phone")
	})
}

// checkLayout fails the test when the page scrolls sideways or a text is
// cut off: the document is no wider than the window; the weight, stage,
// overview and table cells are no wider inside than their box; table heads,
// parameters, badges and the weight figure sit on one line; and the pages
// speak one language: #N (never "id 5"), and every time relative with the
// exact time on hover.
func (b *browser) checkLayout(where string) {
	b.t.Helper()
	bad := eval[[]string](b, `(() => {
		const bad = [];
		const desc = (e) => e.outerHTML.slice(0, 100).replace(/\s+/g, ' ');
		const root = document.documentElement;
		if (root.scrollWidth > window.innerWidth) bad.push('the page scrolls sideways: ' + root.scrollWidth + 'px wide in a ' + window.innerWidth + 'px window');
		const visible = (e) => e.getClientRects().length > 0 && !e.closest('[hidden], .visually-hidden');
		// A stage's own box holds the arrow to the next one; its parts hold the text.
		const boxes = '.weight, .weight-value, .weight-reason, .stage-head, .stage-type, .stage-name, .stage-status, .stage-msg, .settings, .here, .overview, table.data td, table.data th, .table-wrap, .facts dd, .card, .panel, pre.diff, .signin-card, .confirm, .effect';
		for (const e of document.querySelectorAll(boxes)) {
			const d = getComputedStyle(e).display;
			if (!visible(e) || d === 'inline' || d === 'contents') continue;
			if (e.scrollWidth > e.clientWidth + 1) bad.push('text cut off (' + e.scrollWidth + ' > ' + e.clientWidth + 'px): ' + desc(e));
		}
		// lines counts the line boxes of an element's text: the tops of its
		// text fragments, those less than half a line apart being one line.
		const lines = (e) => {
			const tops = [];
			const walker = document.createTreeWalker(e, NodeFilter.SHOW_TEXT);
			for (let t = walker.nextNode(); t; t = walker.nextNode()) {
				const r = document.createRange();
				r.selectNodeContents(t);
				for (const x of r.getClientRects()) if (x.width > 0) tops.push(x.top);
			}
			tops.sort((x, y) => x - y);
			const half = parseFloat(getComputedStyle(e).fontSize) / 2;
			let n = 0;
			for (let i = 0; i < tops.length; i += 1) if (i === 0 || tops[i] - tops[i - 1] > half) n += 1;
			return n;
		};
		for (const e of document.querySelectorAll('table.data th, .param, .badge, .weight-value, .step')) {
			if (visible(e) && lines(e) > 1) bad.push('broken over ' + lines(e) + ' lines: ' + desc(e));
		}
		// The timeline quotes the server's recorded events as they were.
		const main = document.getElementById('main').cloneNode(true);
		for (const e of main.querySelectorAll('.timeline')) e.remove();
		document.body.append(main);
		main.id = '';
		const text = main.innerText;
		main.remove();
		const ids = text.match(/\bid \d+/gi);
		if (ids) bad.push('numbered by id, not #N: ' + ids.join(', '));
		for (const t of document.querySelectorAll('main time')) {
			if (!t.title || !/ago|now|^in |^tomorrow$|^yesterday$/.test(t.textContent)) bad.push('a time not relative with the exact time on hover: ' + desc(t));
		}
		return bad;
	})()`)
	for _, x := range bad {
		b.t.Errorf("layout (%s): %s", where, x)
	}
}

// png writes a full-page PNG of the tab to the screenshot folder.
func (b *browser) png(name string) {
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	p := filepath.Join(shotDir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	b.t.Logf("screenshot: %s", p)
}

// phone switches the viewport to a phone's, runs fn, and switches back.
func (b *browser) phone(fn func()) {
	b.t.Helper()
	b.do("emulate a phone", 10*time.Second, chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	defer b.do("reset viewport", 10*time.Second, chromedp.EmulateViewport(desktopWidth, desktopHeight))
	b.waitJS("phone layout", 5*time.Second, fmt.Sprintf("window.innerWidth === %d", phoneWidth))
	fn()
}

// productionImage returns the image of the web page's Deployment in ns.
func productionImage(t *testing.T, ns string) string {
	t.Helper()
	d, err := cluster.Clientset().AppsV1().Deployments(ns).Get(context.Background(), "webpage-deployment", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get deployment %s/webpage-deployment: %v", ns, err)
	}
	return d.Spec.Template.Spec.Containers[0].Image
}

// waitImage waits until the Deployment in ns runs image with all replicas
// ready.
func waitImage(t *testing.T, ns, image string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var got string
	var ready int32
	for time.Now().Before(deadline) {
		d, err := cluster.Clientset().AppsV1().Deployments(ns).Get(context.Background(), "webpage-deployment", metav1.GetOptions{})
		if err == nil {
			got, ready = d.Spec.Template.Spec.Containers[0].Image, d.Status.ReadyReplicas
			if got == image && ready == *d.Spec.Replicas && d.Status.UpdatedReplicas == *d.Spec.Replicas {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("namespace %s: want %s with all replicas ready, have %s with %d ready", ns, image, got, ready)
}
