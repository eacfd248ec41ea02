package embedded

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rummage/rummage/internal/filelock"
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
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	unlock, err := filelock.TryLock(path)
	switch {
	case errors.Is(err, filelock.ErrLocked):
		return fmt.Errorf("%w (%s is locked by Bleve)", ErrLocked, path)
	case err != nil:
		return fmt.Errorf("embedded: check the index lock: %w", err)
	}
	unlock()
	return nil
}
