package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// clockTicks is the kernel's USER_HZ, the unit of /proc/PID/stat's CPU
// times (100 on every Linux this runs on).
const clockTicks = 100

// The groups a phase's CPU is charged to: the servers measured, and the
// bench itself with the children it waited for (wrk, Chromium, the CLI),
// by process id, with Chromium's processes while they run; the others by the command name the kernel keeps (/proc/PID/comm, at
// most 15 bytes). What is in none of them (another program on the
// machine) is "other".
const (
	groupServer = "fledge"
	groupLoad   = "load: bench, wrk, Chromium"
)

var cpuGroups = []struct{ group, prefix string }{
	{groupServer, ""},
	{"kube-apiserver", "kube-apiserver"},
	{"etcd", "etcd"},
	{"controllers, kwok", "kube-controller"},
	{"controllers, kwok", "kube-scheduler"},
	{"controllers, kwok", "kwok"},
	{"PostgreSQL", "postgres"},
	{groupLoad, ""},
	{groupLoad, "chrom"},
}

// cpuSample is the CPU seconds every group of processes has used so far.
type cpuSample struct {
	servers []int
	at      time.Time
	secs    map[string]float64
}

// sampleCPU reads the CPU time of every process on the machine and sums
// it by group; servers are the process ids of the servers measured (one,
// or the replicas sharing a store).
func sampleCPU(servers ...int) cpuSample {
	s := cpuSample{servers: servers, at: time.Now(), secs: map[string]float64{}}
	self := os.Getpid()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(path)))
		data, err := os.ReadFile(path)
		if err != nil {
			continue // the process ended
		}
		text := string(data)
		open, end := strings.IndexByte(text, '('), strings.LastIndexByte(text, ')')
		if open < 0 || end < open {
			continue
		}
		comm := text[open+1 : end]
		// After the command: state, then 10 fields, then utime, stime,
		// and the same of the children waited for.
		f := strings.Fields(text[end+1:])
		if len(f) < 15 {
			continue
		}
		ticks := 0.0
		for _, v := range f[11:13] {
			t, _ := strconv.ParseFloat(v, 64)
			ticks += t
		}
		group := "other"
		switch {
		case slices.Contains(servers, pid):
			group = groupServer
		case pid == self:
			group = groupLoad
			for _, v := range f[13:15] {
				t, _ := strconv.ParseFloat(v, 64)
				ticks += t
			}
		default:
			for _, g := range cpuGroups {
				if g.prefix != "" && strings.HasPrefix(comm, g.prefix) {
					group = g.group
					break
				}
			}
		}
		s.secs[group] += ticks / clockTicks
	}
	return s
}

// PhaseCPU is how many cores each group of processes used on average
// during one phase of a benchmark: what the machine's CPU went to, and so
// what limited the phase's figures.
type PhaseCPU struct {
	Phase   string             `json:"phase"`
	Seconds float64            `json:"seconds"`
	Cores   map[string]float64 `json:"cores"`
}

// since charges the CPU used from s until now to phase. A process that
// started and ended within the phase is not seen.
func (s cpuSample) since(phase string) PhaseCPU {
	now := sampleCPU(s.servers...)
	wall := now.at.Sub(s.at).Seconds()
	p := PhaseCPU{Phase: phase, Seconds: wall, Cores: map[string]float64{}}
	if wall <= 0 {
		return p
	}
	for g, secs := range now.secs {
		if d := secs - s.secs[g]; d > 0 {
			p.Cores[g] = d / wall
		}
	}
	return p
}
