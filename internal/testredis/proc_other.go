//go:build !linux

package testredis

import "syscall"

// procAttr: elsewhere only the test's cleanup stops the server.
func procAttr() *syscall.SysProcAttr { return nil }
