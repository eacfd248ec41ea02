package searchbench

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
	"github.com/rummage/rummage/internal/benchkit"
	iprogress "github.com/rummage/rummage/internal/progress"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/query/embedded"
)

// Layout of Config.Dir.
const (
	markerFile  = "bench.json" // what was built, and how fast
	mainDir     = "main"       // the lean Rummage index, as serve runs it
	baselineDir = "baseline"   // the same documents, with Bleve facet fields
)

// MainIndexDir is the directory of the Rummage index inside a bench
// directory: the one to pass to rummage serve --index-dir.
func MainIndexDir(dir string) string { return filepath.Join(dir, mainDir) }

// Build describes how one index was built.
type Build struct {
	Listings int     `json:"listings"`
	Seconds  float64 `json:"seconds"`
	// PerSecond is listings per second from the first generated listing to
	// the last batch durable on disk: generation, analysis, Bleve, columns.
	PerSecond float64 `json:"listings_per_second"`
	// CPUSeconds is the process's CPU time (user + system, all threads)
	// during the build; listings per CPU-second is steadier than the wall
	// rate on a shared machine.
	CPUSeconds   float64    `json:"cpu_seconds"`
	PerCPUSecond float64    `json:"listings_per_cpu_second"`
	DiskBytes    int64      `json:"disk_bytes"`
	LoadAvg      [3]float64 `json:"load_avg"` // at the end of the build
	BuiltAt      time.Time  `json:"built_at"`
	// Reused is set when this run found the index already built; the
	// figures are those measured when it was built.
	Reused bool `json:"reused"`
}

// marker records, in Config.Dir, what the indexes there hold.
type marker struct {
	Listings int       `json:"listings"`
	Seed     uint64    `json:"seed"`
	Now      time.Time `json:"now"`
	Main     *Build    `json:"main,omitempty"`     // set once complete
	Baseline *Build    `json:"baseline,omitempty"` // set once complete
	Version  int       `json:"version"`
}

const markerVersion = 1

func (m *marker) matches(c *Config) bool {
	return m.Version == markerVersion && m.Listings == c.Listings && m.Seed == c.Seed && m.Now.Equal(c.Now)
}

func readMarker(dir string) (*marker, error) {
	m, err := atomicfile.LoadJSON[marker](filepath.Join(dir, markerFile))
	if err != nil {
		return nil, fmt.Errorf("searchbench: %w (delete it, or pass --rebuild)", err)
	}
	return m, nil
}

func writeMarker(dir string, m *marker) error {
	return atomicfile.WriteJSON(filepath.Join(dir, markerFile), m)
}

// prepareDir makes sure dir holds indexes of the configured catalog, and
// builds what is missing: the main index, and with Config.Baseline the
// baseline index. It returns the (possibly updated) marker.
func prepareDir(ctx context.Context, c *Config) (*marker, error) {
	m, err := readMarker(c.Dir)
	if err != nil && !c.Rebuild {
		return nil, err
	}
	switch {
	case c.Rebuild || (m != nil && !m.matches(c)):
		if m != nil && !m.matches(c) && !c.Rebuild {
			c.logf("%s holds an index of another catalog (%d listings, seed %d, now %s); rebuilding",
				c.Dir, m.Listings, m.Seed, m.Now.Format(time.RFC3339))
		}
		if err := removeBenchDir(c.Dir); err != nil {
			return nil, err
		}
		m = nil
	case m == nil:
		if entries, err := os.ReadDir(c.Dir); err == nil && len(entries) > 0 {
			return nil, fmt.Errorf("searchbench: %s is not empty and holds no bench index; choose another --index-dir", c.Dir)
		}
	}
	if m == nil {
		m = &marker{Version: markerVersion, Listings: c.Listings, Seed: c.Seed, Now: c.Now}
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("searchbench: %w", err)
	}
	if m.Main != nil {
		m.Main.Reused = true
	} else if err := c.buildInto(ctx, m, &m.Main, "main", mainDir, false); err != nil {
		return nil, err
	}
	if m.Baseline != nil {
		m.Baseline.Reused = true // until rebuilt below
	}
	if c.Baseline && m.Baseline == nil {
		if err := c.buildInto(ctx, m, &m.Baseline, "baseline", baselineDir, true); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// buildInto builds the index name into the subdirectory sub of c.Dir,
// removing what an interrupted build left there, and records it as *b in
// the marker m.
func (c *Config) buildInto(ctx context.Context, m *marker, b **Build, name, sub string, baseline bool) error {
	dir := filepath.Join(c.Dir, sub)
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	built, err := c.build(ctx, name, dir, baseline)
	if err != nil {
		return err
	}
	*b = built
	return writeMarker(c.Dir, m)
}

// removeBenchDir deletes a bench directory, refusing one that is not.
func removeBenchDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) || (err == nil && len(entries) == 0) {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, markerFile)); err != nil {
		return fmt.Errorf("searchbench: refusing to delete %s: it holds no %s", dir, markerFile)
	}
	return os.RemoveAll(dir)
}

