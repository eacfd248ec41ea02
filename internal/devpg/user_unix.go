//go:build unix

package devpg

import (
	"os/exec"
	"syscall"
)

// runAs makes cmd run with u's credentials (this process is root).
func runAs(cmd *exec.Cmd, u *osUser) {
	groups := make([]uint32, len(u.groups))
	for i, g := range u.groups {
		groups[i] = uint32(g)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.gid), Groups: groups}}
}
