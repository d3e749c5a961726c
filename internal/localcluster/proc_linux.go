package localcluster

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// setParentDeathSignal makes the kernel kill the child when the parent dies,
// so an interrupted test leaves no control plane behind.
func setParentDeathSignal(attr *syscall.SysProcAttr) {
	attr.Pdeathsig = syscall.SIGKILL
}

// spawner is a goroutine locked to its OS thread for the life of the
// program, from which children with a parent-death signal are started. The
// kernel sends that signal when the thread that started the child ends, not
// only the process, and Go ends a thread whenever a goroutine that locked it
// exits locked, as code that enters a network namespace does (the data
// plane's dialer). A control plane started from an ordinary goroutine's
// thread was killed that way in the middle of a run once that thread served
// such a goroutine: the controller-manager, the scheduler and kwok at once.
var spawner = sync.OnceValue(func() chan<- func() {
	ch := make(chan func())
	go func() {
		runtime.LockOSThread() // never unlocked: this thread lives as long as the program
		for f := range ch {
			f()
		}
	}()
	return ch
})

// startCmd starts cmd; one with a parent-death signal is started from the
// spawner's thread.
func startCmd(cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil || cmd.SysProcAttr.Pdeathsig == 0 {
		return cmd.Start()
	}
	errc := make(chan error, 1)
	spawner() <- func() { errc <- cmd.Start() }
	return <-errc
}
