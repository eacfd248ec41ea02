package kafkainv_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/rummage/rummage/serve/cache/kafkainv"
)

// target records what it is told.
type target struct {
	mu      sync.Mutex
	deps    []string
	cleared int
	got     chan struct{}
}

func (t *target) InvalidateDeps(d []string) {
	t.mu.Lock()
	t.deps = append(t.deps, d...)
	t.mu.Unlock()
	t.got <- struct{}{}
}

func (t *target) Clear() {
	t.mu.Lock()
	t.cleared++
	t.mu.Unlock()
}

// topic starts a broker with prefix's invalidation topic and a publisher
// to it; both end with the test.
func topic(t *testing.T, prefix string) (context.Context, *kfake.Cluster, *kafkainv.Publisher) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	pub := kafkainv.NewPublisher(c.ListenAddrs(), prefix)
	t.Cleanup(func() { pub.Close() })
	if err := pub.EnsureTopic(ctx); err != nil {
		t.Fatal(err)
	}
	return ctx, c, pub
}

// TestEveryReplicaHears: two replicas subscribed before a batch is
// published both invalidate its dependencies, split over messages; a
// replica starts with an empty cache.
func TestEveryReplicaHears(t *testing.T) {
	ctx, c, pub := topic(t, "rt")
	if err := pub.Send(ctx, []string{"l:old"}); err != nil { // before the replicas: not theirs
		t.Fatal(err)
	}
	var targets []*target
	for range 2 {
		tg := &target{got: make(chan struct{}, 16)}
		s := &kafkainv.Subscriber{Brokers: c.ListenAddrs(), Prefix: "rt", Target: tg}
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		targets = append(targets, tg)
	}
	deps := make([]string, 5000)
	for i := range deps {
		deps[i] = "l:" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))
	}
	if err := pub.Send(ctx, deps); err != nil {
		t.Fatal(err)
	}
	for i, tg := range targets {
		<-tg.got
		<-tg.got // 5000 deps: two messages
		tg.mu.Lock()
		if !slices.Equal(tg.deps, deps) || tg.cleared != 1 {
			t.Fatalf("replica %d: %d deps (want %d), cleared %d times (want 1, at start)", i, len(tg.deps), len(deps), tg.cleared)
		}
		tg.mu.Unlock()
	}
}

// TestLostPlaceDropsTheCache: when the topic is recreated under a replica
// (its offsets start again), the replica cannot know what it missed: it
// drops its cache and follows the new topic from its end.
func TestLostPlaceDropsTheCache(t *testing.T) {
	ctx, c, pub := topic(t, "lp")
	for range 3 {
		if err := pub.Send(ctx, []string{"l:a"}); err != nil {
			t.Fatal(err)
		}
	}
	tg := &target{got: make(chan struct{}, 16)}
	lost := make(chan struct{}, 4)
	s := &kafkainv.Subscriber{Brokers: c.ListenAddrs(), Prefix: "lp", Target: tg, Retry: time.Millisecond, Lost: func() { lost <- struct{}{} }}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cl := &kafka.Client{Addr: kafka.TCP(c.ListenAddrs()...)}
	if _, err := cl.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{kafkainv.Topic("lp")}}); err != nil {
		t.Fatal(err)
	}
	if err := pub.EnsureTopic(ctx); err != nil {
		t.Fatal(err)
	}
	if err := pub.Send(ctx, []string{"l:b"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lost:
	case <-tg.got:
		t.Fatalf("a message of the new topic was taken for the old one's: %v", tg.deps)
	case <-time.After(30 * time.Second):
		t.Fatal("the subscriber did not notice it lost its place")
	}
	tg.mu.Lock()
	defer tg.mu.Unlock()
	if tg.cleared < 2 {
		t.Fatalf("cleared %d times, want at start and when lost", tg.cleared)
	}
}
