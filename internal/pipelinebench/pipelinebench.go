// Package pipelinebench is rummage bench pipeline: it drives the dev
// pipeline (Postgres → CDC → in-process Kafka → indexer → embedded index)
// in this process through a snapshot and a steady stream of changes, and
// measures the snapshot rate and the commit → searchable latency.
//
// It is bench plumbing; cmd/rummage parses the flags.
package pipelinebench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/indexer"
	"github.com/rummage/rummage/indexer/pgcdc"
	"github.com/rummage/rummage/indexer/pipeline"
	"github.com/rummage/rummage/internal/benchkit"
	"github.com/rummage/rummage/query/embedded"
)

// Config is one run. Zero fields take the defaults of cmd's flags.
type Config struct {
	DatabaseURL string // a scratch database (required): the bench changes its rows
	Listings    int    // seeded when the listings table is empty
	Rate        float64
	Duration    time.Duration // of the stream; 0 measures the snapshot only
	TxSize      int
	Workers     int
	InsertShare float64
	BatchWait   time.Duration // 0: the indexer's default
	Linger      time.Duration // 0: the CDC's default
	Partitions  int           // 0: the pipeline's default
	IndexDir    string        // empty: a temporary directory, removed afterwards
	Slot        string        // the bench's replication slot, dropped at the end
	CPUProfile  string        // a CPU profile of the whole run, when set
	Log         io.Writer     // progress lines
}

