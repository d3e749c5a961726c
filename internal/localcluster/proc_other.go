//go:build !unix

package localcluster

import (
	"errors"
	"os"
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
