// Package searchbench is the measuring side of "rummage bench search": it
// builds (or reuses) an embedded index of generated listings, runs a fixed
// mix of search scenarios against it and, in the same run on the same
// documents, against the Bleve-facets baseline (embedded.SearchBleveFacets
// on a second index built with Bleve facet fields), and reports latency
// percentiles, throughput, ratios, memory and build rates against the
// targets of issue 2.
//
// It imports feed, query, query/embedded, fixtures and internal/benchkit; cmd only
// maps flags onto Config and prints the Report.
package searchbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rummage/rummage/feed"
	"github.com/rummage/rummage/internal/benchkit"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/query/embedded"
)

// DefaultNow is the fixed base instant of the generated catalog, so that
// every run over the same --listings and --seed builds the same documents.
var DefaultNow = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// Config configures a run.
type Config struct {
	Listings int       // generated listings; default 1,000,000
	Seed     uint64    // catalog seed
	Now      time.Time // catalog base instant and the instant of every query; default DefaultNow
	// Dir holds the indexes (see MainIndexDir) and a marker of what they
	// hold; an index built for the same Listings, Seed and Now is reused.
	Dir     string
	Rebuild bool // delete and rebuild the indexes in Dir
	// Baseline also runs every scenario through Bleve's facet builder,
	// on a second index with Bleve facet fields (built when missing).
	Baseline bool
	// Plan bounds each scenario (Duration or Iterations) and sets the
	// concurrency of the latency run.
	Plan benchkit.Plan
	// QPSConcurrency, when above zero and not Plan.Concurrency, adds a
	// throughput run at that concurrency (default 2 in cmd: the cores of
	// the reference machine).
	QPSConcurrency int
	// Only, when not empty, runs just the scenarios of these names.
	Only []string
	// Profile, when set, is called to start a CPU profile once the indexes
	// are built and opened; the returned stop runs after the scenarios.
	Profile func() (stop func() error, err error)
	// Aliases are the brand aliases the searches expand, as serve's (cmd
	// passes the shipped ones).
	Aliases query.Aliases
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// settleLimit bounds the wait for an opened index's background work.
const settleLimit = 2 * time.Minute

// ScenarioNames returns the scenarios of the fixed mix, in run order.
func ScenarioNames() []string { return slices.Clone(scenarioNames) }

var scenarioNames = []string{"text", "text_filters", "category_10k", "category_200k", "match_all",
	"sort_newest", "sort_price_asc", "sort_price_desc", "sort_recently_shared", "sort_relevance"}

// Validate checks the configuration.
func (c *Config) Validate() error {
	switch {
	case c.Listings < 1:
		return errors.New("searchbench: Listings must be at least 1")
	case c.Dir == "":
		return errors.New("searchbench: Dir is required")
	case c.QPSConcurrency < 0:
		return errors.New("searchbench: QPSConcurrency must be >= 0")
	}
	for _, n := range c.Only {
		if !slices.Contains(scenarioNames, n) {
			return fmt.Errorf("searchbench: unknown scenario %q; use any of %s", n, strings.Join(scenarioNames, ","))
		}
	}
	return c.Plan.Validate()
}

func (c *Config) logf(format string, args ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, format+"\n", args...)
	}
}

