package rollup

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/rummage/rummage/events"
	"github.com/rummage/rummage/internal/testkit"
)

// TestRetention: the events topic is created with its retention, and the
// rollup rows older than theirs are deleted while newer ones stay.
func TestRetention(t *testing.T) {
	ctx := context.Background()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p, err := events.NewProducer(events.ProducerConfig{Brokers: c.ListenAddrs(), TopicPrefix: "ret", Retention: 36 * time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.EnsureTopic(ctx); err != nil {
		t.Fatal(err)
	}
	cl := &kafka.Client{Addr: kafka.TCP(c.ListenAddrs()...)}
	res, err := cl.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{
		{ResourceType: kafka.ResourceTypeTopic, ResourceName: events.Topic("ret"), ConfigNames: []string{"retention.ms"}}}})
	if err != nil {
		t.Fatal(err)
	}
	got := ""
	for _, r := range res.Resources {
		for _, e := range r.ConfigEntries {
			if e.ConfigName == "retention.ms" {
				got = e.ConfigValue
			}
		}
	}
	if got != "129600000" {
		t.Errorf("retention.ms of the events topic = %q, want 129600000 (36 h)", got)
	}

	st := migrated(t)
	now := time.Now().UTC()
	old, recent := now.Add(-100*24*time.Hour), now.Add(-time.Hour)
	var evs []events.Event
	for _, at := range []time.Time{old, recent} {
		evs = append(evs,
			events.Event{Type: events.Impression, Surface: "search", QueryID: "q" + at.String(), Query: "coat", At: at, User: "h_1", Variant: "e/a"},
			events.Event{Type: events.View, Surface: "party", PartyID: "p1", User: "h_1", At: at},
			events.Event{Type: events.View, Surface: "drop", ListingID: "d1", At: at})
	}
	if _, err := st.Apply(ctx, "t", evs, map[int]int64{0: 6}); err != nil {
		t.Fatal(err)
	}
	n, err := st.DeleteBefore(ctx, now.Add(-DefaultRetention))
	if err != nil {
		t.Fatal(err)
	}
	if n != 5 { // the old row of each table below
		t.Errorf("the retention deleted %d rows, want 5", n)
	}
	for _, table := range []string{"analytics_queries", "analytics_query_ids", "analytics_parties", "analytics_drops", "analytics_experiments"} {
		var left int
		if err := st.pool.QueryRow(ctx, `SELECT count(*) FROM rummage.`+table).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left != 1 {
			t.Errorf("%s: %d rows after the retention, want the recent one", table, left)
		}
	}
}

// TestRecreatedTopic: offsets committed against an older topic (its log
// deleted since) are past the new topic's end: the consumer reads the new
// one from its start rather than waiting for offsets that never come.
func TestRecreatedTopic(t *testing.T) {
	ctx := context.Background()
	st := migrated(t)
	if _, err := st.Apply(ctx, events.Topic("re"), nil, map[int]int64{0: 1000}); err != nil {
		t.Fatal(err)
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p, err := events.NewProducer(events.ProducerConfig{Brokers: c.ListenAddrs(), TopicPrefix: "re", Partitions: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.EnsureTopic(ctx); err != nil {
		t.Fatal(err)
	}
	evs := []events.Event{{Type: events.View, Surface: "drop", ListingID: "d1", At: time.Now()}, {Type: events.View, Surface: "drop", ListingID: "d1", At: time.Now()}}
	if err := p.Publish(ctx, evs); err != nil {
		t.Fatal(err)
	}
	cons, err := NewConsumer(Config{Brokers: c.ListenAddrs(), TopicPrefix: "re", Flush: 20 * time.Millisecond}, st)
	if err != nil {
		t.Fatal(err)
	}
	stop := testkit.Go(ctx, t, "consumer", cons.Run)
	defer stop()
	testkit.Eventually(t, "the new topic's events rolled up", 20*time.Second, func() bool { return arrivals(t, st)["d1"] == 2 })
}
