package redisstore

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rummage/rummage/signals"
)

// Affinity profiles (signals.ProfileStore): one hash per pseudonym,
// {P:u:<pseudonym>}:prof, feature → stored value (signals.Stored), so that
// a user's profile is one slot and one HGETALL; the events topic positions
// in {P}:profpos. A batch is one MULTI/EXEC pipeline: HINCRBYFLOAT per
// delta (the values add in any order) and the positions, so that both or
// neither are applied. Keys of many users in one MULTI assume the single
// Redis the rest of the store assumes.

// ApplyProfiles implements signals.ProfileStore.
func (s *Store) ApplyProfiles(ctx context.Context, b signals.ProfileBatch) error {
	for _, d := range b.Deltas {
		if d.User == "" || d.Feature == "" || math.IsNaN(d.Weight) || math.IsInf(d.Weight, 0) {
			return fmt.Errorf("redisstore: profiles: bad delta %+v", d)
		}
	}
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, d := range b.Deltas {
			p.HIncrByFloat(ctx, s.user(d.User, "prof"), d.Feature, signals.Stored(d.Weight, d.At))
		}
		if len(b.Positions) > 0 {
			kv := make([]any, 0, 2*len(b.Positions))
			for _, q := range b.Positions {
				kv = append(kv, q.Topic+"\x00"+strconv.Itoa(q.Partition), strconv.FormatInt(q.Offset, 10))
			}
			p.HSet(ctx, s.g("profpos"), kv...)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisstore: profiles: %w", err)
	}
	return nil
}

// ProfilePositions implements signals.ProfileStore.
func (s *Store) ProfilePositions(ctx context.Context) ([]signals.Position, error) {
	m, err := s.c.HGetAll(ctx, s.g("profpos")).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: profile positions: %w", err)
	}
	out := make([]signals.Position, 0, len(m))
	for k, v := range m {
		topic, part, ok := strings.Cut(k, "\x00")
		p, err1 := strconv.Atoi(part)
		off, err2 := strconv.ParseInt(v, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("redisstore: profile positions: bad entry %q=%q", k, v)
		}
		out = append(out, signals.Position{Topic: topic, Partition: p, Offset: off})
	}
	signals.SortPositions(out)
	return out, nil
}

// Profile implements signals.ProfileStore.
func (s *Store) Profile(ctx context.Context, user string, at time.Time) (signals.Profile, error) {
	m, err := s.c.HGetAll(ctx, s.user(user, "prof")).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: profile: %w", err)
	}
	out := make(signals.Profile, len(m))
	for f, v := range m {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, fmt.Errorf("redisstore: profile %s: %w", f, err)
		}
		out[f] = signals.Decayed(x, at)
	}
	return out, nil
}

// ForgetProfile implements signals.ProfileStore.
func (s *Store) ForgetProfile(ctx context.Context, user string) error {
	if err := s.c.Del(ctx, s.user(user, "prof")).Err(); err != nil {
		return fmt.Errorf("redisstore: forget profile: %w", err)
	}
	return nil
}
