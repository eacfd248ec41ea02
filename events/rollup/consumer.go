package rollup

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

	"github.com/rummage/rummage/events"
	"github.com/rummage/rummage/internal/metric"
)

// Defaults of Config.
const (
	DefaultFlush     = 500 * time.Millisecond
	DefaultMaxBatch  = 20000
	DefaultRetention = 90 * 24 * time.Hour
)

// Config configures a Consumer.
type Config struct {
	Brokers     []string // required
	TopicPrefix string   // the topic is events.Topic(TopicPrefix) (required)
	// Flush is the longest a batch waits before it is committed (500 ms):
	// the rollup lag is about this plus the commit.
	Flush time.Duration
	// MaxBatch is the most events one transaction commits (20,000).
	MaxBatch int
	// Retention deletes rollup rows older than this, hourly (90 days).
	Retention time.Duration
	// Retry is the wait before starting again after an error (1 s).
	Retry time.Duration
	// OnCommit, when set, hears of every committed batch: its events and
	// the age of its newest event at the commit (the rollup lag).
	OnCommit func(events int, lag time.Duration)
	// Metrics; nil: unregistered ones.
	Metrics *Metrics
	Logger  *slog.Logger
}

func (c Config) withDefaults() Config {
	c.Flush = cmp.Or(c.Flush, DefaultFlush)
	c.MaxBatch = cmp.Or(c.MaxBatch, DefaultMaxBatch)
	c.Retention = cmp.Or(c.Retention, DefaultRetention)
	c.Retry = cmp.Or(c.Retry, time.Second)
	if c.Metrics == nil {
		c.Metrics = NewMetrics()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports a configuration the consumer cannot run with.
func (c Config) Validate() error {
	errs := events.TopicErrors(c.Brokers, c.TopicPrefix)
	if c.Flush < 0 || c.MaxBatch < 0 || c.Retention < 0 || c.Retry < 0 {
		errs = append(errs, errors.New("flush, max batch, retention and retry must not be negative"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("rollup: config: %w", errors.Join(errs...))
	}
	return nil
}

// Metrics of the consumer.
type Metrics struct {
	set          *metric.Set
	Events       prometheus.Counter
	Batches      prometheus.Counter
	Malformed    prometheus.Counter
	Unattributed prometheus.Counter
	Served       prometheus.Counter
	UnknownViews prometheus.Counter
	Lag          prometheus.Gauge
}

// NewMetrics returns unregistered metrics.
func NewMetrics() *Metrics {
	s := metric.NewSet("analytics")
	return &Metrics{set: s,
		Events:       s.Counter("events_rolled_up_total", "Events of the events topic added to the rollups."),
		Batches:      s.Counter("batches_total", "Rollup transactions committed (rows and offsets together)."),
		Malformed:    s.Counter("malformed_events_total", "Messages of the events topic that are not an event (skipped)."),
		Unattributed: s.Counter("unattributed_total", "Clicks, carts and purchases whose query_id names no known search or party answer."),
		Served:       s.Counter("served_views_total", "View events counted as a search or party answer a CDN served (the views of a query id after its first)."),
		UnknownViews: s.Counter("unknown_views_total", "View events whose query_id names no known search or party answer (counted on their party alone)."),
		Lag:          s.Gauge("rollup_lag_seconds", "Age of the newest event of the last committed batch when it committed."),
	}
}

// Register registers the metrics on reg.
func (m *Metrics) Register(reg prometheus.Registerer) error { return m.set.Register(reg) }

// Consumer reads the events topic into the rollups.
type Consumer struct {
	cfg   Config
	store *Store
	topic string

	mu        sync.Mutex
	committed map[int]int64
	notify    chan struct{}
}

// NewConsumer returns a consumer writing to store.
func NewConsumer(cfg Config, store *Store) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Consumer{cfg: cfg, store: store, topic: events.Topic(cfg.TopicPrefix), committed: map[int]int64{}, notify: make(chan struct{})}, nil
}

// Run consumes until ctx ends; after an error it starts again from the
// committed offsets.
func (c *Consumer) Run(ctx context.Context) error {
	lastRetention := time.Time{}
	for {
		if time.Since(lastRetention) > time.Hour {
			if n, err := c.store.DeleteBefore(ctx, time.Now().Add(-c.cfg.Retention)); err != nil {
				c.cfg.Logger.Warn("analytics: rollup retention", "err", err)
			} else {
				lastRetention = time.Now()
				if n > 0 {
					c.cfg.Logger.Info("analytics: rollup retention deleted rows", "rows", n, "older_than", c.cfg.Retention)
				}
			}
		}
		err := c.runOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		c.cfg.Logger.Warn("analytics: rollup consumer stopped; starting again from the committed offsets", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(c.cfg.Retry):
		}
	}
}

type fetched struct {
	partition int
	offset    int64
	value     []byte
	err       error
}

// partitions returns the topic's partition ids.
func (c *Consumer) partitions(ctx context.Context) ([]int, error) {
	cl := &kafka.Client{Addr: kafka.TCP(c.cfg.Brokers...), Timeout: 10 * time.Second}
	meta, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{c.topic}})
	if err != nil {
		return nil, fmt.Errorf("rollup: metadata: %w", err)
	}
	for _, t := range meta.Topics {
		if t.Error != nil {
			return nil, fmt.Errorf("rollup: topic %s: %w", t.Name, t.Error)
		}
		var ps []int
		for _, p := range t.Partitions {
			ps = append(ps, p.ID)
		}
		if len(ps) == 0 {
			return nil, fmt.Errorf("rollup: topic %s has no partitions", t.Name)
		}
		return ps, nil
	}
	return nil, fmt.Errorf("rollup: topic %s not found", c.topic)
}

func (c *Consumer) runOnce(ctx context.Context) error {
	parts, err := c.partitions(ctx)
	if err != nil {
		return err
	}
	offs, err := c.store.Offsets(ctx, c.topic)
	if err != nil {
		return err
	}
	if err := c.checkOffsets(ctx, parts, offs); err != nil {
		return err
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan fetched, 4096)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for _, p := range parts {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: c.cfg.Brokers, Topic: c.topic, Partition: p,
			MinBytes: 1, MaxBytes: 8 << 20, MaxWait: c.cfg.Flush, ReadBackoffMin: 50 * time.Millisecond, ReadBackoffMax: time.Second})
		start, ok := offs[p]
		if !ok {
			start = kafka.FirstOffset
		}
		if err := r.SetOffset(start); err != nil {
			r.Close()
			return fmt.Errorf("rollup: seek partition %d: %w", p, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.Close()
			for {
				m, err := r.FetchMessage(rctx)
				if err != nil {
					if rctx.Err() == nil {
						select {
						case ch <- fetched{partition: p, err: err}:
						case <-rctx.Done():
						}
					}
					return
				}
				select {
				case ch <- fetched{partition: p, offset: m.Offset, value: m.Value}:
				case <-rctx.Done():
					return
				}
			}
		}()
	}
	c.cfg.Logger.Info("analytics: rolling up the events topic", "topic", c.topic, "partitions", len(parts), "committed_partitions", len(offs))
	tick := time.NewTicker(c.cfg.Flush)
	defer tick.Stop()
	batch := make([]events.Event, 0, 1024)
	next := map[int]int64{}
	flush := func() error {
		if len(next) == 0 {
			return nil
		}
		d, err := c.store.Apply(ctx, c.topic, batch, next)
		if err != nil {
			return err
		}
		var newest time.Time
		for i := range batch {
			if batch[i].At.After(newest) {
				newest = batch[i].At
			}
		}
		lag := time.Duration(0)
		if !newest.IsZero() {
			lag = max(time.Since(newest), 0)
			c.cfg.Metrics.Lag.Set(lag.Seconds())
		}
		if c.cfg.OnCommit != nil {
			c.cfg.OnCommit(len(batch), lag)
		}
		c.cfg.Metrics.Events.Add(float64(len(batch)))
		c.cfg.Metrics.Batches.Inc()
		c.cfg.Metrics.Unattributed.Add(float64(d.Unattributed))
		c.cfg.Metrics.Served.Add(float64(d.Served))
		c.cfg.Metrics.UnknownViews.Add(float64(d.UnknownViews))
		c.mu.Lock()
		for p, o := range next {
			c.committed[p] = o
		}
		close(c.notify)
		c.notify = make(chan struct{})
		c.mu.Unlock()
		batch, next = batch[:0], map[int]int64{}
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			if err := flush(); err != nil {
				return err
			}
		case f := <-ch:
			if f.err != nil {
				return fmt.Errorf("rollup: read partition %d: %w", f.partition, f.err)
			}
			var e events.Event
			if err := json.Unmarshal(f.value, &e); err != nil {
				c.cfg.Metrics.Malformed.Inc()
			} else {
				batch = append(batch, e)
			}
			next[f.partition] = f.offset + 1
			if len(batch) >= c.cfg.MaxBatch {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
}

// checkOffsets drops the stored offsets that lie past their partition's
// end: the topic was recreated (a broker's log deleted, dev --rebuild), so
// its partitions are read again from their start.
func (c *Consumer) checkOffsets(ctx context.Context, parts []int, offs map[int]int64) error {
	if len(offs) == 0 {
		return nil
	}
	var reqs []kafka.OffsetRequest
	for _, p := range parts {
		reqs = append(reqs, kafka.LastOffsetOf(p))
	}
	cl := &kafka.Client{Addr: kafka.TCP(c.cfg.Brokers...), Timeout: 10 * time.Second}
	res, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{c.topic: reqs}})
	if err != nil {
		return fmt.Errorf("rollup: end offsets: %w", err)
	}
	for _, po := range res.Topics[c.topic] {
		if po.Error != nil {
			return fmt.Errorf("rollup: end offset of partition %d: %w", po.Partition, po.Error)
		}
		if o, ok := offs[po.Partition]; ok && o > po.LastOffset {
			c.cfg.Logger.Warn("analytics: the events topic is behind the committed offset (recreated?); reading the partition from its start",
				"partition", po.Partition, "committed", o, "end", po.LastOffset)
			delete(offs, po.Partition)
		}
	}
	return nil
}

// Committed returns the next offset of each partition the consumer has
// committed, and a channel closed at the next commit.
func (c *Consumer) Committed() (map[int]int64, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[int]int64, len(c.committed))
	for p, o := range c.committed {
		out[p] = o
	}
	return out, c.notify
}
