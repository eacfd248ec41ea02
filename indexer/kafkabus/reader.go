package kafkabus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/rummage/rummage/indexer"
)

// ReaderConfig configures a Reader: one consumer group over the change
// topics of one cluster.
type ReaderConfig struct {
	Brokers []string // host:port of one or more brokers
	GroupID string   // the consumer group; its committed offsets are the indexer's position
	Topics  []string // e.g. rummage.public.listings, ...

	// CreateTopics creates the topics that do not exist yet with Partitions
	// partitions (default DefaultPartitions) before joining the group. kafka-go's group
	// consumer assigns nothing for a topic missing at join time and churns
	// through rebalances watching it, so the topics should exist first.
	CreateTopics bool
	Partitions   int

	// FromStart lists topics (among Topics) whose partitions the group
	// reads from their first offset, whatever it committed on them: the
	// topics of a store that has lost its positions (indexer.RewindTopics).
	// The group's committed offsets on them are deleted before it joins;
	// its offsets on the other topics stay.
	FromStart []string

	// Group timing; zero means the defaults noted.
	SessionTimeout    time.Duration // 10s
	HeartbeatInterval time.Duration // 1s
	RebalanceTimeout  time.Duration // 10s
	MaxWait           time.Duration // 250ms: a fetch's long-poll on the broker

	// QueueCapacity is how many fetched messages the reader holds ahead of
	// Fetch (default 20000): while the indexer applies a batch, the next one
	// accumulates here, so under backlog batches grow to Fetch's max instead
	// of to what a few fetch round trips bring within the batch wait.
	QueueCapacity int

	// Registerer receives the reader's metrics (lag, queue, rebalances,
	// errors); nil registers none.
	Registerer prometheus.Registerer
	Logger     *slog.Logger // errors of the kafka-go reader; nil is slog.Default()
}

// Validate checks the configuration.
func (c ReaderConfig) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("kafkabus: reader needs at least one broker")
	case c.GroupID == "":
		return errors.New("kafkabus: reader needs a consumer group id")
	case len(c.Topics) == 0:
		return errors.New("kafkabus: reader needs at least one topic")
	case c.Partitions < 0:
		return errors.New("kafkabus: partitions must not be negative")
	case c.QueueCapacity < 0:
		return errors.New("kafkabus: queue capacity must not be negative")
	}
	for _, t := range c.FromStart {
		if !slices.Contains(c.Topics, t) {
			return fmt.Errorf("kafkabus: topic %s to read from its start is not among the topics %v", t, c.Topics)
		}
	}
	return nil
}

// Reader is a kafka-go consumer group with explicit, synchronous commits
// (CommitInterval 0): it implements indexer.Source. It has its own Dialer,
// so readers of different clusters in one process never share connections.
type Reader struct {
	r       *kafka.Reader
	log     *slog.Logger
	mu      sync.Mutex
	pending error // an error met after a batch had started, returned by the next Fetch
}

