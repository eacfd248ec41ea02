package reindex

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/query/embedded"
	"github.com/rummage/rummage/query/swap"
)

// On disk, an embedded index configured at DIR (--index-dir) lives in one
// generation directory next to DIR: DIR itself (the first generation, as
// embedded.Open has always made it), then DIR.g000002, DIR.g000003, ...
// The file DIR.CURRENT names the generation in use (its base name, one
// line); without it, DIR is in use. See ActiveDir.

// CurrentSuffix is appended to the index directory to name the pointer file.
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
		return "", fmt.Errorf("reindex: %w", err)
	}
	name := strings.TrimSpace(string(b))
	if name != filepath.Base(base) && !genRE(base).MatchString(name) {
		return "", fmt.Errorf("reindex: %s%s names %q, which is not a generation of %s", base, CurrentSuffix, name, base)
	}
	active := filepath.Join(filepath.Dir(base), name)
	if _, err := os.Stat(active); err != nil {
		return "", fmt.Errorf("reindex: %s%s names %s: %w", base, CurrentSuffix, active, err)
	}
	return active, nil
}

// OpenEmbedded opens the generation of the embedded index in use (see
// ActiveDir): cfg.Dir is the configured directory, as given to --index-dir.
func OpenEmbedded(ctx context.Context, cfg embedded.Config) (*embedded.Index, error) {
	dir, err := ActiveDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	cfg.Dir = dir
	return embedded.Open(ctx, cfg)
}

// setCurrent points dir's CURRENT file at the generation directory name,
// atomically: a new file is written and fsynced, renamed over the old one,
// and the directory is fsynced, so a crash leaves either the old pointer or
// the new one, never a torn one.
func setCurrent(dir, name string) error {
	base := filepath.Clean(dir)
	path := base + CurrentSuffix
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(name + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(base))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// generations lists the generation directories of base that exist (base
// itself as generation 1), by number.
func generations(base string) (map[int]string, error) {
	out := map[int]string{}
	if fi, err := os.Stat(base); err == nil && fi.IsDir() {
		out[1] = base
	}
	entries, err := os.ReadDir(filepath.Dir(base))
	if err != nil {
		return nil, err
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

// Embedded reindexes an embedded index that a running process serves
// through Live (the *swap.Backend its API and indexer share). Config is the
// configuration the index was opened with; its Dir is the configured
// directory (not the generation). Use one Embedded per reindex.
type Embedded struct {
	Live   *swap.Backend
	Config embedded.Config

	oldDir, newDir string
	nb             *embedded.Index
	old            query.Backend
	keepNew        bool
}

var _ Target = (*Embedded)(nil)

// Begin removes the leftovers of interrupted reindexes (generation
// directories not in use), creates the next generation and starts teeing
// the live writes into it.
func (e *Embedded) Begin(ctx context.Context) (query.Backend, error) {
	if e.Live == nil || e.Config.Dir == "" {
		return nil, errors.New("embedded reindex: Live and Config.Dir are required")
	}
	base := filepath.Clean(e.Config.Dir)
	active, err := ActiveDir(base)
	if err != nil {
		return nil, err
	}
	gens, err := generations(base)
	if err != nil {
		return nil, err
	}
	next := 2
	for n, d := range gens {
		next = max(next, n+1)
		if d == active {
			continue
		}
		if err := removeGeneration(base, d); err != nil {
			return nil, err
		}
	}
	e.oldDir = active
	e.newDir = filepath.Join(filepath.Dir(base), genName(base, next))
	cfg := e.Config
	cfg.Dir, cfg.Progress = e.newDir, nil
	nb, err := embedded.Open(ctx, cfg)
	if err != nil {
		os.RemoveAll(e.newDir)
		return nil, err
	}
	if err := e.Live.StartShadow(nb); err != nil {
		nb.Close()
		os.RemoveAll(e.newDir)
		return nil, err
	}
	e.nb = nb
	return nb, nil
}

// removeGeneration deletes a generation directory that is not in use. The
// first generation (base itself) is removed only if it holds an embedded
// index or nothing, so a mistyped --index-dir cannot delete unrelated data.
func removeGeneration(base, dir string) error {
	if dir == base {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		if len(entries) > 0 {
			if _, err := os.Stat(filepath.Join(dir, "rummage_embedded.json")); err != nil {
				return fmt.Errorf("reindex: %s is not in use but does not look like an index; not removing it", dir)
			}
		}
	}
	return os.RemoveAll(dir)
}

// Switch merges the new generation's segments (the backfill wrote one per
// batch; live writes go on meanwhile), then points DIR.CURRENT at it and
// makes it the live backend, both with no write in flight; the old index is
// no longer written.
func (e *Embedded) Switch(ctx context.Context) error {
	if err := e.nb.Compact(ctx); err != nil {
		return fmt.Errorf("reindex: merge the new index: %w", err)
	}
	old, err := e.Live.Promote(ctx, func(context.Context) error {
		err := setCurrent(e.Config.Dir, filepath.Base(e.newDir))
		if err != nil {
			// The rename may have happened before the failure: point
			// back at the old generation before Abort removes the new.
			if rerr := setCurrent(e.Config.Dir, filepath.Base(e.oldDir)); rerr != nil {
				e.keepNew = true // the pointer may name it: never delete it
				return fmt.Errorf("%w; restoring %s%s failed too: %v", err, e.Config.Dir, CurrentSuffix, rerr)
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	e.old, e.nb = old, nil
	return nil
}

// Finish closes the old index and removes its directory.
func (e *Embedded) Finish(ctx context.Context) error {
	var errs []error
	if c, ok := e.old.(io.Closer); ok {
		errs = append(errs, c.Close())
	}
	errs = append(errs, removeGeneration(filepath.Clean(e.Config.Dir), e.oldDir))
	return errors.Join(errs...)
}

// Abort stops teeing into the new generation and removes it.
func (e *Embedded) Abort(ctx context.Context) error {
	if e.nb == nil {
		return nil
	}
	e.Live.StopShadow()
	err := e.nb.Close()
	e.nb = nil
	if e.keepNew {
		return errors.Join(err, fmt.Errorf("%s kept: %s%s may name it", e.newDir, e.Config.Dir, CurrentSuffix))
	}
	return errors.Join(err, os.RemoveAll(e.newDir))
}
