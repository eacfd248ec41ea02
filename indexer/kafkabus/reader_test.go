package kafkabus_test

// The indexer's consumer side against a real Kafka protocol implementation
// (kfake, in process, random ports) and the real embedded backend:
// produce envelopes → kafkabus.Reader → indexer → query/embedded.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/rummage/rummage/indexer"
	"github.com/rummage/rummage/indexer/change"
	"github.com/rummage/rummage/indexer/change/changetest"
	"github.com/rummage/rummage/indexer/kafkabus"
	"github.com/rummage/rummage/internal/testkit"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/query/embedded"
	"github.com/rummage/rummage/query/embedded/embeddedtest"
)

const prefix = "t"

var (
	listingsTopic = change.Topic(prefix, "public", "listings")
	sellersTopic  = change.Topic(prefix, "public", "sellers")
	dlqTopic      = kafkabus.DeadLetterTopic(prefix)
	quiet         = slog.New(slog.NewTextHandler(io.Discard, nil))
)

func startCluster(t *testing.T) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(),
		kfake.SeedTopics(4, listingsTopic, sellersTopic), kfake.SeedTopics(1, dlqTopic))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// backend wraps the real index: it records every Apply and can fail some.
type backend struct {
	*embedded.Index
	mu       sync.Mutex
	fail     int // fail this many Apply calls (transient)
	calls    []applyCall
	onApply  func() // after a successful Apply
	onFail   func() // when an Apply is made to fail
	failures int
}

type applyCall struct {
	ids   []string
	stats query.ApplyStats
}

func (b *backend) Apply(ctx context.Context, batch []query.Change) (query.ApplyStats, error) {
	b.mu.Lock()
	if b.fail > 0 {
		b.fail--
		b.failures++
		f := b.onFail
		b.mu.Unlock()
		if f != nil {
			f()
		}
		return query.ApplyStats{}, errors.New("test: transient backend failure")
	}
	b.mu.Unlock()
	st, err := b.Index.Apply(ctx, batch)
	if err != nil {
		return st, err
	}
	ids := make([]string, len(batch))
	for i, c := range batch {
		ids[i] = c.ID
	}
	b.mu.Lock()
	b.calls = append(b.calls, applyCall{ids, st})
	f := b.onApply
	b.mu.Unlock()
	if f != nil {
		f()
	}
	return st, nil
}

func (b *backend) snapshot() ([]applyCall, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.calls), b.failures
}

type pipeline struct {
	cancel  context.CancelFunc
	done    chan error
	metrics *indexer.Metrics
}

func startIndexer(t *testing.T, brokers []string, group string, be indexer.Applier, cfg indexer.Config, wrap ...func(indexer.Source, context.CancelFunc) indexer.Source) *pipeline {
	t.Helper()
	return startIndexerFrom(t, brokers, group, nil, be, cfg, wrap...)
}

