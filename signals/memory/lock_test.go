//go:build unix

package memory

import (
	"errors"
	"testing"

	"github.com/rummage/rummage/internal/filelock"
)

// TestOneProcessPerDirectory: a second open of a directory that is open is
// refused (it would interleave the logs), and the directory opens again
// once the first store closed.
func TestOneProcessPerDirectory(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); !errors.Is(err, filelock.ErrLocked) {
		t.Fatalf("a second open: %v, want ErrLocked", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Open(dir)
	if err != nil {
		t.Fatalf("after close: %v", err)
	}
	again.Close()
}
