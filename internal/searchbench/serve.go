package searchbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"syscall"
	"time"

	"github.com/rummage/rummage/internal/benchkit"
)

// MeasureServe runs "rummage serve" (the binary exe) on indexDir, waits
// until it is ready, sends each path warmupRounds times and reads the
// server's memory from /proc. The index must not be open in this process
// (Bleve locks it).
func MeasureServe(ctx context.Context, exe, indexDir string, paths []string, log io.Writer) (*ServeMemory, error) {
	const warmupRounds = 10
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a free port for serve
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.CommandContext(ctx, exe, "serve", "--index-dir", indexDir, "--addr", addr, "--log-level", "warn")
	if log != nil {
		cmd.Stderr = log
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	base := "http://" + addr
	client := &http.Client{Timeout: time.Minute}
	get := func(path string) (int, error) {
		resp, err := client.Get(base + path)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, err
	}
	sm := &ServeMemory{PID: cmd.Process.Pid}
	for {
		if code, err := get("/readyz"); err == nil && code == http.StatusOK {
			break
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("serve exited before it was ready: %v", err)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Since(start) > 10*time.Minute {
			return nil, errors.New("serve not ready after 10 minutes")
		}
	}
	sm.ReadySecond = time.Since(start).Seconds()
	if sm.AfterReady, err = benchkit.ProcMem(sm.PID); err != nil {
		return nil, err
	}
	for range warmupRounds {
		for _, p := range paths {
			code, err := get(p)
			if err != nil {
				return nil, err
			}
			if code != http.StatusOK {
				return nil, fmt.Errorf("GET %s: HTTP %d", p, code)
			}
			sm.Requests++
		}
	}
	if sm.AfterWarmup, err = benchkit.ProcMem(sm.PID); err != nil {
		return nil, err
	}
	return sm, nil
}
