package pgcdc

// The whole CDC path against the real Kafka protocol: Postgres → pgcdc →
// kafkabus.Writer → kfake, including Kafka going away mid-stream.

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/rummage/rummage/indexer/change"
	"github.com/rummage/rummage/indexer/kafkabus"
	"github.com/rummage/rummage/internal/testkit"
	"github.com/rummage/rummage/internal/testpg"
)

func testpgNew(b *testing.B) string { return testpg.New(b, testpg.Options{Logical: true}) }

// topicKeys reads every message of a topic and returns the keys per op.
// topicPoll spaces the reads of a whole topic while waiting for events.
const topicPoll = 50 * time.Millisecond

func topicKeys(t *testing.T, brokers []string, topic string) map[change.Op]map[string]int {
	t.Helper()
	out := map[change.Op]map[string]int{}
	conn, err := (&kafka.Dialer{Timeout: 5 * time.Second}).DialContext(context.Background(), "tcp", brokers[0])
	if err != nil {
		return out
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		return out
	}
	for _, p := range parts {
		pc, err := (&kafka.Dialer{Timeout: 5 * time.Second}).DialLeader(context.Background(), "tcp", brokers[0], topic, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		last, err := pc.ReadLastOffset()
		if err != nil {
			t.Fatal(err)
		}
		pc.Seek(0, kafka.SeekAbsolute)
		for off := int64(0); off < last; off++ {
			pc.SetReadDeadline(time.Now().Add(10 * time.Second))
			m, err := pc.ReadMessage(1 << 20)
			if err != nil {
				t.Fatal(err)
			}
			e, err := change.Unmarshal(m.Key, m.Value)
			if err != nil {
				t.Fatal(err)
			}
			if out[e.Op] == nil {
				out[e.Op] = map[string]int{}
			}
			out[e.Op][string(e.Key)]++
		}
		pc.Close()
	}
	return out
}

func TestKafkaEndToEndWithOutage(t *testing.T) {
	dsn, db := newDB(t)
	testpg.Exec(t, db, `INSERT INTO listings (id, seller_id, title) VALUES ('a', 's1', 'A')`)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	var closeOnce sync.Once
	t.Cleanup(func() { closeOnce.Do(cluster.Close) })
	brokers := cluster.ListenAddrs()
	_, portStr, _ := net.SplitHostPort(brokers[0])
	port, _ := strconv.Atoi(portStr)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	w, err := kafkabus.NewWriter(kafkabus.WriterConfig{Brokers: brokers, TopicPrefix: "e2e", Partitions: 3, MaxAttempts: 2, WriteTimeout: 2 * time.Second, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	m := NewMetrics(nil)
	c, err := New(Config{DatabaseURL: dsn, Slot: slotFor(t, dsn), TopicPrefix: "e2e", Linger: 5 * time.Millisecond, StatusInterval: 200 * time.Millisecond,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond, Logger: quiet}, w, m)
	if err != nil {
		t.Fatal(err)
	}
	defer testkit.Go(context.Background(), t, "Run", c.Run)()
	waitStreaming(t, db)
	testpg.Exec(t, db, `INSERT INTO listings (id, seller_id, title) VALUES ('b', 's1', 'B')`)
	testpg.Exec(t, db, `UPDATE listings SET price_cents = 7 WHERE id = 'a'`)
	topic := change.Topic("e2e", "public", "listings")
	testkit.EventuallyEvery(t, "first events in Kafka", 45*time.Second, topicPoll, func() bool {
		k := topicKeys(t, brokers, topic)
		return k[change.OpRead][`{"id":"a"}`] == 1 && k[change.OpCreate][`{"id":"b"}`] == 1 && k[change.OpUpdate][`{"id":"a"}`] == 1
	})

	// Kafka goes away; a row written meanwhile must arrive once a broker is
	// back (the CDC reconnects and resends from its confirmed LSN).
	closeOnce.Do(cluster.Close)
	testpg.Exec(t, db, `INSERT INTO listings (id, seller_id, title) VALUES ('c', 's1', 'C')`)
	time.Sleep(300 * time.Millisecond)
	c2, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port))
	if err != nil {
		t.Skipf("port %d not reusable for the second cluster: %v", port, err)
	}
	defer c2.Close()
	testkit.EventuallyEvery(t, "the row written during the outage", 45*time.Second, topicPoll, func() bool {
		return topicKeys(t, brokers, topic)[change.OpCreate][`{"id":"c"}`] >= 1
	})
	if got := readCounter(m.reconnects); got < 1 {
		t.Errorf("reconnects = %v, want >= 1", got)
	}
}

// BenchmarkCDCToKafka measures events/s from Postgres through the CDC into
// kfake (acks=all, snappy): a snapshot of N pre-existing listings, then N
// streamed inserts committed in transactions of 100 rows. Run with
// -benchtime=1x; N is RUMMAGE_BENCH_ROWS (default 20000).
func BenchmarkCDCToKafka(b *testing.B) {
	n := 20000
	if s := os.Getenv("RUMMAGE_BENCH_ROWS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	for i := 0; i < b.N; i++ {
		benchOnce(b, n)
	}
}

// countingSink counts events acknowledged by the wrapped sink.
type countingSink struct {
	Sink
	mu sync.Mutex
	n  map[change.Op]int
}

func (s *countingSink) Write(ctx context.Context, evs []change.Event) error {
	if err := s.Sink.Write(ctx, evs); err != nil {
		return err
	}
	s.mu.Lock()
	for _, e := range evs {
		s.n[e.Op]++
	}
	s.mu.Unlock()
	return nil
}

func (s *countingSink) count(op change.Op) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[op]
}

