//go:build unix && !linux

package localcluster

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal is Linux only; elsewhere Stop must be called.
func setParentDeathSignal(*syscall.SysProcAttr) {}

func startCmd(cmd *exec.Cmd) error { return cmd.Start() }
