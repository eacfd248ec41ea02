// Package atomicfile replaces small files (markers, pointers, metadata)
// atomically and durably: a reader, or the process after a crash, sees the
// old content or the new one, never a torn or empty file, and once Write
// returns the new content survives a power loss.
//
// It is plumbing and imports no Rummage package.
package atomicfile

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// The file system calls, replaced by the tests to check their order.
var (
	syncFile = (*os.File).Sync
	rename   = os.Rename
	syncDir  = func(dir string) error {
		d, err := os.Open(dir)
		if err != nil {
			return err
		}
		defer d.Close()
		return d.Sync()
	}
)

// Write replaces the file at path with data: it writes a temporary file in
// the same directory, fsyncs it, renames it over path, then fsyncs the
// directory, so that the rename itself is on disk. Without the first fsync
// a crash can leave path empty (the rename reached the disk before the
// data); without the last one it can leave the old file (the rename did not
// reach it). On error path is unchanged and the temporary file is removed.
func Write(path string, data []byte, perm os.FileMode) error {
	return WriteFrom(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteFrom is Write for content too large to hold at once (a snapshot):
// write streams it into the temporary file (buffered), and path is replaced
// only when write returns nil.
func WriteFrom(path string, perm os.FileMode, write func(w io.Writer) error) (err error) {
	dir, base := filepath.Split(filepath.Clean(path))
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, base+".tmp-*")
	if err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			err = fmt.Errorf("atomicfile: write %s: %w", path, err)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := write(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := syncFile(f); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// ReadJSON decodes the JSON file at path (one WriteJSON wrote) into v. A
// missing file is not an error: found is false and v untouched.
func ReadJSON(path string, v any) (found bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("atomicfile: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return true, fmt.Errorf("%s: %w", path, err)
	}
	return true, nil
}

// LoadJSON is ReadJSON into a new T: nil, and no error, when the file is
// missing.
func LoadJSON[T any](path string) (*T, error) {
	var v T
	if found, err := ReadJSON(path, &v); err != nil || !found {
		return nil, err
	}
	return &v, nil
}

// WriteJSON writes v as indented JSON with a final newline (mode 0644)
// through Write.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("atomicfile: %s: %w", path, err)
	}
	return Write(path, append(b, '\n'), 0o644)
}