// NewReader creates the topics if asked, then returns a reader that joins
// the group on its first Fetch.
func NewReader(ctx context.Context, cfg ReaderConfig) (*Reader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	dur := func(d, def time.Duration) time.Duration {
		if d == 0 {
			return def
		}
		return d
	}
	dialer := &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true, ClientID: "rummage-indexer"}
	if cfg.CreateTopics {
		n := cfg.Partitions
		if n == 0 {
			n = DefaultPartitions
		}
		if err := readerCreateTopics(ctx, dialer, cfg.Brokers, cfg.Topics, n); err != nil {
			return nil, err
		}
	}
	log := cfg.Logger
	if len(cfg.FromStart) > 0 {
		// A member of a previous run that was killed holds the group until
		// its session ends (then the group rebalances once more).
		wait := 2*dur(cfg.SessionTimeout, 10*time.Second) + dur(cfg.RebalanceTimeout, 10*time.Second)
		if err := forgetOffsets(ctx, cfg.Brokers, cfg.GroupID, cfg.FromStart, wait, log); err != nil {
			return nil, err
		}
	}
	queue := cfg.QueueCapacity
	if queue == 0 {
		queue = 20000
	}
	kr := kafka.NewReader(kafka.ReaderConfig{
		Brokers:                cfg.Brokers,
		GroupID:                cfg.GroupID,
		GroupTopics:            cfg.Topics,
		Dialer:                 dialer,
		CommitInterval:         0, // explicit, synchronous commits only
		StartOffset:            kafka.FirstOffset,
		MinBytes:               1, // a fetch returns as soon as there is data: latency
		MaxBytes:               16 << 20,
		MaxWait:                dur(cfg.MaxWait, 250*time.Millisecond),
		ReadBackoffMin:         10 * time.Millisecond,
		ReadBackoffMax:         250 * time.Millisecond,
		QueueCapacity:          queue,
		SessionTimeout:         dur(cfg.SessionTimeout, 10*time.Second),
		HeartbeatInterval:      dur(cfg.HeartbeatInterval, time.Second),
		RebalanceTimeout:       dur(cfg.RebalanceTimeout, 10*time.Second),
		JoinGroupBackoff:       500 * time.Millisecond,
		WatchPartitionChanges:  true,
		PartitionWatchInterval: 5 * time.Second,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			log.Warn("kafkabus: reader: " + fmt.Sprintf(msg, args...))
		}),
	})
	r := &Reader{r: kr, log: log}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(&readerCollector{r: kr}); err != nil {
			kr.Close()
			return nil, fmt.Errorf("kafkabus: register reader metrics: %w", err)
		}
	}
	return r, nil
}

var _ indexer.Source = (*Reader)(nil)

// drainGap is how long Fetch waits for one more message once its wait is
// over: a message already queued (a backlog) is taken at once, so a batch
// keeps growing while messages are queued, and ends when the queue is empty.
const drainGap = 2 * time.Millisecond

// Fetch blocks for the first message, then takes up to max messages, waiting
// at most wait for more; after that it still takes the messages already
// queued (backlog), up to max. See indexer.Source.
func (r *Reader) Fetch(ctx context.Context, max int, wait time.Duration) ([]indexer.Message, error) {
	r.mu.Lock()
	err := r.pending
	r.pending = nil
	r.mu.Unlock()
	if err != nil {
		return nil, err
	}
	m, err := r.r.FetchMessage(ctx)
	if err != nil {
		return nil, fmt.Errorf("kafkabus: fetch: %w", err)
	}
	out := make([]indexer.Message, 0, min(max, 1024))
	out = append(out, fromKafka(m))
	if max <= 1 {
		return out, nil
	}
	// FetchMessage leaves a message in the reader's queue when its context
	// ends first, so cutting the batch by deadline loses nothing.
	deadline := time.Now().Add(wait)
	for len(out) < max {
		d := time.Until(deadline)
		if d < drainGap {
			d = drainGap
		}
		bctx, cancel := context.WithTimeout(ctx, d)
		m, err := r.r.FetchMessage(bctx)
		cancel()
		if err != nil {
			if bctx.Err() == nil {
				r.mu.Lock()
				r.pending = fmt.Errorf("kafkabus: fetch: %w", err)
				r.mu.Unlock()
			}
			break
		}
		out = append(out, fromKafka(m))
	}
	return out, nil
}

// Commit commits, per partition, the offset after the highest message of
// msgs, synchronously.
func (r *Reader) Commit(ctx context.Context, msgs []indexer.Message) error {
	high := map[indexer.TopicPartition]int64{}
	for _, m := range msgs {
		k := indexer.TopicPartition{Topic: m.Topic, Partition: m.Partition}
		if o, ok := high[k]; !ok || m.Offset > o {
			high[k] = m.Offset
		}
	}
	if len(high) == 0 {
		return nil
	}
	km := make([]kafka.Message, 0, len(high))
	for k, o := range high {
		km = append(km, kafka.Message{Topic: k.Topic, Partition: k.Partition, Offset: o})
	}
	if err := r.r.CommitMessages(ctx, km...); err != nil {
		return fmt.Errorf("kafkabus: commit: %w", err)
	}
	return nil
}

