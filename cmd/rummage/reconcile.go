package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/jackc/pgx/v5"

	"github.com/rummage/rummage/indexer/reconcile"
	"github.com/rummage/rummage/query/embedded"
)

const reconcileHelp = `Compares every listing row in Postgres with the index and prints what differs,
one line per listing:

  missing <id>                     the row is not in the index
  extra <id>                       the index holds a listing whose row is gone
  stale <id> <field>: postgres=<json> index=<json>; ...

then a summary line. Rows are mapped to documents exactly as the indexer maps
change events, and compared by content (Postgres rows carry no LSN to compare
versions with). On a live system, changes still in flight show up as
differences: run it while the stream is idle, or twice.

Exit status:
  0  in sync
  1  differences found (the summary is on stdout and stderr)
  2  bad flags
  3  reconcile failed (no index, Postgres unreachable, ...), said on stderr
     as "rummage reconcile: failed: ..."

The embedded index is opened by this process: stop the "rummage serve",
"indexer" or "dev" process that holds it first (Bleve locks the index to one
process). With --backend elasticsearch, documents whose row is gone are not
looked for (the backend cannot list its documents yet).`

func runReconcile(ctx context.Context, args []string) error {
	return reconcileMain(ctx, args, os.Stdout)
}

// errDifferences is returned when reconcile found differences; its message is
// the summary.
type errDifferences struct{ rep *reconcile.Report }

func (e *errDifferences) Error() string {
	return fmt.Sprintf("%d differences (%s)", e.rep.Total(), e.rep.Summary())
}

func reconcileMain(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("reconcile", "--database-url URL [--index-dir DIR] [flags]", reconcileHelp)
	dbURL := fs.String("database-url", os.Getenv("DATABASE_URL"), "Postgres `URL` of the source database (default $DATABASE_URL)")
	table := fs.String("table", "listings", "the listings `table`, as table or schema.table")
	counters := fs.Bool("counters", true, "compare like_count, share_count and last_shared_at with the counts of the likes and shares tables (false for an index whose indexer ran without a signals store: it has no counters)")
	maxLines := fs.Int("max", 1000, "print at most `n` differences (all are counted); 0 prints all")
	bf := addBackendFlags(fs, "./data/dev")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dbURL == "" {
		fmt.Fprintln(fs.Output(), "--database-url (or $DATABASE_URL) is required")
		return errUsage
	}
	if *maxLines < 0 {
		fmt.Fprintln(fs.Output(), "--max must be >= 0")
		return errUsage
	}
	if err := bf.validate(); err != nil {
		fmt.Fprintln(fs.Output(), err)
		return errUsage
	}
	failed := func(err error) error { return &exitError{code: 3, err: fmt.Errorf("failed: %w", err)} }

	if bf.kind == backendEmbedded {
		// Open would create an empty index, and wait forever for Bleve's lock
		// if another process holds the index: check both first.
		switch ok, err := embedded.Exists(bf.indexDir); {
		case err != nil:
			return failed(err)
		case !ok:
			return failed(fmt.Errorf("%s holds no Rummage index (--index-dir)", bf.indexDir))
		}
		if err := embedded.CheckUnlocked(bf.indexDir); err != nil {
			if errors.Is(err, embedded.ErrLocked) {
				err = fmt.Errorf("%w: stop the rummage serve, indexer or dev process using --index-dir %s, then run reconcile again", err, bf.indexDir)
			}
			return failed(err)
		}
	}
	conn, err := pgx.Connect(ctx, *dbURL)
	if err != nil {
		return failed(fmt.Errorf("connect to Postgres: %w", err))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	backend, err := bf.open(ctx)
	if err != nil {
		return failed(err)
	}
	defer backend.Close()

	out := bufio.NewWriter(stdout)
	defer out.Flush()
	printed := 0
	rep, err := reconcile.Run(ctx, conn, backend, reconcile.Options{
		Table:    *table,
		Keep:     -1,
		Counters: *counters,
		OnDifference: func(d reconcile.Difference) {
			if *maxLines == 0 || printed < *maxLines {
				fmt.Fprintln(out, d.String())
				printed++
			}
		},
	})
	if err != nil {
		return failed(err)
	}
	if n := rep.Total() - int64(printed); n > 0 {
		fmt.Fprintf(out, "... %d more differences not printed (--max %d)\n", n, *maxLines)
	}
	fmt.Fprintln(out, "summary:", rep.Summary())
	if err := out.Flush(); err != nil {
		return failed(err)
	}
	if !rep.InSync() {
		return &errDifferences{rep}
	}
	return nil
}
