package main

import (
	"flag"
	"os"
	"strings"

	"github.com/rummage/rummage/internal/devbench"
)

// devBenchFlags are the flags of the benches that run dev (bench purge,
// bench sharerate): where it runs, its catalog and slot, and more flags
// for it.
type devBenchFlags struct {
	cfg     *devbench.Config
	devArgs *string
}

// addDevBenchFlags adds them to fs, into cfg, with d's defaults; seed
// says what the seed seeds, example is an example of --dev-args.
func addDevBenchFlags(fs *flag.FlagSet, cfg *devbench.Config, d devbench.Config, seed, example string) *devBenchFlags {
	fs.StringVar(&cfg.DatabaseURL, "database-url", "", "Postgres `URL` of a scratch database with wal_level=logical (default: a private Postgres in --dir)")
	fs.StringVar(&cfg.Dir, "dir", "", "`directory` of the private Postgres and the index, reused by the next run (default: a temporary one, removed afterwards)")
	fs.IntVar(&cfg.Listings, "listings", d.Listings, "listings seeded into an empty database")
	fs.Uint64Var(&cfg.Seed, "seed", d.Seed, "seed of "+seed)
	fs.StringVar(&cfg.Slot, "slot", d.Slot, "dev's replication slot `name`")
	fs.BoolVar(&cfg.Pin, "pin", false, "run dev on core 0 with taskset")
	devArgs := fs.String("dev-args", "", "more flags for rummage dev, space-separated (e.g. \""+example+"\"), to compare settings")
	return &devBenchFlags{cfg: cfg, devArgs: devArgs}
}

// finish sets what the flags leave: this binary as dev's, and the extra
// flags split.
func (f *devBenchFlags) finish() error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	f.cfg.Exe, f.cfg.DevArgs = exe, strings.Fields(*f.devArgs)
	return nil
}
