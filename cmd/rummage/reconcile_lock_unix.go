//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// indexLockFree reports errIndexLocked when another process holds Bleve's
// lock on the embedded index in dir (an exclusive flock on store/root.bolt,
// which Bleve otherwise waits for without end).
func indexLockFree(dir string) error {
	path := filepath.Join(dir, "store", "root.bolt")
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check the index lock: %w", err)
	}
	defer f.Close()
	switch err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); {
	case errors.Is(err, syscall.EWOULDBLOCK):
		return fmt.Errorf("%w (%s is locked by Bleve): stop the rummage serve, indexer or dev process using --index-dir %s, then run reconcile again", errIndexLocked, path, dir)
	case err != nil:
		return fmt.Errorf("check the index lock: %w", err)
	}
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
