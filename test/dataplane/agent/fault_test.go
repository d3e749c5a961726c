package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func TestParseFault(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, rate, latency string
		want                fault
		err                 string
	}{
		{name: "none"},
		{name: "blank", rate: " ", latency: " "},
		{name: "fraction", rate: "0.1", want: fault{errorsPPM: 100_000}},
		{name: "percentage", rate: "10%", want: fault{errorsPPM: 100_000}},
		{name: "percentage with space", rate: "2.5 %", want: fault{errorsPPM: 25_000}},
		{name: "all", rate: "1", want: fault{errorsPPM: ppm}},
		{name: "zero", rate: "0", latency: "0s"},
		{name: "latency", latency: "300ms", want: fault{latency: 300 * time.Millisecond}},
		{name: "both", rate: "5%", latency: "1.5s", want: fault{errorsPPM: 50_000, latency: 1500 * time.Millisecond}},
		{name: "rate not a number", rate: "ten", err: `FAULT_ERROR_RATE "ten": want a fraction`},
		{name: "rate NaN", rate: "NaN", err: `FAULT_ERROR_RATE "NaN": want a fraction`},
		{name: "rate above 1", rate: "1.5", err: `FAULT_ERROR_RATE "1.5": must be between 0 and 1`},
		{name: "percentage above 100", rate: "120%", err: `FAULT_ERROR_RATE "120%": must be between 0 and 1`},
		{name: "negative rate", rate: "-0.1", err: `FAULT_ERROR_RATE "-0.1": must be between 0 and 1`},
		{name: "latency without unit", latency: "300", err: `FAULT_LATENCY "300": want a duration`},
		{name: "negative latency", latency: "-1s", err: `FAULT_LATENCY "-1s": must not be negative`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseFault(tc.rate, tc.latency)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("parseFault(%q, %q) error = %v, want one with %q", tc.rate, tc.latency, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseFault(%q, %q): %v", tc.rate, tc.latency, err)
			}
			if got != tc.want {
				t.Errorf("parseFault(%q, %q) = %+v, want %+v", tc.rate, tc.latency, got, tc.want)
			}
		})
	}
}

// The failures are exactly the rate over every prefix of the requests,
// spread evenly.
func TestFaultFails(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rate      string
		n         uint64
		wantFails uint64
		first     uint64 // the first failing request, 0 for none
	}{
		{rate: "0", n: 1000, wantFails: 0},
		{rate: "0.1", n: 1000, wantFails: 100, first: 10},
		{rate: "0.1", n: 9, wantFails: 0},
		{rate: "10%", n: 2005, wantFails: 200, first: 10},
		{rate: "0.25", n: 100, wantFails: 25, first: 4},
		{rate: "0.333333", n: 999_999, wantFails: 333_332, first: 4},
		{rate: "1", n: 50, wantFails: 50, first: 1},
		{rate: "0.001", n: 5000, wantFails: 5, first: 1000},
	} {
		t.Run(tc.rate, func(t *testing.T) {
			t.Parallel()
			f, err := parseFault(tc.rate, "")
			if err != nil {
				t.Fatal(err)
			}
			var fails, first, gap, lastFail uint64
			for i := uint64(1); i <= tc.n; i++ {
				if !f.fails(i) {
					continue
				}
				fails++
				if first == 0 {
					first = i
				}
				if lastFail != 0 {
					gap = max(gap, i-lastFail)
				}
				lastFail = i
			}
			if fails != tc.wantFails || first != tc.first {
				t.Errorf("rate %s over %d requests: %d failures, the first at %d; want %d, the first at %d", tc.rate, tc.n, fails, first, tc.wantFails, tc.first)
			}
			if f.errorsPPM > 0 && gap > ppm/f.errorsPPM+1 {
				t.Errorf("rate %s: failures %d requests apart, not spread evenly", tc.rate, gap)
			}
			if f.fails(0) {
				t.Error("request 0 (none yet) failed")
			}
		})
	}
}

