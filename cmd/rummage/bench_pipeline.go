package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rummage/rummage/indexer"
	"github.com/rummage/rummage/indexer/pgcdc"
	"github.com/rummage/rummage/indexer/pipeline"
	"github.com/rummage/rummage/internal/pipelinebench"
)

const benchPipelineHelp = `Measures the dev pipeline (Postgres → CDC → in-process Kafka → indexer →
embedded index) in this process, against the database at --database-url:

 1. Snapshot: an empty listings table is first seeded with --listings
    generated listings. A fresh index (in a temporary directory unless
    --index-dir) takes the initial snapshot through the whole path; the rate
    is listings per second from start until the index holds the snapshot
    (and its segments are merged, as rummage dev does).
 2. Stream: for --duration, changes are committed at --rate per second
    (transactions of --tx-size, paced on a schedule by --workers
    connections): updates of price (a third also of title) and, for
    --insert-share of them, new listings. Each change writes a unique marker
    into price_cents; the index's Apply is wrapped to stamp when each marker
    became durable and searchable, and the latency is that instant minus the
    writer's commit time. Printed: p50, p95, p99, max, the same per 10 s
    window of commit time, the achieved rate, and the load average (the
    machine may be shared).

The in-process broker keeps its log in a temporary directory, as rummage
dev keeps it in --kafka-dir. The bench uses its own replication slot
(--slot) and drops it at the end.
It changes the rows of the database: use a scratch database.`

func benchPipelineMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench pipeline", "--database-url URL [flags]", benchPipelineHelp)
	fs.SetOutput(stderr)
	dbURL := fs.String("database-url", os.Getenv("DATABASE_URL"), "Postgres `URL` of a scratch database (default $DATABASE_URL)")
	listings := fs.Int("listings", 100000, "listings to seed when the listings table is empty")
	rate := fs.Float64("rate", 2000, "changes per second to commit")
	duration := fs.Duration("duration", 60*time.Second, "how long to drive changes; 0 measures the snapshot only")
	txSize := fs.Int("tx-size", 5, "changes per transaction")
	workers := fs.Int("workers", 16, "writer connections (each updates its own listings)")
	insertShare := fs.Float64("insert-share", 0.2, "share of changes that insert a new listing")
	batchWait := fs.Duration("batch-wait", indexer.DefaultBatchWait, "indexer batch wait (as rummage dev)")
	linger := fs.Duration("linger", pgcdc.DefaultLinger, "CDC linger (as rummage dev)")
	partitions := fs.Int("partitions", pipeline.DefaultPartitions, "partitions of each change topic (as rummage dev)")
	indexDir := fs.String("index-dir", "", "`directory` for the fresh index (default: a temporary directory, removed afterwards); must not hold an index")
	slot := fs.String("slot", "rummage_bench", "replication slot `name` of the bench (dropped at the end)")
	asJSON := fs.Bool("json", false, "print the result as JSON on stdout")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run (snapshot and stream) to `file`")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dbURL == "" {
		fmt.Fprintln(stderr, "rummage bench pipeline: --database-url (or $DATABASE_URL) is required")
		return errUsage
	}
	res, err := pipelinebench.Run(ctx, pipelinebench.Config{DatabaseURL: *dbURL, Listings: *listings, Rate: *rate,
		Duration: *duration, TxSize: *txSize, Workers: *workers, InsertShare: *insertShare, BatchWait: *batchWait,
		Linger: *linger, Partitions: *partitions, IndexDir: *indexDir, Slot: *slot, CPUProfile: *cpuProfile, Log: stderr})
	if err != nil {
		return explainCDC(err)
	}
	if err := writeResult(stdout, *asJSON, res, res.WriteText); err != nil {
		return err
	}
	return res.Lost()
}
