package kafkabus_test

// The writer side against kfake: keys, partitions, order, acks, truncate
// fan-out, compression.

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/rummage/rummage/indexer/change"
	"github.com/rummage/rummage/indexer/kafkabus"
	"github.com/rummage/rummage/internal/testkit"
)

// readPartitions reads every message of topic's partitions from the start.
func readPartitions(t *testing.T, brokers []string, topic string, partitions, want int) map[int][]kafka.Message {
	t.Helper()
	out := map[int][]kafka.Message{}
	deadline := time.Now().Add(30 * time.Second)
	total := 0
	for p := 0; p < partitions; p++ {
		conn, err := (&kafka.Dialer{Timeout: 5 * time.Second}).DialLeader(context.Background(), "tcp", brokers[0], topic, p)
		if err != nil {
			t.Fatalf("dial partition %d: %v", p, err)
		}
		last, err := conn.ReadLastOffset()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Seek(0, kafka.SeekAbsolute); err != nil {
			t.Fatal(err)
		}
		for off := int64(0); off < last && time.Now().Before(deadline); off++ {
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			m, err := conn.ReadMessage(1 << 20)
			if err != nil {
				t.Fatalf("read partition %d: %v", p, err)
			}
			out[p] = append(out[p], m)
			total++
		}
		conn.Close()
	}
	if total != want {
		t.Fatalf("read %d messages from %s, want %d", total, topic, want)
	}
	return out
}

func wtEvent(op change.Op, table, id string, lsn uint64, seq uint32) change.Event {
	e := change.Event{Op: op, TsMs: 1, Source: change.Source{Version: "rummage", Connector: "postgresql", Name: "w",
		Schema: "public", Table: table, LSN: lsn, Seq: seq, Snapshot: change.SnapshotFalse}}
	if op == change.OpTruncate {
		return e
	}
	e.Key = json.RawMessage(fmt.Sprintf(`{"id":%q}`, id))
	row := json.RawMessage(fmt.Sprintf(`{"id":%q,"n":%d}`, id, seq))
	if op == change.OpDelete {
		e.Before = row
	} else {
		e.After = row
	}
	return e
}

