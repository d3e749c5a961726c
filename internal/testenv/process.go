package testenv

import (
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Process is `fledge serve` as a subprocess on a loopback address of its
// own. It can be stopped, killed (as a crash would) and started again on
// the same address, appending to the same log.
type Process struct {
	// Bin is the fledge binary.
	Bin string
	// Addr is the host:port the server listens on.
	Addr string
	// LogPath receives the server's standard output and error.
	LogPath string

	cmd  *exec.Cmd
	done chan struct{}
}

// NewProcess picks a free loopback address and a log file for a server;
// nothing runs until Start.
func NewProcess(t testing.TB, bin string) *Process {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return &Process{Bin: bin, Addr: addr, LogPath: filepath.Join(t.TempDir(), "serve.log")}
}

// URL is the server's base URL.
func (p *Process) URL() string { return "http://" + p.Addr }

// Start runs `fledge serve --listen ADDR args...` with the extra
// environment and waits until /readyz answers 200; it fails t if the
// server exits or is not ready within 20 s.
func (p *Process) Start(t testing.TB, args []string, env ...string) {
	t.Helper()
	logf, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(p.Bin, append([]string{"serve", "--listen", p.Addr}, args...)...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start fledge serve: %v", err)
	}
	done := make(chan struct{})
	p.done = done
	cmd := p.cmd
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(p.URL() + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-done:
			t.Fatalf("fledge serve exited at start; log %s:\n%s", p.LogPath, p.Tail())
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("fledge serve not ready after 20s; log %s:\n%s", p.LogPath, p.Tail())
}

// Kill stops the server with SIGKILL, as a crash would, and waits for it.
func (p *Process) Kill() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Terminate sends SIGTERM and returns at once (Exited waits for the end).
func (p *Process) Terminate() error {
	if p.cmd == nil || p.cmd.Process == nil {
		return errors.New("the server is not running")
	}
	return p.cmd.Process.Signal(syscall.SIGTERM)
}

// Exited waits up to timeout for the server to end by itself.
func (p *Process) Exited(timeout time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// Stop ends a running server with SIGTERM (SIGKILL after 15 s); when t
// has failed, it logs the end of the server's log.
func (p *Process) Stop(t testing.TB) {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.Kill()
	}
	if t.Failed() {
		t.Logf("fledge serve log (%s):\n%s", p.LogPath, p.Tail())
	}
}

// Tail returns the last 60 lines of the log, request lines left out.
func (p *Process) Tail() string {
	b, _ := os.ReadFile(p.LogPath)
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.Contains(l, "msg=request") {
			lines = append(lines, l)
		}
	}
	if len(lines) > 60 {
		lines = lines[len(lines)-60:]
	}
	return strings.Join(lines, "\n")
}
