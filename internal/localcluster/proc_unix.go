//go:build unix

package localcluster

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"syscall"
)

// supported reports whether this OS can run a local cluster.
func supported() error { return nil }

func sysProcAttr(detached bool) *syscall.SysProcAttr {
	if detached {
		return &syscall.SysProcAttr{Setsid: true}
	}
	attr := &syscall.SysProcAttr{Setpgid: true}
	setParentDeathSignal(attr)
	return attr
}

func signalProcess(pid int, sig syscall.Signal) error {
	return syscall.Kill(pid, sig)
}

// processAlive reports whether pid runs and, where /proc tells, is still the
// executable at path (a recorded PID may have been reused) and not a zombie.
func processAlive(pid int, path string) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// Format: "pid (comm) S ..."; comm may hold spaces or parentheses.
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			return false
		}
	}
	if cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
		argv0, _, _ := bytes.Cut(cmdline, []byte{0})
		return string(argv0) == path
	}
	return true
}
