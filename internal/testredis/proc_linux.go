package testredis

import "syscall"

// procAttr has the kernel kill the server when the test binary dies
// without running its cleanups (a timeout's panic, a kill -9), so that no
// redis-server outlives its test.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
