package events

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"

	"github.com/rummage/rummage/internal/metric"
)

// Defaults of ProducerConfig.
const (
	DefaultPartitions     = 8
	DefaultRetention      = 7 * 24 * time.Hour
	DefaultImpressionsCap = 8192
	DefaultLinger         = 2 * time.Millisecond
)

// ProducerConfig configures a Producer. Zero fields take their defaults.
type ProducerConfig struct {
	Brokers     []string // host:port (required)
	TopicPrefix string   // the topic is Topic(TopicPrefix) (required)
	// Partitions of the topic when the producer creates it (8).
	Partitions int
	// Retention is the topic's retention.ms when the producer creates it
	// (7 days): events are analytics, not a record to keep.
	Retention time.Duration
	// Linger is how long a produce request waits for concurrent requests'
	// events to share it (group commit; 2 ms).
	Linger time.Duration
	// ImpressionsCap bounds the impressions waiting to be written; beyond,
	// impressions are dropped and counted (8192).
	ImpressionsCap int
	// WriteTimeout bounds one produce request (10 s).
	WriteTimeout time.Duration
	Logger       *slog.Logger
}

func (c ProducerConfig) withDefaults() ProducerConfig {
	c.Partitions = cmp.Or(c.Partitions, DefaultPartitions)
	c.Retention = cmp.Or(c.Retention, DefaultRetention)
	c.Linger = cmp.Or(c.Linger, DefaultLinger)
	c.ImpressionsCap = cmp.Or(c.ImpressionsCap, DefaultImpressionsCap)
	c.WriteTimeout = cmp.Or(c.WriteTimeout, 10*time.Second)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports a configuration the producer cannot run with.
func (c ProducerConfig) Validate() error {
	errs := TopicErrors(c.Brokers, c.TopicPrefix)
	if c.Partitions < 0 || c.Retention < 0 || c.Linger < 0 || c.ImpressionsCap < 0 || c.WriteTimeout < 0 {
		errs = append(errs, errors.New("partitions, retention, linger, impressions cap and write timeout must not be negative"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("events: producer config: %w", errors.Join(errs...))
	}
	return nil
}

// Producer writes events to the events topic. Publish is synchronous
// (acks=all): an event it acknowledged is stored by every in-sync replica.
// Concurrent Publish calls share produce requests (kafka-go batches the
// messages of one partition that arrive within Linger), which is the
// group commit that carries the ingest rate. Impression is asynchronous
// and may drop under overload. Safe for concurrent use.
type Producer struct {
	cfg    ProducerConfig
	w      *kafka.Writer
	client *kafka.Client
	m      *ProducerMetrics

	imp     chan Event
	stop    chan struct{}
	done    chan struct{}
	closeMu sync.Once
}

// ProducerMetrics count what the producer wrote and dropped.
type ProducerMetrics struct {
	set         *metric.Set
	Published   prometheus.Counter
	Failed      prometheus.Counter
	Impressions prometheus.Counter
	Dropped     prometheus.Counter
}

// NewProducerMetrics returns unregistered metrics (Register them).
func NewProducerMetrics() *ProducerMetrics {
	s := metric.NewSet("events")
	return &ProducerMetrics{set: s,
		Published:   s.Counter("published_total", "Client events acknowledged by the events topic (acks=all)."),
		Failed:      s.Counter("publish_failures_total", "Client event batches the events topic did not acknowledge (answered 503)."),
		Impressions: s.Counter("impressions_written_total", "Impressions written to the events topic."),
		Dropped:     s.Counter("impressions_dropped_total", "Impressions dropped: the buffer was full (overload) or the topic refused them."),
	}
}

// Register registers the metrics on reg.
func (m *ProducerMetrics) Register(reg prometheus.Registerer) error { return m.set.Register(reg) }

// NewProducer returns a producer; it does not contact the cluster (call
// EnsureTopic). m nil: unregistered metrics.
func NewProducer(cfg ProducerConfig, m *ProducerMetrics) (*Producer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if m == nil {
		m = NewProducerMetrics()
	}
	addr := kafka.TCP(cfg.Brokers...)
	transport := &kafka.Transport{ClientID: "rummage-events", DialTimeout: 10 * time.Second, IdleTimeout: 30 * time.Second, MetadataTTL: 10 * time.Second}
	log := cfg.Logger
	p := &Producer{cfg: cfg, m: m,
		w: &kafka.Writer{
			Addr:         addr,
			Topic:        Topic(cfg.TopicPrefix),
			Balancer:     &kafka.Hash{},
			BatchSize:    5000,
			BatchBytes:   1_000_000,
			BatchTimeout: cfg.Linger,
			WriteTimeout: cfg.WriteTimeout,
			RequiredAcks: kafka.RequireAll,
			MaxAttempts:  5,
			Compression:  compress.Snappy,
			Transport:    transport,
			ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
				log.Warn("events: producer: " + fmt.Sprintf(msg, args...))
			}),
		},
		client: &kafka.Client{Addr: addr, Transport: transport, Timeout: cfg.WriteTimeout},
		imp:    make(chan Event, cfg.ImpressionsCap),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	go p.impressions()
	return p, nil
}

// EnsureTopic creates the events topic with its partitions and retention
// when it does not exist.
func (p *Producer) EnsureTopic(ctx context.Context) error {
	return EnsureTopic(ctx, p.client, Topic(p.cfg.TopicPrefix), p.cfg.Partitions, p.cfg.Retention)
}

// EnsureTopic creates topic with partitions and retention (retention.ms)
// when it does not exist.
func EnsureTopic(ctx context.Context, c *kafka.Client, topic string, partitions int, retention time.Duration) error {
	res, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: topic, NumPartitions: partitions, ReplicationFactor: -1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "retention.ms", ConfigValue: fmt.Sprint(retention.Milliseconds())}},
	}}})
	if err != nil {
		return fmt.Errorf("events: create topic %s: %w", topic, err)
	}
	if err := res.Errors[topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("events: create topic %s: %w", topic, err)
	}
	return nil
}

