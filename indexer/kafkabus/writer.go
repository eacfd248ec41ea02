package kafkabus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"

	"github.com/rummage/rummage/indexer/change"
)

// HeaderTruncatePartition is set on the copies of a truncate event: it names the
// partition the copy is for (see Writer.Write).
const HeaderTruncatePartition = "rummage.truncate.partition"

// WriterConfig configures a Writer. Zero fields take the defaults noted.
type WriterConfig struct {
	Brokers     []string // host:port of one or more brokers (required)
	TopicPrefix string   // topics are <prefix>.<schema>.<table> (default change.DefaultTopicPrefix)
	// Partitions and ReplicationFactor are used for the topics the writer
	// creates (default DefaultPartitions and -1, the broker's default).
	Partitions        int
	ReplicationFactor int
	// Compression: "snappy" (default), "lz4", "zstd", "gzip" or "none".
	Compression string
	// MaxAttempts per batch inside kafka-go before Write fails (default 5).
	MaxAttempts int
	// WriteTimeout bounds one produce request (default 10s).
	WriteTimeout time.Duration
	// BatchBytes caps the records of one partition in one produce request
	// (default DefaultBatchBytes). It must stay below the brokers'
	// message.max.bytes (and the topics' max.message.bytes), or a request
	// is refused every time it is retried. A Write of more is split into
	// several requests.
	BatchBytes int64
	Logger     *slog.Logger
}

func (c WriterConfig) withDefaults() WriterConfig {
	if c.TopicPrefix == "" {
		c.TopicPrefix = change.DefaultTopicPrefix
	}
	if c.Partitions <= 0 {
		c.Partitions = DefaultPartitions
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = -1
	}
	if c.Compression == "" {
		c.Compression = "snappy"
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 5
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.BatchBytes <= 0 {
		c.BatchBytes = DefaultBatchBytes
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// DefaultPartitions is the partition count of the topics the writer and the
// reader create when they are missing.
const DefaultPartitions = 8

// DefaultBatchBytes is WriterConfig.BatchBytes's default: under Kafka's
// default message.max.bytes (1048588), with room for the batch framing.
const DefaultBatchBytes = 1_000_000

var codecs = map[string]compress.Compression{
	"none": 0, "gzip": compress.Gzip, "snappy": compress.Snappy, "lz4": compress.Lz4, "zstd": compress.Zstd,
}

// Validate reports what is wrong with c (after defaults).
func (c WriterConfig) Validate() error {
	c = c.withDefaults()
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("at least one broker is required"))
	}
	for _, b := range c.Brokers {
		if !strings.Contains(b, ":") {
			errs = append(errs, fmt.Errorf("broker %q: want host:port", b))
		}
	}
	if _, ok := codecs[c.Compression]; !ok {
		errs = append(errs, fmt.Errorf("compression %q: want snappy, lz4, zstd, gzip or none", c.Compression))
	}
	if strings.ContainsAny(c.TopicPrefix, " /\\,:") {
		errs = append(errs, fmt.Errorf("topic prefix %q: not a valid Kafka topic name part", c.TopicPrefix))
	}
	if len(errs) > 0 {
		return fmt.Errorf("kafkabus: writer config: %w", errors.Join(errs...))
	}
	return nil
}

// Writer writes change events to Kafka. It implements the CDC's Sink
// (indexer/pgcdc): Write returns only when every event is acknowledged by
// all in-sync replicas (acks=all). It is safe for concurrent use, but the
// CDC calls it from one goroutine, which is what keeps each key's events in
// order.
type Writer struct {
	cfg    WriterConfig
	w      *kafka.Writer
	client *kafka.Client

	mu    sync.Mutex
	parts map[string]int // topics known to exist → partition count
}

// NewWriter returns a writer for cfg. It does not contact the cluster; topics
// are created on first use (or up front with EnsureTopics).
func NewWriter(cfg WriterConfig) (*Writer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	transport := &kafka.Transport{
		ClientID:    "rummage-cdc",
		DialTimeout: 10 * time.Second,
		IdleTimeout: 30 * time.Second,
		MetadataTTL: 10 * time.Second,
	}
	addr := kafka.TCP(cfg.Brokers...)
	log := cfg.Logger
	return &Writer{
		cfg: cfg,
		w: &kafka.Writer{
			Addr:         addr,
			Balancer:     &balancer{},
			MaxAttempts:  cfg.MaxAttempts,
			BatchSize:    10000,            // a Write's events go out together ...
			BatchBytes:   cfg.BatchBytes,   // ... up to BatchBytes per partition request
			BatchTimeout: time.Millisecond, // writes are synchronous: don't linger
			WriteTimeout: cfg.WriteTimeout,
			RequiredAcks: kafka.RequireAll,
			Compression:  codecs[cfg.Compression],
			Transport:    transport,
			ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
				log.Warn("kafkabus: writer: " + fmt.Sprintf(msg, args...))
			}),
		},
		client: &kafka.Client{Addr: addr, Transport: transport, Timeout: cfg.WriteTimeout},
		parts:  map[string]int{},
	}, nil
}

// Topic is the topic of a table under the writer's prefix.
func (w *Writer) Topic(schema, table string) string {
	return change.Topic(w.cfg.TopicPrefix, schema, table)
}

