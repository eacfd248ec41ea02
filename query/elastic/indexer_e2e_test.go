package elastic_test

// The whole consumer side against a real cluster: change envelopes written to
// Kafka (kfake, in process, random ports) → kafkabus.Reader → indexer →
// Backend.Apply (reindex-aware) → Elasticsearch 8, read back with Get and Search.
//
// It needs a real cluster, like cluster_test.go:
//
//	ELASTICSEARCH_URL=http://localhost:9200 go test ./query/elastic -run TestClusterIndexerEndToEnd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/indexer"
	"github.com/rummage/rummage/indexer/change"
	"github.com/rummage/rummage/indexer/change/changetest"
	"github.com/rummage/rummage/indexer/kafkabus"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/query/elastic"
)

const e2ePrefix = "e2e"

var e2eQuiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// e2eListing is a change event of the listings table at commit LSN lsn.
func e2eListing(op change.Op, id string, lsn uint64, title string, price int64) change.Event {
	row := fmt.Sprintf(`{"id":%q,"seller_id":"s1","title":%q,"brand":"Acme","category":["Women","Coats"],"price_cents":%d,"share_count":0,"images":[],"status":"available","created_at":"2024-01-02T03:04:05Z","updated_at":"2024-01-02T03:04:05Z"}`, id, title, price)
	return changetest.Event(op, e2ePrefix, "listings", id, lsn, row)
}

