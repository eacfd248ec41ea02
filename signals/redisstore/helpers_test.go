package redisstore

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rummage/rummage/internal/testredis"
	"github.com/rummage/rummage/signals"
)

// openTest opens a Store on a fresh random prefix whose keys are deleted
// when the test ends (never a FLUSH: the Redis is shared).
func openTest(t testing.TB) *Store {
	t.Helper()
	prefix := testredis.Prefix(t, "redisstore-test")
	s, err := Open(context.Background(), Config{URL: testredis.URL(), Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	// Closed before testredis deletes the prefix with its own client.
	t.Cleanup(func() { s.Close() })
	return s
}

// reopen opens a second Store on s's Redis and prefix.
func reopen(t testing.TB, s *Store) *Store {
	t.Helper()
	r, err := Open(context.Background(), Config{URL: testredis.URL(), Prefix: s.prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func prefixKeys(t testing.TB, c *redis.Client, prefix string) []string {
	t.Helper()
	var keys []string
	iter := c.Scan(context.Background(), 0, "{"+prefix+"[:}]*", 1000).Iterator()
	for iter.Next(context.Background()) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}

// counter counts round trips: one per command sent alone, one per
// pipeline (a new connection's handshake counts too).
type counter struct{ n atomic.Int64 }

func (c *counter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}
func (c *counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmds)
	}
}

var t0 = time.Date(2026, 11, 2, 18, 0, 0, 0, time.UTC)

func at(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

func apply(t testing.TB, s *Store, cs ...signals.Change) {
	t.Helper()
	if err := s.Apply(context.Background(), signals.Batch{Changes: cs}); err != nil {
		t.Fatal(err)
	}
}

func share(v uint64, id int64, user, listing, party string, min int) signals.Change {
	return signals.Change{Version: v, Share: &signals.Share{ID: id, User: user, Listing: listing, Party: party, At: at(min)}}
}

func del(c signals.Change) signals.Change { c.Delete = true; return c }
