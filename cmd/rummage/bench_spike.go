package main

import (
	"context"
	"io"
	"os"

	"github.com/rummage/rummage/internal/spikebench"
)

const benchSpikeHelp = `Serves one catalog with the serving protections on (response cache,
coalescing, adaptive admission with degradation and shedding, and the
front-door in-flight cap --max-in-flight, the scheduling shed
--shed-sched-latency) and off
(--cache=false --admission=false), one after the other in one run, and
compares them under the party-start mix (party feed pages, "My Size"
filters, searches, listing pages; see rummage loadtest):

  1. capacity: constant-rate steps from --start-rate, doubling until one
     fails, then two bisections; capacity is the highest offered rate with
     admitted p99 ≤ --p99-limit, nothing shed and every answer 200/304;
  2. twice the protected capacity (the same rate for both) for --overload:
     status mix, admitted p99, goodput against capacity, shed and cache hit
     ratios, /healthz p99 from a separate 10 req/s prober, and the CPU
     seconds of the service and of the load tool.

The service is "rummage serve" on the embedded backend (a seeded catalog
of --listings, built into --dir on the first start and reused) with a live
party in the memory signals store; it runs as a child process so that,
with taskset installed and two cores, it is pinned to core 0 and the load
(this process) to core 1. Progress goes to stderr; the report to stdout.`

func benchSpikeMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench spike", "[flags]", benchSpikeHelp)
	fs.SetOutput(stderr)
	var cfg spikebench.Config
	fs.IntVar(&cfg.Listings, "listings", 50000, "listings in the seeded catalog")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the catalog")
	fs.StringVar(&cfg.Dir, "dir", "", "`directory` of the index and signals store (default: a temporary one, removed afterwards)")
	fs.IntVar(&cfg.PartyShares, "party-shares", 2000, "listings shared into the live party")
	fs.DurationVar(&cfg.Step, "step", spikeDefaults.Step, "length of one capacity step")
	fs.DurationVar(&cfg.Overload, "overload", spikeDefaults.Overload, "length of the run at twice the capacity")
	fs.Float64Var(&cfg.StartRate, "start-rate", 100, "first capacity step, requests a second")
	fs.Float64Var(&cfg.MaxRate, "max-rate", 20000, "highest capacity step")
	fs.DurationVar(&cfg.P99Limit, "p99-limit", spikeDefaults.P99Limit, "admitted p99 a capacity step may reach")
	fs.IntVar(&cfg.MaxWorkers, "max-workers", 1024, "most requests in flight from the load tool")
	fs.BoolVar(&cfg.Pin, "pin", true, "pin the service to core 0 and the load to core 1 with taskset")
	fs.StringVar(&cfg.Only, "only", "", "run one variant: on or off (default both)")
	fs.IntVar(&cfg.MaxInFlight, "max-in-flight", spikeDefaults.MaxInFlight, "the protected serve's --max-in-flight (negative: none)")
	fs.DurationVar(&cfg.SchedLatency, "shed-sched-latency", spikeDefaults.SchedLatency, "the protected serve's --shed-sched-latency (negative: none)")
	out := addBenchOutputFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cfg.Exe = exe
	if err := cfg.Validate(); err != nil {
		return usageErrorf(stderr, "bench spike")("%v", err)
	}
	cfg.Log = out.logger(stderr)
	rep, err := spikebench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	return out.write(stdout, rep)
}

// spikeDefaults are the bench's defaults.
var spikeDefaults = spikebench.Defaults()
