//go:build !unix

package localcluster

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

func supported() error {
	return errors.New("localcluster needs a Unix-like operating system")
}

func sysProcAttr(bool) *syscall.SysProcAttr { return nil }

func signalProcess(pid int, _ syscall.Signal) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}

func processAlive(int, string) bool { return false }

func startCmd(cmd *exec.Cmd) error { return cmd.Start() }
