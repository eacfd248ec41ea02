package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/indexer"
	"github.com/rummage/rummage/indexer/change"
	"github.com/rummage/rummage/indexer/kafkabus"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/serve/cache"
	"github.com/rummage/rummage/serve/cache/kafkainv"
)

const indexerHelp = `Consumes change events from Kafka (topics <prefix>.<schema>.<table>, written
by "rummage cdc" or by the Debezium Postgres connector, with or without the
JSON converter's schema wrapper) into the index.

Each batch (up to --batch-size messages, or what arrived within --batch-wait
of the first) is decoded, coalesced per listing (the newest version wins),
applied to the index, and only then are the consumer group's offsets
committed. A failing index write is retried with backoff, never skipped. A
message that cannot be decoded or applied (bad JSON, a row that fails
validation, a truncate of listings) goes to the dead-letter topic
<prefix>.dlq with the reason in its headers (rummage.dlq.reason,
rummage.dlq.error, rummage.dlq.topic, rummage.dlq.partition,
rummage.dlq.offset), and the pipeline goes on.

Listings become index documents (version = the event's source.lsn, so stale
and duplicate events are dropped). Rows of the social tables (sellers,
follows, likes, shares, parties, blocks) go to the signals store (--signals
memory, in --signals-dir; or redis, --redis-url), with the positions they
bring their partitions to, before the offsets are committed. A row that does
not decode (or a party whose theme is not a valid saved search) is counted
(rummage_indexer_bad_rows_total), logged with its key and dead-lettered. A
signals store with no positions (new, or an emptied Redis) has the social
topics read again from their start; an emptied Redis under a running
indexer stops it (exit non-zero): restart it to rebuild.

Metrics (rummage_indexer_*, rummage_kafka_reader_*) are served on
--metrics-addr at /metrics, and with --addr on the API's /metrics too.

With --addr, /readyz answers 503 "catching_up" after a start until the
consumer group has committed the log end it saw at start (or is within
--ready-max-lag events of the log end), and reports the lag in its body.
If the API server stops (its listener fails), the indexer stops too and the
command exits non-zero: an indexer without the API it was asked to serve is
not running as configured.

/admin/reindex on --metrics-addr takes an admin API key. API keys come from
Postgres with --database-url (rummage.api_keys), else from --keys-file.`

func runIndexer(ctx context.Context, args []string) error {
	return indexerMain(ctx, args, indexerHooks{listen: net.Listen})
}

// indexerHooks let tests replace the API's listener.
type indexerHooks struct {
	listen func(network, addr string) (net.Listener, error)
}