// Run builds or reuses the indexes, runs every scenario and returns the
// report.
func Run(ctx context.Context, c Config) (*Report, error) {
	if c.Now.IsZero() {
		c.Now = DefaultNow
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	rep := &Report{
		Dataset: Dataset{Listings: c.Listings, Seed: c.Seed, Now: c.Now, IndexDir: c.Dir, MainIndexDir: MainIndexDir(c.Dir)},
		Machine: Machine{NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version()},
		Facets:  facetNames(benchFacets),
		LoadAvg: LoadAvgs{Start: benchkit.LoadAvg()},
	}
	m, err := prepareDir(ctx, &c)
	if err != nil {
		return nil, err
	}
	rep.Build.Main = m.Main
	rep.Build.Baseline = m.Baseline
	rep.Memory.BuiltHere = !m.Main.Reused || (m.Baseline != nil && !m.Baseline.Reused)
	// Hand the build's garbage back to the OS, so that the figures below
	// are of the opened index (a build in this process still shows in the
	// peak, VmHWM).
	debug.FreeOSMemory()

	// The Rummage index alone first, so that its memory is measured
	// without the baseline index in the process.
	start := time.Now()
	x, err := embedded.Open(ctx, embedded.Config{Dir: MainIndexDir(c.Dir), Aliases: c.Aliases})
	if err != nil {
		return nil, err
	}
	defer x.Close()
	rep.Memory.OpenSeconds = time.Since(start).Seconds()
	if rep.Memory.AfterOpen, err = benchkit.ProcMem(0); err != nil {
		return nil, err
	}
	c.logf("opened the Rummage index in %s: %s", time.Since(start).Round(time.Millisecond), rep.Memory.AfterOpen)

	search := feed.NewSearch(x, feed.SearchConfig{})
	scs, err := scenarios(ctx, search, c.Now)
	if err != nil {
		return nil, err
	}
	if len(c.Only) > 0 {
		scs = slices.DeleteFunc(scs, func(s scenario) bool { return !slices.Contains(c.Only, s.name) })
	}
	all, err := search.Search(ctx, &query.Request{Now: c.Now, Limit: 1})
	if err != nil {
		return nil, err
	}
	rep.Dataset.Visible = all.Total

	// Warm up Rummage on every variant, then measure its memory alone.
	for _, sc := range scs {
		for _, v := range sc.variants {
			if _, err := search.Search(ctx, v.req); err != nil {
				return nil, fmt.Errorf("%s: %w", sc.name, err)
			}
		}
	}
	// The index may finish work in the background after opening (sort
	// orders); measure steady state.
	rep.Memory.SettleSeconds = benchkit.WaitIdle(ctx, settleLimit).Seconds()
	if rep.Memory.AfterWarmup, err = benchkit.ProcMem(0); err != nil {
		return nil, err
	}
	c.logf("warmed up; background work settled after %.1fs: %s", rep.Memory.SettleSeconds, rep.Memory.AfterWarmup)

	var bx *embedded.Index
	if c.Baseline {
		if bx, err = embedded.Open(ctx, embedded.Config{Dir: filepath.Join(c.Dir, baselineDir), Aliases: c.Aliases}); err != nil {
			return nil, err
		}
		defer bx.Close()
		benchkit.WaitIdle(ctx, settleLimit)
	}

	if c.Profile != nil {
		stop, err := c.Profile()
		if err != nil {
			return nil, err
		}
		defer stop()
	}
	for _, sc := range scs {
		res, err := c.runScenario(ctx, search, bx, sc)
		if err != nil {
			return nil, fmt.Errorf("scenario %s: %w", sc.name, err)
		}
		rep.Scenarios = append(rep.Scenarios, *res)
	}
	if rep.Memory.AfterRun, err = benchkit.ProcMem(0); err != nil {
		return nil, err
	}
	rep.LoadAvg.End = benchkit.LoadAvg()
	rep.evaluate()
	return rep, nil
}

// runScenario measures one scenario on Rummage and, when bx is set, on the
// baseline; the variants rotate across iterations.
func (c *Config) runScenario(ctx context.Context, x *feed.Search, bx *embedded.Index, sc scenario) (*ScenarioResult, error) {
	res := &ScenarioResult{Name: sc.name, Description: sc.desc, Target: sc.target}
	for _, v := range sc.variants {
		res.Variants = append(res.Variants, Variant{Label: v.label, Hits: v.hits, APIPath: apiPath(v.req)})
	}
	res.HitsMin, res.HitsMax = sc.hitRange()
	plan := c.Plan
	plan.Warmup = 0 // warmed up already
	// Latency per variant, recorded in the latency run only.
	var (
		mu         sync.Mutex
		perVariant [][]time.Duration
		recording  bool
	)
	rummage := func(ctx context.Context, i int) error {
		v := i % len(sc.variants)
		t0 := time.Now()
		_, err := x.Search(ctx, sc.variants[v].req)
		if recording {
			d := time.Since(t0)
			mu.Lock()
			perVariant[v] = append(perVariant[v], d)
			mu.Unlock()
		}
		return err
	}
	var err error
	c.logf("%s: Rummage...", sc.name)
	perVariant, recording = make([][]time.Duration, len(sc.variants)), true
	if res.Rummage.Latency, err = benchkit.Run(ctx, plan, rummage); err != nil {
		return nil, err
	}
	recording = false
	for v, lat := range perVariant {
		if len(lat) > 0 {
			s := benchkit.Summarize(lat, 0, plan.Concurrency)
			res.Variants[v].P50Ms, res.Variants[v].P99Ms = ms(s.P50), ms(s.P99)
		}
	}
	if res.Rummage.QPS2, err = c.qpsRun(ctx, rummage); err != nil {
		return nil, err
	}
	res.Rummage.LoadAvg = benchkit.LoadAvg()
	if bx != nil {
		retrievals := make([]*query.Retrieval, len(sc.variants))
		for i, v := range sc.variants {
			retrievals[i] = feed.SearchRetrieval(v.req, v.req.Now, nil)
			retrievals[i].Docs = retrievals[i].N
		}
		baseline := func(ctx context.Context, i int) error {
			_, err := bx.SearchBleveFacets(ctx, retrievals[i%len(sc.variants)])
			return err
		}
		// One pass over the variants to warm Bleve's caches and collect
		// the baseline's totals.
		for i := range sc.variants {
			r, err := bx.SearchBleveFacets(ctx, retrievals[i])
			if err != nil {
				return nil, err
			}
			res.Variants[i].BaselineHits = r.Total
		}
		bplan := plan
		bplan.MinIterations = max(bplan.MinIterations, len(sc.variants))
		c.logf("%s: baseline...", sc.name)
		b := &Measure{}
		if b.Latency, err = benchkit.Run(ctx, bplan, baseline); err != nil {
			return nil, err
		}
		if b.QPS2, err = c.qpsRun(ctx, baseline); err != nil {
			return nil, err
		}
		b.LoadAvg = benchkit.LoadAvg()
		res.Baseline = b
		res.RatioP50 = ratio(b.Latency.P50, res.Rummage.Latency.P50)
		res.RatioP99 = ratio(b.Latency.P99, res.Rummage.Latency.P99)
	}
	c.logf("%s: hits %d-%d  rummage %s%s", sc.name, res.HitsMin, res.HitsMax, res.Rummage.Latency, baselineNote(res))
	return res, nil
}

func baselineNote(r *ScenarioResult) string {
	if r.Baseline == nil {
		return ""
	}
	return fmt.Sprintf("  baseline %s  ratio p50 %.1fx p99 %.1fx", r.Baseline.Latency, r.RatioP50, r.RatioP99)
}

// qpsRun measures throughput at QPSConcurrency, for half the plan.
func (c *Config) qpsRun(ctx context.Context, op benchkit.Op) (*benchkit.Summary, error) {
	if c.QPSConcurrency == 0 || c.QPSConcurrency == max(c.Plan.Concurrency, 1) {
		return nil, nil
	}
	p := benchkit.Plan{Concurrency: c.QPSConcurrency, Duration: c.Plan.Duration / 2, Iterations: c.Plan.Iterations,
		MinIterations: 2 * c.QPSConcurrency}
	s, err := benchkit.Run(ctx, p, op)
	if err != nil {
		return nil, err
	}
	return &s, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}
