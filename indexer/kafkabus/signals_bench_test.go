package kafkabus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/indexer"
	"github.com/rummage/rummage/indexer/change"
	"github.com/rummage/rummage/indexer/kafkabus"
	"github.com/rummage/rummage/internal/testredis"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/query/embedded"
	"github.com/rummage/rummage/query/embedded/embeddedtest"
	"github.com/rummage/rummage/signals"
	"github.com/rummage/rummage/signals/memory"
	"github.com/rummage/rummage/signals/redisstore"
)

// BenchmarkSignalsApplier streams a party's shares (Zipf over 20k
// listings, 5k users) through kfake → kafkabus.Reader → indexer → a signals
// store: the durable embedded store (fsynced log) and Redis. It reports
// shares/s and the process's CPU per share (kfake runs in the process, so
// the broker's CPU is included; Redis's is not). The embedded index holds
// the 20k listings; "counters" derives their like and share counters after
// every batch (indexer.WriteCounters: the store's Counters, then the
// index's ApplyCounters rewriting each touched listing), "no-counters"
// hides the index's CounterWriter.
//
//	go test ./indexer/kafkabus -run '^$' -bench SignalsApplier -benchtime 1x
func BenchmarkSignalsApplier(b *testing.B) {
	const shares = 100_000
	sharesTopic := change.Topic(prefix, "public", "shares")
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	zipf := rand.NewZipf(rng, 1.1, 1, 20_000-1)
	t0 := time.Date(2026, 11, 1, 20, 0, 0, 0, time.UTC)
	var evs []change.Event
	for i := range shares {
		row := fmt.Sprintf(`{"id":%d,"user_id":"u%05d","listing_id":"l%05d","party_id":"p1","created_at":%q}`,
			i+1, rng.IntN(5000), zipf.Uint64(), t0.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano))
		evs = append(evs, change.Event{After: json.RawMessage(row), Op: change.OpCreate, Key: json.RawMessage(fmt.Sprintf(`{"id":%d}`, i+1)),
			Source: change.Source{Schema: "public", Table: "shares", LSN: uint64(1000 + i), Seq: 1}})
	}
	brokers := benchBroker(b, kafkabus.WriterConfig{Compression: "none"}, evs, listingsTopic, sharesTopic)
	stores := []struct {
		name string
		open func(b *testing.B) signals.Writer
	}{
		{"memory-durable", func(b *testing.B) signals.Writer {
			s, err := memory.Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}},
		{"redis", func(b *testing.B) signals.Writer {
			s, err := redisstore.Open(ctx, redisstore.Config{URL: testredis.URL(), Prefix: testredis.Prefix(b, "bench")})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}},
	}
	listings := make([]query.Change, 20_000)
	for i := range listings {
		l := &rummage.Listing{ID: fmt.Sprintf("l%05d", i), SellerID: "s1", Title: fmt.Sprintf("Listing %d", i), CreatedAt: t0.Add(-time.Hour)}
		listings[i] = query.Change{ID: l.ID, Version: 1, Doc: l}
	}
	for _, st := range stores {
		for _, counters := range []bool{true, false} {
			name := st.name + "/no-counters"
			if counters {
				name = st.name + "/counters"
			}
			b.Run(name, func(b *testing.B) {
				var cpu time.Duration
				var batches float64
				for n := 0; n < b.N; n++ {
					b.StopTimer()
					store := st.open(b)
					rctx, cancel := context.WithCancel(ctx)
					r, err := kafkabus.NewReader(rctx, kafkabus.ReaderConfig{Brokers: brokers, GroupID: fmt.Sprintf("bench-%s-%08x", st.name, rand.Uint32()),
						Topics: []string{listingsTopic, sharesTopic}, SessionTimeout: 6 * time.Second, HeartbeatInterval: 200 * time.Millisecond,
						MaxWait: 100 * time.Millisecond, Logger: quiet})
					if err != nil {
						b.Fatal(err)
					}
					dlq, _ := kafkabus.NewDeadLetterWriter(brokers, dlqTopic)
					m := indexer.NewMetrics(nil)
					x := embeddedtest.Open(b, embedded.Config{})
					if _, err := x.Apply(ctx, listings); err != nil {
						b.Fatal(err)
					}
					var ap indexer.Applier = &backend{Index: x}
					if !counters {
						ap = applyOnly{ap}
					}
					ix, err := indexer.New(r, ap, dlq, indexer.Config{Signals: store, Metrics: m, Logger: quiet})
					if err != nil {
						b.Fatal(err)
					}
					done := make(chan error, 1)
					before := processCPU()
					b.StartTimer()
					go func() { done <- ix.Run(rctx) }()
					for testutil.ToFloat64(m.Rows.WithLabelValues("shares")) < shares {
						time.Sleep(time.Millisecond)
					}
					b.StopTimer()
					cpu += processCPU() - before
					batches += testutil.ToFloat64(m.Batches)
					cancel()
					<-done
					r.Close()
					dlq.Close()
				}
				b.ReportMetric(float64(b.N*shares)/b.Elapsed().Seconds(), "shares/s")
				b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*shares), "cpu-µs/share")
				b.ReportMetric(batches/float64(b.N), "batches/op")
			})
		}
	}
}

// applyOnly hides every capability of its Applier but Apply.
type applyOnly struct{ indexer.Applier }

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
