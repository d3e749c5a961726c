package localcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// logTailLines is how many lines of a component's log an error quotes.
const logTailLines = 30

// ComponentError is a failure of one control-plane component. It names the
// component and its log file and quotes the log's last lines.
type ComponentError struct {
	Component string
	LogPath   string
	// LogTail is the end of the log when the error happened.
	LogTail string
	Err     error
}

// Error names the component and its log, then quotes the log's end.
func (e *ComponentError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %v (log: %s)", e.Component, e.Err, e.LogPath)
	if tail := strings.TrimRight(e.LogTail, "\n"); tail != "" {
		fmt.Fprintf(&b, "\n--- last lines of %s ---\n%s", e.LogPath, tail)
	}
	return b.String()
}

// Unwrap returns the underlying failure.
func (e *ComponentError) Unwrap() error { return e.Err }

// errExited reports that a component's process ended while it was expected
// to run.
var errExited = errors.New("process exited")

// process is one running component. The exported fields are persisted in the
// state file so another process can find and stop it.
type process struct {
	Name    string   `json:"name"`
	Path    string   `json:"path"`
	Args    []string `json:"args"`
	LogPath string   `json:"log"`
	PID     int      `json:"pid"`

	// Set only in the process that started it.
	cmd     *exec.Cmd
	done    chan struct{} // closed once the process has been reaped
	waitErr error         // valid after done is closed
}

// startProcess runs path with args, appending stdout and stderr to logPath.
// A detached process gets its own session so it outlives this process;
// otherwise it gets its own process group (so a terminal's Ctrl-C reaches
// only us, and we stop it in order) and, on Linux, dies with its parent.
// (Strictly, with the OS thread that started it; Go only ends threads that a
// goroutine locked and left locked, which this package never does.)
func startProcess(name, path string, args []string, logPath string, detached bool) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s log: %w", name, err)
	}
	defer logFile.Close() // the child has its own copy of the descriptor
	fmt.Fprintf(logFile, "=== %s fledge-localcluster: starting %s %s\n",
		time.Now().Format(time.RFC3339), path, strings.Join(args, " "))

	// No context: the process's lifetime is managed by Stop, not by the
	// context of whoever started it.
	cmd := exec.Command(path, args...) //nolint:gosec // path is one of our pinned binaries
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = sysProcAttr(detached)
	if err := startCmd(cmd); err != nil {
		return nil, &ComponentError{Component: name, LogPath: logPath, Err: fmt.Errorf("start: %w", err)}
	}
	p := &process{
		Name: name, Path: path, Args: args, LogPath: logPath, PID: cmd.Process.Pid,
		cmd: cmd, done: make(chan struct{}),
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process is known to have ended.
func (p *process) exited() (bool, error) {
	if p.done != nil {
		select {
		case <-p.done:
			return true, p.waitErr
		default:
			return false, nil
		}
	}
	return !p.running(), nil
}

// running reports whether the recorded PID is still this component.
func (p *process) running() bool {
	if p.done != nil {
		exited, _ := p.exited()
		return !exited
	}
	return p.PID > 0 && processAlive(p.PID, p.Path)
}

// componentError wraps err with the process's name, log path and log tail.
func (p *process) componentError(err error) error {
	return &ComponentError{Component: p.Name, LogPath: p.LogPath, LogTail: tailFile(p.LogPath, logTailLines), Err: err}
}

// checkAlive returns a ComponentError when the process has ended.
func (p *process) checkAlive() error {
	if exited, werr := p.exited(); exited {
		if werr != nil {
			return p.componentError(fmt.Errorf("%w: %w", errExited, werr))
		}
		return p.componentError(errExited)
	}
	return nil
}

// stop sends SIGTERM and waits up to grace (less if ctx ends first), then
// sends SIGKILL and waits for the process to go. It is a no-op for a process
// that has already ended.
func (p *process) stop(ctx context.Context, grace time.Duration) error {
	if !p.running() {
		return nil
	}
	if err := signalProcess(p.PID, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop %s (pid %d): %w", p.Name, p.PID, err)
	}
	if p.waitGone(ctx, grace) {
		return nil
	}
	if err := signalProcess(p.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill %s (pid %d): %w", p.Name, p.PID, err)
	}
	if !p.waitGone(context.Background(), 10*time.Second) {
		return fmt.Errorf("kill %s (pid %d): still running after SIGKILL", p.Name, p.PID)
	}
	return nil
}

// waitGone waits up to d, or until ctx ends, for the process to end.
func (p *process) waitGone(ctx context.Context, d time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if p.done != nil {
		select {
		case <-p.done:
			return true
		case <-ctx.Done():
			return false
		}
	}
	return poll(ctx, 50*time.Millisecond, func(context.Context) (bool, error) {
		return !p.running(), nil
	}) == nil
}

// stopAll stops processes concurrently and joins their errors.
func stopAll(ctx context.Context, procs []*process, grace time.Duration) error {
	errs := make([]error, len(procs))
	var wg sync.WaitGroup
	for i, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.stop(ctx, grace)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// tailFile returns up to n last lines of the file at path, reading at most
// the last 64 KiB.
func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const maxRead = 64 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > maxRead {
		if _, err := f.Seek(fi.Size()-maxRead, io.SeekStart); err != nil {
			return ""
		}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxRead))
	if err != nil {
		return ""
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// poll calls check every interval until it returns true or an error, or ctx
// ends (then it returns the context's cause). Errors from check are final;
// a check that may fail for a while keeps its last error itself.
func poll(ctx context.Context, interval time.Duration, check func(ctx context.Context) (bool, error)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		ok, err := check(ctx)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-t.C:
		}
	}
}
