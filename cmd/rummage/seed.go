package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rummage/rummage/fixtures"
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
	g, err := fixtures.NewGenerator(fixtures.Options{Seed: *seed, Now: now, Count: *count, Sellers: *sellers})
	if err != nil {
		return err
	}
	p := newProgress(os.Stderr, *quiet, int64(g.Count()+g.SellerCount()))
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
		p.total = int64(g.Count())
		n, err := fixtures.WriteJSONL(ctx, w, g, p.report)
		if err != nil {
			return err
		}
		if f, ok := w.(*os.File); ok && f != os.Stdout {
			if err := f.Close(); err != nil {
				return err
			}
		}
		p.done()
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
		return err
	}
	for _, v := range applied {
		fmt.Fprintf(os.Stderr, "applied migration %s\n", v)
	}
	start = time.Now()
	ns, nl, err := fixtures.SeedPostgresParallel(ctx, *dbURL, g, *workers, p.report)
	if err != nil {
		return err
	}
	p.done()
	el := time.Since(start)
	fmt.Fprintf(os.Stderr, "copied %d sellers and %d listings in %s (%.0f rows/s); seed %d, now %s\n",
		ns, nl, el.Round(time.Millisecond), float64(ns+nl)/el.Seconds(), *seed, g.Options().Now.Format(time.RFC3339))
	return nil
}

// progress prints rows, rate and ETA to stderr at most once a second.
type progress struct {
	w       io.Writer
	quiet   bool
	total   int64
	start   time.Time
	last    time.Time
	offset  int64 // rows of the tables already finished
	current int64
	table   string
	shown   bool
}

func newProgress(w io.Writer, quiet bool, total int64) *progress {
	now := time.Now()
	return &progress{w: w, quiet: quiet, total: total, start: now, last: now}
}

func (p *progress) report(table string, rows int64) {
	if p.table != "" && table != p.table {
		p.offset = p.current
	}
	p.table = table
	p.current = p.offset + rows
	if p.quiet || time.Since(p.last) < time.Second {
		return
	}
	p.last = time.Now()
	el := time.Since(p.start).Seconds()
	rate := float64(p.current) / el
	eta := time.Duration(float64(p.total-p.current)/rate) * time.Second
	fmt.Fprintf(p.w, "\r%s: %d/%d rows, %.0f rows/s, ETA %s   ", table, p.current, p.total, rate, eta.Round(time.Second))
	p.shown = true
}

func (p *progress) done() {
	if p.shown {
		fmt.Fprintln(p.w)
	}
}
