//go:build unix

package filelock

import (
	"errors"
	"path/filepath"
	"testing"
)

// TestTryLock: a held lock refuses a second holder (flock locks are per
// open file, so two opens in one process conflict like two processes),
// and is free again once released.
func TestTryLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "LOCK")
	unlock, err := Lock(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := TryLock(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("a second TryLock: %v, want ErrLocked", err)
	}
	unlock()
	again, err := TryLock(path)
	if err != nil {
		t.Fatalf("after the release: %v", err)
	}
	again()
}
