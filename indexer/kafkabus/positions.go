package kafkabus

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/rummage/rummage/indexer"
)

// Positions reads the end offsets of topics and the offsets a consumer
// group committed on them: indexer.Positions, for readiness (how far the
// indexer is behind) and the dev pipeline's snapshot and drain checks.
type Positions struct {
	client *kafka.Client
	group  string
	topics []string
}

// NewPositions returns a reader of the positions of group on topics, with a
// client of its own.
func NewPositions(brokers []string, group string, topics []string) *Positions {
	return &Positions{
		client: &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second,
			Transport: &kafka.Transport{ClientID: "rummage-positions", DialTimeout: 5 * time.Second, MetadataTTL: time.Second}},
		group: group, topics: topics,
	}
}

// End returns the end offset of every partition of the topics (partitions
// that never held a message are left out).
func (p *Positions) End(ctx context.Context) (map[indexer.TopicPartition]int64, error) {
	end, _, err := p.read(ctx, false)
	return end, err
}

// Positions returns the end offsets and the group's committed offsets
// (partitions it never committed on are left out: 0).
func (p *Positions) Positions(ctx context.Context) (end, committed map[indexer.TopicPartition]int64, err error) {
	return p.read(ctx, true)
}

func (p *Positions) read(ctx context.Context, withCommitted bool) (end, committed map[indexer.TopicPartition]int64, err error) {
	meta, err := p.client.Metadata(ctx, &kafka.MetadataRequest{Topics: p.topics})
	if err != nil {
		return nil, nil, fmt.Errorf("kafkabus: metadata: %w", err)
	}
	parts := map[string][]int{}
	reqs := map[string][]kafka.OffsetRequest{}
	for _, t := range meta.Topics {
		if t.Error != nil {
			return nil, nil, fmt.Errorf("kafkabus: topic %s: %w", t.Name, t.Error)
		}
		for _, part := range t.Partitions {
			parts[t.Name] = append(parts[t.Name], part.ID)
			reqs[t.Name] = append(reqs[t.Name], kafka.LastOffsetOf(part.ID))
		}
	}
	res, err := p.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: reqs})
	if err != nil {
		return nil, nil, fmt.Errorf("kafkabus: end offsets: %w", err)
	}
	end, err = byPartition("end offset", res.Topics, func(po kafka.PartitionOffsets) (int, int64, error) {
		return po.Partition, po.LastOffset, po.Error
	})
	if err != nil {
		return nil, nil, err
	}
	if !withCommitted {
		return end, nil, nil
	}
	off, err := p.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: p.group, Topics: parts})
	if err != nil {
		return nil, nil, fmt.Errorf("kafkabus: committed offsets of %s: %w", p.group, err)
	}
	if off.Error != nil {
		return nil, nil, fmt.Errorf("kafkabus: committed offsets of %s: %w", p.group, off.Error)
	}
	committed, err = byPartition("committed offset", off.Topics, func(cp kafka.OffsetFetchPartition) (int, int64, error) {
		return cp.Partition, cp.CommittedOffset, cp.Error
	})
	if err != nil {
		return nil, nil, err
	}
	return end, committed, nil
}

// byPartition collects the positive offsets of a kafka-go response by
// partition (none yet is left out), failing on the first partition that
// reports an error; what names the offset in it.
func byPartition[P any](what string, topics map[string][]P, get func(P) (partition int, offset int64, err error)) (map[indexer.TopicPartition]int64, error) {
	out := map[indexer.TopicPartition]int64{}
	for topic, ps := range topics {
		for _, p := range ps {
			part, offset, err := get(p)
			if err != nil {
				return nil, fmt.Errorf("kafkabus: %s of %s/%d: %w", what, topic, part, err)
			}
			if offset > 0 {
				out[indexer.TopicPartition{Topic: topic, Partition: part}] = offset
			}
		}
	}
	return out, nil
}

// Close releases the client's connections.
func (p *Positions) Close() {
	if t, ok := p.client.Transport.(*kafka.Transport); ok {
		t.CloseIdleConnections()
	}
}
