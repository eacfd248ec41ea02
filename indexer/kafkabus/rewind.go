package kafkabus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"
)

// forgetOffsets deletes the committed offsets of group on the partitions of
// topics it committed on, so that the group reads them from their first offset (the
// reader's StartOffset) when it joins; the group's offsets on other topics
// stay. It must run before this process joins the group.
//
// Kafka refuses to delete offsets of topics a live member of the group
// subscribes to: after a kill, the previous run's member stays until its
// session times out. Those refusals are retried for up to wait.
func forgetOffsets(ctx context.Context, brokers []string, group string, topics []string, wait time.Duration, log *slog.Logger) error {
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second,
		Transport: &kafka.Transport{ClientID: "rummage-indexer-rewind", DialTimeout: 5 * time.Second}}
	defer client.Transport.(*kafka.Transport).CloseIdleConnections()
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return fmt.Errorf("kafkabus: rewind: metadata: %w", err)
	}
	parts := map[string][]int{}
	for _, t := range meta.Topics {
		if errors.Is(t.Error, kafka.UnknownTopicOrPartition) {
			continue // nothing committed on it
		}
		if t.Error != nil {
			return fmt.Errorf("kafkabus: rewind: topic %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			parts[t.Name] = append(parts[t.Name], p.ID)
		}
	}
	if len(parts) == 0 {
		return nil
	}
	// Only partitions the group committed on: a topic it never read (an
	// empty one) needs nothing, and asking would wait for a killed run's
	// member for nothing.
	off, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: parts})
	if err != nil {
		return fmt.Errorf("kafkabus: rewind: committed offsets of %s: %w", group, err)
	}
	if off.Error != nil && !errors.Is(off.Error, kafka.GroupIdNotFound) {
		return fmt.Errorf("kafkabus: rewind: committed offsets of %s: %w", group, off.Error)
	}
	parts = map[string][]int{}
	for topic, ps := range off.Topics {
		for _, p := range ps {
			if p.Error == nil && p.CommittedOffset >= 0 {
				parts[topic] = append(parts[topic], p.Partition)
			}
		}
	}
	if len(parts) == 0 {
		return nil
	}
	deadline := time.Now().Add(wait)
	for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 2*time.Second) {
		err := deleteOffsets(ctx, client, group, parts)
		if err == nil {
			log.Info("kafkabus: the group reads these topics from their start", "group", group, "partitions", parts)
			return nil
		}
		if !errors.Is(err, kafka.GroupSubscribedToTopic) && !errors.Is(err, kafka.NonEmptyGroup) &&
			!errors.Is(err, kafka.RebalanceInProgress) && !errors.Is(err, kafka.NotCoordinatorForGroup) &&
			!errors.Is(err, kafka.GroupCoordinatorNotAvailable) && !errors.Is(err, kafka.GroupLoadInProgress) ||
			time.Now().After(deadline) {
			return fmt.Errorf("kafkabus: rewind %v for group %s: %w", topics, group, err)
		}
		if backoff == 100*time.Millisecond {
			log.Info("kafkabus: rewind: the group still has a member (a previous run?); waiting for its session to end", "group", group, "error", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
	}
}

// deleteOffsets deletes the group's offsets on parts once the group has no
// member. Kafka itself refuses while a member subscribes to the topics
// (GROUP_SUBSCRIBED_TO_TOPIC); asking first makes that so on every broker
// (kfake deletes them anyway).
func deleteOffsets(ctx context.Context, client *kafka.Client, group string, parts map[string][]int) error {
	d, err := client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		return err
	}
	for _, g := range d.Groups {
		if g.Error != nil && !errors.Is(g.Error, kafka.GroupIdNotFound) {
			return g.Error
		}
		if len(g.Members) > 0 {
			return fmt.Errorf("%w: %d members (%s)", kafka.NonEmptyGroup, len(g.Members), g.GroupState)
		}
	}
	res, err := client.OffsetDelete(ctx, &kafka.OffsetDeleteRequest{GroupID: group, Topics: parts})
	if err != nil {
		return err
	}
	if errors.Is(res.Error, kafka.GroupIdNotFound) {
		return nil // the group never committed anything
	}
	if res.Error != nil {
		return res.Error
	}
	var errs []error
	for topic, ps := range res.Topics {
		for _, p := range ps {
			if p.Error != nil {
				errs = append(errs, fmt.Errorf("%s/%d: %w", topic, p.Partition, p.Error))
			}
		}
	}
	return errors.Join(errs...)
}
