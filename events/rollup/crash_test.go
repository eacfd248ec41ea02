package rollup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/rummage/rummage/events"
	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/internal/testkit"
	"github.com/rummage/rummage/internal/testpg"
)

// startBroker starts the in-process broker on port with its log in dir.
func startBroker(t *testing.T, port int, dir string) *kfake.Cluster {
	t.Helper()
	var c *kfake.Cluster
	var err error
	// The port of the previous run may linger a moment.
	testkit.Eventually(t, "the broker listens", 10*time.Second, func() bool {
		c, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.DataDir(dir), kfake.AllowAutoTopicCreation())
		return err == nil
	})
	return c
}

func migrated(t *testing.T) *Store {
	t.Helper()
	url := testpg.New(t, testpg.Options{Setup: fixtures.Migrate})
	st, err := OpenStore(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

// arrivals sums the drop arrivals per listing.
func arrivals(t *testing.T, st *Store) map[string]int64 {
	t.Helper()
	rows, err := st.pool.Query(context.Background(), `SELECT listing_id, sum(arrivals) FROM rummage.analytics_drops GROUP BY listing_id`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		out[id] = n
	}
	return out
}

// TestAcknowledgedEventsCountOnceAcrossCrashes: batches of events are
// published (acks=all) while the rollup consumer runs; a rollup
// transaction fails after writing its rows (a crash before the commit),
// then the consumer and the broker are both stopped and started again
// from the broker's log on disk and the offsets in Postgres. Every batch
// the producer acknowledged is counted exactly once; none is counted
// twice, whatever was replayed.
func TestAcknowledgedEventsCountOnceAcrossCrashes(t *testing.T) {
	st := migrated(t)
	port, dir := testkit.FreePort(t), t.TempDir()
	broker := startBroker(t, port, dir)
	defer func() { broker.Close() }()
	brokers := []string{fmt.Sprintf("127.0.0.1:%d", port)}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	const prefix, perBatch = "crash", 25
	p, err := events.NewProducer(events.ProducerConfig{Brokers: brokers, TopicPrefix: prefix, Partitions: 4, WriteTimeout: 3 * time.Second, Logger: log}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	if err := p.EnsureTopic(ctx); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	acked := map[string]bool{}
	tried := map[string]bool{}
	var seq atomic.Int64
	publish := func(n int) {
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range n / 4 {
					id := fmt.Sprintf("b%04d", seq.Add(1))
					evs := make([]events.Event, perBatch)
					for i := range evs {
						// Users spread each batch over the partitions.
						evs[i] = events.Event{Type: events.View, Surface: "drop", ListingID: id, User: fmt.Sprintf("h_u%d", i), At: time.Now().UTC()}
					}
					pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
					err := p.Publish(pctx, evs)
					cancel()
					mu.Lock()
					tried[id] = true
					if err == nil {
						acked[id] = true
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	}

	var fails atomic.Int32
	st.beforeCommit = func() error {
		if fails.Add(1) == 3 {
			return errors.New("crash before the commit")
		}
		return nil
	}
	cfg := Config{Brokers: brokers, TopicPrefix: prefix, Flush: 30 * time.Millisecond, MaxBatch: 100, Retry: 50 * time.Millisecond, Logger: log}
	c1, err := NewConsumer(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	stop1 := testkit.Go(ctx, t, "consumer 1", c1.Run)
	publish(40)
	testkit.Eventually(t, "the first consumer committed past the failed transaction", 30*time.Second, func() bool { return fails.Load() > 4 })
	// Stop the consumer while batches are still arriving, then the broker.
	done := make(chan struct{})
	go func() { publish(20); close(done) }()
	time.Sleep(20 * time.Millisecond)
	stop1()
	<-done
	broker.Close()

	broker = startBroker(t, port, dir)
	publish(40) // the producer reconnects to the restarted broker
	c2, err := NewConsumer(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	stop2 := testkit.Go(ctx, t, "consumer 2", c2.Run)
	defer stop2()

	mu.Lock()
	nAcked := len(acked)
	mu.Unlock()
	if nAcked < 60 {
		t.Fatalf("only %d of 100 batches acknowledged: the broker did not come back", nAcked)
	}
	var got map[string]int64
	testkit.Eventually(t, "every acknowledged batch rolled up", 60*time.Second, func() bool {
		got = arrivals(t, st)
		for id := range acked {
			if got[id] < perBatch {
				return false
			}
		}
		return true
	})
	// Nothing counted twice: let the consumer run a moment longer, then
	// every batch counts once (an unacknowledged one at most once).
	time.Sleep(200 * time.Millisecond)
	got = arrivals(t, st)
	mu.Lock()
	defer mu.Unlock()
	for id, n := range got {
		switch {
		case acked[id] && n != perBatch:
			t.Errorf("acknowledged batch %s counted %d times its %d events", id, n, perBatch)
		case !acked[id] && (!tried[id] || n > perBatch):
			t.Errorf("batch %s (not acknowledged) counted %d events", id, n)
		}
	}
	t.Logf("%d batches acknowledged, %d tried, %d rolled up", len(acked), len(tried), len(got))
}
