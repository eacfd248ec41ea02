package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/indexer"
	"github.com/rummage/rummage/indexer/change"
	"github.com/rummage/rummage/indexer/pgcdc"
	"github.com/rummage/rummage/indexer/pipeline"
	"github.com/rummage/rummage/internal/atomicfile"
	"github.com/rummage/rummage/internal/promscrape"
	"github.com/rummage/rummage/query/embedded"
)

const devHelp = `Runs the whole pipeline in one process, for development: it migrates the
database, streams its changes by logical replication (the CDC) into an
in-process Kafka broker on loopback, consumes them into the embedded index
(the indexer), and serves the v1 API (GET /v1/search, /v1/listings/{id},
/healthz, /readyz, /metrics) on --addr. A row inserted into listings with
psql is searchable about a second later (usually well under).

The broker speaks the real Kafka protocol: its address is printed at start,
so "kcat -b ADDR -L" lists the topics <prefix>.<schema>.<table> and
"kcat -b ADDR -C -t rummage.public.listings -o beginning -e" prints the
change events (Debezium-style JSON). It listens on --kafka-addr, or on a free
port when that one is taken and the flag was not given.

First start (or an empty index): the CDC copies every table (the initial
snapshot), and /readyz and the /v1 routes answer 503 until the index holds
that snapshot; then 200, and changes stream in. Later starts resume where
they stopped: the index (--index-dir) and the broker's log (--kafka-dir) are
kept, and the CDC's position is kept in Postgres (table rummage_cdc_state and
the replication slot). --rebuild deletes the index and the broker's log and
takes a new snapshot.

--seed-count N first fills an empty database with N generated listings (and
their sellers); the default 0 seeds nothing, and a database that already has
listings is never seeded.

Postgres needs wal_level=logical (ALTER SYSTEM SET wal_level = 'logical',
then restart it). One /metrics serves every role: rummage_http_* (API),
rummage_cdc_* (replication lag, events), rummage_indexer_* and
rummage_kafka_reader_* (batches, consumer lag, dead letters).

SIGINT or SIGTERM shuts down gracefully: the HTTP server drains, the CDC
stops, the indexer applies what the broker holds, then the index closes.`

// devMarkerPath is where the marker of the index in dir lives: beside the
// directory, not in it, because a reindex replaces the directory in use with
// a new generation (see embedded.ActiveDir).
func devMarkerPath(dir string) string { return filepath.Clean(dir) + "." + devMarkerFile }

// devMarkerFile, beside the index directory, records which database dev's
// index follows and whether it holds the initial snapshot.
const devMarkerFile = "rummage_dev.json"

type devMarker struct {
	Database string    `json:"database"` // system identifier/database name
	Slot     string    `json:"slot"`
	Prefix   string    `json:"topic_prefix"`
	Complete bool      `json:"snapshot_applied"`
	Updated  time.Time `json:"updated,omitzero"`
}

// devHooks let tests learn the addresses; nil fields are skipped.
type devHooks struct {
	started func(apiAddr, brokerAddr string)
}

func runDev(ctx context.Context, args []string) error {
	return devMain(ctx, args, os.Stderr, devHooks{})
}

