package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/indexer"
	"github.com/rummage/rummage/indexer/change"
	"github.com/rummage/rummage/indexer/kafkabus"
	"github.com/rummage/rummage/indexer/pgcdc"
	"github.com/rummage/rummage/internal/metric"
	"github.com/rummage/rummage/internal/stagecpu"
	"github.com/rummage/rummage/signals"
)

// Config configures a Pipeline. Zero fields take the defaults noted.
type Config struct {
	// DatabaseURL of the source database (required). Its tables must exist
	// (fixtures.Migrate) and it needs wal_level=logical.
	DatabaseURL string
	// Index receives the listing changes (required).
	Index indexer.Applier
	// Signals receives the changes of the social tables with their stream
	// positions (indexer.Config.Signals); nil counts and drops them. When it
	// holds no positions (new or emptied), the social topics are read from
	// their start (indexer.RewindTopics).
	Signals signals.Writer
	// Invalidator hears every applied batch (the serving cache); nil: none.
	Invalidator indexer.Invalidator

	// KafkaAddr is where the in-process broker listens (default
	// "127.0.0.1:0", a free port). Use a loopback address: the broker has no
	// authentication.
	KafkaAddr string
	// KafkaDir persists the broker's log and the consumer group's offsets, so
	// that a restart loses nothing the CDC already confirmed to Postgres.
	// Empty keeps them in memory: events the CDC confirmed but the indexer had
	// not applied when the process ended are then lost to the index.
	KafkaDir string

	Slot        string   // replication slot (default pgcdc.DefaultSlot)
	Publication string   // publication (default pgcdc.DefaultPublication)
	TopicPrefix string   // topics <prefix>.<schema>.<table> (default change.DefaultTopicPrefix)
	Tables      []string // default rummage.Tables(); must include listings
	Partitions  int      // partitions of the topics it creates (default DefaultPartitions)
	Group       string   // consumer group (default DefaultGroup)

	// BatchSize and BatchWait tune the indexer (zero: the indexer's
	// defaults, indexer.DefaultBatchSize and DefaultBatchWait).
	BatchSize int
	BatchWait time.Duration
	// Linger is how long the CDC holds events for more before it writes
	// them to Kafka (zero: pgcdc.DefaultLinger).
	Linger time.Duration

	// Compact, when set, runs once the index holds the initial snapshot,
	// before SnapshotApplied is closed (stream events are applied
	// meanwhile): embedded.Index.Compact merges the segments the snapshot's
	// batches left, which Bleve would otherwise merge bit by bit in the
	// first seconds of the stream, delaying its first changes (at 1M
	// listings, commit → searchable p99 1.6 s in those seconds, ~0.4 s
	// after).
	Compact func(context.Context) error

	// Resnapshot forgets the CDC's position (pgcdc.ForgetPosition; the slot
	// is recreated) and clears KafkaDir, so that the CDC copies every table
	// again: for an empty or untrusted index. Without it the CDC resumes where
	// it stopped, and SnapshotApplied is closed at once.
	Resnapshot bool
	// DrainTimeout bounds how long Run lets the indexer catch up with the
	// broker on shutdown (default 10s).
	DrainTimeout time.Duration

	// Registerer receives the metrics of every role (rummage_cdc_*,
	// rummage_indexer_*, rummage_kafka_reader_*); nil registers none.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Defaults of Config that are the pipeline's own.
const (
	// DefaultPartitions is lower than kafkabus.DefaultPartitions: kafka-go
	// reads every partition on its own connection and goroutine, and in one
	// process on a small machine, beside Postgres, the idle fetches of six
	// topics × 8 partitions cost CPU the pipeline needs.
	DefaultPartitions = 4
	// DefaultGroup is the consumer group of the in-process indexer.
	DefaultGroup = "rummage-dev"
)

func (c Config) withDefaults() Config {
	if c.KafkaAddr == "" {
		c.KafkaAddr = "127.0.0.1:0"
	}
	if c.Slot == "" {
		c.Slot = pgcdc.DefaultSlot
	}
	if c.TopicPrefix == "" {
		c.TopicPrefix = change.DefaultTopicPrefix
	}
	if len(c.Tables) == 0 {
		c.Tables = rummage.Tables()
	}
	if c.Partitions <= 0 {
		c.Partitions = DefaultPartitions
	}
	if c.Group == "" {
		c.Group = DefaultGroup
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports what is wrong with c (after defaults).
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.DatabaseURL == "" {
		errs = append(errs, errors.New("database URL is required"))
	}
	if c.Index == nil {
		errs = append(errs, errors.New("an index is required"))
	}
	if _, _, err := net.SplitHostPort(c.KafkaAddr); err != nil {
		errs = append(errs, fmt.Errorf("kafka address %q: %w", c.KafkaAddr, err))
	}
	hasListings := false
	for _, t := range c.Tables {
		if tableName(t) == indexer.ListingsTable {
			hasListings = true
		}
	}
	if !hasListings {
		errs = append(errs, fmt.Errorf("tables %v must include %s", c.Tables, indexer.ListingsTable))
	}
	if len(errs) > 0 {
		return fmt.Errorf("pipeline: config: %w", errors.Join(errs...))
	}
	return nil
}

func tableName(t string) string { return t[strings.LastIndexByte(t, '.')+1:] }

// Pipeline is the CDC, the broker and the indexer of one process. New starts
// the broker (so its address is known before anything runs); Run runs the
// rest.
type Pipeline struct {
	cfg     Config
	log     *slog.Logger
	cluster *kfake.Cluster
	addr    string
	topics  []string
	pos     *kafkabus.Positions // end and committed offsets (snapshot, drain, readiness)

	writer *kafkabus.Writer
	reader *kafkabus.Reader
	dlq    *kafkabus.DeadLetterWriter
	src    *trackedSource
	cdc    *pgcdc.CDC
	ix     *indexer.Indexer

	applied   chan struct{} // closed once the index holds the initial snapshot
	target    chan offsets  // the broker's end offsets when the snapshot was acknowledged
	closeOnce sync.Once
}

// New prepares the pipeline: it resets the CDC's position when asked,
// starts the broker and creates the topics, and builds the CDC and the
// indexer. Nothing reads Postgres until Run.
func New(ctx context.Context, cfg Config) (p *Pipeline, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	log := cfg.Logger
	if cfg.Resnapshot {
		if err := pgcdc.ForgetPosition(ctx, cfg.DatabaseURL, "", cfg.Slot); err != nil {
			return nil, fmt.Errorf("pipeline: %w", err)
		}
		if cfg.KafkaDir != "" {
			if err := os.RemoveAll(cfg.KafkaDir); err != nil {
				return nil, fmt.Errorf("pipeline: clear kafka dir: %w", err)
			}
		}
	}

	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ClusterID("rummage-dev"),
		kfake.DefaultNumPartitions(cfg.Partitions),
		kfake.AllowAutoTopicCreation(),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, cfg.KafkaAddr) }),
	}
	if cfg.KafkaDir != "" {
		opts = append(opts, kfake.DataDir(cfg.KafkaDir))
	}
	// The broker's goroutines (started here) carry its stage label, for
	// a CPU profile's split by stage (bench sharerate).
	var cluster *kfake.Cluster
	stagecpu.Do(ctx, stagecpu.Kafka, func(context.Context) { cluster, err = kfake.NewCluster(opts...) })
	if err != nil {
		return nil, fmt.Errorf("pipeline: start kafka on %s: %w", cfg.KafkaAddr, err)
	}
	p = &Pipeline{cfg: cfg, log: log, cluster: cluster, applied: make(chan struct{}), target: make(chan offsets, 1)}
	built := p // a failed return sets p to nil before this runs
	defer func() {
		if err != nil {
			built.Close()
		}
	}()
	p.addr = cluster.ListenAddrs()[0]
	brokers := []string{p.addr}
	p.topics = kafkabus.TableTopics(cfg.TopicPrefix, cfg.Tables)
	p.pos = kafkabus.NewPositions(brokers, cfg.Group, p.topics)

	// No compression: the broker is in this process, on loopback, and
	// compressing costs CPU twice (writer and reader) for nothing.
	p.writer, err = kafkabus.NewWriter(kafkabus.WriterConfig{Brokers: brokers, TopicPrefix: cfg.TopicPrefix,
		Partitions: cfg.Partitions, Compression: "none", Logger: log})
	if err != nil {
		return nil, err
	}
	if err := p.writer.EnsureTopics(ctx, p.topics...); err != nil {
		return nil, err
	}
	p.dlq, err = kafkabus.NewDeadLetterWriter(brokers, kafkabus.DeadLetterTopic(cfg.TopicPrefix))
	if err != nil {
		return nil, err
	}
	if err := p.dlq.EnsureTopic(ctx, 1); err != nil {
		return nil, err
	}
	fromStart, err := indexer.RewindTopics(ctx, cfg.Signals, p.topics)
	if err != nil {
		return nil, err
	}
	// The reader's goroutines fetch for the indexer: its stage.
	stagecpu.Do(ctx, stagecpu.Indexer, func(ctx context.Context) {
		p.reader, err = kafkabus.NewReader(ctx, kafkabus.ReaderConfig{Brokers: brokers, GroupID: cfg.Group, Topics: p.topics,
			FromStart: fromStart, CreateTopics: true, Partitions: cfg.Partitions,
			// A fetch returns as soon as there is data, so a long poll costs no
			// latency; a short one makes kafka-go's read deadline (MaxWait, the
			// broker waiting MaxWait*3/4) expire on a loaded machine, and each
			// expiry is a reconnect.
			MaxWait:    2 * time.Second,
			Registerer: cfg.Registerer, Logger: log})
	})
	if err != nil {
		return nil, err
	}
	p.src = newTrackedSource(p.reader, cfg.Registerer)

	names := make([]string, len(cfg.Tables))
	for i, t := range cfg.Tables {
		names[i] = tableName(t)
	}
	p.ix, err = indexer.New(p.src, cfg.Index, p.dlq, indexer.Config{Tables: names, Signals: cfg.Signals, BatchSize: cfg.BatchSize,
		BatchWait: cfg.BatchWait, Metrics: indexer.NewMetrics(cfg.Registerer), Logger: log, Invalidator: cfg.Invalidator})
	if err != nil {
		return nil, err
	}

	ccfg := pgcdc.Config{DatabaseURL: cfg.DatabaseURL, Slot: cfg.Slot, Publication: cfg.Publication, Tables: cfg.Tables,
		TopicPrefix: cfg.TopicPrefix, Linger: cfg.Linger, Logger: log}
	if cfg.Resnapshot {
		// The first acknowledgement after a reset is the snapshot's: every
		// row is then in the broker. Its end offsets are what the indexer
		// must commit for the index to hold the snapshot.
		var once sync.Once
		ccfg.Hooks.AfterAck = func(uint64) error {
			var err error
			once.Do(func() { err = p.snapshotAcked() })
			return err
		}
	} else {
		close(p.applied)
	}
	p.cdc, err = pgcdc.New(ccfg, p.writer, pgcdc.NewMetrics(cfg.Registerer))
	if err != nil {
		return nil, err
	}
	if err := p.cdc.Check(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// BrokerAddr is the host:port of the in-process Kafka broker.
func (p *Pipeline) BrokerAddr() string { return p.addr }

// Positions reads the broker's end offsets and the indexer's committed
// ones: how far the index is behind (indexer.CatchUp, for readiness).
func (p *Pipeline) Positions() indexer.Positions { return p.pos }

// SnapshotApplied is closed once the index holds the initial snapshot: the
// indexer has committed every event the CDC had written when the snapshot
// was acknowledged. Without Config.Resnapshot it is closed from the start.
func (p *Pipeline) SnapshotApplied() <-chan struct{} { return p.applied }

// Run runs the CDC and the indexer until ctx is done, then shuts down in
// order: the CDC stops, the indexer catches up with the broker (up to
// Config.DrainTimeout), the indexer stops, and the broker closes. It returns
// nil after a clean shutdown, or the error that stopped a role (the others
// are stopped too). Call it once.
func (p *Pipeline) Run(ctx context.Context) error {
	defer p.Close()
	cdcCtx, stopCDC := context.WithCancel(ctx)
	defer stopCDC()
	ixCtx, stopIx := context.WithCancel(context.WithoutCancel(ctx))
	defer stopIx()
	cdcDone := make(chan error, 1)
	ixDone := make(chan error, 1)
	go stagecpu.Do(cdcCtx, stagecpu.CDC, func(ctx context.Context) { cdcDone <- p.cdc.Run(ctx) })
	go stagecpu.Do(ixCtx, stagecpu.Indexer, func(ctx context.Context) { ixDone <- p.ix.Run(ctx) })
	go p.watchSnapshot(ixCtx)

	var errs []error
	cdcRunning, ixRunning := true, true
	select {
	case <-ctx.Done():
	case err := <-cdcDone:
		cdcRunning = false
		errs = append(errs, fmt.Errorf("cdc: %w", err))
	case err := <-ixDone:
		ixRunning = false
		errs = append(errs, err)
	}
	stopCDC()
	if cdcRunning {
		if err := <-cdcDone; err != nil {
			errs = append(errs, fmt.Errorf("cdc: %w", err))
		}
	}
	if ixRunning {
		if len(errs) == 0 {
			p.drain(ixDone)
		}
		stopIx()
		if err := <-ixDone; err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close stops the broker and the clients. Run calls it; call it yourself only
// when Run is never called.
func (p *Pipeline) Close() error {
	var err error
	p.closeOnce.Do(func() {
		if p.reader != nil {
			err = errors.Join(err, p.reader.Close())
		}
		if p.dlq != nil {
			err = errors.Join(err, p.dlq.Close())
		}
		if p.writer != nil {
			err = errors.Join(err, p.writer.Close())
		}
		if p.pos != nil {
			p.pos.Close()
		}
		p.cluster.Close()
	})
	return err
}

// drain waits until the indexer has committed everything the broker holds,
// or DrainTimeout, or the indexer stops.
func (p *Pipeline) drain(ixDone chan error) {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.DrainTimeout)
	defer cancel()
	end, err := p.pos.End(ctx)
	if err != nil {
		p.log.Warn("pipeline: drain: cannot read end offsets; stopping the indexer now", "err", err)
		return
	}
	select {
	case <-p.src.reached(end):
		p.log.Info("pipeline: drained: the index holds every event in the broker")
	case <-ctx.Done():
		p.log.Warn("pipeline: drain timed out; the rest is applied on the next start", "timeout", p.cfg.DrainTimeout)
	case err := <-ixDone:
		ixDone <- err // Run reads it
	}
}

// snapshotAcked runs in the CDC's goroutine once the snapshot is in the
// broker: it records the end offsets the indexer must reach.
func (p *Pipeline) snapshotAcked() error {
	var err error
	for attempt := range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var end offsets
		end, err = p.pos.End(ctx)
		cancel()
		if err == nil {
			p.target <- end
			return nil
		}
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
	}
	return fmt.Errorf("pipeline: end offsets after the snapshot: %w", err)
}

// watchSnapshot closes applied once the indexer reached the snapshot's end
// offsets.
func (p *Pipeline) watchSnapshot(ctx context.Context) {
	select {
	case <-p.applied:
		return
	case <-ctx.Done():
		return
	case end := <-p.target:
		p.log.Info("pipeline: snapshot in kafka; waiting for the index", "events", total(end))
		select {
		case <-p.src.reached(end):
			if p.cfg.Compact != nil {
				p.log.Info("pipeline: snapshot in the index; merging its segments")
				if err := p.cfg.Compact(ctx); err != nil {
					p.log.Warn("pipeline: merging the snapshot's segments failed; Bleve merges them in the background", "err", err)
				}
			}
			p.log.Info("pipeline: snapshot applied: the index holds the initial snapshot")
			close(p.applied)
		case <-ctx.Done():
		}
	}
}

// offsets maps a partition to an offset: the next offset to read (end
// offsets), or one past the last committed message.
type offsets = map[indexer.TopicPartition]int64

func total(o offsets) int64 {
	var n int64
	for _, v := range o {
		n += v
	}
	return n
}

// trackedSource is the indexer's source, recording what it committed.
type trackedSource struct {
	indexer.Source
	fetchSeconds, commitSeconds, brokerDelay prometheus.Histogram

	mu        sync.Mutex
	committed offsets
	waiters   []waiter
}

type waiter struct {
	end  offsets
	done chan struct{}
}

func newTrackedSource(s indexer.Source, reg prometheus.Registerer) *trackedSource {
	m := metric.NewSet("pipeline")
	t := &trackedSource{Source: s, committed: offsets{},
		fetchSeconds:  m.Histogram("fetch_seconds", "Time the indexer's fetch of one batch took, waiting for the first message included.", metric.SecondsBuckets()),
		commitSeconds: m.Histogram("commit_seconds", "Time to commit a batch's offsets.", metric.SecondsBuckets()),
		brokerDelay:   m.Histogram("broker_delay_seconds", "Age of a fetched message (since the broker stored it) when the indexer got it.", metric.SecondsBuckets()),
	}
	m.MustRegister(reg)
	return t
}

// Fetch fetches, timed.
func (s *trackedSource) Fetch(ctx context.Context, max int, wait time.Duration) ([]indexer.Message, error) {
	start := time.Now()
	msgs, err := s.Source.Fetch(ctx, max, wait)
	now := time.Now()
	s.fetchSeconds.Observe(now.Sub(start).Seconds())
	for _, m := range msgs {
		if !m.Time.IsZero() {
			s.brokerDelay.Observe(now.Sub(m.Time).Seconds())
		}
	}
	return msgs, err
}

// Commit commits, then records the positions.
func (s *trackedSource) Commit(ctx context.Context, msgs []indexer.Message) error {
	start := time.Now()
	if err := s.Source.Commit(ctx, msgs); err != nil {
		return err
	}
	s.commitSeconds.Observe(time.Since(start).Seconds())
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range msgs {
		tp := indexer.TopicPartition{Topic: m.Topic, Partition: m.Partition}
		if m.Offset+1 > s.committed[tp] {
			s.committed[tp] = m.Offset + 1
		}
	}
	kept := s.waiters[:0]
	for _, w := range s.waiters {
		if s.covers(w.end) {
			close(w.done)
		} else {
			kept = append(kept, w)
		}
	}
	s.waiters = kept
	return nil
}

// reached returns a channel closed once the committed positions cover end.
func (s *trackedSource) reached(end offsets) <-chan struct{} {
	done := make(chan struct{})
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.covers(end) {
		close(done)
	} else {
		s.waiters = append(s.waiters, waiter{end, done})
	}
	return done
}

func (s *trackedSource) covers(end offsets) bool {
	for tp, off := range end {
		if s.committed[tp] < off {
			return false
		}
	}
	return true
}
