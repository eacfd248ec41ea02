package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/internal/progress"
)

func runSeed(ctx context.Context, args []string) error {
	fs := newFlags("seed", "(--out FILE.jsonl | --database-url URL) [--count N] [--seed S] [--now RFC3339]",
		`Generate a realistic resale catalog: brands and category paths from real
reference data, sizes that fit the category, condition mix, per-brand price
tiers, colors, style tags, images, power-law likes and shares, some sold or
removed listings and some future drops.

The output is deterministic: the same --seed and --now (and --count) always give
the same listings. --now defaults to the current time truncated to the hour, so
pass it explicitly to reproduce a catalog later.

Write JSONL with --out (- for stdout), or load Postgres with --database-url: the
schema is migrated if needed, then sellers and listings are copied with COPY.
The tables must be empty. Exactly one of --out and --database-url is required.`)
	out := fs.String("out", "", "write listings as JSONL to `FILE` (- for stdout)")
	dbURL := fs.String("database-url", "", "load sellers and listings into this Postgres database")
	count := fs.Int("count", fixtures.DefaultCount, "number of listings")
	seed := fs.Uint64("seed", 1, "random seed")
	nowFlag := fs.String("now", "", "base instant, RFC 3339 (default: now, truncated to the hour)")
	sellers := fs.Int("sellers", 0, "number of sellers (default count/20, at least 10)")
	workers := fs.Int("workers", 2, "parallel COPY connections for --database-url (Postgres parses rows on one core per connection)")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	usageErr := func(msg string) error {
		fmt.Fprintln(fs.Output(), msg)
		fs.Usage()
		return errUsage
	}
	if (*out == "") == (*dbURL == "") {
		return usageErr("exactly one of --out and --database-url is required")
	}
	if *count <= 0 {
		return usageErr("--count must be positive")
	}
	if *workers < 1 {
		return usageErr("--workers must be at least 1")
	}
	if *sellers < 0 {
		return usageErr("--sellers must not be negative")
	}
	now := time.Now().UTC().Truncate(time.Hour)
	if *nowFlag != "" {
		t, err := time.Parse(time.RFC3339, *nowFlag)
		if err != nil {
			return usageErr(fmt.Sprintf("--now: %v", err))
		}
		now = t
	}
	g, err := fixtures.NewGenerator(fixtures.Options{Seed: *seed, Now: now, Count: *count, Sellers: *sellers, Social: &fixtures.Social{}})
	if err != nil {
		return err
	}
	var log *slog.Logger
	if !*quiet {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	start := time.Now()
	if *out != "" {
		var w io.Writer = os.Stdout
		if *out != "-" {
			f, err := os.Create(*out)
			if err != nil {
				return err
			}
			defer f.Close()
			w = f
		}
		rep := progress.New(log, "writing listings", int64(g.Count()))
		n, err := fixtures.WriteJSONL(ctx, w, g, seedProgress(rep))
		if err != nil {
			return err
		}
		if f, ok := w.(*os.File); ok && f != os.Stdout {
			if err := f.Close(); err != nil {
				return err
			}
		}
		el := time.Since(start)
		fmt.Fprintf(os.Stderr, "wrote %d listings to %s in %s (%.0f listings/s); seed %d, now %s\n",
			n, *out, el.Round(time.Millisecond), float64(n)/el.Seconds(), *seed, g.Options().Now.Format(time.RFC3339))
		return nil
	}

	conn, err := pgx.Connect(ctx, *dbURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	applied, err := fixtures.MigrateConn(ctx, conn)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, v := range applied {
		fmt.Fprintf(os.Stderr, "applied migration %s\n", v)
	}
	start = time.Now()
	report := seedProgress(progress.New(log, "copying rows", int64(g.Count()+g.SellerCount())))
	ns, nl, err := fixtures.SeedPostgresParallel(ctx, *dbURL, g, *workers, report)
	if err != nil {
		return err
	}
	el := time.Since(start)
	fmt.Fprintf(os.Stderr, "copied %d sellers and %d listings in %s (%.0f rows/s); seed %d, now %s\n",
		ns, nl, el.Round(time.Millisecond), float64(ns+nl)/el.Seconds(), *seed, g.Options().Now.Format(time.RFC3339))
	return nil
}

// seedProgress adapts the fixtures' per-table row counts to one reporter
// over all the rows (sellers, then listings).
func seedProgress(rep *progress.Reporter) fixtures.Progress {
	var table string
	var offset, current int64
	return func(t string, rows int64) {
		if table != "" && t != table {
			offset = current
		}
		table, current = t, offset+rows
		rep.Report(current, "table", t)
	}
}