// devMain is runDev with its output in w.
func devMain(ctx context.Context, args []string, w io.Writer, hooks devHooks) error {
	fs := newFlags("dev", "--database-url URL [flags]", devHelp)
	fs.SetOutput(w)
	bf := addBackendFlags(fs, "./data/dev")
	dbURL := fs.String("database-url", os.Getenv("DATABASE_URL"), "Postgres `URL` of the source database (default $DATABASE_URL)")
	addr := fs.String("addr", ":8080", "API listen `address` (host:port)")
	kafkaAddr := fs.String("kafka-addr", defaultBrokers, "listen `address` of the in-process Kafka broker (loopback; port 0 picks a free one)")
	kafkaDir := fs.String("kafka-dir", "", "`directory` of the broker's log and consumer offsets (default: <index-dir>-kafka)")
	seedCount := fs.Int("seed-count", 0, "seed an empty database with `N` generated listings first (0: do not seed)")
	seed := fs.Uint64("seed", 1, "seed of the generated catalog (with --seed-count)")
	slot := fs.String("slot", pgcdc.DefaultSlot, "logical replication slot `name` (created if absent)")
	prefix := fs.String("topic-prefix", change.DefaultTopicPrefix, "topic `prefix`: topics are <prefix>.<schema>.<table>")
	partitions := fs.Int("partitions", pipeline.DefaultPartitions, "partitions of each change topic")
	batchWait := fs.Duration("batch-wait", indexer.DefaultBatchWait, "how long an indexer batch waits to fill after its first event")
	linger := fs.Duration("linger", pgcdc.DefaultLinger, "how long the CDC holds events for more before writing them to Kafka")
	adminAddr := fs.String("admin-addr", defaultAdminAddr, "loopback `address` of the admin endpoint (/admin/reindex, used by rummage reindex) and of /metrics; empty disables")
	rebuild := fs.Bool("rebuild", false, "delete the index and the broker's log, and take a new snapshot")
	logLevel := fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	shutdownTimeout := fs.Duration("shutdown-timeout", api.DefaultConfig().ShutdownTimeout, "how long in-flight requests may finish on shutdown")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	usageErr := func(format string, a ...any) error {
		fmt.Fprintf(w, "rummage dev: "+format+"\n", a...)
		return errUsage
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usageErr("--log-level %q: use debug, info, warn or error", *logLevel)
	}
	switch {
	case *dbURL == "":
		return usageErr("--database-url (or $DATABASE_URL) is required")
	case bf.kind != backendEmbedded:
		return usageErr("--backend %s: dev runs the embedded index only", bf.kind)
	case *seedCount < 0:
		return usageErr("--seed-count must not be negative")
	}
	if err := bf.validate(); err != nil {
		return usageErr("%v", err)
	}
	if *kafkaDir == "" {
		*kafkaDir = filepath.Clean(bf.indexDir) + "-kafka"
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })

	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)
	bf.log = log

	if err := fixtures.Migrate(ctx, *dbURL); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if *seedCount > 0 {
		if err := devSeed(ctx, *dbURL, *seed, *seedCount, log); err != nil {
			return err
		}
	}
	identity, err := databaseIdentity(ctx, *dbURL)
	if err != nil {
		return err
	}
	want := devMarker{Database: identity, Slot: *slot, Prefix: *prefix}

	if *rebuild {
		log.Info("deleting the index and the broker's log to rebuild", "index_dir", bf.indexDir, "kafka_dir", *kafkaDir)
		if err := bf.remove(); err != nil {
			return err
		}
		if err := os.Remove(devMarkerPath(bf.indexDir)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	b, err := bf.open(ctx)
	if err != nil {
		return err
	}
	idx := bf.live(ctx, b, *dbURL, log)
	defer idx.Close()
	markerPath := devMarkerPath(bf.indexDir)
	marker, err := readDevMarker(markerPath)
	if err != nil {
		return err
	}
	st, err := b.Stats(ctx)
	if err != nil {
		return err
	}
	resnapshot := false
	switch {
	case marker == nil && st.Documents > 0:
		return fmt.Errorf("the index in %s was not built by dev; choose another --index-dir, or pass --rebuild to replace it", bf.indexDir)
	case marker != nil && (marker.Database != want.Database || marker.Slot != want.Slot || marker.Prefix != want.Prefix):
		return fmt.Errorf("the index in %s follows database %s (slot %s, prefix %s), not %s (slot %s, prefix %s); choose another --index-dir, or pass --rebuild",
			bf.indexDir, marker.Database, marker.Slot, marker.Prefix, want.Database, want.Slot, want.Prefix)
	case marker == nil || !marker.Complete:
		resnapshot = true
	case !fileExists(filepath.Join(*kafkaDir, "meta.json")):
		log.Warn("the broker's log is missing; taking a new snapshot (rows deleted meanwhile may linger in the index until --rebuild)", "kafka_dir", *kafkaDir)
		resnapshot = true
	}
	if resnapshot {
		want.Complete = marker != nil && marker.Complete // a complete index stays servable while it catches up
		if err := atomicfile.WriteJSON(markerPath, want); err != nil {
			return err
		}
	}

	// The broker: the default port when free, else any.
	if !explicit["kafka-addr"] {
		if ln, err := net.Listen("tcp", *kafkaAddr); err != nil {
			log.Info("kafka port taken; using a free one", "wanted", *kafkaAddr)
			*kafkaAddr = "127.0.0.1:0"
		} else {
			ln.Close()
		}
	}
	reg := prometheus.NewRegistry()
	pcfg := pipeline.Config{
		DatabaseURL: *dbURL, Index: idx.Write, KafkaAddr: *kafkaAddr, KafkaDir: *kafkaDir,
		Slot: *slot, Publication: *slot, TopicPrefix: *prefix, Partitions: *partitions,
		BatchWait: *batchWait, Linger: *linger, Resnapshot: resnapshot,
		Registerer: reg, Logger: log,
	}
	if x, ok := b.(*embedded.Index); ok {
		pcfg.Compact = x.Compact
	}
	p, err := pipeline.New(ctx, pcfg)
	if err != nil {
		return explainCDC(err)
	}
	broker := p.BrokerAddr()
	fmt.Fprintf(w, "kafka broker: %s  (try: kcat -b %s -L)\n", broker, broker)

	acfg := api.DefaultConfig()
	acfg.ShutdownTimeout = *shutdownTimeout
	srv, err := api.New(acfg, nil, log)
	if err != nil {
		p.Close()
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		p.Close()
		return fmt.Errorf("--addr: %w", err)
	}
	httpSrv := devHTTPServer(srv, reg, acfg, log)
	if *adminAddr != "" {
		stopAdmin, err := serveIndexerMetrics(*adminAddr, reg, idx.Admin, log)
		if err != nil {
			p.Close()
			return err
		}
		defer stopAdmin()
	}
	fmt.Fprintf(w, "api: http://%s  (try: curl 'http://%s/v1/search?q=dress')\n", ln.Addr(), ln.Addr())
	if hooks.started != nil {
		hooks.started(ln.Addr().String(), broker)
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	pipeDone := make(chan error, 1)
	go func() { pipeDone <- p.Run(runCtx) }()
	httpDone := make(chan error, 1)
	go func() { httpDone <- httpSrv.Serve(ln) }()

	snapshot := p.SnapshotApplied()
	if !resnapshot {
		snapshot = nil
	}
	var errs []error
	pipeRunning, httpRunning := true, true
	if marker != nil && marker.Complete {
		srv.SetBackend(idx.Read)
		log.Info("ready: serving the index while it catches up", "documents", st.Documents)
	} else {
		log.Info("taking the initial snapshot; /readyz answers 503 until the index holds it")
	}
loop:
	for {
		select {
		case <-snapshot:
			snapshot = nil
			srv.SetBackend(idx.Read)
			want.Complete, want.Updated = true, time.Now().UTC()
			if err := atomicfile.WriteJSON(markerPath, want); err != nil {
				errs = append(errs, err)
				break loop
			}
			st, _ := idx.Read.Stats(ctx)
			log.Info("ready: the index holds the initial snapshot", "documents", st.Documents)
		case <-ctx.Done():
			break loop
		case err := <-pipeDone:
			pipeRunning = false
			errs = append(errs, explainCDC(err))
			break loop
		case err := <-httpDone:
			httpRunning = false
			errs = append(errs, fmt.Errorf("api: %w", err))
			break loop
		}
	}
	log.Info("shutting down")
	srv.SetBackend(nil)
	if httpRunning {
		sctx, cancel := context.WithTimeout(context.Background(), acfg.ShutdownTimeout)
		if err := httpSrv.Shutdown(sctx); err != nil {
			errs = append(errs, fmt.Errorf("api: shutdown: %w", err))
			httpSrv.Close()
		}
		cancel()
	}
	stop()
	if pipeRunning {
		if err := <-pipeDone; err != nil {
			errs = append(errs, explainCDC(err))
		}
	}
	return errors.Join(errs...)
}

// devHTTPServer serves the API, with one /metrics for every role: the API's
// own metrics (its registry is private, so they are scraped in process) and
// reg's.
func devHTTPServer(srv *api.Server, reg *prometheus.Registry, cfg api.Config, log *slog.Logger) *http.Server {
	metrics := promhttp.HandlerFor(prometheus.Gatherers{promscrape.Gatherer(srv, "/metrics"), reg},
		promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn), ErrorHandling: promhttp.ContinueOnError})
	mux := http.NewServeMux()
	mux.Handle("/metrics", metrics)
	mux.Handle("/", srv)
	return &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// devSeed fills an empty database with generated listings.
func devSeed(ctx context.Context, dbURL string, seed uint64, count int, log *slog.Logger) error {
	g, err := fixtures.NewGenerator(fixtures.Options{Seed: seed, Count: count})
	if err != nil {
		return err
	}
	start := time.Now()
	sellers, listings, err := fixtures.SeedPostgresParallel(ctx, dbURL, g, 2, nil)
	if errors.Is(err, fixtures.ErrNotEmpty) {
		log.Info("not seeding: the database already has listings or sellers")
		return nil
	}
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	log.Info("seeded", "sellers", sellers, "listings", listings, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// databaseIdentity names the database: the cluster's system identifier and
// the database name, so an index is never mixed across databases.
func databaseIdentity(ctx context.Context, dbURL string) (string, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return "", fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var sysid int64
	var name string
	if err := conn.QueryRow(ctx, "SELECT system_identifier, current_database() FROM pg_control_system()").Scan(&sysid, &name); err != nil {
		return "", fmt.Errorf("database identity: %w", err)
	}
	return fmt.Sprintf("%d/%s", sysid, name), nil
}

func readDevMarker(path string) (*devMarker, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m devMarker
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w (pass --rebuild)", path, err)
	}
	return &m, nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
