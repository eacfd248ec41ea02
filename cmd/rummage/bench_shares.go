package main

import (
	"context"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/rummage/rummage/internal/sharebench"
)

const benchSharesHelp = `Measures the share counter trigger of migration 0001 (dropped by 0004: the
measurement is why) under a party's share burst, in a private schema of the database at --database-url (created and
dropped; the database's own tables are not touched): --listings generated
listings, and --clients connections inserting one share per transaction,
Zipf-distributed over the listings, paced at each of --rates shares per
second for --step, first with the trigger enabled, then disabled. Printed
per step: the achieved rate, the commit latency p50/p99 (INSERT and
commit), the p99 from the instant the share was due (queueing included),
the WAL bytes per share (pg_current_wal_lsn: the whole server's WAL, so run
it on a quiet server with wal_level=logical, where REPLICA IDENTITY FULL
logs the old row too), shares not committed within their step, and the
hottest listing's fraction of the shares.`

func benchSharesMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench shares", "--database-url URL [flags]", benchSharesHelp)
	fs.SetOutput(stderr)
	var c sharebench.Config
	fs.StringVar(&c.DatabaseURL, "database-url", os.Getenv("DATABASE_URL"), "Postgres `URL` (default $DATABASE_URL)")
	fs.IntVar(&c.Listings, "listings", sharebench.DefaultListings, "the party's listings")
	fs.IntVar(&c.Clients, "clients", sharebench.DefaultClients, "concurrent connections inserting shares")
	rates := fs.String("rates", joinRates(sharebench.DefaultRates()), "offered shares per second, comma-separated, in order")
	fs.DurationVar(&c.Step, "step", sharebench.DefaultStep, "how long each rate is offered, per mode")
	fs.Float64Var(&c.Zipf, "zipf", sharebench.DefaultZipf, "Zipf exponent (> 1) of the shares over the listings")
	fs.BoolVar(&c.Checkpoint, "checkpoint", true, "CHECKPOINT before every step (needs superuser or pg_checkpoint)")
	asJSON := fs.Bool("json", false, "print the result as JSON on stdout")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	usageErr := usageErrorf(stderr, "bench shares")
	var err error
	if c.Rates, err = parseRates(*rates); err != nil {
		return usageErr("--rates: %v", err)
	}
	if err := c.Validate(); err != nil {
		return usageErr("%v", err)
	}
	c.Log = stderr
	res, err := sharebench.Run(ctx, c)
	if err != nil {
		return err
	}
	return writeResult(stdout, *asJSON, res, res.WriteText)
}

// parseRates reads a --rates list: numbers, comma-separated.
func parseRates(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func joinRates(rates []float64) string {
	s := make([]string, len(rates))
	for k, r := range rates {
		s[k] = strconv.FormatFloat(r, 'f', -1, 64)
	}
	return strings.Join(s, ",")
}
