package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/rummage/rummage/internal/relevancebench"
	"github.com/rummage/rummage/internal/searchbench"
)

const benchRelevanceHelp = `Generates a catalog of --listings listings in an embedded index and
--shoppers shoppers with latent preferences (2 brands, 1-2 category
subtrees, a size, a price band) and their click / add-to-cart / purchase
log (70 % following the preferences, 30 % exploratory; about 38 : 3.3 : 1),
split by time into a training and a held-out part (fixtures.Shoppers).
The training part is replayed through the event path: POST /v1/events on an
in-process API (batches of 50, an events key; posted without "at", which the
API accepts only within a day of its clock, so the server stamps them),
its producer onto the events topic of an in-process broker, the affinity
consumer into the signals store's profiles. The shoppers' likes and shares
of the training part (a like per click at 3.2 % as Taobao's public log
has favourites per page view, shares at the catalog's 3 per 4 likes; drawn
with the log, never tuned) are applied to the signals store as the change
stream's rows would be, at the replay's instant: the anonymous home feed's
trending reads them. The held-out part is scored on
the API (answer cache in front): search (each held-out query, judged by
what the shopper then clicked 1, carted 2, bought 3) and the home feed
(each shopper's first page, judged by every held-out listing), anonymous
(the shipped blend) vs personalized at each --strengths, beside an oracle
ranking by the true preferences and a popularity baseline: NDCG@10,
recall@24, MRR@24, and each NDCG@10 lift over the anonymous ranking with
its 95 % interval bootstrapped over the units, against the 20 % target.
Strength 0 with a user is the shipped blend for a known shopper
(following and the likes-and-shares affinity source on the home feed, no
boost). Finally search latency anonymous vs personalized, the
same queries in the same run, on --latency-index-dir (a bench search main
index of --latency-listings listings, seed and now the same) or the run's
own index.`

func benchRelevanceMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench relevance", "[flags]", benchRelevanceHelp)
	fs.SetOutput(stderr)
	listings := fs.Int("listings", relevancebench.DefaultListings, "generated listings")
	shoppers := fs.Int("shoppers", relevancebench.DefaultShoppers, "generated shoppers")
	seed := fs.Uint64("seed", 1, "seed of the catalog and the shoppers")
	now := fs.String("now", searchbench.DefaultNow.Format(time.RFC3339), "base instant of the catalog, RFC 3339")
	strengths := fs.String("strengths", "50", "comma list of personalization strengths (0-100) to score; the last is the latency's")
	units := fs.Int("units", relevancebench.DefaultUnits, "most held-out searches scored")
	dir := fs.String("index-dir", "", "directory of the bench index, reused when it holds this catalog (default: a temporary one)")
	latDir := fs.String("latency-index-dir", "", "a prebuilt index (rummage bench search's <dir>/main) to measure search latency on")
	latListings := fs.Int("latency-listings", 0, "listings of --latency-index-dir")
	rounds := fs.Int("latency-rounds", 3, "rounds of the latency queries")
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	at, err := time.Parse(time.RFC3339, *now)
	if err != nil {
		return fmt.Errorf("--now: %w", err)
	}
	var sts []int
	for _, s := range strings.Split(*strengths, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("--strengths: %w", err)
		}
		sts = append(sts, n)
	}
	rep, err := relevancebench.Run(ctx, relevancebench.Config{Listings: *listings, Seed: *seed, Now: at, Shoppers: *shoppers, Strengths: sts,
		Units: *units, Dir: *dir, LatencyIndexDir: *latDir, LatencyListings: *latListings, LatencyRounds: *rounds, Log: stderr})
	if err != nil {
		return err
	}
	return writeResult(stdout, *asJSON, rep, rep.WriteText)
}
