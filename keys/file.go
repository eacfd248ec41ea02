package keys

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/rummage/rummage/internal/filelock"
	"github.com/rummage/rummage/internal/tick"
)

// FileStore keeps keys in one JSON file, for a service without a database
// (rummage serve). The file is written with mode 0600 and replaced
// atomically (a temporary file in the same directory, fsync, rename, fsync
// of the directory), so a reader sees the old keys or the new ones, never
// half a file; writers from several processes take an exclusive lock on
// PATH.lock (flock, on Unix) around read-modify-write.
type FileStore struct {
	path string
	// Poll is how often Watch looks at the file (default 1 s).
	Poll time.Duration
}

// fileMode is the mode of the key file and its lock.
const fileMode = 0o600

// fileVersion is the format of the file.
const fileVersion = 1

type fileDoc struct {
	Version int   `json:"version"`
	Keys    []Key `json:"keys"`
}

// NewFileStore returns the store in path; the file need not exist yet.
func NewFileStore(path string) *FileStore { return &FileStore{path: path} }

// Path returns the file's path.
func (f *FileStore) Path() string { return f.path }

// List implements Store. A missing file holds no keys.
func (f *FileStore) List(context.Context) ([]Key, error) { return f.read() }

func (f *FileStore) read() ([]Key, error) {
	b, err := os.ReadFile(f.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	var doc fileDoc
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("keys: %s: %w", f.path, err)
	}
	if doc.Version != fileVersion {
		return nil, fmt.Errorf("keys: %s: format version %d, this binary reads %d", f.path, doc.Version, fileVersion)
	}
	for i := range doc.Keys {
		if err := doc.Keys[i].Validate(); err != nil {
			return nil, fmt.Errorf("keys: %s: %w", f.path, err)
		}
	}
	return doc.Keys, nil
}

// Add implements Store.
func (f *FileStore) Add(_ context.Context, k Key) error {
	if err := k.Validate(); err != nil {
		return err
	}
	return f.update(func(list []Key) ([]Key, error) { return appendKey(list, k) })
}

// Revoke implements Store.
func (f *FileStore) Revoke(_ context.Context, id string, at time.Time) (Key, error) {
	var out Key
	err := f.update(func(list []Key) ([]Key, error) {
		var err error
		out, err = revokeIn(list, id, at)
		return list, err
	})
	return out, err
}

// update runs a read-modify-write under the file lock.
func (f *FileStore) update(change func([]Key) ([]Key, error)) error {
	if err := os.MkdirAll(filepath.Dir(f.path), 0o700); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	unlock, err := filelock.Lock(f.path + ".lock")
	if err != nil {
		return fmt.Errorf("keys: lock %s: %w", f.path, err)
	}
	defer unlock()
	list, err := f.read()
	if err != nil {
		return err
	}
	if list, err = change(list); err != nil {
		return err
	}
	b, err := json.MarshalIndent(fileDoc{Version: fileVersion, Keys: list}, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(f.path, append(b, '\n'))
}

// writeFileAtomic replaces path with data, mode 0600.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp") // mode 0600
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(fileMode); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("keys: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("keys: sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	if err := beforeRename(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("keys: sync %s: %w", dir, err)
	}
	return nil
}

// beforeRename lets a test fail a write at its last step.
var beforeRename = func() error { return nil }

// Watch implements Watcher: it polls the file's size, modification time
// and identity.
func (f *FileStore) Watch(ctx context.Context, changed func()) error {
	every := f.Poll
	if every <= 0 {
		every = time.Second
	}
	last, _ := os.Stat(f.path)
	tick.Every(ctx, every, nil, func() {
		fi, _ := os.Stat(f.path)
		if !sameFile(last, fi) {
			changed()
		}
		last = fi
	})
	return nil
}

func sameFile(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}