// Stats returns kafka-go's reader statistics. It resets kafka-go's counters;
// when the reader's metrics are registered, leave the calls to them.
func (r *Reader) Stats() kafka.ReaderStats { return r.r.Stats() }

// Close leaves the group and closes the connections. Uncommitted messages
// are delivered again to the next member.
func (r *Reader) Close() error { return r.r.Close() }

func fromKafka(m kafka.Message) indexer.Message {
	out := indexer.Message{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, HighWaterMark: m.HighWaterMark,
		Key: m.Key, Value: m.Value, Time: m.Time}
	if len(m.Headers) > 0 {
		out.Headers = make([]indexer.Header, len(m.Headers))
		for i, h := range m.Headers {
			out.Headers[i] = indexer.Header{Key: h.Key, Value: h.Value}
		}
	}
	return out
}

// readerCreateTopics creates the topics missing from the cluster.
func readerCreateTopics(ctx context.Context, d *kafka.Dialer, brokers []string, topics []string, partitions int) error {
	var conn *kafka.Conn
	var err error
	for _, b := range brokers {
		if conn, err = d.DialContext(ctx, "tcp", b); err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("kafkabus: dial %v: %w", brokers, err)
	}
	defer conn.Close()
	ctrl, err := conn.Controller()
	if err != nil {
		return fmt.Errorf("kafkabus: find controller: %w", err)
	}
	cc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		return fmt.Errorf("kafkabus: dial controller: %w", err)
	}
	defer cc.Close()
	cfgs := make([]kafka.TopicConfig, len(topics))
	for i, t := range topics {
		cfgs[i] = kafka.TopicConfig{Topic: t, NumPartitions: partitions, ReplicationFactor: -1}
	}
	if err := cc.CreateTopics(cfgs...); err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("kafkabus: create topics %v: %w", topics, err)
	}
	return nil
}

// readerCollector exports kafka-go's reader statistics. kafka-go resets its
// counters on every Stats call, so the collector accumulates them.
type readerCollector struct {
	r                               *kafka.Reader
	mu                              sync.Mutex
	messages, rebalances, errs, fts float64
}

var (
	descLag        = prometheus.NewDesc("rummage_kafka_reader_lag", "Messages behind the high-water mark of the partition the reader fetched from last (kafka-go Reader.Stats Lag; per partition see rummage_indexer_consumer_lag).", nil, nil)
	descQueue      = prometheus.NewDesc("rummage_kafka_reader_queue_length", "Messages fetched and waiting in the reader's queue.", nil, nil)
	descMessages   = prometheus.NewDesc("rummage_kafka_reader_messages_total", "Messages fetched.", nil, nil)
	descRebalances = prometheus.NewDesc("rummage_kafka_reader_rebalances_total", "Consumer group rebalances.", nil, nil)
	descErrors     = prometheus.NewDesc("rummage_kafka_reader_errors_total", "Reader errors.", nil, nil)
	descFetches    = prometheus.NewDesc("rummage_kafka_reader_fetches_total", "Fetch requests.", nil, nil)
)

func (c *readerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLag, descQueue, descMessages, descRebalances, descErrors, descFetches} {
		ch <- d
	}
}

func (c *readerCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.r.Stats()
	c.mu.Lock()
	c.messages += float64(s.Messages)
	c.rebalances += float64(s.Rebalances)
	c.errs += float64(s.Errors)
	c.fts += float64(s.Fetches)
	m, rb, e, f := c.messages, c.rebalances, c.errs, c.fts
	c.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(s.Lag))
	ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(s.QueueLength))
	ch <- prometheus.MustNewConstMetric(descMessages, prometheus.CounterValue, m)
	ch <- prometheus.MustNewConstMetric(descRebalances, prometheus.CounterValue, rb)
	ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, e)
	ch <- prometheus.MustNewConstMetric(descFetches, prometheus.CounterValue, f)
}
