package main

import (
	"context"
	"flag"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/indexer/change"
	"github.com/rummage/rummage/serve/cache"
	"github.com/rummage/rummage/signals"
)

// serveEventFlags are serve's event path: POST /v1/events and the
// impressions of its answers into <prefix>.events on a Kafka cluster, and
// with a database the analytics routes over the rollups (rummage analytics
// writes them).
type serveEventFlags struct {
	brokers, prefix, keyFile string
	analytics                *analyticsFlags
}

func addServeEventFlags(fs *flag.FlagSet) *serveEventFlags {
	f := &serveEventFlags{}
	fs.StringVar(&f.brokers, "events-brokers", "", "Kafka bootstrap brokers (comma-separated `host:port` list) of the events topic: accept POST /v1/events and record an impression per answer, cache hits included (empty: no event path)")
	fs.StringVar(&f.prefix, "events-topic-prefix", change.DefaultTopicPrefix, "topic `prefix` of the events topic (<prefix>.events)")
	fs.StringVar(&f.keyFile, "pseudonym-key-file", "", "with --events-brokers and no --pseudonym-key: the `file` of the key that pseudonymizes user ids (created when missing; every replica needs the same key)")
	f.analytics = addAnalyticsFlags(fs)
	return f
}

// on reports whether the event path is configured.
func (f *serveEventFlags) on() bool { return len(splitCSVFlag(f.brokers)) > 0 }

// options opens the event path: the producer, forgetting (profiles, the
// cache, the rollups) and, with --analytics-database-url, the analytics
// routes; stop closes them.
func (f *serveEventFlags) options(ctx context.Context, personal *personalFlags, store signals.Store, c *cache.Cache, reg prometheus.Registerer, log *slog.Logger) ([]api.Option, func(), error) {
	ps, err := personal.pseudonymizer()
	if err != nil {
		return nil, nil, err
	}
	return eventPath(ctx, splitCSVFlag(f.brokers), f.prefix, ps, f.analytics, "", false, store, c, reg, log)
}
