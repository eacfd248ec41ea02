package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/indexer/change"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/serve/cache"
	"github.com/rummage/rummage/serve/cache/kafkainv"
)

// cacheFlags configure the serving cache (serve/cache).
type cacheFlags struct {
	bytes   *uint64
	ttl     *time.Duration
	purge   *string
	enabled *bool
	prewarm *time.Duration
	// brokers and prefix: the invalidation topic an API replica reads
	// (rummage serve; registered by addInvalidationFlags).
	brokers, prefix *string
}

// addInvalidationFlags adds the flags of an API replica that follows the
// indexers' invalidation topic.
func (f *cacheFlags) addInvalidationFlags(fs *flag.FlagSet) {
	f.brokers = fs.String("invalidation-brokers", "", "Kafka `brokers` (host:port, comma-separated) of the indexers' <prefix>.invalidations topic, which purges this replica's cache; empty: the cache follows no change stream (a static catalog)")
	f.prefix = fs.String("invalidation-topic-prefix", change.DefaultTopicPrefix, "topic `prefix` of the indexers (their --topic-prefix)")
}

// subscribe follows the invalidation topic into c when --invalidation-brokers is set.
func (f *cacheFlags) subscribe(ctx context.Context, c *cache.Cache, log *slog.Logger) error {
	if c == nil || f.brokers == nil || *f.brokers == "" {
		return nil
	}
	s := &kafkainv.Subscriber{Brokers: splitCSVFlag(*f.brokers), Prefix: *f.prefix, Target: c, Logger: log}
	return s.Start(ctx)
}

func addCacheFlags(fs *flag.FlagSet) *cacheFlags {
	return &cacheFlags{
		enabled: fs.Bool("cache", true, "cache the listing surfaces' answers (serve/cache), invalidated by the change stream"),
		bytes:   fs.Uint64("cache-bytes", cache.DefaultMaxBytes, "most `bytes` the response cache holds"),
		ttl:     fs.Duration("cache-ttl", cache.DefaultTTL, "backstop lifetime of a cached answer"),
		purge:   fs.String("cache-purge-url", "", "`URL` POSTed {\"surrogate_keys\": [...]} on every invalidation, to purge a CDN in front (docs/cdn.md)"),
		prewarm: fs.Duration("cache-prewarm", cache.DefaultPrewarmLead, "compute the cached pages a drop or party boundary ends this long before it, as of it, and switch them in at it (negative: never)"),
	}
}

// build returns the cache for the API over read (nil when disabled), with
// its metrics on reg and its flusher running until ctx ends.
func (f *cacheFlags) build(ctx context.Context, acfg *api.Config, read func() query.Backend, reg prometheus.Registerer, log *slog.Logger) (*cache.Cache, []echo.MiddlewareFunc, error) {
	if !*f.enabled {
		return nil, nil, nil
	}
	b := &cache.Boundaries{Drops: func(ctx context.Context, from time.Time) ([]time.Time, error) {
		dl, ok := read().(query.DropLister)
		if !ok {
			return nil, nil
		}
		return cache.DropsOf(dl)(ctx, from)
	}}
	cfg := cache.Config{MaxBytes: *f.bytes, TTL: *f.ttl, Boundaries: b, Logger: log, Metrics: cache.NewMetrics(), PrewarmLead: *f.prewarm}
	hc := cache.HTTPConfig{Canon: acfg.Aliases.Lookup}
	if acfg.Experiments != nil {
		hc.Variant = acfg.Experiments.CacheKey
	}
	if acfg.Signals != nil {
		b.Parties = acfg.Signals.Parties
		hc.Social = acfg.Signals
	}
	if *f.purge != "" {
		cfg.Purger = &cache.Webhook{URL: *f.purge}
	}
	if err := cfg.Metrics.Register(reg); err != nil {
		return nil, nil, fmt.Errorf("cache metrics: %w", err)
	}
	c, err := cache.New(cfg)
	if err != nil {
		return nil, nil, err
	}
	go c.Run(ctx)
	go c.Prewarm(ctx)
	return c, []echo.MiddlewareFunc{c.Middleware(hc)}, nil
}
