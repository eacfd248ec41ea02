// Command rummage is the one Rummage binary: each role of the service is a
// subcommand. Wiring lives here only; the packages know nothing of flags or
// environment variables.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string) error
}

var commands = []command{
	{"serve", "run the search API on the embedded index (the default way to start)", runServe},
	{"seed", "generate a realistic listing catalog as JSONL or into Postgres", runSeed},
	{"migrate", "create or upgrade Rummage's tables in Postgres", runMigrate},
	{"bench", "measure search latency and indexing speed (bench search)", runBench},
	{"cdc", "stream listing changes from Postgres logical replication to Kafka", runCDC},
	{"indexer", "consume change events from Kafka into the index", runIndexer},
	{"dev", "run migrate, CDC, an in-process Kafka, the indexer and the API together", runDev},
	{"reindex", "build a fresh index from a new snapshot and switch to it", runReindex},
	{"reconcile", "compare every row in Postgres with the index and print differences", runReconcile},
}

func usage() {
	fmt.Fprint(os.Stderr, `rummage: discovery search for social resale marketplaces.

Usage:
  rummage <command> [flags]

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprint(os.Stderr, `
Run "rummage <command> --help" for the flags of a command.
`)
}

func main() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for _, c := range commands {
		if c.name != os.Args[1] {
			continue
		}
		err := c.run(ctx, os.Args[2:])
		switch {
		case err == nil:
			return
		case errors.Is(err, flag.ErrHelp):
			return
		case errors.Is(err, errUsage):
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "rummage %s: %v\n", c.name, err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "rummage: unknown command %q\n\n", os.Args[1])
	usage()
	os.Exit(2)
}

// Addresses the roles default to; the knobs of the packages take their
// defaults from the packages' own (indexer.DefaultBatchSize, ...).
const (
	defaultBrokers        = "127.0.0.1:9092"
	defaultAdminAddr      = "127.0.0.1:9464" // indexer and dev: /metrics and /admin/reindex
	defaultCDCMetricsAddr = "127.0.0.1:9465"
)

// newLogger returns a text logger on w at level (debug, info, warn or
// error).
func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// errUsage means the flags were wrong; the flag set has already said why.
var errUsage = errors.New("usage")

// newFlags returns a flag set for a subcommand whose --help prints the
// description, then the flags.
func newFlags(name, usageLine, description string) *flag.FlagSet {
	fs := flag.NewFlagSet("rummage "+name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: rummage %s %s\n\n%s\n\nFlags:\n", name, usageLine, description)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and maps a bad flag to errUsage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	return nil
}
