package benchkit

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"syscall"
	"time"
)

// Child is a service a bench runs as a child process (a "rummage serve" or
// "rummage dev"), so that its CPU is its own and it can be pinned to a core.
type Child struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the child exited; err is then its Wait's
	err  error
}

// ChildConfig says how to start a child.
type ChildConfig struct {
	// Exe and Args are the command; Pin, when set, is taskset's path and
	// Core the core to pin the child to.
	Exe  string
	Args []string
	Pin  string
	Core int
	// ReadyURL is polled until it answers 200, for at most ReadyWithin
	// (10 minutes: a first start may build an index).
	ReadyURL    string
	ReadyWithin time.Duration
	// Line gets each line of the child's stderr (nil: dropped).
	Line func(string)
}

// StartChild starts the child and returns once ReadyURL answers 200.
func StartChild(ctx context.Context, cfg ChildConfig) (*Child, error) {
	exe, args := cfg.Exe, cfg.Args
	if cfg.Pin != "" {
		args = append([]string{"-c", fmt.Sprint(cfg.Core), exe}, args...)
		exe = cfg.Pin
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &Child{cmd: cmd, done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if cfg.Line != nil {
				cfg.Line(sc.Text())
			}
		}
		c.err = cmd.Wait()
		close(c.done)
	}()
	exited := make(chan error, 1)
	go func() {
		<-c.done
		exited <- c.err
	}()
	within := cfg.ReadyWithin
	if within == 0 {
		within = 10 * time.Minute
	}
	if err := WaitReady(ctx, cfg.ReadyURL, within, exited); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// WaitReady polls url every 200 ms until it answers 200, exited yields
// (the service stopped: its error), ctx ends or within passes.
func WaitReady(ctx context.Context, url string, within time.Duration, exited <-chan error) error {
	deadline := time.Now().Add(within)
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("the service exited before it was ready: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the service was not ready within %v", within)
		}
	}
}

// PID is the child's process id.
func (c *Child) PID() int { return c.cmd.Process.Pid }

// CPU is the CPU time the child has used so far.
func (c *Child) CPU() time.Duration {
	d, _ := ProcCPU(c.cmd.Process.Pid)
	return d
}

// Stop sends SIGTERM and waits (SIGKILL after 30 s); a child that exited
// already is no matter.
func (c *Child) Stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// FreeAddr is a loopback address with a free port (free when it returns).
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Taskset is taskset's path when pinning is possible (two cores or more,
// taskset installed), else "".
func Taskset(cores int) string {
	if cores < 2 {
		return ""
	}
	p, err := exec.LookPath("taskset")
	if err != nil {
		return ""
	}
	return p
}