func indexerMain(ctx context.Context, args []string, hooks indexerHooks) error {
	fs := newFlags("indexer", "[flags]", indexerHelp)
	brokers := fs.String("brokers", defaultBrokers, "Kafka bootstrap brokers, comma-separated `host:port` list")
	group := fs.String("group", "rummage-indexer", "consumer group `id`; its committed offsets are the indexer's position")
	prefix := fs.String("topic-prefix", change.DefaultTopicPrefix, "topic `prefix`: topics are <prefix>.<schema>.<table>, dead letters go to <prefix>.dlq")
	tables := fs.String("tables", strings.Join(rummage.Tables(), ","), "tables to consume, comma-separated, as table (schema public) or schema.table; must include listings")
	batchSize := fs.Int("batch-size", indexer.DefaultBatchSize, "most messages per batch (coalesced and applied together)")
	batchWait := fs.Duration("batch-wait", indexer.DefaultBatchWait, "how long a batch may wait to fill after its first message")
	partitions := fs.Int("partitions", kafkabus.DefaultPartitions, "partitions of the topics the indexer creates when they are missing; 0 creates none (they must exist)")
	metricsAddr := fs.String("metrics-addr", defaultAdminAddr, "serve Prometheus metrics at http://`addr`/metrics, and (embedded backend) the reindex admin endpoint /admin/reindex used by rummage reindex; keep it on loopback; empty disables both")
	dbURL := fs.String("database-url", os.Getenv("DATABASE_URL"), "Postgres `URL` a reindex snapshots (default $DATABASE_URL)")
	eventsOn := fs.Bool("events", false, "with --addr: accept POST /v1/events and record impressions into <prefix>.events on --brokers; with a database, serve the analytics and POST /v1/users/{id}/forget (run rummage analytics for the rollups)")
	keyFile := fs.String("pseudonym-key-file", "rummage.pseudonym-key", "with --events: the `file` of the key that pseudonymizes user ids (created when missing; every replica needs the same; --pseudonym-key overrides)")
	anf := addAnalyticsFlags(fs)
	apiAddr := fs.String("addr", "", "also serve the v1 search API on this `address` (host:port), from the index this process writes (the embedded index is locked to one process); empty: no API")
	learn := fs.Bool("affinity", true, "also learn affinity profiles from <prefix>.events (clicks, add-to-carts, purchases) into the signals store, as consumer group <prefix>-affinity")
	maxLag := fs.Int64("ready-max-lag", 0, "with --addr: /readyz is ready after a start once the indexer is within `N` events of the log end (0: once it committed the log end seen at start)")
	bf := addBackendFlags(fs, "./data/indexer")
	sf := addSignalsFlags(fs, signalsMemory)
	kf := addKeyFlags(fs, dbURL, true)
	cf := addCursorFlags(fs)
	cacheF := addCacheFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	brokerList, tableList := splitCSVFlag(*brokers), splitCSVFlag(*tables)
	if len(brokerList) == 0 {
		return errors.New("--brokers is empty")
	}
	if err := sf.validate(bf.indexDir); err != nil {
		return err
	}
	bf.es.invalidating() // every applied batch is invalidated (below)
	names := make([]string, len(tableList))
	for i, t := range tableList {
		names[i] = t[strings.LastIndexByte(t, '.')+1:]
	}
	log := slog.Default()
	reg := newRegistry()
	// Every applied batch is published to <prefix>.invalidations, which the
	// API replicas read (serve/cache/kafkainv), and purges this process's
	// own cache when it serves the API.
	hook := &cache.Hook{}
	cfg := indexer.Config{Tables: names, BatchSize: *batchSize, BatchWait: *batchWait, Metrics: indexer.NewMetrics(reg), Logger: log, Invalidator: hook}
	if err := cfg.Validate(); err != nil {
		return err
	}
	backend, err := bf.open(ctx)
	if err != nil {
		return err
	}
	store, err := sf.open(ctx, log)
	if err != nil {
		return err
	}
	defer closeSignals(store)
	idx := bf.live(backend, *dbURL, store, log)
	defer idx.Close()
	cfg.Signals = store

	topics := kafkabus.TableTopics(*prefix, tableList)
	fromStart, err := indexer.RewindTopics(ctx, store, topics)
	if err != nil {
		return err
	}
	reader, err := kafkabus.NewReader(ctx, kafkabus.ReaderConfig{Brokers: brokerList, GroupID: *group, Topics: topics,
		FromStart: fromStart, CreateTopics: *partitions > 0, Partitions: *partitions, Registerer: reg, Logger: log})
	if err != nil {
		return err
	}
	defer reader.Close()
	dlq, err := kafkabus.NewDeadLetterWriter(brokerList, kafkabus.DeadLetterTopic(*prefix))
	if err != nil {
		return err
	}
	defer dlq.Close()
	if *partitions > 0 {
		if err := dlq.EnsureTopic(ctx, *partitions); err != nil {
			return err
		}
	}
	pub := kafkainv.NewPublisher(brokerList, *prefix)
	defer pub.Close()
	if *partitions > 0 {
		if err := pub.EnsureTopic(ctx); err != nil {
			return err
		}
	}
	sinks := cache.Sinks{pub}
	ix, err := indexer.New(reader, idx.Write, dlq, cfg)
	if err != nil {
		return err
	}
	auth, stopKeys, err := indexerAuth(ctx, kf, *apiAddr, *metricsAddr != "", idx, *dbURL, log)
	if err != nil {
		return err
	}
	defer stopKeys()
	stopAdmin, err := startAdmin(*metricsAddr, reg, idx.Admin, nil, log)
	if err != nil {
		return err
	}
	defer stopAdmin()
	tasks := []task{{"indexer", ix.Run}}
	if *learn && store != nil { // --signals none keeps no profiles
		t, stop, err := affinityTask(ctx, brokerList, *prefix, *partitions, store, idx.Read, log)
		if err != nil {
			return err
		}
		defer stop()
		tasks = append(tasks, t)
	}
	if *apiAddr != "" {
		positions := kafkabus.NewPositions(brokerList, *group, topics)
		defer positions.Close()
		catchUp := indexer.NewCatchUp(positions, *maxLag)
		if err := catchUp.Start(ctx); err != nil {
			return err
		}
		acfg := api.DefaultConfig()
		acfg.Auth = auth
		serveSignals(&acfg, store)
		if *eventsOn {
			sf.personal.keyFile = *keyFile // the events producer's key
		}
		if err := sf.personal.apply(&acfg, store); err != nil {
			return err
		}
		if err := bf.serving(&acfg, cf, log); err != nil {
			return err
		}
		c, cacheMW, err := cacheF.build(ctx, &acfg, func() query.Backend { return idx.Read }, reg, log)
		if err != nil {
			return err
		}
		if c != nil {
			sinks = append(sinks, c)
		}
		opts := []api.Option{api.WithMiddleware(cacheMW...)}
		if *eventsOn {
			ps, err := sf.personal.pseudonymizer()
			if err != nil {
				return err
			}
			evOpts, stopEvents, err := eventPath(ctx, brokerList, *prefix, ps, anf, *dbURL, false, store, c, reg, log)
			if err != nil {
				return err
			}
			defer stopEvents()
			opts = append(opts, evOpts...)
		}
		srv, err := api.New(acfg, idx.Read, log, append(opts, api.WithRegistry(reg), api.WithReadiness(readiness(catchUp)))...)
		if err != nil {
			return err
		}
		ln, err := hooks.listen("tcp", *apiAddr)
		if err != nil {
			return fmt.Errorf("--addr: %w", err)
		}
		log.Info("api listening", "addr", ln.Addr().String())
		tasks = append(tasks, task{"api", func(ctx context.Context) error { return srv.Serve(ctx, ln) }})
	}
	hook.Sink = sinks
	log.Info("indexer running", "brokers", brokerList, "group", *group, "topics", topics,
		"dead_letters", kafkabus.DeadLetterTopic(*prefix), "batch_size", *batchSize, "batch_wait", *batchWait)
	return runTasks(ctx, log, tasks...)
}

// indexerAuth loads the API keys when the indexer serves the API or the
// admin endpoint, and puts the admin endpoint behind an admin key.
func indexerAuth(ctx context.Context, kf *keyFlags, apiAddr string, admin bool, idx *liveIndex, dbURL string, log *slog.Logger) (api.Auth, func(), error) {
	if apiAddr == "" && (!admin || idx.Admin == nil) {
		return api.Auth{}, func() {}, nil
	}
	var apiAddrs []string
	if apiAddr != "" {
		apiAddrs = []string{apiAddr}
	}
	auth, ring, stop, err := kf.serving(ctx, apiAddrs, log)
	if err != nil {
		return api.Auth{}, nil, err
	}
	if idx.Admin != nil {
		rec, stopAudit, err := adminAudit(ctx, dbURL, log)
		if err != nil {
			stop()
			return api.Auth{}, nil, err
		}
		idx.Admin = api.Auth{Keys: ring}.Protect(auditedAdmin(idx.Admin, rec, log))
		stopKeys := stop
		stop = func() { stopAudit(); stopKeys() }
	}
	return auth, stop, nil
}

// splitCSVFlag splits a comma-separated flag value, dropping empty parts.
func splitCSVFlag(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