// Run measures the pipeline as the package comment says.
func Run(ctx context.Context, c Config) (*Result, error) {
	if c.DatabaseURL == "" || c.Slot == "" || c.Log == nil {
		return nil, errors.New("pipelinebench: DatabaseURL, Slot and Log are required")
	}
	if c.BatchWait == 0 {
		c.BatchWait = indexer.DefaultBatchWait
	}
	if c.Linger == 0 {
		c.Linger = pgcdc.DefaultLinger
	}
	if c.Partitions == 0 {
		c.Partitions = pipeline.DefaultPartitions
	}
	log := slog.New(slog.NewTextHandler(c.Log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	say := func(format string, a ...any) { fmt.Fprintf(c.Log, format+"\n", a...) }

	if err := fixtures.Migrate(ctx, c.DatabaseURL); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	conn, err := pgx.Connect(ctx, c.DatabaseURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var n int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM listings").Scan(&n); err != nil {
		return nil, err
	}
	if n == 0 {
		say("seeding %d listings ...", c.Listings)
		g, err := fixtures.NewGenerator(fixtures.Options{Seed: 1, Count: c.Listings})
		if err != nil {
			return nil, err
		}
		start := time.Now()
		if _, n, err = fixtures.SeedPostgresParallel(ctx, c.DatabaseURL, g, 2, nil); err != nil {
			return nil, fmt.Errorf("seed: %w", err)
		}
		say("seeded %d listings in %v", n, time.Since(start).Round(time.Millisecond))
	}
	var ids []string
	if c.Duration > 0 {
		rows, _ := conn.Query(ctx, "SELECT id FROM listings")
		if ids, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return nil, err
		}
	}

	dir, cleanup, err := benchkit.WorkDir(c.IndexDir, "rummage-bench-pipeline-")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	idx, err := embedded.Open(ctx, embedded.Config{Dir: dir})
	if err != nil {
		return nil, err
	}
	defer idx.Close()
	if st, err := idx.Stats(ctx); err != nil || st.Documents > 0 {
		return nil, errors.Join(err, fmt.Errorf("%s already holds an index; the bench needs a fresh one", dir))
	}
	// The broker keeps its log on disk as under rummage dev (in memory it
	// would hold the whole snapshot in the Go heap).
	kafkaDir, err := os.MkdirTemp("", "rummage-bench-kafka-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(kafkaDir)
	rec := pipeline.NewRecorder(idx)
	stopProfile, err := benchkit.StartProfiles(c.CPUProfile, "")
	if err != nil {
		return nil, err
	}
	defer stopProfile()

	res := &Result{Listings: n, LoadAvgStart: loadAvg(), TargetRate: c.Rate,
		BatchWaitMs: float64(c.BatchWait.Milliseconds()), LingerMs: float64(c.Linger.Milliseconds())}
	reg := prometheus.NewRegistry()
	p, err := pipeline.New(ctx, pipeline.Config{DatabaseURL: c.DatabaseURL, Index: rec, Slot: c.Slot, Partitions: c.Partitions,
		KafkaDir: kafkaDir, Compact: idx.Compact, BatchWait: c.BatchWait, Linger: c.Linger, Resnapshot: true, Registerer: reg, Logger: log})
	if err != nil {
		return nil, err
	}
	defer dropSlot(c.DatabaseURL, c.Slot, c.Log)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- p.Run(runCtx) }()
	say("snapshot of %d listings through the pipeline ...", n)
	select {
	case <-p.SnapshotApplied():
	case err := <-done:
		return nil, fmt.Errorf("pipeline stopped during the snapshot: %w", err)
	case <-ctx.Done():
		stop()
		return nil, errors.Join(ctx.Err(), <-done)
	}
	res.SnapshotSeconds = time.Since(start).Seconds()
	res.SnapshotPerSecond = float64(n) / res.SnapshotSeconds
	say("snapshot: %d listings in %.1fs: %.0f listings/s", n, res.SnapshotSeconds, res.SnapshotPerSecond)

	if c.Duration > 0 {
		say("driving %.0f changes/s for %v ...", c.Rate, c.Duration)
		lr, err := pipeline.Load(runCtx, pipeline.LoadConfig{DatabaseURL: c.DatabaseURL, Rate: c.Rate, Duration: c.Duration,
			TxSize: c.TxSize, Workers: c.Workers, InsertShare: c.InsertShare, IDs: ids, Recorder: rec})
		if err != nil {
			stop()
			return nil, errors.Join(err, <-done)
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
		return nil, err
	}
	return res, nil
}

// Result is what Run measured; its JSON form is --json's output.
type Result struct {
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

// WriteText prints the result as the bench's table.
func (r *Result) WriteText(w io.Writer) {
	fmt.Fprintf(w, "snapshot   %d listings in %.1f s: %.0f listings/s\n", r.Listings, r.SnapshotSeconds, r.SnapshotPerSecond)
	if l := r.Latency; l != nil {
		fmt.Fprintf(w, "load       %d changes in %d transactions (%d failed) over %.1f s: %.0f changes/s (target %.0f)\n",
			r.Load.Changes, r.Load.Transactions, r.Load.Failed, r.Load.Seconds, r.Load.PerSecond, r.TargetRate)
		fmt.Fprintf(w, "latency    commit → searchable over %d changes: p50 %.0f ms  p95 %.0f ms  p99 %.0f ms  max %.0f ms  mean %.0f ms\n",
			l.Count, l.P50Ms, l.P95Ms, l.P99Ms, l.MaxMs, l.MeanMs)
		for _, win := range l.Windows {
			fmt.Fprintf(w, "  window   committed %3.0f-%.0f s: %6d changes  p50 %.0f ms  p99 %.0f ms  max %.0f ms\n",
				win.StartS, win.StartS+pipeline.SummaryWindow.Seconds(), win.Count, win.P50Ms, win.P99Ms, win.MaxMs)
		}
		if l.Outstanding > 0 {
			fmt.Fprintf(w, "MISSING    %d committed changes never became searchable (see rummage_cdc_skipped_transactions_total)\n", l.Outstanding)
		}
	}
	names := slices.Sorted(maps.Keys(r.Stages))
	for _, name := range names {
		fmt.Fprintf(w, "stage      %-40s count %-7d mean %.4g\n", name, r.Stages[name].Count, r.Stages[name].Mean)
	}
	fmt.Fprintf(w, "loadavg    start %s  end %s  (batch wait %v, linger %v)\n", r.LoadAvgStart, r.LoadAvgEnd, time.Duration(r.BatchWaitMs*float64(time.Millisecond)), time.Duration(r.LingerMs*float64(time.Millisecond)))
}

// Lost is an error when committed changes never became searchable.
func (r *Result) Lost() error {
	if r.Latency != nil && r.Latency.Outstanding > 0 {
		return fmt.Errorf("%d changes lost", r.Latency.Outstanding)
	}
	return nil
}

// dropSlot removes the bench's replication slot and CDC state, so that the
// database does not retain WAL for it.
func dropSlot(dbURL, slot string, w io.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := pgcdc.DropSlot(ctx, dbURL, "", slot); err != nil {
		fmt.Fprintln(w, err)
	}
}

// loadAvg is the 1, 5 and 15 minute load average.
func loadAvg() string {
	l := benchkit.LoadAvg()
	return fmt.Sprintf("%.2f %.2f %.2f", l[0], l[1], l[2])
}
