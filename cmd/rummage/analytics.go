package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/events"
	"github.com/rummage/rummage/events/rollup"
	"github.com/rummage/rummage/indexer/change"
	"github.com/rummage/rummage/serve/cache"
	"github.com/rummage/rummage/signals"
)

const analyticsHelp = `Rolls the events topic (<prefix>.events: POST /v1/events and the API's
impressions) up per minute into the analytics tables of schema rummage
(migrations 0005 and 0007; run rummage migrate on --analytics-database-url
first). Answers a CDN served count from the views of their query_id after
the first (docs/cdn.md).
The consumer's offsets commit in the same transaction as the rows: each
event counts once, whatever stops the process. Rows older than
--retention are deleted hourly. Metrics (rummage_analytics_*) are served
on --metrics-addr. rummage dev runs this role inside.`

// pseudonymKeyEnv holds the pseudonymization key (hex) when set.
const pseudonymKeyEnv = "RUMMAGE_PSEUDONYM_KEY"

func runAnalytics(ctx context.Context, args []string) error {
	fs := newFlags("analytics", "[flags]", analyticsHelp)
	brokers := fs.String("brokers", defaultBrokers, "Kafka bootstrap brokers, comma-separated `host:port` list")
	prefix := fs.String("topic-prefix", change.DefaultTopicPrefix, "topic `prefix`: the events topic is <prefix>.events")
	dbURL := fs.String("database-url", os.Getenv("DATABASE_URL"), "Postgres `URL` (default $DATABASE_URL)")
	af := addAnalyticsFlags(fs)
	metricsAddr := fs.String("metrics-addr", defaultAdminAddr, "serve Prometheus metrics at http://`addr`/metrics; empty disables")
	logLevel := fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := newLogger(os.Stderr, *logLevel)
	if err != nil {
		return err
	}
	url := af.url(*dbURL)
	if err := requireDatabaseURL(fs, url); err != nil {
		return err
	}
	reg := newRegistry()
	a, err := af.open(ctx, splitCSVFlag(*brokers), *prefix, url, reg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	stop, err := startAdmin(*metricsAddr, reg, nil, nil, log)
	if err != nil {
		return err
	}
	defer stop()
	return a.consumer.Run(ctx)
}

// analyticsFlags configure the rollups of the roles that run them.
type analyticsFlags struct {
	dbURL     *string
	retention *time.Duration
}

func addAnalyticsFlags(fs *flag.FlagSet) *analyticsFlags {
	return &analyticsFlags{
		dbURL:     fs.String("analytics-database-url", os.Getenv("RUMMAGE_ANALYTICS_DATABASE_URL"), "Postgres `URL` of the analytics rollups (default: the database URL)"),
		retention: fs.Duration("analytics-retention", rollup.DefaultRetention, "delete rollup rows older than this `duration`"),
	}
}

func (f *analyticsFlags) url(dbURL string) string {
	if *f.dbURL != "" {
		return *f.dbURL
	}
	return dbURL
}

// analytics is the rollup consumer and the analytics routes over its
// store.
type analytics struct {
	store    *rollup.Store
	consumer *rollup.Consumer
}

func (f *analyticsFlags) open(ctx context.Context, brokers []string, prefix, url string, reg prometheus.Registerer, log *slog.Logger) (*analytics, error) {
	if *f.retention <= 0 {
		return nil, errors.New("--analytics-retention must be positive")
	}
	st, err := rollup.OpenStore(ctx, url)
	if err != nil {
		return nil, err
	}
	m := rollup.NewMetrics()
	if err := m.Register(reg); err != nil {
		st.Close()
		return nil, err
	}
	c, err := rollup.NewConsumer(rollup.Config{Brokers: brokers, TopicPrefix: prefix, Retention: *f.retention, Metrics: m, Logger: log}, st)
	if err != nil {
		st.Close()
		return nil, err
	}
	return &analytics{store: st, consumer: c}, nil
}

// options mounts the analytics routes.
func (a *analytics) options() []api.Option { return (&rollup.Handlers{Store: a.store}).Options() }

// Close closes the store.
func (a *analytics) Close() { a.store.Close() }

// pseudonymizer is a process's one pseudonymizer — the events it writes
// and the profiles it reads must agree: hexKey (--pseudonym-key, default
// $RUMMAGE_PSEUDONYM_KEY) when given, else the key in keyFile (created
// when missing), else none (nil).
func pseudonymizer(hexKey, keyFile string) (*events.Pseudonymizer, error) {
	var key []byte
	var err error
	switch {
	case hexKey != "":
		key, err = decodeHexKey(hexKey)
	case keyFile != "":
		key, err = events.LoadOrCreateKey(keyFile)
	default:
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pseudonym key: %w", err)
	}
	return events.NewPseudonymizer(key)
}

// startEvents opens the events producer on brokers (creating the topic
// with its retention); ps pseudonymizes the users of its events.
func startEvents(ctx context.Context, brokers []string, prefix string, ps *events.Pseudonymizer, reg prometheus.Registerer, log *slog.Logger) (*events.Producer, error) {
	if ps == nil {
		return nil, errors.New("events: no pseudonymization key (--pseudonym-key or a key file)")
	}
	m := events.NewProducerMetrics()
	if err := m.Register(reg); err != nil {
		return nil, err
	}
	p, err := events.NewProducer(events.ProducerConfig{Brokers: brokers, TopicPrefix: prefix, Logger: log}, m)
	if err != nil {
		return nil, err
	}
	if err := p.EnsureTopic(ctx); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func decodeHexKey(s string) ([]byte, error) {
	var b []byte
	if _, err := fmt.Sscanf(strings.TrimSpace(s), "%x", &b); err != nil || len(b) < 16 {
		return nil, errors.New("$" + pseudonymKeyEnv + ": want at least 32 hex digits")
	}
	return b, nil
}

// eventPath is the event path of an API process: the producer behind
// POST /v1/events and the impressions, the analytics routes and the
// forgetting over store, c (nil without a cache) and the rollups, and with
// consume the rollup consumer too. stop ends the consumer and flushes the
// producer.
func eventPath(ctx context.Context, brokers []string, prefix string, ps *events.Pseudonymizer, af *analyticsFlags, dbURL string, consume bool,
	store signals.Store, c *cache.Cache, reg prometheus.Registerer, log *slog.Logger) (opts []api.Option, stop func(), err error) {
	p, err := startEvents(ctx, brokers, prefix, ps, reg, log)
	if err != nil {
		return nil, nil, err
	}
	var a *analytics
	if url := af.url(dbURL); url != "" {
		if a, err = af.open(ctx, brokers, prefix, url, reg, log); err != nil {
			p.Close()
			return nil, nil, err
		}
		opts = a.options()
	} else if consume {
		p.Close()
		return nil, nil, errors.New("the rollups need a database: --analytics-database-url or --database-url")
	}
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if a == nil || !consume {
			return
		}
		if err := a.consumer.Run(cctx); err != nil {
			log.Error("analytics consumer stopped", "err", err)
		}
	}()
	stop = func() {
		cancel()
		<-done
		if a != nil {
			a.Close()
		}
		p.Close()
	}
	var rollups *rollup.Store
	if a != nil {
		rollups = a.store
	}
	return append(opts, api.WithEvents(p, ps), api.WithForgetting(forgetting(ps, store, c, rollups, nil))), stop, nil
}

// startAnalytics runs dev's event path on its broker, the rollup consumer
// included.
func (o *devOptions) startAnalytics(ctx context.Context, broker string, store signals.Store, c *cache.Cache, reg prometheus.Registerer) ([]api.Option, func(), error) {
	ps, err := o.signals.personal.pseudonymizer() // the key file beside the index (run)
	if err != nil {
		return nil, nil, err
	}
	return eventPath(ctx, []string{broker}, o.pipeline.TopicPrefix, ps, o.analytics, o.dbURL, true, store, c, reg, o.log)
}
