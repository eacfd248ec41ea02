//go:build !unix

package filelock

// lock is a no-op where flock is missing: there, run one writer at a time.
func lock(string, bool) (func(), error) { return func() {}, nil }
