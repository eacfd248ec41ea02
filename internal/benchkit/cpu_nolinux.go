//go:build !linux

package benchkit

import "time"

// threadCPU returns 0: per-thread CPU time is read only on Linux.
func threadCPU() time.Duration { return 0 }
