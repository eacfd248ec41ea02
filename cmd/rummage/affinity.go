package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/rummage/rummage/events"
	"github.com/rummage/rummage/indexer/affinity"
	"github.com/rummage/rummage/indexer/kafkabus"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/signals"
)

// affinityTask is the events consumer that learns affinity profiles
// (indexer/affinity), run beside the indexer: its own consumer group on
// <prefix>.events into the signals store. The returned close releases the
// reader.
func affinityTask(ctx context.Context, brokers []string, prefix string, partitions int, store signals.Store, listings query.Loader, log *slog.Logger) (task, func(), error) {
	profiles, ok := store.(affinity.Profiles)
	if !ok {
		return task{}, nil, fmt.Errorf("affinity: the signals store %T keeps no profiles", store)
	}
	cfg := affinity.Config{Logger: log}.WithDefaults()
	src, err := kafkabus.NewReader(ctx, kafkabus.ReaderConfig{Brokers: brokers, GroupID: affinity.Group(prefix), Topics: []string{events.Topic(prefix)},
		CreateTopics: partitions > 0, Partitions: partitions, Logger: log})
	if err != nil {
		return task{}, nil, err
	}
	c, err := affinity.New(cfg, src, profiles, listings)
	if err != nil {
		src.Close()
		return task{}, nil, err
	}
	return task{"affinity", c.Run}, func() { src.Close() }, nil
}

// startAffinity runs dev's affinity consumer (what the indexer role runs
// with --affinity) on its broker: the profiles learn from the clicks,
// carts and purchases posted to dev's API. A store that keeps no profiles
// (--signals none) learns nothing. stop ends it.
func (o *devOptions) startAffinity(ctx context.Context, broker string, store signals.Store, listings query.Loader) (stop func(), err error) {
	if _, ok := store.(affinity.Profiles); !ok {
		return func() {}, nil
	}
	t, closeSrc, err := affinityTask(ctx, []string{broker}, o.pipeline.TopicPrefix, 0, store, listings, o.log)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := t.run(cctx); err != nil && cctx.Err() == nil {
			o.log.Error("affinity consumer stopped", "err", err)
		}
	}()
	return func() { cancel(); <-done; closeSrc() }, nil
}
