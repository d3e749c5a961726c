package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// consoleLoads is how many times each console page is loaded: the first
// with an empty browser cache, the others warm.
const consoleLoads = 4

// ConsolePage is how fast one console page showed its data in Chromium.
type ConsolePage struct {
	Path string `json:"path"`
	// ColdMs is the first data render of the load with an empty cache;
	// WarmMs the median of the others; MaxMs the slowest of all. Each is
	// from the start of the navigation to the console's
	// "fledge:first-render" mark (the page drawn with its data).
	ColdMs float64 `json:"cold_ms"`
	WarmMs float64 `json:"warm_ms"`
	MaxMs  float64 `json:"max_ms"`
	Rows   int     `json:"rows"`
}

// findChromium returns the browser to drive: $FLEDGE_CHROMIUM, else the
// first of the usual names on PATH.
func findChromium() (string, error) {
	if p := os.Getenv("FLEDGE_CHROMIUM"); p != "" {
		return exec.LookPath(p)
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no chromium found (apt-get install -y chromium, or set FLEDGE_CHROMIUM)")
}

// consolePages loads each of pages (console path → the page name the
// console marks as ready) in a headless Chromium signed in with the
// server's admin token, and times the first render of their data.
func consolePages(ctx context.Context, s *fledgeServer, pages [][2]string) ([]ConsolePage, error) {
	bin, err := findChromium()
	if err != nil {
		return nil, err
	}
	profile, err := os.MkdirTemp("", "fledge-bench-chromium-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(profile)
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(bin), chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	// The first action starts the browser, for as long as the context it
	// is given lives: bctx, not a shorter one.
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		return nil, fmt.Errorf("start chromium %s: %w", bin, err)
	}
	// The console keeps its token in sessionStorage; the first page a new
	// browser shows also pays for starting its renderer, so it is not
	// measured.
	sctx, cancelSign := context.WithTimeout(bctx, time.Minute)
	err = chromedp.Do(sctx, chromedp.Navigate(s.url+"/healthz"),
		dropValue(chromedp.Evaluate[bool](fmt.Sprintf(`sessionStorage.setItem('fledge.token', %q) || true`, s.token))))
	cancelSign()
	if err != nil {
		return nil, fmt.Errorf("sign the browser in: %w", err)
	}
	if _, err := loadPage(bctx, s.url+pages[0][0], pages[0][1]); err != nil {
		return nil, err
	}
	var out []ConsolePage
	for _, p := range pages {
		var renders []float64
		page := ConsolePage{Path: p[0]}
		for i := range consoleLoads {
			if i == 0 {
				if err := chromedp.Do(bctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
					_, err := cdp.Call(ctx, t, network.ClearBrowserCache, cdp.Empty{})
					return err
				})); err != nil {
					return nil, fmt.Errorf("clear the browser cache: %w", err)
				}
			}
			t, err := loadPage(bctx, s.url+p[0], p[1])
			if err != nil {
				return nil, err
			}
			renders = append(renders, t.Render)
			page.Rows = t.Rows
		}
		page.ColdMs, page.MaxMs = renders[0], slices.Max(renders)
		warm := slices.Sorted(slices.Values(renders[1:]))
		page.WarmMs = warm[len(warm)/2]
		out = append(out, page)
	}
	return out, nil
}

// renderTiming is what the browser measured of one page load.
type renderTiming struct {
	Render float64 `json:"render"`
	Rows   int     `json:"rows"`
}

// loadPage navigates to url, waits until the console marks page ready
// and reads the time of its first data render.
func loadPage(ctx context.Context, url, page string) (renderTiming, error) {
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(wctx, chromedp.Navigate(url)); err != nil {
		return renderTiming{}, fmt.Errorf("open %s: %w", url, err)
	}
	if _, err := chromedp.Run(wctx, chromedp.Poll[bool](fmt.Sprintf(`document.documentElement.dataset.ready === %q`, page),
		chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		return renderTiming{}, fmt.Errorf("page %s not ready: %w; it shows: %.300s", url, err, text)
	}
	return chromedp.Run(wctx, chromedp.Evaluate[renderTiming](`(() => {
		const mark = performance.getEntriesByName('fledge:first-render')[0];
		return { render: mark ? mark.startTime : -1, rows: document.querySelectorAll('table.data tbody tr').length };
	})()`))
}

// dropValue drops the value of an action, to run it among others.
func dropValue[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := a(ctx, t)
		return chromedp.Void{}, err
	}
}
