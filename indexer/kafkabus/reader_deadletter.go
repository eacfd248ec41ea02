package kafkabus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/rummage/rummage/indexer"
)

// Headers a dead letter carries besides the original message's own headers.
const (
	HeaderReason    = "rummage.dlq.reason"    // an indexer.Reason* code
	HeaderError     = "rummage.dlq.error"     // the detail, for people
	HeaderTopic     = "rummage.dlq.topic"     // where the message came from
	HeaderPartition = "rummage.dlq.partition" // decimal
	HeaderOffset    = "rummage.dlq.offset"    // decimal
	HeaderTime      = "rummage.dlq.time"      // RFC 3339, when it was dead-lettered
)

// DeadLetterTopic names the dead-letter topic under a topic prefix.
func DeadLetterTopic(prefix string) string { return prefix + ".dlq" }

// DeadLetterWriter writes dead letters to a topic with acks=all: it
// implements indexer.DeadLetterSink. Each dead letter keeps the original key
// and value, so it can be replayed after a fix. It has its own Transport, so
// writers of different clusters in one process never share connections.
type DeadLetterWriter struct {
	w *kafka.Writer
	c *kafka.Client
}

// NewDeadLetterWriter returns a writer to topic on brokers. The topic is
// created on first write if the cluster allows automatic creation; create it
// beforehand otherwise.
func NewDeadLetterWriter(brokers []string, topic string) (*DeadLetterWriter, error) {
	if len(brokers) == 0 || topic == "" {
		return nil, errors.New("kafkabus: dead-letter writer needs brokers and a topic")
	}
	transport := &kafka.Transport{ClientID: "rummage-indexer-dlq", DialTimeout: 10 * time.Second}
	addr := kafka.TCP(brokers...)
	return &DeadLetterWriter{
		w: &kafka.Writer{
			Addr:                   addr,
			Topic:                  topic,
			Balancer:               &kafka.Hash{},
			RequiredAcks:           kafka.RequireAll,
			BatchTimeout:           5 * time.Millisecond, // writes are synchronous; don't linger
			MaxAttempts:            5,
			AllowAutoTopicCreation: true,
			Transport:              transport,
		},
		c: &kafka.Client{Addr: addr, Transport: transport, Timeout: 10 * time.Second},
	}, nil
}

// EnsureTopic creates the dead-letter topic with partitions partitions if
// it does not exist, for clusters that do not create topics on first write.
func (d *DeadLetterWriter) EnsureTopic(ctx context.Context, partitions int) error {
	res, err := d.c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: d.w.Topic, NumPartitions: partitions, ReplicationFactor: -1}}})
	if err != nil {
		return fmt.Errorf("kafkabus: create topic %s: %w", d.w.Topic, err)
	}
	if err := res.Errors[d.w.Topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("kafkabus: create topic %s: %w", d.w.Topic, err)
	}
	return nil
}

var _ indexer.DeadLetterSink = (*DeadLetterWriter)(nil)

// Send writes the letters and returns when the broker acknowledged all.
func (d *DeadLetterWriter) Send(ctx context.Context, letters []indexer.DeadLetter) error {
	now := time.Now().UTC().Format(time.RFC3339Nano)
	msgs := make([]kafka.Message, len(letters))
	for i, l := range letters {
		h := make([]kafka.Header, 0, len(l.Message.Headers)+6)
		for _, oh := range l.Message.Headers {
			h = append(h, kafka.Header{Key: oh.Key, Value: oh.Value})
		}
		h = append(h,
			kafka.Header{Key: HeaderReason, Value: []byte(l.Reason)},
			kafka.Header{Key: HeaderError, Value: []byte(l.Err)},
			kafka.Header{Key: HeaderTopic, Value: []byte(l.Message.Topic)},
			kafka.Header{Key: HeaderPartition, Value: []byte(strconv.Itoa(l.Message.Partition))},
			kafka.Header{Key: HeaderOffset, Value: []byte(strconv.FormatInt(l.Message.Offset, 10))},
			kafka.Header{Key: HeaderTime, Value: []byte(now)},
		)
		msgs[i] = kafka.Message{Key: l.Message.Key, Value: l.Message.Value, Headers: h}
	}
	if err := d.w.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("kafkabus: write %d dead letters to %s: %w", len(msgs), d.w.Topic, err)
	}
	return nil
}

// Close flushes and closes the writer.
func (d *DeadLetterWriter) Close() error { return d.w.Close() }
