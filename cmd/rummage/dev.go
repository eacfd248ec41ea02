package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/indexer"
	"github.com/rummage/rummage/indexer/change"
	"github.com/rummage/rummage/indexer/pgcdc"
	"github.com/rummage/rummage/indexer/pipeline"
	"github.com/rummage/rummage/internal/stagecpu"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/query/embedded"
	"github.com/rummage/rummage/serve/cache"
	"github.com/rummage/rummage/web"
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

The database is created if it does not exist, then migrated. Without
--database-url (and $DATABASE_URL), dev runs a private Postgres of its own
from the installed server binaries (pg_config --bindir, or the newest
/usr/lib/postgresql/N/bin): initialized in --postgres-dir at the first
start, reused by later ones, stopped when dev stops, listening on a unix
socket in that directory only (as the postgres OS user when dev runs as
root). It is seeded with a generated catalog (--seed-count, default 20000
there).

First start (or an empty index): the CDC copies every table (the initial
snapshot), and /readyz and the /v1 routes answer 503 until the index holds
that snapshot; then 200, and changes stream in. Later starts resume where
they stopped, and /readyz answers 503 "catching_up" (with the lag in its
body) until the indexer has applied what the broker held at start, or is
within --ready-max-lag events of the log end; the /v1 routes answer
meanwhile. The index (--index-dir, default ./data/dev) and the broker's log
(--kafka-dir) are kept, and the CDC's position is kept in Postgres (table rummage_cdc_state and
the replication slot). --rebuild deletes the index and the broker's log and
takes a new snapshot.

The social tables (sellers, follows, likes, shares, parties, blocks) go to
the signals store the parties and feeds answer from: --signals memory (the
default, kept in --signals-dir, deleted by --rebuild) or redis
(--redis-url). A store without positions (new, or an emptied Redis) is
rebuilt by reading the social topics from their start.

--seed-count N first fills an empty database with N generated listings and
their social graph (closets, users, follows, likes, shares, parties past,
live and upcoming, drops, blocks); the default 0 seeds nothing (20000 on the
private Postgres), and a database that already has listings is never seeded.

--simulate (on by default for the private Postgres, off for --database-url)
keeps that marketplace alive: a themed party every 5 minutes, announced 2
minutes ahead, whose shares run ×4 in its first minute; a drop every 5
minutes; new listings, likes, follows and sales at --simulate-rate events/s;
shares, likes and parties older than 6 h are pruned, so it can run for days.

Postgres needs wal_level=logical (ALTER SYSTEM SET wal_level = 'logical',
then restart it). One /metrics serves every role: rummage_http_* (API),
rummage_cdc_* (replication lag, events), rummage_indexer_* and
rummage_kafka_reader_* (batches, consumer lag, dead letters).

API keys live in the database (rummage.api_keys): the first start makes one
of each kind (search, public, events, admin) and prints them once; the
admin endpoint takes the admin key (rummage reindex --key). Reads without a
key are answered only while --addr is a loopback address, or with
--public-reads.

