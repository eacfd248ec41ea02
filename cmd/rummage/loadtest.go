package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/rummage/rummage/internal/loadgen"
)

const loadtestHelp = `Offers open-loop load to a running Rummage API, shaped like the event
you are preparing for, and reports whether the service held up.

Scenarios (--scenario):
  party-start  --rate requests a second, then at --wave-at a push
               notification's wave: a step to ×2 requests (and ×4 shares
               over --share-rate) decaying with --wave-tau. A mix of the
               party's feed (first and later pages), "My Size" filters on
               it, searches and listing pages. With --database-url the
               shares are INSERTed into the party as they are offered.
  drop         shoppers arrive over --ramp before T0 (--t0; default the
               target's next drop if it falls inside the run) and refresh
               the drops page and a brand's newest listings every --think;
               from T0 they open listing pages every --after-think and
               leave with --leave. --rate is the peak at T0; the shopper
               count is rate × after-think. With --database-url, --sales of
               the drop's listings are sold at T0.
  search-mix   a flat --rate of searches: text, brand, category, size,
               sorts, some with facets.

Arrivals are open-loop (they do not wait for answers), paced by vegeta; a
capped pool of workers (--max-workers) sends them, from --sources loopback
addresses (127.0.0.1, .2, …) when the target is on loopback. The run FAILS
(exit 1) when the generator falls more than --lag-limit behind the offered
arrivals: the numbers would then describe the load tool, not the service.

The report: offered, sent and achieved (answered) requests per second;
status counts; p50/p99/p99.9 of every answer and of the admitted ones
(200/304); goodput; the cache hit ratio (Cache-Status), shed (503 with
Retry-After), rate-limited (429) and degraded (Rummage-Degraded) answers;
per request kind; and the --probe path's latency from a separate 10 req/s
prober. Discovery first reads /v1/search, /v1/parties and /v1/drops of the
target for ids, brands, sizes and the party. A progress line goes to stderr
every 2 s (--quiet: none); the report to stdout (--json: one object).`

func loadtestMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("loadtest", "--target URL [flags]", loadtestHelp)
	fs.SetOutput(stderr)
	var cfg loadgen.Config
	fs.StringVar(&cfg.Target, "target", "", "base `URL` of the API (required), e.g. http://127.0.0.1:8080")
	fs.StringVar(&cfg.Key, "key", os.Getenv("RUMMAGE_API_KEY"), "API `key` sent as a bearer token (default $RUMMAGE_API_KEY)")
	fs.StringVar(&cfg.Scenario, "scenario", loadgen.PartyStart, "`name`: "+strings.Join(loadgen.Scenarios, ", "))
	fs.DurationVar(&cfg.Duration, "duration", 60*time.Second, "length of the run")
	fs.Float64Var(&cfg.Rate, "rate", 100, "requests a second: the baseline (party-start, search-mix) or the peak at T0 (drop)")
	fs.DurationVar(&cfg.WaveAt, "wave-at", 0, "party-start: when the push wave hits (default a quarter into the run)")
	fs.DurationVar(&cfg.WaveTau, "wave-tau", 10*time.Second, "party-start: time constant of the wave's decay")
	fs.Float64Var(&cfg.WaveMult, "wave-requests", 2, "party-start: request rate multiplier at the wave")
	fs.Float64Var(&cfg.ShareMult, "wave-shares", 4, "party-start: share rate multiplier at the wave")
	fs.Float64Var(&cfg.ShareRate, "share-rate", 20, "party-start: baseline shares a second written with --database-url")
	fs.StringVar(&cfg.Party, "party", "", "party-start: party `id` (default the first live or upcoming)")
	fs.DurationVar(&cfg.T0, "t0", 0, "drop: when the drop lands, from the start (default the target's next drop inside the run, else a third in)")
	fs.DurationVar(&cfg.Ramp, "ramp", 0, "drop: shoppers arrive over this long before T0 (default all of it)")
	fs.DurationVar(&cfg.Think, "think", 10*time.Second, "drop: a waiting shopper's refresh interval")
	fs.DurationVar(&cfg.AfterThink, "after-think", 2*time.Second, "drop: a shopper's page interval after T0")
	fs.DurationVar(&cfg.Leave, "leave", 0, "drop: time constant of shoppers leaving after T0 (default a third of the run)")
	fs.IntVar(&cfg.Sales, "sales", 10, "drop: listings sold at T0 with --database-url")
	fs.StringVar(&cfg.DatabaseURL, "database-url", "", "the target's Postgres `URL`: write the scenario's shares or sales (none: read-only load)")
	fs.IntVar(&cfg.Sources, "sources", 4, "loopback source addresses to spread the load over (127.0.0.1..n)")
	fs.IntVar(&cfg.MaxWorkers, "max-workers", 512, "most concurrent requests in flight, over all sources")
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.Float64Var(&cfg.LagLimit, "lag-limit", 0.02, "`fraction` the generator may fall behind the offered arrivals before the run fails")
	fs.StringVar(&cfg.ProbePath, "probe", "/healthz", "`path` probed at 10 req/s by a separate generator (empty: none)")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the request mix")
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	quiet := fs.Bool("quiet", false, "no progress line on stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if cfg.Target == "" {
		return usageErrorf(stderr, "loadtest")("--target is required")
	}
	if err := cfg.Validate(); err != nil {
		return usageErrorf(stderr, "loadtest")("%v", err)
	}
	if !*quiet {
		cfg.Log = slog.New(slog.NewTextHandler(stderr, nil))
	}
	rep, err := loadgen.Run(ctx, cfg)
	if rep != nil {
		if *asJSON {
			if werr := rep.WriteJSON(stdout); werr != nil {
				return werr
			}
		} else {
			rep.Print(stdout)
		}
	}
	if err != nil {
		return err
	}
	if !rep.Pass {
		return &exitError{code: 1, err: errors.New(strings.Join(rep.Failures, "; "))}
	}
	return nil
}
