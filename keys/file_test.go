package keys

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rummage/rummage/internal/testkit"
)

func TestFileStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "keys.json")
	f := NewFileStore(path)
	if list, err := f.List(ctx); err != nil || len(list) != 0 {
		t.Fatalf("missing file: %v, %v; want no keys", list, err)
	}
	secret, k, err := Create(ctx, f, Admin, "ops")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	raw, _ := os.ReadFile(path)
	if strings.Contains(string(raw), secret) || strings.Contains(string(raw), secret[len(k.Prefix):]) {
		t.Fatalf("the secret is in the file:\n%s", raw)
	}

	// Someone loosened the mode: the next write restores 0600.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Create(ctx, f, Search, "backend"); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("after a rewrite: mode %v, want 0600", fi.Mode().Perm())
	}

	if _, err := f.Revoke(ctx, k.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	r, err := Open(ctx, f, RingConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Lookup(secret); !errors.Is(err, ErrRevokedKey) {
		t.Errorf("revoked in the file: %v", err)
	}
	if all, active := r.Len(); all != 2 || active != 1 {
		t.Errorf("Len = %d, %d", all, active)
	}
	if _, err := f.Revoke(ctx, "nope", time.Now()); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoke unknown: %v", err)
	}
	if err := f.Add(ctx, k); !errors.Is(err, ErrDuplicate) {
		t.Errorf("adding a key twice: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

// TestFileStoreAtomic: a write that fails before its rename leaves the old
// file whole and no temporary file; readers running beside writers always
// see a complete file; writers from several stores (processes) lose no key.
func TestFileStoreAtomic(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keys.json")
	f := NewFileStore(path)
	if _, _, err := Create(ctx, f, Search, "first"); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)

	boom := errors.New("disk full")
	beforeRename = func() error { return boom }
	_, _, err := Create(ctx, f, Search, "second")
	beforeRename = func() error { return nil }
	if !errors.Is(err, boom) {
		t.Fatalf("failed write: %v", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Errorf("a failed write changed the file:\n%s", after)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 2 { // keys.json, keys.json.lock
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("files after a failed write: %v", names)
	}

	const writers, each = 4, 10
	stop := make(chan struct{})
	var readErr error
	var rw sync.WaitGroup
	rw.Add(1)
	go func() {
		defer rw.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			b, err := os.ReadFile(path)
			if err != nil {
				readErr = err
				return
			}
			var doc fileDoc
			if err := json.Unmarshal(b, &doc); err != nil {
				readErr = err
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			own := NewFileStore(path) // as another process would
			for range each {
				if _, _, err := Create(ctx, own, Events, "concurrent"); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	rw.Wait()
	if readErr != nil {
		t.Errorf("a reader saw a partial file: %v", readErr)
	}
	list, err := f.List(ctx)
	if err != nil || len(list) != 1+writers*each {
		t.Errorf("%d keys after concurrent writers (%v), want %d", len(list), err, 1+writers*each)
	}
}

func TestFileStoreWatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	f := &FileStore{path: path, Poll: 5 * time.Millisecond}
	ring, err := Open(context.Background(), f, RingConfig{Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go ring.Run(ctx)
	time.Sleep(20 * time.Millisecond) // let Watch take its first look
	secret, _, err := Create(context.Background(), NewFileStore(path), Public, "web")
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the ring sees the key another process wrote", 10*time.Second, func() bool { _, err := ring.Lookup(secret); return err == nil })
}

func TestFileStoreRejectsBadFiles(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"not json":        "{",
		"future version":  `{"version":2,"keys":[]}`,
		"unknown field":   `{"version":1,"keys":[],"extra":1}`,
		"bad hash length": `{"version":1,"keys":[{"id":"x","name":"n","kind":"search","hash":"00"}]}`,
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := NewFileStore(p).List(context.Background()); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
