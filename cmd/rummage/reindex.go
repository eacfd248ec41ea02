package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rummage/rummage/indexer/reindex"
)

const reindexHelp = `Builds a fresh index from a new consistent snapshot of Postgres while the
change stream goes on, then switches searches and writes to it with no moment
of missing or stale results, and removes the old index.

How it works: the new index first receives every batch the indexer applies
(dual writes); only then is the snapshot taken (a temporary replication slot,
so Postgres needs wal_level=logical) and copied in, each row at the
snapshot's LSN minus one, so that changes the stream wrote first are kept.
When the copy is complete, reads and writes move to the new index at once.

--backend embedded: the index belongs to the process that runs the indexer
(rummage indexer or rummage dev), so the reindex runs inside it, and it
snapshots that process's own database (its --database-url): the admin
endpoint never takes a database from the request, and --database-url is
refused here. This command asks that process through its admin endpoint
(--admin-url, POST and GET /admin/reindex, with an admin API key: --key) and shows the progress until it
is done. The new index is a
directory next to --index-dir (DIR.g000002, ...) and DIR.CURRENT names the one
in use.

--backend elasticsearch: this command does the work itself against the
cluster (--es-*): it creates the next physical index with the alias
<prefix>-reindex, copies the snapshot into it, moves the read and write aliases
in one atomic request, and deletes the old index. Every indexer must write
through elastic.Backend, whose Apply writes the new index too while that
alias exists (every rummage indexer and serve --data does).

Exit status: 0 when the switch happened, 1 when the reindex failed (the old
index keeps serving), 2 on bad flags.`

func runReindex(ctx context.Context, args []string) error {
	fs := newFlags("reindex", "[--backend embedded --admin-url URL | --backend elasticsearch --es-url URL --database-url URL]", reindexHelp)
	dsn := fs.String("database-url", "", "elasticsearch: Postgres `URL` to snapshot (default $DATABASE_URL); embedded: refused, the process snapshots its own")
	tables := fs.String("tables", "listings", "tables to snapshot, comma-separated, as table (schema public) or schema.table; only listings become documents")
	adminURL := fs.String("admin-url", "http://"+defaultAdminAddr, "embedded: base `URL` of the admin endpoint of the process running the indexer")
	poll := fs.Duration("poll", 500*time.Millisecond, "embedded: how often to ask for progress")
	key := fs.String("key", os.Getenv("RUMMAGE_ADMIN_KEY"), "embedded: an admin API `key` for the admin endpoint (default $RUMMAGE_ADMIN_KEY)")
	bf := addBackendFlags(fs, "./data/dev")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	req := reindex.Request{Tables: splitCSVFlag(*tables)}
	out := os.Stdout
	switch bf.kind {
	case backendEmbedded:
		if *dsn != "" {
			fmt.Fprintln(fs.Output(), "--database-url: with --backend embedded the process that runs the indexer snapshots its own database; drop the flag")
			return errUsage
		}
		return reindexRemote(ctx, &reindex.Client{URL: *adminURL, Key: *key}, req, *poll, out)
	case backendElasticsearch:
		if *dsn == "" {
			*dsn = os.Getenv("DATABASE_URL")
		}
		if *dsn == "" {
			fmt.Fprintln(fs.Output(), "--database-url (or $DATABASE_URL) is required with --backend elasticsearch")
			return errUsage
		}
		if err := bf.validate(); err != nil {
			return err
		}
		es, _, err := bf.es.open(ctx, nil, bf.logger()) // writes only: no brand aliases
		if err != nil {
			return err
		}
		defer es.Close()
		r := es.NewReindex()
		last := time.Time{}
		st, err := reindex.Run(ctx, r, reindex.Options{
			Snapshot: reindex.PostgresSnapshot(*dsn, req.Tables),
			Logger:   bf.logger(),
			Progress: func(s reindex.Status) {
				if s.Phase == reindex.PhaseBackfill && time.Since(last) < time.Second {
					return
				}
				last = time.Now()
				printStatus(out, s)
			},
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "reindex done: %s is live\n", r.Name())
		return finishWarning(st)
	default:
		return fmt.Errorf("--backend %q is not supported; use %s or %s", bf.kind, backendEmbedded, backendElasticsearch)
	}
}

// reindexRemote starts a reindex in the process behind c and prints its
// progress until it ends.
func reindexRemote(ctx context.Context, c *reindex.Client, req reindex.Request, poll time.Duration, out io.Writer) error {
	st, err := c.Start(ctx, req)
	if err != nil {
		return err
	}
	printStatus(out, st)
	prev := st
	t := time.NewTicker(poll)
	defer t.Stop()
	for !st.Ended() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped waiting; the reindex goes on in the server (GET %s%s): %w", c.URL, reindex.AdminPath, ctx.Err())
		case <-t.C:
		}
		if st, err = c.Status(ctx); err != nil {
			return err
		}
		if st != prev {
			printStatus(out, st)
			prev = st
		}
	}
	if st.Phase == reindex.PhaseFailed {
		return errors.New(st.Error)
	}
	fmt.Fprintln(out, "reindex done")
	return finishWarning(st)
}

func finishWarning(st reindex.Status) error {
	if st.FinishError != "" {
		fmt.Fprintf(os.Stderr, "warning: switched to the new index, but the old one was not removed: %s\n", st.FinishError)
	}
	return nil
}

func printStatus(w io.Writer, s reindex.Status) {
	switch s.Phase {
	case reindex.PhaseBackfill:
		fmt.Fprintf(w, "%-8s rows %d (written %d, stale %d, invalid %d)\n", s.Phase, s.Rows, s.Written, s.Stale, s.Invalid)
	case reindex.PhaseSwitch:
		fmt.Fprintf(w, "%-8s snapshot at LSN %d complete: %d rows; switching\n", s.Phase, s.SnapshotLSN, s.Rows)
	case reindex.PhaseFailed:
		fmt.Fprintf(w, "%-8s %s\n", s.Phase, s.Error)
	default:
		fmt.Fprintf(w, "%s\n", s.Phase)
	}
}