// TableTopics names the topics of tables given as "table" (schema public)
// or "schema.table".
func TableTopics(prefix string, tables []string) []string {
	out := make([]string, len(tables))
	for i, t := range tables {
		schema, table := "public", t
		if j := strings.IndexByte(t, '.'); j >= 0 {
			schema, table = t[:j], t[j+1:]
		}
		out[i] = change.Topic(prefix, schema, table)
	}
	return out
}

// EnsureTopics creates the topics that do not exist (with the configured
// partition count, through the controller) and learns their partition
// counts.
func (w *Writer) EnsureTopics(ctx context.Context, topics ...string) error {
	var missing []string
	w.mu.Lock()
	for _, t := range topics {
		if _, ok := w.parts[t]; !ok {
			missing = append(missing, t)
		}
	}
	w.mu.Unlock()
	if len(missing) == 0 {
		return nil
	}
	req := &kafka.CreateTopicsRequest{}
	for _, t := range missing {
		req.Topics = append(req.Topics, kafka.TopicConfig{Topic: t, NumPartitions: w.cfg.Partitions, ReplicationFactor: w.cfg.ReplicationFactor})
	}
	res, err := w.client.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("kafkabus: create topics: %w", err)
	}
	for t, terr := range res.Errors {
		if terr != nil && !errors.Is(terr, kafka.TopicAlreadyExists) {
			return fmt.Errorf("kafkabus: create topic %s: %w", t, terr)
		}
	}
	meta, err := w.client.Metadata(ctx, &kafka.MetadataRequest{Topics: missing})
	if err != nil {
		return fmt.Errorf("kafkabus: topic metadata: %w", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, t := range meta.Topics {
		if t.Error != nil {
			return fmt.Errorf("kafkabus: topic %s: %w", t.Name, t.Error)
		}
		if len(t.Partitions) == 0 {
			return fmt.Errorf("kafkabus: topic %s has no partitions yet", t.Name)
		}
		w.parts[t.Name] = len(t.Partitions)
	}
	return nil
}

// Write sends events and returns when all are acknowledged (acks=all). The
// key of each message is the event's key (the primary key as JSON), so a
// row's events share a partition and keep their order. A truncate has no key
// and concerns every row, so it is written once to every partition of its
// topic (header HeaderTruncatePartition names the partition): each consumer of a
// partition sees it after every earlier event of that partition.
//
// An error means some events may be stored and some not; the caller sends
// them all again (the CDC does), so the topics are at-least-once and
// consumers drop duplicates by version.
func (w *Writer) Write(ctx context.Context, events []change.Event) error {
	if len(events) == 0 {
		return nil
	}
	var topics []string
	seen := map[string]bool{}
	for i := range events {
		t := events[i].Topic(w.cfg.TopicPrefix)
		if !seen[t] {
			seen[t] = true
			topics = append(topics, t)
		}
	}
	if err := w.EnsureTopics(ctx, topics...); err != nil {
		return err
	}
	msgs := make([]kafka.Message, 0, len(events))
	for i := range events {
		e := &events[i]
		value, err := e.Marshal()
		if err != nil {
			return fmt.Errorf("kafkabus: encode event %d: %w", i, err)
		}
		topic := e.Topic(w.cfg.TopicPrefix)
		if e.Op == change.OpTruncate || len(e.Key) == 0 {
			w.mu.Lock()
			n := w.parts[topic]
			w.mu.Unlock()
			for p := 0; p < n; p++ {
				msgs = append(msgs, kafka.Message{Topic: topic, Value: value,
					Headers: []kafka.Header{{Key: HeaderTruncatePartition, Value: []byte(strconv.Itoa(p))}}})
			}
			continue
		}
		msgs = append(msgs, kafka.Message{Topic: topic, Key: e.Key, Value: value})
	}
	if err := w.w.WriteMessages(ctx, msgs...); err != nil {
		// The cluster may have been replaced (or topics deleted): learn the
		// topics again before the retry.
		w.mu.Lock()
		clear(w.parts)
		w.mu.Unlock()
		var werrs kafka.WriteErrors
		if errors.As(err, &werrs) {
			return fmt.Errorf("kafkabus: %d of %d messages not acknowledged: %w", werrs.Count(), len(msgs), firstError(werrs))
		}
		return fmt.Errorf("kafkabus: write: %w", err)
	}
	return nil
}

func firstError(errs kafka.WriteErrors) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Close flushes nothing (writes are synchronous) and closes connections.
func (w *Writer) Close() error {
	err := w.w.Close()
	if t, ok := w.client.Transport.(*kafka.Transport); ok {
		t.CloseIdleConnections()
	}
	return err
}

// balancer hashes the key (kafka-go's Hash: FNV-1a, Sarama-compatible), except
// for messages that name their partition in HeaderTruncatePartition.
type balancer struct {
	hash kafka.Hash
}

func (b *balancer) Balance(msg kafka.Message, partitions ...int) int {
	for _, h := range msg.Headers {
		if h.Key != HeaderTruncatePartition {
			continue
		}
		if p, err := strconv.Atoi(string(h.Value)); err == nil {
			for _, q := range partitions {
				if q == p {
					return p
				}
			}
		}
	}
	return b.hash.Balance(msg, partitions...)
}
