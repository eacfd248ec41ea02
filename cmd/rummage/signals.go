package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/rummage/rummage/indexer"
	"github.com/rummage/rummage/signals"
	"github.com/rummage/rummage/signals/memory"
	"github.com/rummage/rummage/signals/redisstore"
)

// The signals store (the social state: follows, shares, parties, blocks) of
// the roles that run the indexer (dev, indexer) and of serve.
const (
	signalsMemory = "memory"
	signalsRedis  = "redis"
)

type signalsFlags struct {
	kind, dir, redisURL, redisPrefix string
}

func addSignalsFlags(fs *flag.FlagSet) *signalsFlags {
	f := &signalsFlags{}
	fs.StringVar(&f.kind, "signals", signalsMemory, "social state `store`: memory (embedded, durable in --signals-dir; one process) or redis (--redis-url; shared by API replicas)")
	fs.StringVar(&f.dir, "signals-dir", "", "`directory` of the memory signals store (default: beside --index-dir, <index-dir>-signals)")
	fs.StringVar(&f.redisURL, "redis-url", redisstore.DefaultURL, "Redis `URL` of the redis signals store")
	fs.StringVar(&f.redisPrefix, "redis-prefix", redisstore.DefaultPrefix, "key `prefix` of the redis signals store (several deployments may share one Redis)")
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
	}
	return fmt.Errorf("--signals %q is not supported; use %s or %s", f.kind, signalsMemory, signalsRedis)
}

// open opens the store.
func (f *signalsFlags) open(ctx context.Context, log *slog.Logger) (signals.Store, error) {
	if f.kind == signalsRedis {
		s, err := redisstore.Open(ctx, redisstore.Config{URL: f.redisURL, Prefix: f.redisPrefix})
		if err != nil {
			return nil, fmt.Errorf("--signals redis: %w", err)
		}
		log.Info("signals store", "kind", f.kind, "url", redactURL(f.redisURL), "prefix", f.redisPrefix)
		return redisSignals{s}, nil
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

// redisSignals makes an emptied Redis the indexer's ErrSignalsLost: the
// indexer stops, and its next start reads the social topics from their
// start.
type redisSignals struct{ *redisstore.Store }

func (s redisSignals) Apply(ctx context.Context, b signals.Batch) error {
	err := s.Store.Apply(ctx, b)
	if errors.Is(err, redisstore.ErrEmptied) {
		return fmt.Errorf("%w: %w", indexer.ErrSignalsLost, err)
	}
	return err
}
