//go:build !unix

package benchkit

import "time"

// ProcessCPU returns 0: CPU time is read only on Unix.
func ProcessCPU() time.Duration { return 0 }
