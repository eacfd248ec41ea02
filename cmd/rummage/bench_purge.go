package main

import (
	"context"
	"io"

	"github.com/rummage/rummage/internal/purgebench"
)

const benchPurgeHelp = `Measures how long a sold listing stays on the cached pages that showed it
(target: p99 ≤ 1 s at 2,000 changes/s, issue 10 §5). It runs the whole
system as "rummage dev" in a child process (CDC → in-process Kafka →
indexer → embedded index and signals, the API with its response cache) on
a database seeded with --listings generated listings: a private Postgres
in --dir (started from the installed server binaries), or --database-url
(wal_level=logical; the bench changes its rows: use a scratch database).

  1. Writes: --rate changes/s committed to Postgres in transactions of
     --tx-size by --workers connections: 70 % price updates, 12 % likes,
     12 % shares, 6 % new listings, --party-shares/s of the shares into
     the bench's live party; after --warmup, --sale-rate/s of them are
     sales (each with a share into the party, so --rate counts both).
  2. Each sale picks the newest listing of a category root not picked
     before, shares it into the party, and --lead later reads the pages
     that may show it (its category, subcategory, brand and
     brand-in-category searches, the browse, the party feed, the following
     feeds of two of its closet's followers, the home feed) until each is
     a cache hit; those that show it are the sale's pages. It then COMMITs
     the sale (status = 'sold') and polls them (at most --pollers reads in
     flight, each page every --poll-interval) until none has shown it for
     --settle, or --timeout.
  3. A page stops showing the listing at the first read after the last
     cache hit (fresh or stale) that contained it; the sale's purge
     latency is the slowest of its pages', from the COMMIT. "strict" also
     counts computed answers that still contain it (the index had not
     applied the sale yet). /v1/listings/{id}, which is not cached, is
     polled until it says sold.

Printed: offered and achieved change rate, sales measured, pages per sale
by kind, purge latency p50/p99/max (overall and per page kind), the cache's
counters over the run with the over-purge ratio (invalidated entries whose
refill answered the same), the pipeline's stage means, and the CPU seconds
of the service, the private Postgres and the bench, with the load average.
With --pin and taskset, dev runs on core 0. Progress goes to stderr; the
report to stdout. --dir keeps the Postgres and the index for the next run.`

func benchPurgeMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	d := purgebench.Defaults()
	fs := newFlags("bench purge", "[flags]", benchPurgeHelp)
	fs.SetOutput(stderr)
	var cfg purgebench.Config
	dev := addDevBenchFlags(fs, &cfg.Config, d.Config, "the catalog", "--linger 50ms")
	fs.Float64Var(&cfg.Rate, "rate", d.Rate, "changes per second committed, sales included")
	fs.Float64Var(&cfg.SaleRate, "sale-rate", d.SaleRate, "sales per second")
	fs.Float64Var(&cfg.PartyShareRate, "party-shares", d.PartyShareRate, "shares per second into the bench's party (of the mix)")
	fs.DurationVar(&cfg.Warmup, "warmup", d.Warmup, "writes before the first sale")
	fs.DurationVar(&cfg.Duration, "duration", d.Duration, "how long sales are made")
	fs.DurationVar(&cfg.Lead, "lead", d.Lead, "from a listing's share into the party to its sale")
	fs.IntVar(&cfg.Pollers, "pollers", d.Pollers, "page reads in flight at most")
	fs.DurationVar(&cfg.PollInterval, "poll-interval", d.PollInterval, "least time between two reads of one page")
	fs.DurationVar(&cfg.Settle, "settle", d.Settle, "how long a page must stay clean before its polling stops")
	fs.DurationVar(&cfg.Timeout, "timeout", d.Timeout, "how long after a sale polling gives up")
	fs.IntVar(&cfg.TxSize, "tx-size", d.TxSize, "changes per transaction of the mixed writes")
	fs.IntVar(&cfg.Workers, "workers", d.Workers, "writer connections")
	out := addBenchOutputFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := dev.finish(); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return usageErrorf(stderr, "bench purge")("%v", err)
	}
	cfg.Log = out.logger(stderr)
	rep, err := purgebench.Run(ctx, cfg)
	if err != nil {
		return explainCDC(err)
	}
	return out.write(stdout, rep)
}
