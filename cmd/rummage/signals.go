package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/signals"
	"github.com/rummage/rummage/signals/memory"
	"github.com/rummage/rummage/signals/redisstore"
)

// The signals store (the social state: follows, shares, parties, blocks) of
// the roles that run the indexer (dev, indexer) and of serve.
const (
	signalsMemory = "memory"
	signalsRedis  = "redis"
	signalsNone   = "none"
)

type signalsFlags struct {
	kind, dir, redisURL, redisPrefix string
	personal                         personalFlags
}

// addSignalsFlags registers the flags with def as --signals' default.
func addSignalsFlags(fs *flag.FlagSet, def string) *signalsFlags {
	f := &signalsFlags{}
	fs.StringVar(&f.kind, "signals", def, "social state `store`: memory (embedded, durable in --signals-dir; one process), redis (--redis-url; shared by API replicas) or none (search only: parties, feeds and drops answer 404 not_configured)")
	fs.StringVar(&f.dir, "signals-dir", "", "`directory` of the memory signals store (default: beside --index-dir, <index-dir>-signals)")
	fs.StringVar(&f.redisURL, "redis-url", redisstore.DefaultURL, "Redis `URL` of the redis signals store")
	fs.StringVar(&f.redisPrefix, "redis-prefix", redisstore.DefaultPrefix, "key `prefix` of the redis signals store (several deployments may share one Redis)")
	f.personal.add(fs)
	return f
}

// validate checks the flags and defaults --signals-dir beside indexDir.
func (f *signalsFlags) validate(indexDir string) error {
	switch f.kind {
	case signalsMemory:
		if f.dir == "" {
			f.dir = filepath.Clean(indexDir) + "-signals"
		}
		return nil
	case signalsRedis:
		return redisstore.Config{URL: f.redisURL, Prefix: f.redisPrefix}.Validate()
	case signalsNone:
		return nil
	}
	return fmt.Errorf("--signals %q is not supported; use %s, %s or %s", f.kind, signalsMemory, signalsRedis, signalsNone)
}

// open opens the store; nil for --signals none.
func (f *signalsFlags) open(ctx context.Context, log *slog.Logger) (signals.Store, error) {
	if f.kind == signalsNone {
		log.Info("no signals store (--signals none): parties, feeds and drops answer 404 not_configured")
		return nil, nil
	}
	if f.kind == signalsRedis {
		s, err := redisstore.Open(ctx, redisstore.Config{URL: f.redisURL, Prefix: f.redisPrefix})
		if err != nil {
			return nil, fmt.Errorf("--signals redis: %w", err)
		}
		log.Info("signals store", "kind", f.kind, "url", redactURL(f.redisURL), "prefix", f.redisPrefix)
		return s, nil
	}
	s, err := memory.Open(f.dir)
	if err != nil {
		return nil, fmt.Errorf("--signals memory: %w", err)
	}
	r := s.Recovery()
	log.Info("signals store", "kind", f.kind, "dir", f.dir, "snapshot", r.Snapshot, "log_records", r.Records, "torn_bytes", r.TornBytes)
	return s, nil
}

// remove deletes the memory store's directory (dev --rebuild); a Redis
// store is left alone (its prefix may be shared).
func (f *signalsFlags) remove() error {
	if f.kind != signalsMemory {
		return nil
	}
	return os.RemoveAll(f.dir)
}

// serveSignals gives the API the store, and with Redis the home feed's
// ranked snapshots too (redisstore.Snapshots), so that every replica pages
// the same snapshot.
func serveSignals(cfg *api.Config, store signals.Store) {
	if store == nil {
		return
	}
	cfg.Signals = store
	if r, ok := store.(*redisstore.Store); ok {
		cfg.Feeds.Snapshots = r.Snapshots()
	}
}

// closeSignals closes the store open returned (none for --signals none).
func closeSignals(store signals.Store) {
	if store != nil {
		store.Close()
	}
}