// build generates the catalog into a new index in dir and closes it.
func (c *Config) build(ctx context.Context, name, dir string, baseline bool) (*Build, error) {
	what := "Rummage index (Bleve text fields + columns)"
	if baseline {
		what = "baseline index (Bleve with facet, filter and sort fields, for SearchBleveFacets)"
	}
	c.logf("building the %s in %s: %d listings", what, dir, c.Listings)
	p := newProgress(c, name)
	x, err := embedded.Open(ctx, embedded.Config{Dir: dir, BaselineFacetFields: baseline, Progress: p.report})
	if err != nil {
		return nil, err
	}
	start, cpu0 := time.Now(), benchkit.ProcessCPU()
	next, stop := Changes(ctx, fixtures.Options{Seed: c.Seed, Now: c.Now, Count: c.Listings})
	defer stop()
	st, err := x.Bulk(ctx, next)
	took, cpu := time.Since(start), benchkit.ProcessCPU()-cpu0
	if cerr := x.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("searchbench: build %s: %w", name, err)
	}
	if st.Written != c.Listings {
		return nil, fmt.Errorf("searchbench: build %s: wrote %d of %d listings", name, st.Written, c.Listings)
	}
	b := &Build{Listings: st.Written, Seconds: took.Seconds(), PerSecond: float64(st.Written) / took.Seconds(),
		CPUSeconds: cpu.Seconds(), DiskBytes: dirSize(dir), LoadAvg: benchkit.LoadAvg(), BuiltAt: time.Now().UTC().Truncate(time.Second)}
	if cpu > 0 {
		b.PerCPUSecond = float64(st.Written) / cpu.Seconds()
	}
	c.logf("built the %s index: %d listings in %s, %.0f listings/s (%.0f per CPU-second), %s on disk (load %.1f)",
		name, b.Listings, took.Round(100*time.Millisecond), b.PerSecond, b.PerCPUSecond, benchkit.FormatBytes(b.DiskBytes), b.LoadAvg[0])
	return b, nil
}

// Changes streams the catalog of opts as changes (version 1) for
// embedded.Index.Bulk. Listings are generated ahead, in chunks, by a
// goroutine, so generation overlaps indexing; the order is the
// generator's, so ordinals are reproducible. stop ends the goroutine.
func Changes(ctx context.Context, opts fixtures.Options) (next func() (query.Change, error), stop func()) {
	const chunk = 1000
	ch := make(chan []rummage.Listing, 16)
	errc := make(chan error, 1)
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		defer close(ch)
		g, err := fixtures.NewGenerator(opts)
		if err != nil {
			errc <- err
			return
		}
		for done := false; !done; {
			ls := make([]rummage.Listing, 0, chunk)
			for len(ls) < chunk {
				l, ok := g.Next()
				if !ok {
					done = true
					break
				}
				ls = append(ls, l)
			}
			select {
			case ch <- ls:
			case <-ctx.Done():
				return
			}
		}
	}()
	var cur []rummage.Listing
	next = func() (query.Change, error) {
		for len(cur) == 0 {
			ls, ok := <-ch
			if !ok {
				select {
				case err := <-errc:
					return query.Change{}, err
				default:
				}
				if err := ctx.Err(); err != nil {
					return query.Change{}, err
				}
				return query.Change{}, io.EOF
			}
			cur = ls
		}
		l := &cur[0]
		cur = cur[1:]
		return query.Change{ID: l.ID, Version: 1, Doc: l}, nil
	}
	return next, cancel
}

// progress reports a build through internal/progress, with the load
// average, and says when the segments are merged.
type progress struct{ rep *iprogress.Reporter }

func newProgress(c *Config, name string) *progress {
	var log *slog.Logger
	if c.Log != nil {
		log = slog.New(slog.NewTextHandler(c.Log, nil))
	}
	return &progress{rep: iprogress.New(log, "building the "+name+" index", int64(c.Listings))}
}

func (p *progress) report(e embedded.Progress) {
	switch e.Phase {
	case "merge":
		p.rep.Done(int64(e.Done), "next", "merging the segments into one")
	case "bulk":
		p.rep.Report(int64(e.Done), "load", benchkit.LoadAvg()[0])
	}
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
