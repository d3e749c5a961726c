//go:build unix && !linux

package localcluster

import "syscall"

// setParentDeathSignal is Linux only; elsewhere Stop must be called.
func setParentDeathSignal(*syscall.SysProcAttr) {}