func pod(vars ...string) *corev1.Pod {
	var envs []corev1.EnvVar
	for i := 0; i+1 < len(vars); i += 2 {
		envs = append(envs, corev1.EnvVar{Name: vars[i], Value: vars[i+1]})
	}
	p := &corev1.Pod{}
	p.Namespace, p.Name = "shop", "web-1"
	p.Spec.Containers = []corev1.Container{{Name: "web", Image: "registry.example.com/web:2.1", Env: envs}}
	return p
}

func TestPodFaultAndVersion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		pod     *corev1.Pod
		version string
		want    fault
		err     string
	}{
		{name: "healthy, version from the image tag", pod: pod(), version: "2.1"},
		{name: "version variable wins", pod: pod("VERSION", "2.2"), version: "2.2"},
		{
			name: "bad build", pod: pod("VERSION", "2.2", EnvErrorRate, "10%", EnvLatency, "300ms"), version: "2.2",
			want: fault{errorsPPM: 100_000, latency: 300 * time.Millisecond},
		},
		{name: "empty values from unset parameters", pod: pod(EnvErrorRate, "", EnvLatency, ""), version: "2.1"},
		{name: "bad value", pod: pod(EnvLatency, "slow"), version: "2.1", err: `FAULT_LATENCY "slow"`},
		{name: "no container", pod: &corev1.Pod{}, version: "unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if v := version(tc.pod); v != tc.version {
				t.Errorf("version = %q, want %q", v, tc.version)
			}
			got, err := podFault(tc.pod)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("podFault error = %v, want one with %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("podFault = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// A pod answers its version, its injected errors (naming the version in
// X-Version) and only after its latency.
func TestRespond(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		info     podInfo
		requests int
		wantOK   int
		wantBody string
		minTime  time.Duration
	}{
		{name: "healthy", info: podInfo{version: "2.0"}, requests: 20, wantOK: 20, wantBody: "2.0\n"},
		{name: "10% errors", info: podInfo{version: "2.1", fault: fault{errorsPPM: 100_000}}, requests: 20, wantOK: 18, wantBody: "2.1\n"},
		{name: "slow", info: podInfo{version: "2.2", fault: fault{latency: 30 * time.Millisecond}}, requests: 3, wantOK: 3, wantBody: "2.2\n", minTime: 90 * time.Millisecond},
		{name: "bad configuration", info: podInfo{version: "2.3", faultErr: errBadFault}, requests: 2, wantOK: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			info := tc.info
			info.ns, info.name, info.requests = "shop", "web-1", new(atomic.Uint64)
			start := time.Now()
			ok := 0
			for range tc.requests {
				w := httptest.NewRecorder()
				respond(w, httptest.NewRequest(http.MethodGet, "/", nil), &info)
				if got := w.Header().Get("X-Version"); got != info.version {
					t.Errorf("X-Version = %q, want %q", got, info.version)
				}
				switch w.Code {
				case http.StatusOK:
					ok++
					if w.Body.String() != tc.wantBody {
						t.Errorf("body %q, want %q", w.Body.String(), tc.wantBody)
					}
				case http.StatusInternalServerError:
					if info.faultErr != nil && !strings.Contains(w.Body.String(), info.faultErr.Error()) {
						t.Errorf("error body %q does not say why: %v", w.Body.String(), info.faultErr)
					}
				default:
					t.Errorf("status %d", w.Code)
				}
			}
			if ok != tc.wantOK {
				t.Errorf("%d of %d answered 200, want %d", ok, tc.requests, tc.wantOK)
			}
			if took := time.Since(start); took < tc.minTime {
				t.Errorf("%d requests took %s, less than the added latency allows (%s)", tc.requests, took, tc.minTime)
			}
		})
	}
}

var errBadFault = errors.New(`FAULT_LATENCY "slow": want a duration`)

// A request given up by its client does not wait out the latency.
func TestRespondCanceled(t *testing.T) {
	t.Parallel()
	info := &podInfo{ns: "shop", name: "web-1", version: "2.1", fault: fault{latency: time.Hour}, requests: new(atomic.Uint64)}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	ctx, cancel := context.WithCancel(req.Context())
	cancel()
	w := httptest.NewRecorder()
	respond(w, req.WithContext(ctx), info)
	if w.Body.Len() != 0 {
		t.Errorf("a canceled request was answered: %q", w.Body.String())
	}
}
