package localcluster

import "syscall"

// setParentDeathSignal makes the kernel kill the child when the parent dies,
// so an interrupted test leaves no control plane behind.
func setParentDeathSignal(attr *syscall.SysProcAttr) {
	attr.Pdeathsig = syscall.SIGKILL
}
