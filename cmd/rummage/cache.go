package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/serve/cache"
)

// cacheFlags configure the serving cache (serve/cache).
type cacheFlags struct {
	bytes   *uint64
	ttl     *time.Duration
	purge   *string
	enabled *bool
}

func addCacheFlags(fs *flag.FlagSet) *cacheFlags {
	return &cacheFlags{
		enabled: fs.Bool("cache", true, "cache the listing surfaces' answers (serve/cache), invalidated by the change stream"),
		bytes:   fs.Uint64("cache-bytes", cache.DefaultMaxBytes, "most `bytes` the response cache holds"),
		ttl:     fs.Duration("cache-ttl", cache.DefaultTTL, "backstop lifetime of a cached answer"),
		purge:   fs.String("cache-purge-url", "", "`URL` POSTed {\"surrogate_keys\": [...]} on every invalidation, to purge a CDN in front (docs/cdn.md)"),
	}
}

// build returns the cache for the API over read (nil when disabled), with
// its metrics on reg and its flusher running until ctx ends.
func (f *cacheFlags) build(ctx context.Context, acfg *api.Config, read query.Backend, reg prometheus.Registerer, log *slog.Logger) (*cache.Cache, []api.Option, error) {
	if !*f.enabled {
		return nil, nil, nil
	}
	b := &cache.Boundaries{}
	if dl, ok := read.(query.DropLister); ok {
		b.Drops = cache.DropsOf(dl)
	}
	cfg := cache.Config{MaxBytes: *f.bytes, TTL: *f.ttl, Boundaries: b, Logger: log, Metrics: cache.NewMetrics()}
	hc := cache.HTTPConfig{Canon: acfg.Aliases.Lookup}
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
	return c, []api.Option{api.WithMiddleware(c.Middleware(hc))}, nil
}
