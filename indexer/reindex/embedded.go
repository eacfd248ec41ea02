package reindex

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/query/embedded"
	"github.com/rummage/rummage/query/swap"
)

// The generations of an embedded index on disk (DIR, DIR.g000002, ... and
// DIR.CURRENT) are query/embedded's: see embedded.ActiveDir. Embedded only
// decides when to make the next one and when to switch.

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
	active, err := embedded.ActiveDir(base)
	if err != nil {
		return nil, err
	}
	// The number is taken before the leftovers go, so that a generation
	// directory is never reused.
	if e.newDir, err = embedded.NextGeneration(base); err != nil {
		return nil, err
	}
	if err := embedded.RemoveLeftovers(base); err != nil {
		return nil, fmt.Errorf("reindex: %w", err)
	}
	e.oldDir = active
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

// Switch merges the new generation's segments (the backfill wrote one per
// batch; live writes go on meanwhile), then points DIR.CURRENT at it and
// makes it the live backend, both with no write in flight; the old index is
// no longer written.
func (e *Embedded) Switch(ctx context.Context) error {
	if err := e.nb.Compact(ctx); err != nil {
		return fmt.Errorf("reindex: merge the new index: %w", err)
	}
	old, err := e.Live.Promote(ctx, func(context.Context) error {
		err := embedded.SetCurrent(e.Config.Dir, e.newDir)
		if err != nil {
			// The rename may have happened before the failure: point
			// back at the old generation before Abort removes the new.
			if rerr := embedded.SetCurrent(e.Config.Dir, e.oldDir); rerr != nil {
				e.keepNew = true // the pointer may name it: never delete it
				return fmt.Errorf("%w; restoring %s%s failed too: %v", err, e.Config.Dir, embedded.CurrentSuffix, rerr)
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
	errs = append(errs, embedded.RemoveGeneration(e.Config.Dir, e.oldDir))
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
		return errors.Join(err, fmt.Errorf("%s kept: %s%s may name it", e.newDir, e.Config.Dir, embedded.CurrentSuffix))
	}
	return errors.Join(err, os.RemoveAll(e.newDir))
}
