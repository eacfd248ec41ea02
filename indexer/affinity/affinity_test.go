package affinity

import (
	"context"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	rummage "github.com/rummage/rummage"
	"github.com/rummage/rummage/events"
	"github.com/rummage/rummage/indexer"
	"github.com/rummage/rummage/indexer/kafkabus"
	"github.com/rummage/rummage/signals/memory"
)

type loader map[string]*rummage.Listing

func (l loader) Load(_ context.Context, ids []string) ([]*rummage.Listing, error) {
	out := make([]*rummage.Listing, len(ids))
	for i, id := range ids {
		out[i] = l[id]
	}
	return out, nil
}

var (
	at       = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	listings = loader{
		"l1": {ID: "l1", SellerID: "s1", Brand: "Nike", Category: []string{"Women", "Shoes", "Sneakers"}, Size: "8", PriceCents: 4500},
		"l2": {ID: "l2", SellerID: "s2", Brand: "Zara", Category: []string{"Women", "Dresses"}, Size: "M", PriceCents: 900},
	}
)

func msg(off int64, e events.Event) indexer.Message {
	b, _ := json.Marshal(e)
	return indexer.Message{Topic: "t.events", Partition: 0, Offset: off, Value: b}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// TestApply: clicks, carts and purchases count by their weights for every
// feature of the listing; other types, anonymous events and unknown
// listings count nothing; a redelivered batch is not counted twice.
func TestApply(t *testing.T) {
	ctx := context.Background()
	st, _ := memory.Open("")
	c, err := New(Config{}, nil, st, listings)
	if err != nil {
		t.Fatal(err)
	}
	msgs := []indexer.Message{
		msg(0, events.Event{Type: events.Click, User: "h_a", ListingID: "l1", At: at}),
		msg(1, events.Event{Type: events.AddToCart, User: "h_a", ListingID: "l1", At: at}),
		msg(2, events.Event{Type: events.Purchase, User: "h_a", ListingID: "l2", At: at}),
		msg(3, events.Event{Type: events.Like, User: "h_a", ListingID: "l2", At: at}),    // attribution only
		msg(4, events.Event{Type: events.View, User: "h_a", At: at}),                     // no listing
		msg(5, events.Event{Type: events.Click, ListingID: "l2", At: at}),                // anonymous
		msg(6, events.Event{Type: events.Click, User: "h_a", ListingID: "gone", At: at}), // deleted listing
		{Topic: "t.events", Partition: 0, Offset: 7, Value: []byte("{not json")},
	}
	for range 2 { // the second time: a redelivery after a crash before the commit
		if err := c.Apply(ctx, msgs); err != nil {
			t.Fatal(err)
		}
	}
	p, _ := st.Profile(ctx, "h_a", at)
	want := map[string]float64{"b:Nike": 4, "c:Women/Shoes/Sneakers": 4, "z:8": 4, "p:3": 4, "s:s1": 4, "b:Zara": 6, "c:Women/Dresses": 6, "z:M": 6, "p:0": 6, "s:s2": 6}
	if len(p) != len(want) {
		t.Fatalf("profile %v, want %v", p, want)
	}
	for f, w := range want {
		if !near(p[f], w) {
			t.Errorf("%s = %v, want %v", f, p[f], w)
		}
	}
	// A new consumer over the same store (a restart) reads the positions.
	c2, _ := New(Config{}, nil, st, listings)
	if err := c2.Apply(ctx, msgs[:3]); err != nil {
		t.Fatal(err)
	}
	if p, _ := st.Profile(ctx, "h_a", at); !near(p["b:Nike"], 4) {
		t.Errorf("after a restart's redelivery b:Nike = %v, want 4", p["b:Nike"])
	}
}

// TestRunOnKafka runs the consumer as a group on an in-process broker:
// what is produced to the events topic reaches the profile.
func TestRunOnKafka(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.SeedTopics(2, events.Topic("t")))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: events.Topic("t"), Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	var ms []kafka.Message
	for i := range 10 {
		e := events.Event{Type: events.Click, User: "h_b", ListingID: "l2", At: at.Add(time.Duration(i) * time.Second)}
		b, _ := json.Marshal(e)
		ms = append(ms, kafka.Message{Key: []byte(e.User), Value: b})
	}
	if err := w.WriteMessages(ctx, ms...); err != nil {
		t.Fatal(err)
	}
	src, err := kafkabus.NewReader(ctx, kafkabus.ReaderConfig{Brokers: brokers, GroupID: Group("t"), Topics: []string{events.Topic("t")}})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	st, _ := memory.Open("")
	c, _ := New(Config{}, src, st, listings)
	done := make(chan error, 1)
	rctx, stop := context.WithCancel(ctx)
	go func() { done <- c.Run(rctx) }()
	for {
		p, _ := st.Profile(ctx, "h_b", at)
		if p["b:Zara"] >= 10-1e-6 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("profile %v after 30 s, want b:Zara 10", p)
		case <-time.After(20 * time.Millisecond):
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestForget(t *testing.T) {
	ctx := context.Background()
	st, _ := memory.Open("")
	pz, _ := events.NewPseudonymizer([]byte("0123456789abcdef0123"))
	c, _ := New(Config{}, nil, st, listings)
	if err := c.Apply(ctx, []indexer.Message{
		msg(0, events.Event{Type: events.Click, User: pz.Of("alice"), ListingID: "l1", At: at}),
		msg(1, events.Event{Type: events.Click, User: pz.Of("bob"), ListingID: "l1", At: at}),
	}); err != nil {
		t.Fatal(err)
	}
	if err := Forget(ctx, st, pz, "alice"); err != nil {
		t.Fatal(err)
	}
	if p, _ := st.Profile(ctx, pz.Of("alice"), at); len(p) != 0 {
		t.Errorf("alice's profile after forget: %v", p)
	}
	if p, _ := st.Profile(ctx, pz.Of("bob"), at); len(p) == 0 {
		t.Error("bob's profile went too")
	}
	if err := Forget(ctx, st, pz, ""); err == nil {
		t.Error("an empty user forgotten")
	}
}
