package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/indexer"
	"github.com/rummage/rummage/indexer/pgcdc"
	"github.com/rummage/rummage/indexer/pipeline"
	"github.com/rummage/rummage/query/embedded"
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

// benchPipelineResult is the --json output.
type benchPipelineResult struct {
	Listings          int64                    `json:"listings"`
	SnapshotSeconds   float64                  `json:"snapshot_seconds"`
	SnapshotPerSecond float64                  `json:"snapshot_listings_per_second"`
	Load              *pipeline.LoadResult     `json:"load,omitempty"`
	TargetRate        float64                  `json:"target_rate,omitempty"`
	Latency           *pipeline.LatencySummary `json:"latency,omitempty"`
	LoadAvgStart      string                   `json:"loadavg_start"`
	LoadAvgEnd        string                   `json:"loadavg_end"`
	BatchWaitMs       float64                  `json:"batch_wait_ms"`
	LingerMs          float64                  `json:"linger_ms"`
	// Stages: mean and count of the pipeline's histograms (batch sizes,
	// apply and Kafka write times), where the time goes.
	Stages map[string]stageMean `json:"stages"`
}

type stageMean struct {
	Count uint64  `json:"count"`
	Mean  float64 `json:"mean"`
}

// histogramMeans reads the count and mean of every histogram in reg, and
// the total of every counter (summed over its labels).
func histogramMeans(reg *prometheus.Registry) map[string]stageMean {
	out := map[string]stageMean{}
	fams, err := reg.Gather()
	if err != nil {
		return out
	}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			if h := m.GetHistogram(); h != nil && h.GetSampleCount() > 0 {
				out[f.GetName()] = stageMean{Count: h.GetSampleCount(), Mean: h.GetSampleSum() / float64(h.GetSampleCount())}
			}
			if c := m.GetCounter(); c != nil {
				s := out[f.GetName()]
				s.Count += uint64(c.GetValue())
				out[f.GetName()] = s
			}
		}
	}
	return out
}

