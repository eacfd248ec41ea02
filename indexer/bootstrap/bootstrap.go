// Package bootstrap fills an index from a catalog before it is served
// (rummage serve): the generated seed catalog, or a JSONL file of listings.
// It records in the index directory what it built (a marker), so that a
// restart reuses a complete index instead of reindexing, resumes an
// interrupted build, and refuses to serve an index built from another
// source.
//
// It knows no flags and no concrete backend: it writes through
// query.Backend (with the optional Bulk capability when the backend has
// it). It must not import api or cmd.
package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/internal/atomicfile"
	"github.com/rummage/rummage/internal/progress"
	"github.com/rummage/rummage/query"
)

// MarkerFile, in the index directory, records what a build wrote there.
const MarkerFile = "rummage_serve_source.json"

// DefaultApplyBatch is the batch size of a load into a backend without
// Bulk.
const DefaultApplyBatch = 5000

// maxLoggedBadLines bounds the per-line reports of a bad JSONL file.
const maxLoggedBadLines = 100

// Source identifies what an index was built from.
type Source struct {
	Kind    string    `json:"kind"` // "seed" or "file"
	Seed    uint64    `json:"seed,omitempty"`
	Count   int       `json:"count,omitempty"`
	Path    string    `json:"path,omitempty"`
	Size    int64     `json:"size,omitempty"`
	ModTime time.Time `json:"mod_time,omitzero"`
}

func (s Source) String() string {
	if s.Kind == "file" {
		return fmt.Sprintf("file %s (%d bytes, modified %s)", s.Path, s.Size, s.ModTime.Format(time.RFC3339))
	}
	return fmt.Sprintf("seed catalog (%d listings, seed %d)", s.Count, s.Seed)
}

// SeedSource is the generated catalog of count listings with seed.
func SeedSource(seed uint64, count int) Source { return Source{Kind: "seed", Seed: seed, Count: count} }

// FileSource describes the JSONL file at path as it is now (size and
// modification time, so that an edited file is noticed).
func FileSource(path string) (Source, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Source{}, err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return Source{}, err
	}
	if !fi.Mode().IsRegular() {
		return Source{}, fmt.Errorf("%s is not a regular file", abs)
	}
	return Source{Kind: "file", Path: abs, Size: fi.Size(), ModTime: fi.ModTime().UTC().Truncate(time.Second)}, nil
}

// marker is the content of MarkerFile.
type marker struct {
	Source   Source    `json:"source"`
	Complete bool      `json:"complete"`
	Listings int64     `json:"listings,omitempty"`
	BadLines int       `json:"bad_lines,omitempty"`
	Built    time.Time `json:"built,omitzero"`
}

// Config says what to build.
type Config struct {
	// Dir is the index directory the marker lives in.
	Dir string
	// Source is what the index must hold.
	Source Source
	// Explicit: the caller asked for this source by name (a --data file),
	// so an index without a marker is not served in its place.
	Explicit bool
	// Strict stops at the first bad line of a file instead of skipping it.
	Strict bool
	// ApplyBatch is the batch size without Bulk (default DefaultApplyBatch).
	ApplyBatch int
	// Logger; nil is slog.Default().
	Logger *slog.Logger
}

// Prepare makes sure b, an index opened in cfg.Dir holding documents
// documents, holds cfg.Source: it reuses a complete build, resumes an
// interrupted one, builds a fresh one into an empty index, and serves an
// index it did not build as it is unless cfg.Explicit. An index built from
// another source is an error (the caller's --rebuild deletes it).
func Prepare(ctx context.Context, b query.Backend, documents int64, cfg Config) error {
	log := logger(cfg.Logger)
	path := filepath.Join(cfg.Dir, MarkerFile)
	m, err := readMarker(path)
	if err != nil {
		return err
	}
	want := cfg.Source
	switch {
	case m == nil && documents > 0:
		if cfg.Explicit {
			return fmt.Errorf("the index in %s was not built by serve from %s; pass --rebuild to replace it, or choose another --index-dir", cfg.Dir, want.Path)
		}
		log.Info("serving the existing index as it is", "dir", cfg.Dir, "documents", documents)
		return nil
	case m != nil && m.Source != want:
		return fmt.Errorf("the index in %s was built from %s, not %s; pass --rebuild to replace it, or choose another --index-dir", cfg.Dir, m.Source, want)
	case m != nil && m.Complete:
		log.Info("reusing the index; nothing to reindex", "dir", cfg.Dir, "source", want.String(), "documents", documents)
		return nil
	case m != nil:
		log.Warn("resuming an interrupted build", "dir", cfg.Dir, "source", want.String(), "documents", documents)
	}
	if err := atomicfile.WriteJSON(path, marker{Source: want}); err != nil {
		return err
	}
	log.Info("building the index", "dir", cfg.Dir, "source", want.String())
	res, err := Load(ctx, b, want, cfg)
	if err != nil {
		return err
	}
	log.Info("index built", "source", want.String(), "listings", res.Read, "written", res.Written,
		"already_indexed", res.Stale, "bad_lines", res.BadLines, "took", res.Took.Round(time.Millisecond),
		"per_second", int(float64(res.Read)/max(res.Took.Seconds(), 1e-9)))
	return atomicfile.WriteJSON(path, marker{Source: want, Complete: true, Listings: res.Read, BadLines: res.BadLines, Built: time.Now().UTC()})
}

