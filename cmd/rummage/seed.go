package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/internal/progress"
)

func runSeed(ctx context.Context, args []string) error {
	fs := newFlags("seed", "(--out FILE.jsonl | --database-url URL) [--count N] [--seed S] [--now RFC3339] [social knobs]",
		`Generate a realistic resale marketplace: a catalog (brands and category
paths from real reference data, sizes that fit the category, condition mix,
per-brand price tiers, colors, style tags, images, some sold or removed
listings) and its social graph (see --social): users, follows, likes,
shares, parties past, live and upcoming, drops, suspended sellers, blocks.

Shapes: closets have power-law sizes (seller j holds ~1/sqrt(j+1) of the
listings); a user's follows are a power law and the followed closet is
Zipf-distributed (at --count 1000000 the top closets have 100k+ followers);
likes and shares per listing are power laws (Zipf over listings), a third of
the shares by the seller; parties every 8 hours (2 h each), one live at
--now, themed by a brand, a category node, a brand in a department, "Under
$25" or "NWT", with shares only of listings that match the theme, inside
the window, front-loaded; drops fall on --drops shared instants in the next
week. The listing rows carry no counters (migration 0004: the indexer
derives like_count, share_count and last_shared_at from the likes and
shares); a catalog file's counters are computed from the same generated
rows.

Every knob left at 0 takes a default scaled from --count (shown in
parentheses); a negative value means none.

The output is deterministic: the same --seed and --now (and --count and
knobs) always give the same rows. --now defaults to the current time
truncated to the hour, so pass it explicitly to reproduce a catalog later.

Write JSONL with --out: listings to FILE, and with --social each other
table beside it as FILE's name without .jsonl plus .<table>.jsonl
(catalog.jsonl → catalog.sellers.jsonl, catalog.shares.jsonl, ...); --out -
writes listings to stdout and needs --social=false. Or load Postgres with
--database-url: the schema is migrated if needed, then every table is
copied with COPY, several at once (--workers). The tables must be empty.
Exactly one of --out and --database-url is required.`)
	out := fs.String("out", "", "write listings as JSONL to `FILE` (- for stdout), the other tables beside it")
	dbURL := fs.String("database-url", "", "load every table into this Postgres database")
	count := fs.Int("count", fixtures.DefaultCount, "number of listings")
	seed := fs.Uint64("seed", 1, "random seed")
	nowFlag := fs.String("now", "", "base instant, RFC 3339 (default: now, truncated to the hour)")
	sellers := fs.Int("sellers", 0, "number of sellers, i.e. closets (default count/20, at least 10)")
	social := fs.Bool("social", true, "generate the social graph; false: sellers and listings only, with counters drawn on their own")
	var k fixtures.Social
	fs.IntVar(&k.Users, "users", 0, "users; the first --sellers of them own the closets (default max(sellers, count/2))")
	fs.IntVar(&k.Follows, "follows", 0, "expected follows (default 5×count)")
	fs.Float64Var(&k.LikesPerListing, "likes-per-listing", 0, fmt.Sprintf("mean likes per listing (default %v)", fixtures.DefaultLikesPerListing))
	fs.Float64Var(&k.SharesPerListing, "shares-per-listing", 0, fmt.Sprintf("mean shares per listing outside parties (default %v)", fixtures.DefaultSharesPerListing))
	fs.IntVar(&k.PartyDays, "party-days", 0, fmt.Sprintf("days of past parties, three a day (default %d)", fixtures.DefaultPartyDays))
	fs.IntVar(&k.UpcomingParties, "upcoming-parties", 0, fmt.Sprintf("parties after the live one (default %d)", fixtures.DefaultUpcomingParties))
	fs.Float64Var(&k.PartyShares, "party-shares", 0, fmt.Sprintf("mean shares into a past party per listing matching its theme (default %v)", fixtures.DefaultPartyShares))
	fs.Float64Var(&k.LivePartyShares, "live-party-shares", 0, fmt.Sprintf("mean shares into the live party per listing matching its theme (default %v: ~2/3 of them shared, 3M+ shares at count 1M)", fixtures.DefaultLivePartyShares))
	fs.IntVar(&k.Drops, "drops", 0, fmt.Sprintf("drop instants in the week after --now; 0.5%% of the listings are drops (default %d)", fixtures.DefaultDrops))
	fs.Float64Var(&k.Suspended, "suspended", 0, fmt.Sprintf("fraction of suspended sellers (default %v)", fixtures.DefaultSuspended))
	fs.IntVar(&k.Blocks, "blocks", 0, "expected blocks (default users/50)")
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
	switch {
	case (*out == "") == (*dbURL == ""):
		return usageErr("exactly one of --out and --database-url is required")
	case *out == "-" && *social:
		return usageErr("--out - writes listings only: pass --social=false, or a file name")
	case *count <= 0:
		return usageErr("--count must be positive")
	case *workers < 1:
		return usageErr("--workers must be at least 1")
	case *sellers < 0:
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
	opts := fixtures.Options{Seed: *seed, Now: now, Count: *count, Sellers: *sellers}
	if *social {
		opts.Social = &k
	}
	g, err := fixtures.NewGenerator(opts)
	if err != nil {
		return err
	}
	var log *slog.Logger
	if !*quiet {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if *dbURL != "" {
		if err := migrateForSeed(ctx, *dbURL); err != nil {
			return err
		}
	}
	report := seedProgress(progress.New(log, "seeding", 0))
	start := time.Now()
	var rows fixtures.TableRows
	if *out != "" {
		rows, err = writeSeedJSONL(ctx, *out, g, *social, report)
	} else {
		rows, err = fixtures.Seed(ctx, *dbURL, g, *workers, report)
	}
	if err != nil {
		return err
	}
	el := time.Since(start)
	var parts []string
	for _, t := range append([]string{"listings"}, fixtures.SocialTables()...) {
		if n, ok := rows[t]; ok {
			parts = append(parts, fmt.Sprintf("%d %s", n, t))
		}
	}
	verb := "copied"
	if *out != "" {
		verb = "wrote"
	}
	fmt.Fprintf(os.Stderr, "%s %s in %s (%.0f rows/s); seed %d, now %s\n", verb, strings.Join(parts, ", "),
		el.Round(time.Millisecond), float64(rows.Total())/el.Seconds(), *seed, g.Options().Now.Format(time.RFC3339))
	if lp, ok := g.LiveParty(); ok {
		fmt.Fprintf(os.Stderr, "live party %s %q until %s\n", lp.ID, lp.Name, lp.EndsAt.Format(time.RFC3339))
	}
	return nil
}

// writeSeedJSONL writes listings to out and, with social, each other table
// beside it.
func writeSeedJSONL(ctx context.Context, out string, g *fixtures.Generator, social bool, report fixtures.Progress) (fixtures.TableRows, error) {
	rows := fixtures.TableRows{}
	write := func(path string, fn func(io.Writer) (int64, error)) (int64, error) {
		if path == "-" {
			return fn(os.Stdout)
		}
		f, err := os.Create(path)
		if err != nil {
			return 0, err
		}
		n, err := fn(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return n, err
	}
	n, err := write(out, func(w io.Writer) (int64, error) { return fixtures.WriteJSONL(ctx, w, g, report) })
	if err != nil {
		return rows, err
	}
	rows["listings"] = n
	if !social {
		return rows, nil
	}
	base := strings.TrimSuffix(out, ".jsonl")
	for _, t := range fixtures.SocialTables() {
		n, err := write(base+"."+t+".jsonl", func(w io.Writer) (int64, error) { return fixtures.WriteTableJSONL(ctx, w, g, t, report) })
		if err != nil {
			return rows, err
		}
		rows[t] = n
	}
	return rows, nil
}

// migrateForSeed applies the pending migrations to databaseURL.
func migrateForSeed(ctx context.Context, databaseURL string) error {
	conn, err := pgx.Connect(ctx, databaseURL)
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
	return nil
}

// seedProgress adapts the fixtures' per-table row counts (tables copy side
// by side) to one reporter over all the rows.
func seedProgress(rep *progress.Reporter) fixtures.Progress {
	var mu sync.Mutex
	per := map[string]int64{}
	return func(t string, rows int64) {
		mu.Lock()
		per[t] = rows
		var total int64
		for _, n := range per {
			total += n
		}
		mu.Unlock()
		rep.Report(total, "table", t)
	}
}