func runBenchPipeline(ctx context.Context, args []string) error {
	return benchPipelineMain(ctx, args, os.Stdout, os.Stderr)
}

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
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	say := func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }

	if err := fixtures.Migrate(ctx, *dbURL); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	conn, err := pgx.Connect(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var n int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM listings").Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		say("seeding %d listings ...", *listings)
		g, err := fixtures.NewGenerator(fixtures.Options{Seed: 1, Count: *listings})
		if err != nil {
			return err
		}
		start := time.Now()
		if _, n, err = fixtures.SeedPostgresParallel(ctx, *dbURL, g, 2, nil); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		say("seeded %d listings in %v", n, time.Since(start).Round(time.Millisecond))
	}
	var ids []string
	if *duration > 0 {
		rows, _ := conn.Query(ctx, "SELECT id FROM listings")
		if ids, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return err
		}
	}

	dir := *indexDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "rummage-bench-pipeline-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	idx, err := embedded.Open(ctx, embedded.Config{Dir: dir})
	if err != nil {
		return err
	}
	defer idx.Close()
	if st, err := idx.Stats(ctx); err != nil || st.Documents > 0 {
		return errors.Join(err, fmt.Errorf("--index-dir %s already holds an index; the bench needs a fresh one", dir))
	}
	// The broker keeps its log on disk as under rummage dev (in memory it
	// would hold the whole snapshot in the Go heap).
	kafkaDir, err := os.MkdirTemp("", "rummage-bench-kafka-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(kafkaDir)
	rec := pipeline.NewRecorder(idx)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}

	res := benchPipelineResult{Listings: n, LoadAvgStart: loadAvg(), TargetRate: *rate,
		BatchWaitMs: float64(batchWait.Milliseconds()), LingerMs: float64(linger.Milliseconds())}
	reg := prometheus.NewRegistry()
	p, err := pipeline.New(ctx, pipeline.Config{DatabaseURL: *dbURL, Index: rec, Slot: *slot, Partitions: *partitions,
		KafkaDir: kafkaDir, Compact: idx.Compact, BatchWait: *batchWait, Linger: *linger, Resnapshot: true, Registerer: reg, Logger: log})
	if err != nil {
		return explainCDC(err)
	}
	defer dropBenchSlot(*dbURL, *slot, stderr)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- p.Run(runCtx) }()
	say("snapshot of %d listings through the pipeline ...", n)
	select {
	case <-p.SnapshotApplied():
	case err := <-done:
		return fmt.Errorf("pipeline stopped during the snapshot: %w", err)
	case <-ctx.Done():
		stop()
		return errors.Join(ctx.Err(), <-done)
	}
	res.SnapshotSeconds = time.Since(start).Seconds()
	res.SnapshotPerSecond = float64(n) / res.SnapshotSeconds
	say("snapshot: %d listings in %.1fs: %.0f listings/s", n, res.SnapshotSeconds, res.SnapshotPerSecond)

	if *duration > 0 {
		say("driving %.0f changes/s for %v ...", *rate, *duration)
		lr, err := pipeline.Load(runCtx, pipeline.LoadConfig{DatabaseURL: *dbURL, Rate: *rate, Duration: *duration,
			TxSize: *txSize, Workers: *workers, InsertShare: *insertShare, IDs: ids, Recorder: rec})
		if err != nil {
			stop()
			return errors.Join(err, <-done)
		}
		// Let the tail arrive: until nothing is outstanding, or nothing
		// arrived for 20 s.
		for last, lastChange := rec.Outstanding(), time.Now(); last > 0 && time.Since(lastChange) < 20*time.Second; {
			time.Sleep(50 * time.Millisecond)
			if n := rec.Outstanding(); n != last {
				last, lastChange = n, time.Now()
			}
		}
		sum := rec.Summary()
		for _, m := range rec.Missing(10) {
			say("not seen searchable: %s", m)
		}
		res.Load, res.Latency = &lr, &sum
	}
	res.LoadAvgEnd = loadAvg()
	res.Stages = histogramMeans(reg)
	stop()
	if err := <-done; err != nil {
		return err
	}

	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	fmt.Fprintf(stdout, "snapshot   %d listings in %.1f s: %.0f listings/s\n", res.Listings, res.SnapshotSeconds, res.SnapshotPerSecond)
	if l := res.Latency; l != nil {
		fmt.Fprintf(stdout, "load       %d changes in %d transactions (%d failed) over %.1f s: %.0f changes/s (target %.0f)\n",
			res.Load.Changes, res.Load.Transactions, res.Load.Failed, res.Load.Seconds, res.Load.PerSecond, *rate)
		fmt.Fprintf(stdout, "latency    commit → searchable over %d changes: p50 %.0f ms  p95 %.0f ms  p99 %.0f ms  max %.0f ms  mean %.0f ms\n",
			l.Count, l.P50Ms, l.P95Ms, l.P99Ms, l.MaxMs, l.MeanMs)
		for _, w := range l.Windows {
			fmt.Fprintf(stdout, "  window   committed %3.0f-%.0f s: %6d changes  p50 %.0f ms  p99 %.0f ms  max %.0f ms\n",
				w.StartS, w.StartS+pipeline.SummaryWindow.Seconds(), w.Count, w.P50Ms, w.P99Ms, w.MaxMs)
		}
		if l.Outstanding > 0 {
			fmt.Fprintf(stdout, "MISSING    %d committed changes never became searchable (see rummage_cdc_skipped_transactions_total)\n", l.Outstanding)
		}
	}
	names := slices.Sorted(maps.Keys(res.Stages))
	for _, name := range names {
		fmt.Fprintf(stdout, "stage      %-40s count %-7d mean %.4g\n", name, res.Stages[name].Count, res.Stages[name].Mean)
	}
	fmt.Fprintf(stdout, "loadavg    start %s  end %s  (batch wait %v, linger %v)\n", res.LoadAvgStart, res.LoadAvgEnd, *batchWait, *linger)
	if res.Latency != nil && res.Latency.Outstanding > 0 {
		return fmt.Errorf("%d changes lost", res.Latency.Outstanding)
	}
	return nil
}

// dropBenchSlot removes the bench's replication slot and CDC state, so that
// the database does not retain WAL for it.
func dropBenchSlot(dbURL, slot string, w io.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := pgcdc.DropSlot(ctx, dbURL, "", slot); err != nil {
		fmt.Fprintln(w, err)
	}
}

// loadAvg is the 1, 5 and 15 minute load average, or "?".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
