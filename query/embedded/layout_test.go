package embedded

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLayout(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "index")
	if d, err := ActiveDir(dir); err != nil || d != dir {
		t.Fatalf("no index yet: ActiveDir = %q, %v; want %s", d, err, dir)
	}
	if ok, err := Exists(dir); ok || err != nil {
		t.Fatalf("Exists before Open = %v, %v", ok, err)
	}
	x, err := Open(ctx, Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	x.Close()
	if ok, err := Exists(dir); !ok || err != nil {
		t.Fatalf("Exists after Open = %v, %v", ok, err)
	}

	// The next generation, pointed at: Open follows the pointer.
	next, err := NextGeneration(dir)
	if err != nil || filepath.Base(next) != "index.g000002" {
		t.Fatalf("NextGeneration = %q, %v", next, err)
	}
	y, err := Open(ctx, Config{Dir: next})
	if err != nil {
		t.Fatal(err)
	}
	y.Close()
	if err := SetCurrent(dir, next); err != nil {
		t.Fatal(err)
	}
	if d, err := ActiveDir(dir); err != nil || d != next {
		t.Fatalf("ActiveDir = %q, %v; want %s", d, err, next)
	}
	z, err := Open(ctx, Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if z.cfg.Dir != next {
		t.Errorf("Open(%s) opened %s, want the generation in use %s", dir, z.cfg.Dir, next)
	}
	z.Close()
	if gens, err := Generations(dir); err != nil || len(gens) != 2 || gens[1] != dir || gens[2] != next {
		t.Errorf("Generations = %v, %v", gens, err)
	}
	if n, _ := NextGeneration(dir); filepath.Base(n) != "index.g000003" {
		t.Errorf("NextGeneration after 2 = %s", n)
	}
	if err := SetCurrent(dir, filepath.Join(t.TempDir(), "elsewhere")); err == nil {
		t.Error("SetCurrent accepted a directory that is not a generation")
	}

	// Remove deletes every generation and the pointer.
	if err := Remove(dir); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Dir(dir))
	if len(entries) != 0 {
		t.Errorf("left after Remove: %v", entries)
	}
}

func TestRemoveRefusesUnrelatedData(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "photos")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cat.jpg"), []byte("meow"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Remove(dir); err == nil || !strings.Contains(err.Error(), "does not look like an index") {
		t.Errorf("Remove of a directory of photos: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "cat.jpg")); err != nil {
		t.Errorf("the photo is gone: %v", err)
	}
	if err := RemoveGeneration(dir, filepath.Join(t.TempDir(), "x")); err == nil {
		t.Error("RemoveGeneration accepted a directory that is not a generation")
	}
}

func TestActiveDirBadPointer(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	for _, name := range []string{"index.g000009", "../elsewhere", "other"} {
		if err := os.WriteFile(dir+CurrentSuffix, []byte(name+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ActiveDir(dir); err == nil {
			t.Errorf("pointer %q: no error", name)
		}
		if _, err := Open(context.Background(), Config{Dir: dir}); err == nil {
			t.Errorf("pointer %q: Open made an index", name)
		}
	}
}
