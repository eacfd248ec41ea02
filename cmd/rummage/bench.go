package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/internal/benchkit"
	"github.com/rummage/rummage/internal/searchbench"
	"github.com/rummage/rummage/query"
)

// benchCommands are the benchmarks of "rummage bench <name>": add one line
// per benchmark; its run gets the arguments after the name.
var benchCommands = []command{
	{"search", "search latency and throughput against the Bleve-facets baseline, build rate, memory", withStdio(benchSearchMain)},
	{"feeds", "party, following and home feeds against the same answers in Postgres SQL, signals memory", withStdio(benchFeedsMain)},
	{"pipeline", "commit → searchable latency at a steady change rate, and snapshot rate, through the dev pipeline", withStdio(benchPipelineMain)},
	{"events", "event ingest into Kafka through POST /v1/events (events/s, CPU-µs per event) and the rollup lag", withStdio(benchEventsMain)},
	{"relevance", "personalization's lift on held-out interactions (NDCG@10, recall@24, MRR) and its search latency", withStdio(benchRelevanceMain)},
	{"spike", "a party start at twice the capacity with the serving protections on and off: status mix, p99, goodput, /healthz", withStdio(benchSpikeMain)},
	{"purge", "a sold listing's time on the cached pages that showed it, at 2,000 changes/s through rummage dev: p50/p99/max, over-purge, CPU", withStdio(benchPurgeMain)},
	{"shares", "a party's share burst on Postgres with and without the share counter trigger: rate, commit latency, WAL per share", withStdio(benchSharesMain)},
	{"sharerate", "share → top of its party feed through rummage dev, trigger and no trigger: highest sustained rate, p50/p99, CPU-µs per share by stage", withStdio(benchSharerateMain)},
}

func runBench(ctx context.Context, args []string) error {
	return benchMain(ctx, args, os.Stderr)
}

func benchUsage(w io.Writer) {
	fmt.Fprint(w, "Usage: rummage bench <benchmark> [flags]\n\nBenchmarks:\n")
	for _, c := range benchCommands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nRun \"rummage bench <benchmark> --help\" for its flags.\n")
}

func benchMain(ctx context.Context, args []string, stderr io.Writer) error {
	if len(args) == 0 || isHelp(args[0]) {
		benchUsage(stderr)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	for _, c := range benchCommands {
		if c.name == args[0] {
			return c.run(ctx, args[1:])
		}
	}
	fmt.Fprintf(stderr, "rummage bench: unknown benchmark %q\n\n", args[0])
	benchUsage(stderr)
	return errUsage
}

const benchSearchHelp = `Builds (or reuses) an embedded index of --listings generated listings and
runs a fixed mix of searches, each asking for five facets (brand, category,
size, condition, price): 2-word text queries; text with brand, size and price
filters; a ~10k-hit and a ~200k-hit category browse; match-all; and each sort
on the ~200k browse. Each scenario rotates over a few variants (queries,
categories or pages). For every scenario it reports p50, p99 and QPS for
Rummage and, in the same run on the same documents, for Bleve's own facet
builder (the baseline), with the ratio, and PASS/MISS against the targets
(set for 1,000,000 listings). It also reports the build rate of both indexes
and the memory of the process with the Rummage index open.

--index-dir holds two indexes: main/ (lean, what "rummage serve --index-dir
DIR/main" serves) and baseline/ (the same documents with Bleve facet fields,
built only with --baseline). An index built for the same --listings, --seed
and --now is reused; --rebuild deletes and rebuilds both.

Progress goes to stderr; the report (tables, or one JSON object with
--json) to stdout.`

func benchSearchMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench search", "[flags]", benchSearchHelp)
	fs.SetOutput(stderr)
	listings := fs.Int("listings", searchbench.TargetListings, "generated listings in the index")
	dir := fs.String("index-dir", "", "directory of the bench indexes (default ./data/bench-<listings>)")
	seed := fs.Uint64("seed", 1, "seed of the generated catalog")
	now := fs.String("now", searchbench.DefaultNow.Format(time.RFC3339), "base instant of the catalog and of every query, RFC 3339")
	rebuild := fs.Bool("rebuild", false, "delete the indexes in --index-dir and build them again")
	duration := fs.Duration("duration", 5*time.Second, "measured time per scenario and engine")
	iterations := fs.Int("iterations", 0, "searches per scenario and engine instead of --duration")
	concurrency := fs.Int("concurrency", 1, "concurrent searches during the latency run")
	qpsConc := fs.Int("qps-concurrency", 2, "workers of the extra throughput run (0: none)")
	warmup := fs.Int("warmup", 0, "unmeasured searches before each scenario (every variant is run once regardless)")
	baseline := fs.Bool("baseline", true, "also run every scenario through Bleve's facet builder (builds the baseline index when missing)")
	rf := addBenchReportFlags(fs, strings.Join(searchbench.ScenarioNames(), ","))
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the measured searches (not the build) to `file`")
	memProfile := fs.String("memprofile", "", "write a heap profile (live objects and allocations) taken after the measured searches to `file`")
	serveRSS := fs.Bool("serve-rss", false, "afterwards, start \"rummage serve\" on the main index, warm it up with the scenarios' requests and report its resident memory")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	usageErr := usageErrorf(stderr, "bench search")
	if *listings < 1 {
		return usageErr("--listings must be at least 1")
	}
	if *concurrency < 1 {
		return usageErr("--concurrency must be at least 1")
	}
	if *iterations < 0 || *duration < 0 || *qpsConc < 0 || *warmup < 0 {
		return usageErr("--iterations, --duration, --qps-concurrency and --warmup must not be negative")
	}
	if *iterations == 0 && *duration == 0 {
		return usageErr("set --duration or --iterations")
	}
	at, err := time.Parse(time.RFC3339, *now)
	if err != nil {
		return usageErr("--now: %v", err)
	}
	if *dir == "" {
		*dir = fmt.Sprintf("./data/bench-%d", *listings)
	}
	plan := benchkit.Plan{Iterations: *iterations, Concurrency: *concurrency, Warmup: *warmup}
	if *iterations == 0 {
		plan.Duration = *duration
	}
	aliases, err := query.LoadAliases("", fixtures.BrandAliases())
	if err != nil {
		return err
	}
	cfg := searchbench.Config{
		Listings: *listings, Seed: *seed, Now: at, Dir: *dir, Rebuild: *rebuild, Aliases: aliases,
		Baseline: *baseline, Plan: plan, QPSConcurrency: *qpsConc, Log: rf.progress(stderr), Only: rf.scenarios(),
	}
	if *cpuProfile != "" || *memProfile != "" {
		cfg.Profile = func() (func() error, error) {
			return benchkit.StartProfiles(*cpuProfile, *memProfile)
		}
	}
	rep, err := searchbench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if *serveRSS {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		sm, err := searchbench.MeasureServe(ctx, self, searchbench.MainIndexDir(*dir), rep.APIPaths(), cfg.Log)
		if err != nil {
			return fmt.Errorf("--serve-rss: %w", err)
		}
		rep.AddServe(*sm)
	}
	return rf.write(stdout, rep)
}