func TestWriterPartitionsByKeyInOrder(t *testing.T) {
	for _, codec := range []string{"snappy", "lz4", "none"} {
		t.Run(codec, func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			w, err := kafkabus.NewWriter(kafkabus.WriterConfig{Brokers: c.ListenAddrs(), TopicPrefix: "w", Partitions: 3, Compression: codec, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			ctx := context.Background()
			topics := kafkabus.TableTopics("w", []string{"listings", "public.sellers"})
			if err := w.EnsureTopics(ctx, topics...); err != nil {
				t.Fatal(err)
			}
			var evs []change.Event
			seq := uint32(0)
			for round := 0; round < 5; round++ {
				for i := 0; i < 20; i++ {
					seq++
					op := change.OpUpdate
					if round == 0 {
						op = change.OpCreate
					}
					evs = append(evs, wtEvent(op, "listings", "l"+strconv.Itoa(i), uint64(100+round), seq))
				}
			}
			evs = append(evs, wtEvent(change.OpTruncate, "listings", "", 200, 1))
			evs = append(evs, wtEvent(change.OpCreate, "sellers", "s1", 201, 1))
			// Two writes: order must hold across calls too.
			if err := w.Write(ctx, evs[:50]); err != nil {
				t.Fatal(err)
			}
			if err := w.Write(ctx, evs[50:]); err != nil {
				t.Fatal(err)
			}
			parts := readPartitions(t, c.ListenAddrs(), topics[0], 3, 100+3)
			keyPart := map[string]int{}
			lastSeq := map[string]uint32{}
			for p, msgs := range parts {
				for i, m := range msgs {
					e, err := change.Unmarshal(m.Key, m.Value)
					if err != nil {
						t.Fatal(err)
					}
					if e.Op == change.OpTruncate {
						if i != len(msgs)-1 || len(m.Key) != 0 {
							t.Fatalf("partition %d: truncate at %d of %d, key %q", p, i, len(msgs), m.Key)
						}
						continue
					}
					k := string(m.Key)
					if q, ok := keyPart[k]; ok && q != p {
						t.Fatalf("key %s in partitions %d and %d", k, q, p)
					}
					keyPart[k] = p
					if e.Source.Seq <= lastSeq[k] {
						t.Fatalf("key %s out of order: seq %d after %d", k, e.Source.Seq, lastSeq[k])
					}
					lastSeq[k] = e.Source.Seq
				}
				if n := len(msgs); n == 0 || msgs[n-1].Headers[0].Key != kafkabus.HeaderTruncatePartition {
					t.Fatalf("partition %d lacks its truncate copy", p)
				}
			}
			if len(keyPart) != 20 {
				t.Fatalf("%d keys, want 20", len(keyPart))
			}
			readPartitions(t, c.ListenAddrs(), topics[1], 3, 1)
		})
	}
}

// TestWriterClusterReplaced: when the cluster goes away Write fails; when a
// new one listens on the same address, the next Write creates the topics
// there and succeeds (the writer's own transport, no stale shared state).
func TestWriterClusterReplaced(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	addrs := c.ListenAddrs()
	_, portStr, _ := splitHostPort(addrs[0])
	port, _ := strconv.Atoi(portStr)
	w, err := kafkabus.NewWriter(kafkabus.WriterConfig{Brokers: addrs, TopicPrefix: "w", Partitions: 2, MaxAttempts: 2, WriteTimeout: 2 * time.Second, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx := context.Background()
	if err := w.Write(ctx, []change.Event{wtEvent(change.OpCreate, "listings", "a", 1, 1)}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = w.Write(wctx, []change.Event{wtEvent(change.OpCreate, "listings", "b", 2, 1)})
	cancel()
	if err == nil {
		t.Fatal("write to a closed cluster succeeded")
	}
	c2, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port))
	if err != nil {
		t.Skipf("port %d not reusable: %v", port, err)
	}
	defer c2.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = w.Write(wctx, []change.Event{wtEvent(change.OpCreate, "listings", "b", 2, 1)})
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("write to the new cluster: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func splitHostPort(a string) (string, string, error) {
	for i := len(a) - 1; i >= 0; i-- {
		if a[i] == ':' {
			return a[:i], a[i+1:], nil
		}
	}
	return a, "", fmt.Errorf("no port in %q", a)
}

func TestWriterConfigValidate(t *testing.T) {
	testkit.CheckValidate(t, []testkit.ValidateCase[kafkabus.WriterConfig]{
		{Name: "ok", Cfg: kafkabus.WriterConfig{Brokers: []string{"127.0.0.1:9092"}}, OK: true},
		{Name: "no brokers", Cfg: kafkabus.WriterConfig{}, OK: false},
		{Name: "no port", Cfg: kafkabus.WriterConfig{Brokers: []string{"localhost"}}, OK: false},
		{Name: "bad codec", Cfg: kafkabus.WriterConfig{Brokers: []string{"h:1"}, Compression: "brotli"}, OK: false},
		{Name: "lz4", Cfg: kafkabus.WriterConfig{Brokers: []string{"h:1"}, Compression: "lz4"}, OK: true},
	})
}

// A Write larger than Kafka's default message.max.bytes (1 MB) is split into
// requests under it: a cluster with default limits takes it.
func TestWriterSplitsBelowDefaultMessageMaxBytes(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.BrokerConfigs(map[string]string{"message.max.bytes": "1048588"}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w, err := kafkabus.NewWriter(kafkabus.WriterConfig{Brokers: c.ListenAddrs(), TopicPrefix: "big", Partitions: 1, Compression: "none", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	pad := strings.Repeat("x", 1000)
	events := make([]change.Event, 3000) // about 3.5 MB
	for i := range events {
		e := wtEvent(change.OpCreate, "listings", "l"+strconv.Itoa(i), uint64(100+i), 0)
		e.After = json.RawMessage(fmt.Sprintf(`{"id":"l%d","pad":%q}`, i, pad))
		events[i] = e
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.Write(ctx, events); err != nil {
		t.Fatalf("write of %d events: %v", len(events), err)
	}
	readPartitions(t, c.ListenAddrs(), w.Topic("public", "listings"), 1, len(events))
}
