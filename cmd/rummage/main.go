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

// withStdio runs main, which writes to the streams it is given (its tests
// pass buffers), on the process's stdout and stderr.
func withStdio(main func(ctx context.Context, args []string, stdout, stderr io.Writer) error) func(context.Context, []string) error {
	return func(ctx context.Context, args []string) error { return main(ctx, args, os.Stdout, os.Stderr) }
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
	{"analytics", "roll the events topic up into the analytics tables", runAnalytics},
	{"aliases", "suggest brand aliases from zero-result queries (aliases suggest)", runAliases},
	{"users", "forget a user's signals, profile, cached answers and rollups (users forget U)", runUsers},
	{"keys", "create, list and revoke API keys; sign user tokens", runKeys},
	{"loadtest", "offer open-loop load shaped like a party start, a drop or a search mix to a running API", withStdio(loadtestMain)},
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
Run "rummage help <command>" (or "rummage <command> --help") for the flags
of a command.
`)
}

func main() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// run runs the command args name and returns the exit status: 0 done, 2
// bad usage, 1 (or the command's own code, see exitError) failed.
func run(ctx context.Context, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || (args[0] == "help" && len(args) == 1) {
		usage()
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	name, rest := args[0], args[1:]
	if name == "help" { // rummage help CMD [SUB]: that command's help
		name, rest = args[1], append(args[2:], "--help")
	}
	for _, c := range commands {
		if c.name != name {
			continue
		}
		err := c.run(ctx, rest)
		var ee *exitError
		switch {
		case err == nil, errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			return 2
		case errors.As(err, &ee):
			fmt.Fprintf(os.Stderr, "rummage %s: %v\n", c.name, ee.err)
			return ee.code
		}
		fmt.Fprintf(os.Stderr, "rummage %s: %v\n", c.name, err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "rummage: unknown command %q\n\n", name)
	usage()
	return 2
}

// exitError is a failure with its own exit status (reconcile tells
// differences, 1, from failures, 3).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }
