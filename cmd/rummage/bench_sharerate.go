package main

import (
	"context"
	"io"

	"github.com/rummage/rummage/internal/shareratebench"
)

const benchSharerateHelp = `Measures the highest share rate a live party sustains through the whole
dev pipeline, with and without migration 0001's share counter trigger in
the same run (issue 9 §5: p99 ≤ 1 s from a share's COMMIT to its listing
at the top of the party feed, goal 3,000 shares/s with p50 ≤ 200 ms). It
runs "rummage dev" in a child process (CDC → in-process Kafka → indexer →
embedded index and signals, the API) on a database seeded with --listings
listings: a private Postgres in --dir, or --database-url (wal_level=logical;
the bench adds the trigger's columns and function to it: use a scratch
database). The bench's party is live and themed on the largest category
root; its listings are that root's visible ones.

  1. For each of --rates, twice (the trigger enabled, then disabled):
     --clients connections insert shares into the party, one per
     transaction, open loop (each due at its instant whatever the ones
     before took), Zipf-distributed (--zipf) over the party's listings,
     for --step.
  2. Meanwhile --pollers read the party feed's first page (limit 100)
     every --poll-interval, until --tail after the step. A share is at the
     top of the feed at the first read that shows its listing with a
     party_shared_at at or after the share's created_at (the feed is in
     latest-share order, so that is the share putting it first), or at
     the first read whose full page is entirely newer than the share if
     that comes first ("displaced": a burst pushed it off the first page
     before a read saw it); one never seen counts as lost (beyond every
     percentile it falls in).
  3. CPU over the step and its tail, per committed share: the private
     Postgres's processes from /proc, split by pg_stat_activity into the
     shares' backends, the walsender (the CDC's logical decoding) and the
     rest; dev's /proc CPU split by the stage labels of a CPU profile it
     serves on its admin listener (CDC, Kafka broker, indexer, signals
     applier, API — the bench's reads —, other: GC and runtime); and the
     bench's own.
  4. A rate is sustained when the achieved rate is ≥ 95 % of the offered,
     no share failed and the p99 is ≤ 1 s; after a rate a mode does not
     sustain, its higher rates are skipped (--keep-going offers them).
  5. After the sweep, every party's share_count (GET /v1/parties/{id}) is
     compared with DESIGN.md's definition in SQL (its shares inside its
     window).

Progress goes to stderr; the report (a table per rate and mode) to stdout.
--dir keeps the Postgres and the index for the next run.`

func benchSharerateMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	d := shareratebench.Defaults()
	fs := newFlags("bench sharerate", "[flags]", benchSharerateHelp)
	fs.SetOutput(stderr)
	var cfg shareratebench.Config
	dev := addDevBenchFlags(fs, &cfg.Config, d.Config, "the catalog and of the shares", "--cache=false")
	rates := fs.String("rates", joinRates(d.Rates), "offered shares per second, comma-separated, in order")
	fs.DurationVar(&cfg.Step, "step", d.Step, "how long each rate is offered, per mode")
	fs.DurationVar(&cfg.Tail, "tail", d.Tail, "how long the feed is still read after a step's last share")
	fs.IntVar(&cfg.Clients, "clients", d.Clients, "connections inserting shares")
	fs.Float64Var(&cfg.Zipf, "zipf", d.Zipf, "Zipf exponent (> 1) of the shares over the party's listings")
	fs.IntVar(&cfg.Pollers, "pollers", d.Pollers, "readers of the party feed's first page")
	fs.DurationVar(&cfg.PollInterval, "poll-interval", d.PollInterval, "time between two reads of one poller")
	fs.BoolVar(&cfg.KeepGoing, "keep-going", false, "offer a mode's higher rates after one it did not sustain")
	out := addBenchOutputFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	usageErr := usageErrorf(stderr, "bench sharerate")
	var err error
	if cfg.Rates, err = parseRates(*rates); err != nil {
		return usageErr("--rates: %v", err)
	}
	if err := dev.finish(); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return usageErr("%v", err)
	}
	cfg.Log = out.logger(stderr)
	rep, err := shareratebench.Run(ctx, cfg)
	if err != nil {
		return explainCDC(err)
	}
	return out.write(stdout, rep)
}
