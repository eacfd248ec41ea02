package filelock

import "errors"

// ErrLocked wraps the error of TryLock when another holder has the lock.
var ErrLocked = errors.New("locked by another process")

// Lock takes an exclusive lock on path (created when missing), waiting for
// it, and returns its release.
func Lock(path string) (unlock func(), err error) { return lock(path, true) }

// TryLock is Lock without waiting: an error wrapping ErrLocked when the
// lock is held.
func TryLock(path string) (unlock func(), err error) { return lock(path, false) }