// startIndexerFrom is startIndexer with the reader's FromStart.
func startIndexerFrom(t *testing.T, brokers []string, group string, fromStart []string, be indexer.Applier, cfg indexer.Config, wrap ...func(indexer.Source, context.CancelFunc) indexer.Source) *pipeline {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	reg := prometheus.NewRegistry()
	r, err := kafkabus.NewReader(ctx, kafkabus.ReaderConfig{Brokers: brokers, GroupID: group,
		Topics: []string{listingsTopic, sellersTopic}, FromStart: fromStart, CreateTopics: true, Partitions: 4,
		SessionTimeout: 6 * time.Second, HeartbeatInterval: 200 * time.Millisecond, MaxWait: 100 * time.Millisecond,
		Registerer: reg, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	dlq, err := kafkabus.NewDeadLetterWriter(brokers, dlqTopic)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Metrics = indexer.NewMetrics(reg)
	cfg.Logger = quiet
	if cfg.RetryMin == 0 {
		cfg.RetryMin, cfg.RetryMax = 10*time.Millisecond, 100*time.Millisecond
	}
	var src indexer.Source = r
	for _, f := range wrap {
		src = f(src, cancel)
	}
	ix, err := indexer.New(src, be, dlq, cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := &pipeline{cancel: cancel, done: make(chan error, 1), metrics: cfg.Metrics}
	go func() {
		err := ix.Run(ctx)
		r.Close()
		dlq.Close()
		p.done <- err
	}()
	t.Cleanup(func() { p.stop(t) })
	return p
}

func (p *pipeline) stop(t *testing.T) {
	if p.cancel == nil {
		return
	}
	p.cancel()
	p.cancel = nil
	if err := <-p.done; err != nil {
		t.Errorf("indexer: %v", err)
	}
}

func newWriter(t *testing.T, brokers []string) *kafkabus.Writer {
	t.Helper()
	w, err := kafkabus.NewWriter(kafkabus.WriterConfig{Brokers: brokers, TopicPrefix: prefix, Partitions: 4, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func listing(op change.Op, id string, lsn uint64, price, shares int64) change.Event {
	row := fmt.Sprintf(`{"id":%q,"seller_id":"s1","title":"Red wool coat %s","brand":"Acme","category":["Women","Coats"],"price_cents":%d,"share_count":%d,"images":[],"status":"available","created_at":"2024-01-02T03:04:05Z","updated_at":"2024-01-02T03:04:05Z"}`, id, id, price, shares)
	return changetest.Event(op, prefix, "listings", id, lsn, row)
}

// committed sums, over the topic's partitions, the group's committed offsets
// (-1 per partition without a commit is counted as 0).
func committed(t *testing.T, brokers []string, group, topic string, partitions int) int64 {
	t.Helper()
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: &kafka.Transport{}, Timeout: 10 * time.Second}
	parts := make([]int, partitions)
	for i := range parts {
		parts[i] = i
	}
	res, err := c.OffsetFetch(context.Background(), &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		t.Fatalf("offset fetch: %v", err)
	}
	var sum int64
	for _, p := range res.Topics[topic] {
		if p.CommittedOffset > 0 {
			sum += p.CommittedOffset
		}
	}
	return sum
}

func TestPipelineEndToEnd(t *testing.T) {
	brokers := startCluster(t)
	x := embeddedtest.Open(t, embedded.Config{})
	be := &backend{Index: x, fail: 2} // the first two Apply calls fail: retried, never skipped
	w := newWriter(t, brokers)
	ctx := context.Background()
	var committedAtFailure []int64
	be.onFail = func() {
		committedAtFailure = append(committedAtFailure, committed(t, brokers, "e2e", listingsTopic, 4))
	}

	p := startIndexer(t, brokers, "e2e", be, indexer.Config{BatchWait: 50 * time.Millisecond})

	events := []change.Event{
		listing(change.OpRead, "l1", 100, 5000, 0),
		listing(change.OpRead, "l2", 100, 7000, 0),
		{After: json.RawMessage(`{"id":"s1","username":"ann"}`), Op: change.OpCreate, Key: json.RawMessage(`{"id":"s1"}`),
			Source: change.Source{Schema: "public", Table: "sellers", LSN: 101}},
		listing(change.OpUpdate, "l1", 102, 4500, 3),
		listing(change.OpDelete, "l2", 103, 7000, 0),
	}
	if err := w.Write(ctx, events); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "l1 at its updated price", 45*time.Second, func() bool {
		l, err := x.Get(ctx, "l1")
		return err == nil && l.PriceCents == 4500 && l.ShareCount == 3
	})
	if _, err := x.Get(ctx, "l2"); !errors.Is(err, query.ErrNotFound) {
		t.Fatalf("l2 after delete: %v", err)
	}
	res, err := x.Retrieve(ctx, &query.Retrieval{Query: "wool coat", N: 10, Now: time.Now()})
	if err != nil || res.Total != 1 || res.Hits[0].ID != "l1" {
		t.Fatalf("search: %v %+v", err, res)
	}
	testkit.Eventually(t, "offsets committed for the 4 listing events", 45*time.Second, func() bool {
		return committed(t, brokers, "e2e", listingsTopic, 4) == 4
	})
	calls, failures := be.snapshot()
	if failures != 2 || len(calls) == 0 || !slices.Equal(committedAtFailure, []int64{0, 0}) {
		t.Fatalf("failures %d calls %d; committed offsets while Apply was failing: %v", failures, len(calls), committedAtFailure)
	}
	if got := testutil.ToFloat64(p.metrics.LastAppliedLSN.WithLabelValues("listings")); got != 103 {
		t.Fatalf("last applied lsn %v", got)
	}
	if got := testutil.ToFloat64(p.metrics.Rows.WithLabelValues("sellers")); got != 1 {
		t.Fatalf("sellers rows %v", got)
	}
}

// crashOnCommit is a Source whose Commit never reaches Kafka: it stops the
// indexer instead, as a crash between Apply and the offset commit would.
type crashOnCommit struct {
	indexer.Source
	stop    context.CancelFunc
	crashed chan struct{}
	once    sync.Once
}

func (c *crashOnCommit) Commit(ctx context.Context, msgs []indexer.Message) error {
	c.once.Do(func() { c.stop(); close(c.crashed) })
	return context.Canceled
}

// TestCrashBetweenApplyAndCommit stops the indexer after a successful Apply,
// before its commit: the next member of the group gets the batch again, and
// the versions make the redelivery harmless: an event older than what the
// index holds by then is counted stale and changes nothing; an identical
// one (equal version) is applied again, to the same effect.
func TestCrashBetweenApplyAndCommit(t *testing.T) {
	brokers := startCluster(t)
	x := embeddedtest.Open(t, embedded.Config{})
	w := newWriter(t, brokers)
	ctx := context.Background()
	if err := w.Write(ctx, []change.Event{listing(change.OpCreate, "a", 200, 100, 0), listing(change.OpCreate, "b", 201, 200, 0)}); err != nil {
		t.Fatal(err)
	}
	crash := &crashOnCommit{crashed: make(chan struct{})}
	be1 := &backend{Index: x}
	p1 := startIndexer(t, brokers, "crash", be1, indexer.Config{BatchWait: 50 * time.Millisecond},
		func(s indexer.Source, stop context.CancelFunc) indexer.Source {
			crash.Source, crash.stop = s, stop
			return crash
		})
	<-crash.crashed
	p1.stop(t)
	if calls, _ := be1.snapshot(); len(calls) == 0 {
		t.Fatal("crashed before any apply")
	}
	if got := committed(t, brokers, "crash", listingsTopic, 4); got != 0 {
		t.Fatalf("committed %d offsets through a crashed commit", got)
	}

	// Meanwhile a newer version of a reached the index (as another batch or
	// a reindex would have written it).
	newer, err := x.Get(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	newer.PriceCents = 150
	if _, err := x.Apply(ctx, []query.Change{{ID: "a", Version: 300, Doc: newer}}); err != nil {
		t.Fatal(err)
	}

	be2 := &backend{Index: x}
	p2 := startIndexer(t, brokers, "crash", be2, indexer.Config{BatchWait: 50 * time.Millisecond})
	testkit.Eventually(t, "redelivered batches committed", 45*time.Second, func() bool { return committed(t, brokers, "crash", listingsTopic, 4) == 2 })
	if got := testutil.ToFloat64(p2.metrics.Stale); got < 1 {
		t.Fatalf("redelivery of a below the held version should count stale, got %v", got)
	}
	for id, price := range map[string]int64{"a": 150, "b": 200} {
		l, err := x.Get(ctx, id)
		if err != nil || l.PriceCents != price {
			t.Fatalf("%s: %v %+v", id, err, l)
		}
	}
}

func TestPoisonMessageGoesToDeadLetterTopic(t *testing.T) {
	brokers := startCluster(t)
	x := embeddedtest.Open(t, embedded.Config{})
	ctx := context.Background()
	// Raw messages on one key, so they share a partition and keep their order.
	raw := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: listingsTopic, Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond, Transport: &kafka.Transport{}}
	defer raw.Close()
	good1, _ := listing(change.OpCreate, "p1", 300, 100, 0).Marshal()
	good2, _ := listing(change.OpUpdate, "p1", 302, 150, 0).Marshal()
	k := []byte(`{"id":"p1"}`)
	if err := raw.WriteMessages(ctx,
		kafka.Message{Key: k, Value: good1},
		kafka.Message{Key: k, Value: []byte("\x00\x01 not an envelope"), Headers: []kafka.Header{{Key: "origin", Value: []byte("fuzz")}}},
		kafka.Message{Key: k, Value: good2},
	); err != nil {
		t.Fatal(err)
	}
	p := startIndexer(t, brokers, "poison", &backend{Index: x}, indexer.Config{BatchWait: 50 * time.Millisecond})
	testkit.Eventually(t, "the message after the poison applied", 45*time.Second, func() bool {
		l, err := x.Get(ctx, "p1")
		return err == nil && l.PriceCents == 150
	})
	testkit.Eventually(t, "offsets committed past the poison", 45*time.Second, func() bool { return committed(t, brokers, "poison", listingsTopic, 4) == 3 })

	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: dlqTopic, Partition: 0, Dialer: &kafka.Dialer{Timeout: 5 * time.Second}, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	m, err := r.ReadMessage(rctx)
	if err != nil {
		t.Fatalf("read dead letter: %v", err)
	}
	h := map[string]string{}
	for _, x := range m.Headers {
		h[x.Key] = string(x.Value)
	}
	if h[kafkabus.HeaderReason] != indexer.ReasonDecode || h[kafkabus.HeaderTopic] != listingsTopic || h[kafkabus.HeaderOffset] != "1" ||
		h[kafkabus.HeaderPartition] == "" || h[kafkabus.HeaderError] == "" || h["origin"] != "fuzz" || string(m.Value) != "\x00\x01 not an envelope" {
		t.Fatalf("dead letter headers %v value %q", h, m.Value)
	}
	if _, err := strconv.Atoi(h[kafkabus.HeaderPartition]); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(p.metrics.DeadLetters.WithLabelValues(indexer.ReasonDecode)); got != 1 {
		t.Fatalf("dead letter count %v", got)
	}
}

// TestCoalescingBurst is issue 3's coalescing figure: a burst of 20,000
// share updates over 2,000 listings. Every Apply call holds each listing at
// most once, so the index writes at most one version per listing per batch.
func TestCoalescingBurst(t *testing.T) {
	const listings, updates = 2000, 20000
	brokers := startCluster(t)
	x := embeddedtest.Open(t, embedded.Config{})
	w := newWriter(t, brokers)
	ctx := context.Background()
	lsn := uint64(1000)
	seed := make([]change.Event, listings)
	for i := range seed {
		lsn++
		seed[i] = listing(change.OpRead, fmt.Sprintf("c%d", i), lsn, 100, 0)
	}
	if err := w.Write(ctx, seed); err != nil {
		t.Fatal(err)
	}
	burst := make([]change.Event, updates)
	for i := range burst {
		lsn++
		burst[i] = listing(change.OpUpdate, fmt.Sprintf("c%d", i%listings), lsn, 100, int64(i/listings+1))
	}
	start := time.Now()
	for i := 0; i < updates; i += 5000 {
		if err := w.Write(ctx, burst[i:i+5000]); err != nil {
			t.Fatal(err)
		}
	}
	produced := time.Since(start)

	be := &backend{Index: x}
	p := startIndexer(t, brokers, "burst", be, indexer.Config{BatchSize: updates + listings, BatchWait: time.Second})
	testkit.Eventually(t, "every listing at its last share count", 45*time.Second, func() bool {
		return committed(t, brokers, "burst", listingsTopic, 4) == listings+updates
	})
	calls, _ := be.snapshot()
	writes := 0
	for i, c := range calls {
		seen := map[string]bool{}
		for _, id := range c.ids {
			if seen[id] {
				t.Fatalf("apply call %d holds %s twice", i, id)
			}
			seen[id] = true
		}
		writes += c.stats.Written
	}
	if writes > listings*len(calls) {
		t.Fatalf("%d writes in %d batches", writes, len(calls))
	}
	for i := range listings {
		l, err := x.Get(ctx, fmt.Sprintf("c%d", i))
		if err != nil || l.ShareCount != updates/listings {
			t.Fatalf("c%d: %v %+v", i, err, l)
		}
	}
	t.Logf("coalescing: %d events (%d creates + %d share updates over %d listings, produced in %v) → %d Apply batches, %d index writes, %d coalesced, %d stale",
		listings+updates, listings, updates, listings, produced.Round(time.Millisecond), len(calls), writes,
		int(testutil.ToFloat64(p.metrics.Coalesced)), int(testutil.ToFloat64(p.metrics.Stale)))
}

// benchBroker starts a one-broker kfake cluster, closed with b, holding
// topics (4 partitions each) and the dead-letter topic, writes evs to it
// through a Writer configured as wcfg (brokers, prefix, partitions and
// logger set here), and returns the brokers' addresses.
func benchBroker(b *testing.B, wcfg kafkabus.WriterConfig, evs []change.Event, topics ...string) []string {
	b.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(),
		kfake.SeedTopics(4, topics...), kfake.SeedTopics(1, dlqTopic))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	brokers := c.ListenAddrs()
	wcfg.Brokers, wcfg.TopicPrefix, wcfg.Partitions, wcfg.Logger = brokers, prefix, 4, quiet
	w, err := kafkabus.NewWriter(wcfg)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	for i := 0; i < len(evs); i += 5000 {
		if err := w.Write(context.Background(), evs[i:min(i+5000, len(evs))]); err != nil {
			b.Fatal(err)
		}
	}
	return brokers
}

// BenchmarkCoalescingBurst measures issue 3's coalescing figure end to end:
// a backlog of 2,000 listings plus a burst of 20,000 share updates over
// them sits in kfake; each iteration starts a fresh consumer group into a
// fresh embedded index and stops the clock when every offset is committed.
// It reports the events per second through decode, coalesce, Apply and
// commit, the Apply batches, and the index writes per listing per batch.
//
//	go test ./indexer/kafkabus -run '^$' -bench CoalescingBurst -benchtime 3x
func BenchmarkCoalescingBurst(b *testing.B) {
	const listings, updates = 2000, 20000
	ctx := context.Background()
	lsn := uint64(1000)
	var evs []change.Event
	for i := range listings {
		lsn++
		evs = append(evs, listing(change.OpRead, fmt.Sprintf("c%d", i), lsn, 100, 0))
	}
	for i := range updates {
		lsn++
		evs = append(evs, listing(change.OpUpdate, fmt.Sprintf("c%d", i%listings), lsn, 100, int64(i/listings+1)))
	}
	brokers := benchBroker(b, kafkabus.WriterConfig{}, evs, listingsTopic, sellersTopic)
	var batches, writes float64
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		x, err := embedded.Open(ctx, embedded.Config{Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		be := &backend{Index: x}
		group := fmt.Sprintf("bench-%d", n)
		rctx, cancel := context.WithCancel(ctx)
		r, err := kafkabus.NewReader(rctx, kafkabus.ReaderConfig{Brokers: brokers, GroupID: group, Topics: []string{listingsTopic},
			SessionTimeout: 6 * time.Second, HeartbeatInterval: 200 * time.Millisecond, MaxWait: 100 * time.Millisecond, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		dlq, _ := kafkabus.NewDeadLetterWriter(brokers, dlqTopic)
		m := indexer.NewMetrics(nil)
		ix, err := indexer.New(r, be, dlq, indexer.Config{BatchSize: listings + updates, BatchWait: 500 * time.Millisecond, Metrics: m, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan error, 1)
		b.StartTimer()
		go func() { done <- ix.Run(rctx) }()
		for testutil.ToFloat64(m.Written)+testutil.ToFloat64(m.Coalesced)+testutil.ToFloat64(m.Stale) < listings+updates ||
			testutil.ToFloat64(m.Batches) < 1 {
			time.Sleep(time.Millisecond)
		}
		b.StopTimer()
		cancel()
		<-done
		r.Close()
		dlq.Close()
		calls, _ := be.snapshot()
		batches += float64(len(calls))
		for _, c := range calls {
			writes += float64(c.stats.Written)
		}
		x.Close()
	}
	b.ReportMetric(float64(b.N*(listings+updates))/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(batches/float64(b.N), "applies/op")
	b.ReportMetric(writes/batches/listings, "writes/listing/batch")
}
