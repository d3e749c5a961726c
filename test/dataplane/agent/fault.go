package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// The environment variables of a pod's first container that make its
// version misbehave, so that a bad build really is bad behind the data
// plane. Empty or absent means none.
const (
	// EnvErrorRate is the share of requests answered with HTTP 500: a
	// fraction ("0.1") or a percentage ("10%").
	EnvErrorRate = "FAULT_ERROR_RATE"
	// EnvLatency is added to every answer, a Go duration ("300ms").
	EnvLatency = "FAULT_LATENCY"
)

// ppm is the resolution of an error rate: parts per million.
const ppm = 1_000_000

// fault is how a pod misbehaves.
type fault struct {
	// errorsPPM is the share of requests that fail, per million.
	errorsPPM uint64
	latency   time.Duration
}

// parseFault reads a fault from the values of EnvErrorRate and EnvLatency.
func parseFault(errorRate, latency string) (fault, error) {
	var f fault
	if s := strings.TrimSpace(errorRate); s != "" {
		scale := 1.0
		if p, ok := strings.CutSuffix(s, "%"); ok {
			s, scale = strings.TrimSpace(p), 100
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(v) {
			return fault{}, fmt.Errorf("%s %q: want a fraction (0.1) or a percentage (10%%)", EnvErrorRate, errorRate)
		}
		v /= scale
		if v < 0 || v > 1 {
			return fault{}, fmt.Errorf("%s %q: must be between 0 and 1 (0%% and 100%%)", EnvErrorRate, errorRate)
		}
		f.errorsPPM = uint64(math.Round(v * ppm))
	}
	if s := strings.TrimSpace(latency); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return fault{}, fmt.Errorf("%s %q: want a duration (300ms): %w", EnvLatency, latency, err)
		}
		if d < 0 {
			return fault{}, fmt.Errorf("%s %q: must not be negative", EnvLatency, latency)
		}
		f.latency = d
	}
	return f, nil
}

// fails reports whether the n-th request (from 1) of a pod fails. The
// failures are spread evenly and exactly: of any run of requests from the
// first, the share that failed is the error rate rounded down, so that a
// rate of 0.1 fails the 10th, 20th, 30th... request.
func (f fault) fails(n uint64) bool {
	if n == 0 || f.errorsPPM == 0 {
		return false
	}
	return n*f.errorsPPM/ppm > (n-1)*f.errorsPPM/ppm
}

func (f fault) String() string {
	return fmt.Sprintf("%g%% errors, +%s", float64(f.errorsPPM)/ppm*100, f.latency)
}

// podFault reads the fault of a pod from its first container's
// environment; a value that does not parse is returned as the error, and
// the pod then answers every request with it.
func podFault(p *corev1.Pod) (fault, error) {
	return parseFault(env(p, EnvErrorRate), env(p, EnvLatency))
}

// env is the value of the pod's first container's variable name.
func env(p *corev1.Pod, name string) string {
	if len(p.Spec.Containers) == 0 {
		return ""
	}
	for _, e := range p.Spec.Containers[0].Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// counters numbers the requests of each pod ("ns/name"), across the
// agent's reconciles, so that its faults are spread evenly.
type counters struct {
	m map[string]*atomic.Uint64
}

// of returns the counter of pod key, creating it.
func (c *counters) of(key string) *atomic.Uint64 {
	if c.m == nil {
		c.m = map[string]*atomic.Uint64{}
	}
	n := c.m[key]
	if n == nil {
		n = new(atomic.Uint64)
		c.m[key] = n
	}
	return n
}

// keep drops the counters of the pods not in live.
func (c *counters) keep(live map[string]bool) {
	for k := range c.m {
		if !live[k] {
			delete(c.m, k)
		}
	}
}
