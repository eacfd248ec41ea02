package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rummage/rummage/feed"
)

// Snapshots keeps the home feed's ranked snapshots in Redis
// (feed.Snapshots), so that every replica pages the same one. Each is one
// key with its TTL; Redis's maxmemory bounds them all.
type Snapshots struct {
	c      *redis.Client
	prefix string
}

var _ feed.Snapshots = (*Snapshots)(nil)

// Snapshots returns the snapshot store on the Store's Redis and prefix.
func (s *Store) Snapshots() *Snapshots { return &Snapshots{c: s.c, prefix: s.prefix} }

func (s *Snapshots) key(id string) string { return "{" + s.prefix + ":snap:" + id + "}" }

// Put implements feed.Snapshots.
func (s *Snapshots) Put(ctx context.Context, id string, snap *feed.Snapshot, ttl time.Duration) error {
	if ttl < time.Millisecond {
		return fmt.Errorf("redisstore: snapshot ttl %v: at least 1ms", ttl)
	}
	b, err := json.Marshal(snap)
	if err != nil {
		return fmt.Errorf("redisstore: snapshot: %w", err)
	}
	if err := s.c.Set(ctx, s.key(id), b, ttl).Err(); err != nil {
		return fmt.Errorf("redisstore: put snapshot: %w", err)
	}
	return nil
}

// Get implements feed.Snapshots.
func (s *Snapshots) Get(ctx context.Context, id string) (*feed.Snapshot, error) {
	b, err := s.c.Get(ctx, s.key(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, feed.ErrSnapshotGone
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: get snapshot: %w", err)
	}
	var snap feed.Snapshot
	if err := json.Unmarshal(b, &snap); err != nil {
		return nil, fmt.Errorf("redisstore: snapshot %s: %w", id, err)
	}
	return &snap, nil
}
