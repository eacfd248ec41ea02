package main

// The flag and logging conventions every subcommand shares.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/internal/benchkit"
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

// isHelp reports whether a command's first argument asks for its help.
func isHelp(arg string) bool { return arg == "-h" || arg == "--help" || arg == "help" }

// oneSubcommand runs the only subcommand of a command ("aliases suggest",
// "users forget") with the arguments after it; anything else prints the
// usage line ("aliases suggest [flags]") and help, and fails (flag.ErrHelp
// when help was asked for).
func oneSubcommand(ctx context.Context, args []string, usage, help string, run func(context.Context, []string, io.Writer) error) error {
	sub := strings.Fields(usage)[1]
	if len(args) == 0 || args[0] != sub {
		fmt.Fprintf(os.Stderr, "Usage: rummage %s\n\n%s\n", usage, help)
		if len(args) > 0 && isHelp(args[0]) {
			return flag.ErrHelp
		}
		return errUsage
	}
	return run(ctx, args[1:], os.Stdout)
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

// apiFlags are the flag groups of the commands that serve the API (dev,
// serve): API keys, cursor keys, admission and the shutdown timeout.
type apiFlags struct {
	keys            *keyFlags
	cursors         *cursorFlags
	admit           *admitFlags
	shutdownTimeout *time.Duration
	corsOrigins     []string
}

// addAPIFlags registers the API's flags; keysDB is the command's own
// --database-url when it has one (nil: the key flags add theirs).
func addAPIFlags(fs *flag.FlagSet, keysDB *string) *apiFlags {
	f := &apiFlags{
		shutdownTimeout: fs.Duration("shutdown-timeout", api.DefaultConfig().ShutdownTimeout, "how long in-flight requests may finish on shutdown"),
		keys:            addKeyFlags(fs, keysDB, true),
		cursors:         addCursorFlags(fs),
		admit:           addAdmitFlags(fs),
	}
	fs.Func("cors-origin", "an origin whose pages may call the API from a browser (CORS), like https://shop.example.com, or *; repeatable (default: same origin only)", func(v string) error {
		f.corsOrigins = append(f.corsOrigins, v)
		return nil
	})
	return f
}

// config is the API's default configuration with the flags' shutdown
// timeout.
func (f *apiFlags) config() api.Config {
	cfg := api.DefaultConfig()
	cfg.ShutdownTimeout = *f.shutdownTimeout
	cfg.CORSOrigins = f.corsOrigins
	return cfg
}

// validateServing checks the flag groups that dev and serve share: the
// admission chain, the backend and the signals store beside its index.
func validateServing(af *apiFlags, bf *backendFlags, sf *signalsFlags) error {
	if _, err := af.admit.config(); err != nil {
		return err
	}
	if err := af.config().Validate(); err != nil {
		return err
	}
	if err := bf.validate(); err != nil {
		return err
	}
	return sf.validate(bf.indexDir)
}

// benchReportFlags are the flags the scenario benches (search, feeds)
// share: which scenarios run, progress on stderr, the report's form.
type benchReportFlags struct {
	asJSON, quiet *bool
	only          *string
}

func addBenchReportFlags(fs *flag.FlagSet, scenarios string) *benchReportFlags {
	f := addBenchOutputFlags(fs)
	f.only = fs.String("scenarios", "", "comma list of scenarios to run (default all): "+scenarios)
	return f
}

// addBenchOutputFlags are --json and --quiet alone, for the benches
// without scenarios.
func addBenchOutputFlags(fs *flag.FlagSet) *benchReportFlags {
	return &benchReportFlags{
		asJSON: fs.Bool("json", false, "print the report as one JSON object"),
		quiet:  fs.Bool("quiet", false, "no progress on stderr"),
	}
}

// logger is a bench's progress log on stderr, nil with --quiet.
func (f *benchReportFlags) logger(stderr io.Writer) *slog.Logger {
	if *f.quiet {
		return nil
	}
	return slog.New(slog.NewTextHandler(stderr, nil))
}

// progress is where a bench logs: stderr, or nowhere with --quiet.
func (f *benchReportFlags) progress(stderr io.Writer) io.Writer {
	if *f.quiet {
		return nil
	}
	return stderr
}

// scenarios is the --scenarios list; nil runs them all.
func (f *benchReportFlags) scenarios() []string {
	if f.only == nil || *f.only == "" {
		return nil
	}
	return strings.Split(*f.only, ",")
}

// writeResult prints a bench's result as one JSON object with --json,
// else as its text report.
func writeResult(stdout io.Writer, asJSON bool, res any, writeText func(io.Writer)) error {
	if asJSON {
		return benchkit.WriteJSON(stdout, res)
	}
	writeText(stdout)
	return nil
}

type benchReport interface {
	WriteJSON(io.Writer) error
	WriteText(io.Writer) error
}

// write prints rep as tables, or as one JSON object with --json.
func (f *benchReportFlags) write(stdout io.Writer, rep benchReport) error {
	if *f.asJSON {
		return rep.WriteJSON(stdout)
	}
	return rep.WriteText(stdout)
}
