package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rummage/rummage/internal/benchkit"
	"github.com/rummage/rummage/internal/feedbench"
)

const benchFeedsHelp = `Generates a catalog of --listings listings with its social graph (closets,
users, power-law follows, Zipf likes and shares, parties past, live and
upcoming), deterministic by --seed, and loads it three ways:

  1. into the scratch Postgres database of --database-url (created when
     missing) with COPY, then the indexes a team would add for the feeds in
     SQL (shares by party and time, by sharer and time, listings by closet
     and time, ...), reporting rows/s. A database this bench loaded with
     the same data set is reused; one holding anything else is refused.
  2. into an embedded index in --index-dir (reused when built for the same
     data set; --rebuild builds it again);
  3. into the embedded signals store, as signals.Change batches, measuring
     its heap (after a GC) per follow, per share and per like. Shares and
     likes are applied in time order, as the change stream delivers them,
     and shares are numbered 1..n in that order, as shares.id's bigserial
     numbers them (--sparse-share-ids keeps the generator's ids).

Then it measures, on package feed and on the same answer written in SQL
(join shares/follows, order by the latest share, GROUP BY the facets) in
the same run, with the ratio: the party feed's first page with 5 facets for
the live party (200k+ shared listings at 1M) and the party, live or ended,
nearest 20k shared listings; the following feed of the users whose follows are nearest 1,000
and 5,000; the home feed of four users (SQL: the same sources, blended by
the same ranking code). Before measuring, each request's first page from the
feed and from SQL are compared (ids in order, total, facet counts) and the
cross-check is reported. Targets (p99, at 1,000,000 listings): party 20k
≤ 10 ms, following ≤ 20 ms, home ≤ 30 ms.

Progress goes to stderr; the report (tables, or one JSON object with --json)
to stdout.`

func benchFeedsMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench feeds", "[flags]", benchFeedsHelp)
	fs.SetOutput(stderr)
	listings := fs.Int("listings", feedbench.TargetListings, "generated listings")
	closets := fs.Int("closets", 0, "closets (sellers; default listings/10)")
	follows := fs.Int("follows", 0, "expected follows (default 5×listings)")
	seed := fs.Uint64("seed", 1, "seed of the generated data set")
	now := fs.String("now", feedbench.DefaultNow.Format(time.RFC3339), "base instant of the data set and of every request, RFC 3339")
	partyShares := fs.Float64("party-shares", feedbench.DefaultPartyShares, "mean shares into a past party per listing matching its theme")
	liveShares := fs.Float64("live-party-shares", 0, "mean shares into the live party per matching listing (0: the generator's default, 9)")
	dbURL := fs.String("database-url", envOr("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rummage_feedbench?sslmode=disable"), "Postgres `URL` of a scratch database for the SQL baselines (default $DATABASE_URL, else a rummage_feedbench database on localhost)")
	reload := fs.Bool("reload", false, "load the database again even when it holds this data set")
	dir := fs.String("index-dir", "", "directory of the embedded index (default ./data/feedbench-<listings>)")
	rebuild := fs.Bool("rebuild", false, "build the index again even when --index-dir holds this data set")
	signalsDir := fs.String("signals-dir", "", "directory of the embedded signals store, missing or empty (default: a temporary one, removed afterwards)")
	sparseIDs := fs.Bool("sparse-share-ids", false, "keep the generator's sparse share ids (listing<<20|k) in the signals store instead of numbering shares 1..n in time order as shares.id's bigserial does")
	duration := fs.Duration("duration", 5*time.Second, "measured time per scenario on the feed")
	iterations := fs.Int("iterations", 0, "requests per scenario on the feed instead of --duration")
	baseDuration := fs.Duration("baseline-duration", 5*time.Second, "measured time per scenario on Postgres")
	baseIterations := fs.Int("baseline-iterations", 0, "requests per scenario on Postgres instead of --baseline-duration")
	minIter := fs.Int("min-iterations", 20, "with --duration, measure at least this many requests on the feed")
	baseMinIter := fs.Int("baseline-min-iterations", 5, "with --baseline-duration, measure at least this many requests on Postgres")
	warmup := fs.Int("warmup", 5, "unmeasured requests before each measured run (both sides)")
	jsonFile := fs.String("json-file", "", "also write the report as one JSON object to `file` (the tables still print)")
	rf := addBenchReportFlags(fs, "party_20k,party_200k,following_1000,following_5000,home")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of each scenario's measured feed requests to `file` with the scenario's name before its extension (cpu.pprof: cpu-home.pprof, ...)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	usageErr := usageErrorf(stderr, "bench feeds")
	if *listings < 1 {
		return usageErr("--listings must be at least 1")
	}
	if *iterations < 0 || *duration < 0 || *baseIterations < 0 || *baseDuration < 0 || *warmup < 0 || *minIter < 0 || *baseMinIter < 0 {
		return usageErr("durations and counts must not be negative")
	}
	at, err := time.Parse(time.RFC3339, *now)
	if err != nil {
		return usageErr("--now: %v", err)
	}
	if *dir == "" {
		*dir = fmt.Sprintf("./data/feedbench-%d", *listings)
	}
	plan := func(d time.Duration, n, min int) benchkit.Plan {
		p := benchkit.Plan{Iterations: n, Warmup: *warmup, Concurrency: 1}
		if n == 0 {
			p.Duration, p.MinIterations = d, min
		}
		return p
	}
	cfg := feedbench.Config{
		Listings: *listings, Closets: *closets, Follows: *follows, Seed: *seed, Now: at,
		PartyShares: *partyShares, LivePartyShares: *liveShares,
		DatabaseURL: *dbURL, Reload: *reload, IndexDir: *dir, Rebuild: *rebuild, SignalsDir: *signalsDir, SparseShareIDs: *sparseIDs,
		Plan: plan(*duration, *iterations, *minIter), BaselinePlan: plan(*baseDuration, *baseIterations, *baseMinIter),
		Log: rf.progress(stderr), Only: rf.scenarios(),
	}
	if *cpuProfile != "" {
		cfg.Profile = func(scenario string) (func() error, error) {
			ext := filepath.Ext(*cpuProfile)
			return benchkit.StartProfiles(strings.TrimSuffix(*cpuProfile, ext)+"-"+scenario+ext, "")
		}
	}
	if err := cfg.Validate(); err != nil {
		return usageErr("%v", err)
	}
	rep, err := feedbench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if *jsonFile != "" {
		var buf bytes.Buffer
		if err := rep.WriteJSON(&buf); err != nil {
			return err
		}
		if err := os.WriteFile(*jsonFile, buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return rf.write(stdout, rep)
}
