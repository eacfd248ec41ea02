package kafkabus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rummage/rummage/indexer"
	"github.com/rummage/rummage/indexer/change"
	"github.com/rummage/rummage/indexer/kafkabus"
	"github.com/rummage/rummage/internal/testkit"
	"github.com/rummage/rummage/query/embedded"
	"github.com/rummage/rummage/query/embedded/embeddedtest"
	"github.com/rummage/rummage/signals"
)

// positionsStore is a trivial signals.Writer that keeps the sellers it was
// given and its positions (the real stores are tested in signals/...).
type positionsStore struct {
	mu      sync.Mutex
	sellers []string
	pos     map[signals.Position]int64 // offset by topic and partition
}

func (s *positionsStore) Apply(_ context.Context, b signals.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range b.Changes {
		if c.Seller != nil {
			s.sellers = append(s.sellers, c.Seller.ID)
		}
	}
	if s.pos == nil {
		s.pos = map[signals.Position]int64{}
	}
	for _, p := range b.Positions {
		k := signals.Position{Topic: p.Topic, Partition: p.Partition}
		s.pos[k] = max(s.pos[k], p.Offset)
	}
	return nil
}

func (s *positionsStore) Positions(context.Context) ([]signals.Position, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []signals.Position
	for k, o := range s.pos {
		out = append(out, signals.Position{Topic: k.Topic, Partition: k.Partition, Offset: o})
	}
	return out, nil
}

func (s *positionsStore) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.sellers)
	slices.Sort(out)
	return slices.Compact(out)
}

func seller(id string, lsn uint64) change.Event {
	return change.Event{After: json.RawMessage(fmt.Sprintf(`{"id":%q,"username":"u%s"}`, id, id)), Op: change.OpCreate,
		Key: json.RawMessage(fmt.Sprintf(`{"id":%q}`, id)), Source: change.Source{Schema: "public", Table: "sellers", LSN: lsn}}
}

// TestEmptySignalsStoreRereadsSocialTopics: the group has committed every
// offset, then the indexer starts with a new (or emptied) signals store.
// The social topics are read again from their start, so the store gets
// every seller; the listings topic goes on from its committed offsets, so
// the index gets only what is new. A store with positions rewinds nothing.
func TestEmptySignalsStoreRereadsSocialTopics(t *testing.T) {
	brokers := startCluster(t)
	x := embeddedtest.Open(t, embedded.Config{})
	w := newWriter(t, brokers)
	ctx := context.Background()
	topics := []string{listingsTopic, sellersTopic}
	var events []change.Event
	var want []string
	for i := range 20 {
		events = append(events, listing(change.OpCreate, fmt.Sprintf("l%02d", i), uint64(100+i), 1000, 0))
		id := fmt.Sprintf("s%02d", i)
		events = append(events, seller(id, uint64(100+i)))
		want = append(want, id)
	}
	if err := w.Write(ctx, events); err != nil {
		t.Fatal(err)
	}

	first := &positionsStore{}
	rewind, err := indexer.RewindTopics(ctx, first, topics)
	if err != nil || !slices.Equal(rewind, []string{sellersTopic}) {
		t.Fatalf("rewind %v, %v", rewind, err)
	}
	be := &backend{Index: x}
	p := startIndexerFrom(t, brokers, "rewind", rewind, be, indexer.Config{Signals: first})
	testkit.Eventually(t, "the first run committed everything", 45*time.Second, func() bool {
		return committed(t, brokers, "rewind", listingsTopic, 4) == 20 && committed(t, brokers, "rewind", sellersTopic, 4) == 20
	})
	p.stop(t)
	if got := first.seen(); !slices.Equal(got, want) {
		t.Fatalf("first store has %v", got)
	}
	if rewind, err := indexer.RewindTopics(ctx, first, topics); err != nil || rewind != nil {
		t.Fatalf("a store with positions rewinds %v, %v", rewind, err)
	}

	if err := w.Write(ctx, []change.Event{listing(change.OpCreate, "l99", 200, 1000, 0), seller("s99", 200)}); err != nil {
		t.Fatal(err)
	}
	emptied := &positionsStore{}
	rewind, err = indexer.RewindTopics(ctx, emptied, topics)
	if err != nil {
		t.Fatal(err)
	}
	be2 := &backend{Index: x}
	startIndexerFrom(t, brokers, "rewind", rewind, be2, indexer.Config{Signals: emptied})
	testkit.Eventually(t, "the second run has every seller", 45*time.Second, func() bool { return len(emptied.seen()) == 21 })
	testkit.Eventually(t, "the second run committed the new listing", 45*time.Second, func() bool {
		return committed(t, brokers, "rewind", listingsTopic, 4) == 21 && committed(t, brokers, "rewind", sellersTopic, 4) == 21
	})
	var ids []string
	calls, _ := be2.snapshot()
	for _, c := range calls {
		ids = append(ids, c.ids...)
	}
	if !slices.Equal(ids, []string{"l99"}) {
		t.Fatalf("the listings topic was read again: the second run applied %v", ids)
	}
	pos, _ := emptied.Positions(ctx)
	var total int64
	for _, p := range pos {
		if p.Topic != sellersTopic {
			t.Fatalf("position of a non-social topic: %+v", p)
		}
		total += p.Offset + 1
	}
	if total != 21 {
		t.Fatalf("the store's positions cover %d messages, want 21: %+v", total, pos)
	}
}

// TestRewindWaitsForTheGroupsLastMember: while a member of the group (a
// previous run that has not left yet) holds the social topic, Kafka refuses
// to delete its offsets; the new reader waits, and rewinds once the member
// has gone.
func TestRewindWaitsForTheGroupsLastMember(t *testing.T) {
	brokers := startCluster(t)
	w := newWriter(t, brokers)
	ctx := context.Background()
	if err := w.Write(ctx, []change.Event{seller("s1", 100), seller("s2", 101)}); err != nil {
		t.Fatal(err)
	}
	cfg := kafkabus.ReaderConfig{Brokers: brokers, GroupID: "held", Topics: []string{listingsTopic, sellersTopic},
		SessionTimeout: 6 * time.Second, HeartbeatInterval: 200 * time.Millisecond, MaxWait: 100 * time.Millisecond, Logger: quiet}
	old, err := kafkabus.NewReader(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var fetched []indexer.Message
	for len(fetched) < 2 {
		msgs, err := old.Fetch(ctx, 10, 50*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		fetched = append(fetched, msgs...)
	}
	if err := old.Commit(ctx, fetched); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the old member's commit", 45*time.Second, func() bool { return committed(t, brokers, "held", sellersTopic, 4) == 2 })

	type opened struct {
		r   *kafkabus.Reader
		err error
	}
	done := make(chan opened, 1)
	go func() {
		c := cfg
		c.FromStart = []string{sellersTopic}
		r, err := kafkabus.NewReader(ctx, c)
		done <- opened{r, err}
	}()
	select {
	case o := <-done:
		t.Fatalf("rewound while the old member holds the group: %v", o.err)
	case <-time.After(500 * time.Millisecond): // it waits (or has not asked yet): either way the old member goes now
	}
	old.Close()
	o := <-done
	if o.err != nil {
		t.Fatal(o.err)
	}
	defer o.r.Close()
	fctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	var again []indexer.Message
	for len(again) < 2 {
		msgs, err := o.r.Fetch(fctx, 10, 50*time.Millisecond)
		if err != nil {
			t.Fatalf("the sellers topic is not read again from its start: %v", err)
		}
		again = append(again, msgs...)
	}
}