SIGINT or SIGTERM shuts down gracefully: the HTTP server drains, the CDC
stops, the indexer applies what the broker holds, then the index closes.`

// devHooks let tests learn the addresses; nil fields are skipped.
type devHooks struct {
	started func(apiAddr, brokerAddr string)
}

func runDev(ctx context.Context, args []string) error {
	return devMain(ctx, args, os.Stderr, devHooks{})
}

// devOptions are dev's flags.
type devOptions struct {
	backend                  *backendFlags
	signals                  *signalsFlags
	dbURL, addr, adminAddr   string
	pgDir                    string // the private Postgres's, used without dbURL
	private                  bool   // no --database-url: the database is the private Postgres
	seed                     uint64
	seedCount                int
	sim                      *simulateFlags
	rebuild, kafkaAddrForced bool
	maxLag                   int64
	keys                     *keyFlags
	cursors                  *cursorFlags
	admit                    *admitFlags
	pipeline                 pipeline.Config
	api                      api.Config
	cache                    *cacheFlags
	analytics                *analyticsFlags
	log                      *slog.Logger
}

// devMain is runDev with its output in w.
func devMain(ctx context.Context, args []string, w io.Writer, hooks devHooks) error {
	o, err := parseDev(args, w)
	if err != nil {
		return err
	}
	return o.run(ctx, w, hooks)
}

func parseDev(args []string, w io.Writer) (*devOptions, error) {
	fs := newFlags("dev", "[--database-url URL] [flags]", devHelp)
	fs.SetOutput(w)
	bf := addBackendFlags(fs, "./data/dev")
	sf := addSignalsFlags(fs, signalsMemory)
	dbURL := fs.String("database-url", os.Getenv("DATABASE_URL"), "Postgres `URL` of the source database, created if missing (default $DATABASE_URL; without either, a private Postgres in --postgres-dir)")
	pgDir := fs.String("postgres-dir", "", "`directory` of the private Postgres run without --database-url (default: <index-dir>-postgres)")
	addr := fs.String("addr", "127.0.0.1:8080", "API listen `address` (host:port); on loopback alone, reads need no API key")
	kafkaAddr := fs.String("kafka-addr", defaultBrokers, "listen `address` of the in-process Kafka broker (loopback; port 0 picks a free one)")
	kafkaDir := fs.String("kafka-dir", "", "`directory` of the broker's log and consumer offsets (default: <index-dir>-kafka)")
	seedCount := fs.Int("seed-count", 0, "seed an empty database with `N` generated listings first (0: do not seed; default 20000 on the private Postgres)")
	seed := fs.Uint64("seed", 1, "seed of the generated catalog (with --seed-count)")
	sim := addSimulateFlags(fs)
	slot := fs.String("slot", pgcdc.DefaultSlot, "logical replication slot `name` (created if absent)")
	prefix := fs.String("topic-prefix", change.DefaultTopicPrefix, "topic `prefix`: topics are <prefix>.<schema>.<table>")
	partitions := fs.Int("partitions", pipeline.DefaultPartitions, "partitions of each change topic")
	batchWait := fs.Duration("batch-wait", indexer.DefaultBatchWait, "how long an indexer batch waits to fill after its first event")
	linger := fs.Duration("linger", pgcdc.DefaultLinger, "how long the CDC holds events for more before writing them to Kafka")
	maxLag := fs.Int64("ready-max-lag", 0, "after a restart, /readyz is ready once the indexer is within `N` events of the log end (0: once it applied what the broker held at start)")
	cacheF := addCacheFlags(fs)
	adminAddr := fs.String("admin-addr", defaultAdminAddr, "loopback `address` of the admin endpoint (/admin/reindex, used by rummage reindex; /debug/pprof/profile, the CPU profile by pipeline stage; both take the admin key) and of /metrics; empty disables")
	rebuild := fs.Bool("rebuild", false, "delete the index, the broker's log and the memory signals store, and take a new snapshot")
	logLevel := fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	af := addAPIFlags(fs, dbURL)
	anf := addAnalyticsFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	usageErr := usageErrorf(w, "dev")
	log, err := newLogger(w, *logLevel)
	switch {
	case err != nil:
		return nil, usageErr("%v", err)
	case bf.kind != backendEmbedded:
		return nil, usageErr("--backend %s: dev runs the embedded index only", bf.kind)
	case *seedCount < 0 || *maxLag < 0:
		return nil, usageErr("--seed-count and --ready-max-lag must not be negative")
	}
	if err := validateServing(af, bf, sf); err != nil {
		return nil, usageErr("%v", err)
	}
	if *kafkaDir == "" {
		*kafkaDir = filepath.Clean(bf.indexDir) + "-kafka"
	}
	if *pgDir == "" {
		*pgDir = filepath.Clean(bf.indexDir) + "-postgres"
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	sim.defaults(*dbURL == "", explicit)
	if *dbURL == "" && !explicit["seed-count"] {
		*seedCount = privateSeedCount
	}
	acfg := af.config()
	bf.log = log
	return &devOptions{backend: bf, signals: sf, dbURL: *dbURL, pgDir: *pgDir, private: *dbURL == "", addr: *addr, adminAddr: *adminAddr, seed: *seed, seedCount: *seedCount, sim: sim,
		rebuild: *rebuild, kafkaAddrForced: explicit["kafka-addr"], maxLag: *maxLag, keys: af.keys, cursors: af.cursors, admit: af.admit, api: acfg, cache: cacheF, analytics: anf, log: log,
		pipeline: pipeline.Config{DatabaseURL: *dbURL, KafkaAddr: *kafkaAddr, KafkaDir: *kafkaDir, Slot: *slot, Publication: *slot,
			TopicPrefix: *prefix, Partitions: *partitions, BatchWait: *batchWait, Linger: *linger, Logger: log}}, nil
}

// run prepares the database (the private Postgres without --database-url)
// and the index, then runs the pipeline and the API (pipeline.Dev) until
// ctx ends.
func (o *devOptions) run(ctx context.Context, w io.Writer, hooks devHooks) (err error) {
	slog.SetDefault(o.log)
	if o.private {
		stop, err := o.startPrivatePostgres(ctx)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, stop()) }()
	}
	if err := o.prepareDatabase(ctx); err != nil {
		return err
	}
	stopSim, err := o.simulate(ctx)
	if err != nil {
		return err
	}
	defer stopSim()
	auth, ring, stopKeys, err := o.keys.serving(ctx, []string{o.addr}, o.log)
	if err != nil {
		return err
	}
	defer stopKeys()
	if err := devKeys(ctx, ring, w); err != nil {
		return err
	}
	o.api.Auth = auth
	if err := o.backend.serving(&o.api, o.cursors, o.log); err != nil {
		return err
	}
	if o.rebuild {
		o.log.Info("deleting the index and the broker's log to rebuild", "index_dir", o.backend.indexDir, "kafka_dir", o.pipeline.KafkaDir)
		if err := errors.Join(o.backend.remove(), pipeline.RemoveDevMarker(o.backend.indexDir), o.signals.remove()); err != nil {
			return err
		}
	}
	b, st, err := o.backend.openCounted(ctx)
	if err != nil {
		return err
	}
	store, err := o.signals.open(ctx, o.log)
	if err != nil {
		return err
	}
	defer closeSignals(store)
	idx := o.backend.live(b, o.dbURL, store, o.log)
	defer idx.Close()
	o.pipeline.Signals = store
	serveSignals(&o.api, store)
	o.signals.personal.keyFile = filepath.Clean(o.backend.indexDir) + ".pseudonym-key" // startEvents' key
	if err := o.signals.personal.apply(&o.api, store); err != nil {
		return err
	}
	if !o.kafkaAddrForced && !portFree(o.pipeline.KafkaAddr) {
		o.log.Info("kafka port taken; using a free one", "wanted", o.pipeline.KafkaAddr)
		o.pipeline.KafkaAddr = "127.0.0.1:0"
	}
	reg := newRegistry()
	o.pipeline.Index, o.pipeline.Registerer = idx.Write, reg
	c, cacheMW, err := o.cache.build(ctx, &o.api, func() query.Backend { return idx.Read }, reg, o.log)
	if err != nil {
		return err
	}
	if c != nil { // one process: the indexer purges the API's cache directly
		o.pipeline.Invalidator = &cache.Hook{Sink: c}
	}
	if x, ok := b.(*embedded.Index); ok {
		o.pipeline.Compact = x.Compact
	}
	dev, err := pipeline.NewDev(ctx, pipeline.DevConfig{Pipeline: o.pipeline, IndexDir: o.backend.indexDir, Documents: st.Documents})
	if err != nil {
		return explainCDC(err)
	}
	broker := dev.Pipeline().BrokerAddr()
	fmt.Fprintf(w, "kafka broker: %s  (try: kcat -b %s -L)\n", broker, broker)
	catchUp := indexer.NewCatchUp(dev.Pipeline().Positions(), o.maxLag)
	if err := catchUp.Start(ctx); err != nil {
		dev.Pipeline().Close()
		return err
	}
	admission, stopAdmit, err := o.admit.chain(ctx, reg, o.log)
	if err != nil {
		dev.Pipeline().Close()
		return err
	}
	defer stopAdmit()
	// The event path (impressions of every answer, the rollups, the
	// affinity consumer) runs in goroutines started here: its own stage
	// in a CPU profile.
	var evOpts []api.Option
	var stopEvents func()
	stagecpu.Do(ctx, stagecpu.Events, func(ctx context.Context) { evOpts, stopEvents, err = o.startAnalytics(ctx, broker, store, c, reg) })
	if err != nil {
		dev.Pipeline().Close()
		return err
	}
	defer stopEvents()
	var stopAffinity func()
	stagecpu.Do(ctx, stagecpu.Events, func(ctx context.Context) { stopAffinity, err = o.startAffinity(ctx, broker, store, idx.Read) })
	if err != nil {
		dev.Pipeline().Close()
		return err
	}
	defer stopAffinity()
	srv, err := api.New(o.api, nil, o.log, append(append(admission.options(cacheMW...), evOpts...), api.WithRegistry(reg), api.WithReadiness(readiness(catchUp)), api.WithApp(web.Handler()))...)
	if err != nil {
		dev.Pipeline().Close()
		return err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		dev.Pipeline().Close()
		return fmt.Errorf("--addr: %w", err)
	}
	rec, stopAudit, err := adminAudit(ctx, o.dbURL, o.log)
	if err != nil {
		ln.Close()
		dev.Pipeline().Close()
		return err
	}
	defer stopAudit()
	stopAdmin, err := startAdmin(o.adminAddr, reg, api.Auth{Keys: ring}.Protect(auditedAdmin(idx.Admin, rec, o.log)), profileHandler(ring), o.log)
	if err != nil {
		ln.Close()
		dev.Pipeline().Close()
		return err
	}
	defer stopAdmin()
	fmt.Fprintf(w, "api: http://%s  (try: curl 'http://%s/v1/search?q=dress')\n", ln.Addr(), ln.Addr())
	fmt.Fprintf(w, "app: http://%s/  (the shopper app; the operator dashboard is /admin)\n", ln.Addr())
	if hooks.started != nil {
		hooks.started(ln.Addr().String(), broker)
	}
	return explainCDC(dev.Run(ctx, func(ctx context.Context) error { return srv.Serve(ctx, ln) },
		func() { srv.SetBackend(idx.Read) }))
}

// prepareDatabase creates the database when missing, migrates it and, with
// --seed-count, fills an empty one with generated listings.
func (o *devOptions) prepareDatabase(ctx context.Context) error {
	if created, err := fixtures.CreateDatabase(ctx, o.dbURL); err != nil {
		return fmt.Errorf("create the database: %w", err)
	} else if created {
		o.log.Info("created the database", "url", redactURL(o.dbURL))
	}
	if err := fixtures.Migrate(ctx, o.dbURL); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if o.seedCount == 0 {
		return nil
	}
	g, err := o.generator()
	if err != nil {
		return err
	}
	start := time.Now()
	rows, err := fixtures.Seed(ctx, o.dbURL, g, 2, nil)
	switch {
	case errors.Is(err, fixtures.ErrNotEmpty):
		o.log.Info("not seeding: the database already has listings or sellers")
		return nil
	case err != nil:
		return fmt.Errorf("seed: %w", err)
	}
	o.log.Info("seeded a catalog with its social graph", "rows", rows.Total(), "tables", rows, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// portFree reports whether addr can be listened on now.
func portFree(addr string) bool {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// redactURL drops the password from a database URL for the log.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
