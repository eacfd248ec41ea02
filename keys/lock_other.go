//go:build !unix

package keys

// lockFile is a no-op where flock is missing: there, run one writer at a
// time (rummage keys create/revoke); readers are safe either way.
func lockFile(string) (unlock func(), err error) { return func() {}, nil }