// TestClusterIndexerEndToEnd writes inserts, an update, a delete and then
// older (stale) versions of both through Kafka, and checks what the running
// indexer made of them in Elasticsearch: the inserts and the update are
// found by Get and Search, the deleted listing is gone, and the stale events
// are counted as stale without overwriting the update or resurrecting the
// deleted listing.
func TestClusterIndexerEndToEnd(t *testing.T) {
	if os.Getenv("ELASTICSEARCH_URL") == "" {
		t.Skip("ELASTICSEARCH_URL is not set: no Elasticsearch server can run on this machine, so the end-to-end test " +
			"through the indexer is skipped; run it with ELASTICSEARCH_URL=http://localhost:9200 go test ./query/elastic -run TestClusterIndexerEndToEnd")
	}
	es := elastic.OpenCluster(t) // its own index prefix, dropped at the end; Refresh wait_for

	listingsTopic := change.Topic(e2ePrefix, "public", "listings")
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(),
		kfake.SeedTopics(4, listingsTopic), kfake.SeedTopics(1, kafkabus.DeadLetterTopic(e2ePrefix)))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(cluster.Close)
	brokers := cluster.ListenAddrs()

	w, err := kafkabus.NewWriter(kafkabus.WriterConfig{Brokers: brokers, TopicPrefix: e2ePrefix, Partitions: 4, Logger: e2eQuiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })

	ctx, cancel := context.WithCancel(context.Background())
	r, err := kafkabus.NewReader(ctx, kafkabus.ReaderConfig{Brokers: brokers, GroupID: "e2e-es",
		Topics: []string{listingsTopic}, CreateTopics: true, Partitions: 4,
		SessionTimeout: 6 * time.Second, HeartbeatInterval: 200 * time.Millisecond, MaxWait: 100 * time.Millisecond,
		Logger: e2eQuiet})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	dlq, err := kafkabus.NewDeadLetterWriter(brokers, kafkabus.DeadLetterTopic(e2ePrefix))
	if err != nil {
		cancel()
		r.Close()
		t.Fatal(err)
	}
	m := indexer.NewMetrics(nil)
	ix, err := indexer.New(r, es, dlq, indexer.Config{Tables: []string{indexer.ListingsTable},
		BatchWait: 50 * time.Millisecond, RetryMin: 50 * time.Millisecond, RetryMax: time.Second, Metrics: m, Logger: e2eQuiet})
	if err != nil {
		cancel()
		r.Close()
		dlq.Close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		err := ix.Run(ctx)
		r.Close()
		dlq.Close()
		done <- err
	}()
	// Registered after OpenCluster's cleanup, so it runs first: the indexer
	// stops before the indices are dropped.
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("indexer: %v", err)
		}
	})

	eventually := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if testutil.CollectAndCount(m.DeadLetters) > 0 {
				t.Fatalf("waiting for %s: a message went to the dead-letter topic", what)
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s (written %v, stale %v, retries %v)", what,
					testutil.ToFloat64(m.Written), testutil.ToFloat64(m.Stale), testutil.ToFloat64(m.ApplyRetries))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	get := func(id string) (*rummage.Listing, error) { return es.Get(ctx, id) }
	search := func(q string) []string {
		t.Helper()
		res, err := es.Retrieve(ctx, &query.Retrieval{Query: q, N: query.DefaultLimit, Now: time.Now()})
		if err != nil {
			t.Fatalf("search %q: %v", q, err)
		}
		ids := make([]string, len(res.Hits))
		for i, h := range res.Hits {
			ids[i] = h.ID
		}
		if res.Total != len(ids) {
			t.Fatalf("search %q: total %d, hits %v", q, res.Total, ids)
		}
		return ids
	}
	write := func(events ...change.Event) {
		t.Helper()
		if err := w.Write(ctx, events); err != nil {
			t.Fatal(err)
		}
	}

	// 1. Inserts (a snapshot read and two creates).
	write(e2eListing(change.OpRead, "l1", 100, "Red wool coat", 5000),
		e2eListing(change.OpCreate, "l2", 101, "Grey wool coat", 7000),
		e2eListing(change.OpCreate, "l3", 102, "Black wool coat", 6000))
	eventually("the three inserts", func() bool {
		for _, id := range []string{"l1", "l2", "l3"} {
			if _, err := get(id); err != nil {
				return false
			}
		}
		return true
	})
	if ids := search("wool coat"); len(ids) != 3 {
		t.Fatalf("after the inserts, search \"wool coat\" = %v; want l1, l2, l3", ids)
	}

	// 2. An update of l1 and a delete of l2.
	write(e2eListing(change.OpUpdate, "l1", 200, "Blue linen jacket", 4500),
		e2eListing(change.OpDelete, "l2", 201, "Grey wool coat", 7000))
	eventually("the update of l1 and the delete of l2", func() bool {
		l, err := get("l1")
		if err != nil || l.PriceCents != 4500 {
			return false
		}
		_, err = get("l2")
		return errors.Is(err, query.ErrNotFound)
	})
	if ids := search("linen jacket"); len(ids) != 1 || ids[0] != "l1" {
		t.Fatalf("after the update, search \"linen jacket\" = %v; want [l1]", ids)
	}
	if ids := search("wool coat"); len(ids) != 1 || ids[0] != "l3" {
		t.Fatalf("after the update and the delete, search \"wool coat\" = %v; want [l3]", ids)
	}

	// 3. Older versions of l1 and l2, as a replay would deliver them: both
	// are stale; neither overwrites the update nor brings l2 back.
	staleBefore := testutil.ToFloat64(m.Stale)
	write(e2eListing(change.OpUpdate, "l1", 150, "Green silk scarf", 9999),
		e2eListing(change.OpUpdate, "l2", 150, "Grey wool coat", 7000))
	eventually("the two stale events counted as stale", func() bool {
		return testutil.ToFloat64(m.Stale)-staleBefore >= 2
	})
	l1, err := get("l1")
	if err != nil || l1.PriceCents != 4500 || l1.Title != "Blue linen jacket" {
		t.Fatalf("l1 after a stale update: %+v, %v; want the update of LSN 200", l1, err)
	}
	if _, err := get("l2"); !errors.Is(err, query.ErrNotFound) {
		t.Fatalf("l2 after a stale upsert older than its delete: %v; want not found", err)
	}
	if ids := search("silk scarf"); len(ids) != 0 {
		t.Fatalf("search \"silk scarf\" = %v; the stale update was applied", ids)
	}
	if ids := search(""); len(ids) != 2 {
		t.Fatalf("browse = %v; want l1 and l3", ids)
	}
}
