package kafkabus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"
)

// forgetOffsets deletes the committed offsets of group on every partition
// of topics, so that the group reads them from their first offset (the
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
	deadline := time.Now().Add(wait)
	for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 2*time.Second) {
		err := deleteOffsets(ctx, client, group, parts)
		if err == nil {
			log.Info("kafkabus: the group reads these topics from their start", "group", group, "topics", topics)
			return nil
		}
		if !errors.Is(err, kafka.GroupSubscribedToTopic) && !errors.Is(err, kafka.NonEmptyGroup) &&
			!errors.Is(err, kafka.RebalanceInProgress) && !errors.Is(err, kafka.NotCoordinatorForGroup) &&
			!errors.Is(err, kafka.GroupCoordinatorNotAvailable) && !errors.Is(err, kafka.GroupLoadInProgress) ||
			time.Now().After(deadline) {
			return fmt.Errorf("kafkabus: rewind %v for group %s: %w", topics, group, err)
		}
		log.Info("kafkabus: rewind: the group still has a member (a previous run?); waiting for its session to end", "group", group, "error", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
	}
}

func deleteOffsets(ctx context.Context, client *kafka.Client, group string, parts map[string][]int) error {
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