// Result tells what Load did.
type Result struct {
	query.ApplyStats
	Read     int64 // listings read from the source
	BadLines int   // lines of a file skipped as invalid
	Took     time.Duration
}

// Load writes src into b: the seed catalog at version 1, or a file at the
// version of each line's number (so that of two lines with one id the
// later wins, and a resumed or repeated load rewrites nothing newer). It
// keeps no marker: a cluster's index (serve --backend elasticsearch --data)
// is loaded on every start, harmlessly.
func Load(ctx context.Context, b query.Backend, src Source, cfg Config) (Result, error) {
	start := time.Now()
	var res Result
	var err error
	if src.Kind == "file" {
		err = loadFile(ctx, b, src.Path, cfg, &res)
	} else {
		err = loadSeed(ctx, b, src, cfg, &res)
	}
	res.Took = time.Since(start)
	return res, err
}

func loadSeed(ctx context.Context, b query.Backend, src Source, cfg Config, res *Result) error {
	g, err := fixtures.NewGenerator(fixtures.Options{Seed: src.Seed, Count: src.Count})
	if err != nil {
		return err
	}
	res.ApplyStats, err = apply(ctx, b, int64(src.Count), cfg, func() (query.Change, error) {
		l, ok := g.Next()
		if !ok {
			return query.Change{}, io.EOF
		}
		res.Read++
		return query.Change{ID: l.ID, Version: 1, Doc: &l}, nil
	})
	return err
}

func loadFile(ctx context.Context, b query.Backend, path string, cfg Config, res *Result) error {
	log := logger(cfg.Logger)
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("--data: %w", err)
	}
	defer f.Close()
	dec := rummage.NewDecoder(f)
	res.ApplyStats, err = apply(ctx, b, 0, cfg, func() (query.Change, error) {
		for {
			l, err := dec.Next()
			var le *rummage.LineError
			switch {
			case err == nil:
				res.Read++
				return query.Change{ID: l.ID, Version: uint64(dec.Line()), Doc: &l}, nil
			case errors.As(err, &le):
				res.BadLines++
				if cfg.Strict {
					return query.Change{}, fmt.Errorf("%s: %w (stopping: --strict)", path, le)
				}
				if res.BadLines <= maxLoggedBadLines {
					log.Warn("skipping bad line", "file", path, "line", le.Line, "field", le.Field, "err", le.Err)
				} else if res.BadLines == maxLoggedBadLines+1 {
					log.Warn("more bad lines; not reporting each, the summary counts them", "file", path)
				}
			case errors.Is(err, io.EOF):
				return query.Change{}, io.EOF
			default:
				return query.Change{}, fmt.Errorf("%s: %w", path, err)
			}
		}
	})
	if err != nil {
		return err
	}
	if res.BadLines > 0 {
		log.Warn("bad lines skipped", "file", path, "bad_lines", res.BadLines, "listings", res.Read)
	}
	if res.Read == 0 && res.BadLines > 0 {
		return fmt.Errorf("%s: no valid listing in %d non-empty lines", path, res.BadLines)
	}
	return nil
}

// bulkLoader is the optional capability of loading a large stream fast
// (embedded.Index.Bulk).
type bulkLoader interface {
	Bulk(ctx context.Context, next func() (query.Change, error)) (query.ApplyStats, error)
}

// apply writes every change next yields (until io.EOF) into b: with Bulk
// when the backend has it, else with Apply in batches, reporting progress
// (total is the expected count, 0 when unknown).
func apply(ctx context.Context, b query.Backend, total int64, cfg Config, next func() (query.Change, error)) (query.ApplyStats, error) {
	rep := progress.New(logger(cfg.Logger), "indexing", total)
	var n int64
	read := next
	next = func() (query.Change, error) {
		ch, err := read()
		if err == nil {
			if n++; n%1000 == 0 {
				rep.Report(n)
			}
		}
		return ch, err
	}
	if bl, ok := b.(bulkLoader); ok {
		return bl.Bulk(ctx, next)
	}
	size := cfg.ApplyBatch
	if size <= 0 {
		size = DefaultApplyBatch
	}
	var sum query.ApplyStats
	batch := make([]query.Change, 0, size)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		st, err := b.Apply(ctx, batch)
		sum.Written += st.Written
		sum.Stale += st.Stale
		batch = batch[:0]
		return err
	}
	for {
		ch, err := next()
		if errors.Is(err, io.EOF) {
			return sum, flush()
		}
		if err != nil {
			return sum, err
		}
		if batch = append(batch, ch); len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return sum, err
			}
		}
	}
}

func readMarker(path string) (*marker, error) {
	m, err := atomicfile.LoadJSON[marker](path)
	if err != nil {
		return nil, fmt.Errorf("%w (delete it, or pass --rebuild)", err)
	}
	return m, nil
}

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.Default()
	}
	return l
}