func benchOnce(b *testing.B, n int) {
	b.StopTimer()
	dsn := testpgNew(b)
	db, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close(context.Background())
	for _, schema := range migrations(b) {
		if _, err := db.Exec(context.Background(), schema); err != nil {
			b.Fatal(err)
		}
	}
	rowSQL := `INSERT INTO listings (id, seller_id, title, description, brand, category, size, condition, price_cents, colors, tags, images)
		SELECT $1 || g, 's' || (g % 1000), 'Vintage wool coat ' || g, repeat('soft warm lined ', 8), 'Acme', '{Women,Coats,Wool}', 'M', 'good',
		       1000 + g, '{red,black}', '{vintage,y2k}', '[{"url":"https://img.example/1.jpg","width":640,"height":480}]'
		FROM generate_series($2::int, $3::int) g`
	if _, err := db.Exec(context.Background(), rowSQL, "s", 1, n); err != nil {
		b.Fatal(err)
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		b.Fatal(err)
	}
	defer cluster.Close()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	w, err := kafkabus.NewWriter(kafkabus.WriterConfig{Brokers: cluster.ListenAddrs(), Partitions: 8, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	sink := &countingSink{Sink: w, n: map[change.Op]int{}}
	c, err := New(Config{DatabaseURL: dsn, Slot: testSlot(), Logger: benchLogger(quiet)}, sink, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	b.StartTimer()
	start := time.Now()
	go func() { done <- c.Run(ctx) }()
	waitCount := func(op change.Op, want int) {
		for sink.count(op) < want {
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitCount(change.OpRead, n)
	snap := time.Since(start)
	start = time.Now()
	for i := 0; i < n; i += 100 {
		if _, err := db.Exec(context.Background(), rowSQL, "n", i+1, min(i+100, n)); err != nil {
			b.Fatal(err)
		}
	}
	waitCount(change.OpCreate, n)
	stream := time.Since(start)
	b.StopTimer()
	cancel()
	<-done
	b.ReportMetric(float64(n)/snap.Seconds(), "snapshot_rows/s")
	b.ReportMetric(float64(n)/stream.Seconds(), "stream_events/s")
	b.Logf("rows=%d snapshot=%v stream=%v (inserts of 100 rows per transaction, commit to Kafka ack)", n, snap.Round(time.Millisecond), stream.Round(time.Millisecond))
}

func benchLogger(quiet *slog.Logger) *slog.Logger {
	if os.Getenv("RUMMAGE_BENCH_LOG") != "" {
		return slog.Default()
	}
	return quiet
}
