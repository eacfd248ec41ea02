package main

// The flag and logging conventions every subcommand shares.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
)

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

// requireDatabaseURL fails with errUsage, saying why and printing the
// usage, when a command that needs Postgres got no --database-url.
func requireDatabaseURL(fs *flag.FlagSet, url string) error {
	if url != "" {
		return nil
	}
	fmt.Fprintln(fs.Output(), "--database-url (or $DATABASE_URL) is required")
	fs.Usage()
	return errUsage
}

// usageErrorf returns a function that says on w what is wrong with the
// flags of rummage command, and returns errUsage.
func usageErrorf(w io.Writer, command string) func(format string, a ...any) error {
	return func(format string, a ...any) error {
		fmt.Fprintf(w, "rummage "+command+": "+format+"\n", a...)
		return errUsage
	}
}

// parseFlags parses args and maps a bad flag to errUsage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	return nil
}

// parseFlagsAroundArg parses [flags] ARG [flags], the flags of fs on both
// sides of one positional argument, and returns the argument ("" when
// there is none).
func parseFlagsAroundArg(fs *flag.FlagSet, args []string) (string, error) {
	if err := parse(fs, args); err != nil || fs.NArg() == 0 {
		return "", err
	}
	arg := fs.Arg(0)
	return arg, parseFlags(fs, fs.Args()[1:])
}

// parse parses args: --help is flag.ErrHelp, a bad flag errUsage (the flag
// set has said why).
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	return nil
}

// validateServing checks the flag groups that dev and serve share: the
// admission chain, the backend and the signals store beside its index.
func validateServing(af *admitFlags, bf *backendFlags, sf *signalsFlags) error {
	if _, err := af.config(); err != nil {
		return err
	}
	if err := bf.validate(); err != nil {
		return err
	}
	return sf.validate(bf.indexDir)
}
