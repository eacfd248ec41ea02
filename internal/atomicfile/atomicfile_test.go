package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// record replaces the file system calls with ones that log their order.
func record(t *testing.T, failAt string) *[]string {
	t.Helper()
	var calls []string
	origFile, origRename, origDir := syncFile, rename, syncDir
	t.Cleanup(func() { syncFile, rename, syncDir = origFile, origRename, origDir })
	step := func(name string, f func() error) error {
		calls = append(calls, name)
		if name == failAt {
			return errors.New("injected " + name + " failure")
		}
		return f()
	}
	syncFile = func(f *os.File) error { return step("fsync file", func() error { return origFile(f) }) }
	rename = func(a, b string) error { return step("rename", func() error { return origRename(a, b) }) }
	syncDir = func(dir string) error {
		return step("fsync dir "+filepath.Base(filepath.Clean(dir)), func() error { return origDir(dir) })
	}
	return &calls
}

func TestWriteSyncsFileThenRenamesThenSyncsDirectory(t *testing.T) {
	calls := record(t, "")
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "CURRENT")
	if err := Write(path, []byte("g000002\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(*calls, ", "), "fsync file, rename, fsync dir state"; got != want {
		t.Errorf("calls = %s, want %s", got, want)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "g000002\n" {
		t.Fatalf("content %q, %v", b, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", fi.Mode().Perm())
	}
	assertOnly(t, dir, "CURRENT")
}

func TestWriteFailureKeepsTheOldFile(t *testing.T) {
	for _, step := range []string{"fsync file", "rename"} {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "marker.json")
			if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			calls := record(t, step)
			if err := Write(path, []byte("new"), 0o644); err == nil || !strings.Contains(err.Error(), "injected") {
				t.Fatalf("err = %v, want the injected failure", err)
			}
			if n := len(*calls); (*calls)[n-1] != step {
				t.Errorf("went on after the failure: %v", *calls)
			}
			if b, _ := os.ReadFile(path); string(b) != "old" {
				t.Errorf("content %q after a failed write, want the old one", b)
			}
			assertOnly(t, dir, "marker.json")
		})
	}
}

func TestWriteFromStreamsAndKeepsTheOldFileOnError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "snapshot")
	big := strings.Repeat("x", 3<<20) // more than the write buffer
	if err := WriteFrom(path, 0o600, func(w io.Writer) error {
		_, err := io.WriteString(w, big)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != big {
		t.Fatalf("content of %d bytes, want %d", len(b), len(big))
	}
	failed := errors.New("encoder failed")
	if err := WriteFrom(path, 0o600, func(w io.Writer) error {
		io.WriteString(w, "partial")
		return failed
	}); !errors.Is(err, failed) {
		t.Fatalf("err = %v, want the writer's", err)
	}
	if b, _ := os.ReadFile(path); string(b) != big {
		t.Errorf("a failed WriteFrom changed the file (%d bytes)", len(b))
	}
	assertOnly(t, dir, "snapshot")
}

func TestWriteJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.json")
	if err := WriteJSON(path, map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "{\n  \"n\": 1\n}\n" {
		t.Errorf("content %q", b)
	}
	if err := WriteJSON(path, func() {}); err == nil {
		t.Error("a value JSON cannot encode: no error")
	}
}

// assertOnly fails unless dir holds exactly the named files (no temporary
// file left behind).
func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("%s holds %v, want %v", dir, got, names)
	}
}

func TestReadJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.json")
	var v map[string]int
	if found, err := ReadJSON(path, &v); found || err != nil {
		t.Fatalf("missing file: found %v, err %v", found, err)
	}
	if err := WriteJSON(path, map[string]int{"n": 2}); err != nil {
		t.Fatal(err)
	}
	if found, err := ReadJSON(path, &v); !found || err != nil || v["n"] != 2 {
		t.Fatalf("found %v, err %v, v %v", found, err, v)
	}
	os.WriteFile(path, []byte("{"), 0o644)
	if _, err := ReadJSON(path, &v); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("a torn file: err = %v, want one naming the file", err)
	}
}

func TestLoadJSON(t *testing.T) {
	type doc struct{ N int }
	path := filepath.Join(t.TempDir(), "m.json")
	if d, err := LoadJSON[doc](path); d != nil || err != nil {
		t.Fatalf("missing file: %v, %v; want nil, nil", d, err)
	}
	if err := WriteJSON(path, doc{N: 3}); err != nil {
		t.Fatal(err)
	}
	if d, err := LoadJSON[doc](path); err != nil || d == nil || d.N != 3 {
		t.Fatalf("LoadJSON = %v, %v; want {3}", d, err)
	}
	if err := os.WriteFile(path, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if d, err := LoadJSON[doc](path); err == nil || d != nil {
		t.Fatalf("corrupt file: %v, %v; want an error", d, err)
	}
}
