package localcluster

import (
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// A child started with a parent-death signal outlives the thread of the
// goroutine that started it: Go ends the thread of a goroutine that exits
// locked to it (as entering a network namespace does), and the kernel
// sends the signal when the starting thread ends.
func TestChildOutlivesStartingThread(t *testing.T) {
	tests := []struct {
		name  string
		start func(*exec.Cmd) error
		alive bool
	}{
		{name: "StartProcess", start: StartProcess, alive: true},
		// What StartProcess prevents, shown so the test cannot pass for
		// another reason: cmd.Start from a thread that then ends.
		{name: "cmd.Start", start: (*exec.Cmd).Start, alive: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command("sleep", "30")
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			started := make(chan error)
			go func() {
				runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
				started <- tt.start(cmd)
			}()
			if err := <-started; err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill() })
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case err := <-exited:
				if tt.alive {
					t.Fatalf("the child was killed when the starting goroutine's thread ended: %v", err)
				}
			case <-time.After(time.Second):
				if !tt.alive {
					t.Fatal("the child outlived its starting thread without StartProcess: this test no longer shows the hazard")
				}
			}
		})
	}
}
