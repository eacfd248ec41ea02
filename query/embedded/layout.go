package embedded

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/rummage/rummage/internal/atomicfile"
)

// The layout on disk. An index configured at DIR (--index-dir) lives in one
// generation directory next to DIR: DIR itself (the first generation), then
// DIR.g000002, DIR.g000003, ... The file DIR.CURRENT names the generation in
// use (its base name, one line); without it DIR is in use. Open opens the
// generation in use, so every process that opens DIR agrees on it; a
// zero-downtime reindex (indexer/reindex) builds the next generation beside
// it and switches with SetCurrent.

// CurrentSuffix is appended to the configured directory to name the file
// that points at the generation in use.
const CurrentSuffix = ".CURRENT"

func genName(base string, n int) string { return fmt.Sprintf("%s.g%06d", filepath.Base(base), n) }

func genRE(base string) *regexp.Regexp {
	return regexp.MustCompile(`^` + regexp.QuoteMeta(filepath.Base(base)) + `\.g(\d{6,})$`)
}

// ActiveDir returns the directory of the generation in use for the index
// configured at dir: the one DIR.CURRENT names, or dir itself when there is
// no such file. A pointer to a directory that is missing is an error, never
// an empty new index.
func ActiveDir(dir string) (string, error) {
	base := filepath.Clean(dir)
	b, err := os.ReadFile(base + CurrentSuffix)
	if errors.Is(err, os.ErrNotExist) {
		return base, nil
	}
	if err != nil {
		return "", fmt.Errorf("embedded: %w", err)
	}
	name := strings.TrimSpace(string(b))
	if name != filepath.Base(base) && !genRE(base).MatchString(name) {
		return "", fmt.Errorf("embedded: %s%s names %q, which is not a generation of %s", base, CurrentSuffix, name, base)
	}
	active := filepath.Join(filepath.Dir(base), name)
	if _, err := os.Stat(active); err != nil {
		return "", fmt.Errorf("embedded: %s%s names %s: %w", base, CurrentSuffix, active, err)
	}
	return active, nil
}

// Exists reports whether the generation in use for dir holds an index.
func Exists(dir string) (bool, error) {
	active, err := ActiveDir(dir)
	if err != nil {
		return false, err
	}
	_, err = os.Stat(filepath.Join(active, metaFile))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("embedded: %w", err)
}

// Generations lists the generation directories of the index configured at
// dir that exist (dir itself as generation 1), by number.
func Generations(dir string) (map[int]string, error) {
	base := filepath.Clean(dir)
	out := map[int]string{}
	if fi, err := os.Stat(base); err == nil && fi.IsDir() {
		out[1] = base
	}
	entries, err := os.ReadDir(filepath.Dir(base))
	if err != nil {
		return nil, fmt.Errorf("embedded: %w", err)
	}
	re := genRE(base)
	for _, e := range entries {
		if m := re.FindStringSubmatch(e.Name()); m != nil && e.IsDir() {
			n, _ := strconv.Atoi(m[1])
			out[n] = filepath.Join(filepath.Dir(base), e.Name())
		}
	}
	return out, nil
}

// NextGeneration returns the directory of a new generation of the index
// configured at dir, numbered after every one that exists.
func NextGeneration(dir string) (string, error) {
	gens, err := Generations(dir)
	if err != nil {
		return "", err
	}
	next := 2
	for n := range gens {
		next = max(next, n+1)
	}
	base := filepath.Clean(dir)
	return filepath.Join(filepath.Dir(base), genName(base, next)), nil
}

// SetCurrent points the index configured at dir at the generation
// directory gen, atomically and durably (internal/atomicfile): a crash
// leaves either the old pointer or the new one, never a torn one.
func SetCurrent(dir, gen string) error {
	base := filepath.Clean(dir)
	name := filepath.Base(gen)
	if filepath.Dir(filepath.Clean(gen)) != filepath.Dir(base) || (name != filepath.Base(base) && !genRE(base).MatchString(name)) {
		return fmt.Errorf("embedded: %s is not a generation of %s", gen, base)
	}
	return atomicfile.Write(base+CurrentSuffix, []byte(name+"\n"), 0o644)
}

// RemoveGeneration deletes the generation directory gen of the index
// configured at dir. The caller makes sure it is not in use. The first
// generation (dir itself) is refused when it holds files but no index, so
// that a mistyped --index-dir cannot delete unrelated data; a later one may
// be half-built (a crash while it was created) and goes whatever it holds.
func RemoveGeneration(dir, gen string) error {
	base := filepath.Clean(dir)
	if filepath.Dir(filepath.Clean(gen)) != filepath.Dir(base) || (filepath.Clean(gen) != base && !genRE(base).MatchString(filepath.Base(gen))) {
		return fmt.Errorf("embedded: %s is not a generation of %s; not removing it", gen, base)
	}
	entries, err := os.ReadDir(gen)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("embedded: %w", err)
	}
	if filepath.Clean(gen) == base && len(entries) > 0 {
		if _, err := os.Stat(filepath.Join(gen, metaFile)); err != nil {
			return fmt.Errorf("embedded: %s does not look like an index; not removing it", gen)
		}
	}
	return os.RemoveAll(gen)
}

// RemoveLeftovers deletes what interrupted reindexes left beside the index
// configured at dir: the generations not in use, and temporary pointer
// files of a SetCurrent a crash cut short. Nothing may be writing them.
func RemoveLeftovers(dir string) error {
	base := filepath.Clean(dir)
	active, err := ActiveDir(base)
	if err != nil {
		return err
	}
	gens, err := Generations(base)
	if err != nil {
		return err
	}
	for _, g := range gens {
		if g == active {
			continue
		}
		if err := RemoveGeneration(base, g); err != nil {
			return err
		}
	}
	temps, err := filepath.Glob(globEscape(base+CurrentSuffix) + ".tmp-*")
	if err != nil {
		return fmt.Errorf("embedded: %w", err)
	}
	for _, t := range temps {
		if err := os.Remove(t); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("embedded: %w", err)
		}
	}
	return nil
}

// globEscape quotes the pattern characters of a path for filepath.Glob.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Remove deletes the index configured at dir: every generation and the
// pointer, so that the next Open starts empty. Nothing may have it open.
func Remove(dir string) error {
	base := filepath.Clean(dir)
	gens, err := Generations(base)
	if err != nil {
		return err
	}
	for _, g := range gens {
		if err := RemoveGeneration(base, g); err != nil {
			return err
		}
	}
	if err := os.Remove(base + CurrentSuffix); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("embedded: %w", err)
	}
	return nil
}
