//go:build unix

package embedded

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// CheckUnlocked returns an error wrapping ErrLocked when another process has
// the index configured at dir open. Bleve holds an exclusive flock on
// store/root.bolt while the index is open, and Open would wait for it
// without end; this probes the lock without waiting.
func CheckUnlocked(dir string) error {
	active, err := ActiveDir(dir)
	if err != nil {
		return err
	}
	path := filepath.Join(active, "store", "root.bolt")
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("embedded: check the index lock: %w", err)
	}
	defer f.Close()
	switch err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); {
	case errors.Is(err, syscall.EWOULDBLOCK):
		return fmt.Errorf("%w (%s is locked by Bleve)", ErrLocked, path)
	case err != nil:
		return fmt.Errorf("embedded: check the index lock: %w", err)
	}
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
