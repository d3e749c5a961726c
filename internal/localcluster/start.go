package localcluster

import "os/exec"

// StartProcess starts cmd like cmd.Start, except that a command with a
// parent-death signal (SysProcAttr.Pdeathsig) is started from a thread
// that lives as long as the program, so the signal comes only when the
// program ends: the kernel ties it to the starting thread, which Go may end
// at any time. Programs that start helpers with a parent-death signal use
// it as the control plane's components do.
func StartProcess(cmd *exec.Cmd) error { return startCmd(cmd) }
