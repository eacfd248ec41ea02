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
	src, err := kafkabus.NewReader(ctx, kafkabus.ReaderConfig{Brokers: brokers, GroupID: prefix + "-affinity", Topics: []string{events.Topic(prefix)},
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
