package main

import (
	"context"
	"flag"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/fixtures/simulate"
)

// simulateFlags are dev's --simulate flags: the marketplace kept alive
// (fixtures/simulate).
type simulateFlags struct {
	on   bool
	rate float64
}

func addSimulateFlags(fs *flag.FlagSet) *simulateFlags {
	f := &simulateFlags{}
	fs.BoolVar(&f.on, "simulate", false, "keep the marketplace alive: a party every 5 minutes (shares ×4 in its first minute), a drop every 5 minutes, new listings, likes, follows and sales (default: on for the private Postgres, off for --database-url)")
	fs.Float64Var(&f.rate, "simulate-rate", 20, "simulated marketplace events per second between parties")
	return f
}

// defaults turns --simulate on for the private Postgres unless it was set.
func (f *simulateFlags) defaults(private bool, explicit map[string]bool) {
	if !explicit["simulate"] {
		f.on = private
	}
}

// generator is the generated catalog dev seeds and simulates over.
func (o *devOptions) generator() (*fixtures.Generator, error) {
	count := o.seedCount
	if count == 0 {
		count = privateSeedCount
	}
	return fixtures.NewGenerator(fixtures.Options{Seed: o.seed, Count: count, Social: &fixtures.Social{}})
}

// simulate starts the simulator when --simulate is on; stop ends it and
// waits.
func (o *devOptions) simulate(ctx context.Context) (stop func(), err error) {
	if !o.sim.on {
		return func() {}, nil
	}
	g, err := o.generator()
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.New(ctx, o.dbURL)
	if err != nil {
		return nil, fmt.Errorf("--simulate: %w", err)
	}
	sim, err := simulate.New(pool, g, simulate.Config{Rate: o.sim.rate, Seed: o.seed}, o.log)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("--simulate: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = sim.Run(ctx) })
	return func() {
		cancel()
		wg.Wait()
		pool.Close()
	}, nil
}
