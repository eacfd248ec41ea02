package devpg

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// postmasterState tells from /proc whether pid is a live postgres process
// working in dataDir — the cluster's postmaster — or something else: gone,
// a zombie, or the pid reused by another program (common after a
// container restarts).
func postmasterState(pid int, dataDir string) procState {
	if isServerProcess(strconv.Itoa(pid), dataDir) {
		return alive
	}
	return gone
}

// processesIn lists the live postgres processes working in dataDir (the
// backends of a server outlive a killed postmaster by a few moments).
func processesIn(dataDir string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if isServerProcess(e.Name(), dataDir) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func isServerProcess(pid, dataDir string) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return false
	}
	// pid (comm) state ...: comm may hold spaces and parentheses.
	open, end := strings.IndexByte(string(stat), '('), strings.LastIndexByte(string(stat), ')')
	if open < 0 || end < open || end+3 > len(stat) {
		return false
	}
	if comm, state := string(stat[open+1:end]), stat[end+2]; comm != "postgres" || state == 'Z' || state == 'X' {
		return false
	}
	cwd, err := os.Readlink(filepath.Join("/proc", pid, "cwd"))
	if err != nil {
		return false
	}
	return sameDir(cwd, dataDir)
}

func sameDir(a, b string) bool {
	if a == b {
		return true
	}
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	return err1 == nil && err2 == nil && ra == rb
}