// message encodes one event; the key is the user's pseudonym (a user's
// events keep their order on one partition) or, anonymous, the listing.
func message(e *Event) (kafka.Message, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return kafka.Message{}, err
	}
	key := e.User
	if key == "" {
		key = cmp.Or(e.ListingID, e.QueryID, e.PartyID)
	}
	return kafka.Message{Key: []byte(key), Value: b}, nil
}

// Publish writes evs (users already pseudonymous) and returns once the
// topic acknowledged every one (acks=all). An error means some may be
// stored and some not: the client retries the batch (at-least-once; the
// rollups count what the topic holds).
func (p *Producer) Publish(ctx context.Context, evs []Event) error {
	if len(evs) == 0 {
		return nil
	}
	msgs := make([]kafka.Message, len(evs))
	for i := range evs {
		m, err := message(&evs[i])
		if err != nil {
			return fmt.Errorf("events: encode event %d: %w", i, err)
		}
		msgs[i] = m
	}
	if err := p.w.WriteMessages(ctx, msgs...); err != nil {
		p.m.Failed.Inc()
		return fmt.Errorf("events: publish %d events: %w", len(evs), err)
	}
	p.m.Published.Add(float64(len(evs)))
	return nil
}

// Impression queues an impression (user already pseudonymous); it never
// blocks: a full buffer drops it and counts the drop.
func (p *Producer) Impression(e Event) {
	select {
	case p.imp <- e:
	default:
		p.m.Dropped.Inc()
	}
}

// impressionBatch is the most impressions one produce carries.
const impressionBatch = 1000

func (p *Producer) impressions() {
	defer close(p.done)
	batch := make([]Event, 0, impressionBatch)
	for {
		select {
		case e := <-p.imp:
			batch = append(batch[:0], e)
		case <-p.stop:
			// Drain what is queued, then stop.
			for {
				select {
				case e := <-p.imp:
					batch = append(batch, e)
					if len(batch) < impressionBatch {
						continue
					}
					p.writeImpressions(batch)
					batch = batch[:0]
					continue
				default:
				}
				p.writeImpressions(batch)
				return
			}
		}
	fill:
		for len(batch) < impressionBatch {
			select {
			case e := <-p.imp:
				batch = append(batch, e)
			default:
				break fill
			}
		}
		p.writeImpressions(batch)
	}
}

func (p *Producer) writeImpressions(batch []Event) {
	if len(batch) == 0 {
		return
	}
	msgs := make([]kafka.Message, 0, len(batch))
	for i := range batch {
		m, err := message(&batch[i])
		if err != nil {
			p.m.Dropped.Inc()
			continue
		}
		msgs = append(msgs, m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.WriteTimeout)
	defer cancel()
	if err := p.w.WriteMessages(ctx, msgs...); err != nil {
		p.m.Dropped.Add(float64(len(msgs)))
		p.cfg.Logger.Warn("events: impressions dropped: the topic did not take them", "count", len(msgs), "err", err)
		return
	}
	p.m.Impressions.Add(float64(len(msgs)))
}

// Close writes the queued impressions and closes the connections.
func (p *Producer) Close() error {
	p.closeMu.Do(func() { close(p.stop) })
	<-p.done
	err := p.w.Close()
	if t, ok := p.client.Transport.(*kafka.Transport); ok {
		t.CloseIdleConnections()
	}
	return err
}
