package devbench

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rummage/rummage/internal/benchkit"
)

// PostgresCPU is the CPU time of the private Postgres so far: its
// postmaster and every process whose parent it is (zero without one).
func (s *Stack) PostgresCPU() time.Duration {
	var total time.Duration
	for _, c := range s.PostgresProcs() {
		total += c
	}
	return total
}

// PostgresProcs is the CPU time so far of each process of the private
// Postgres (the postmaster and its children) by pid; nil without one.
// Processes that exited are not in it.
func (s *Stack) PostgresProcs() map[int]time.Duration {
	if s.PG == nil {
		return nil
	}
	pm, err := s.PG.PID()
	if err != nil {
		return nil
	}
	out := map[int]time.Duration{}
	if c, err := benchkit.ProcCPU(pm); err == nil {
		out[pm] = c
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "stat"))
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 || f[1] != strconv.Itoa(pm) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(d))
		if c, err := benchkit.ProcCPU(pid); err == nil {
			out[pid] = c
		}
	}
	return out
}
