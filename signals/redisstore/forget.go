package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rummage/rummage/signals"
)

// Forget implements signals.Forgetter: the user's live follows, likes and
// blocks (their versions in {P:u:U}:v) and shares (their records) become
// deletes at their versions, applied through Apply with the positions
// unchanged.
func (s *Store) Forget(ctx context.Context, user string) (int, error) {
	if user == "" {
		return 0, nil
	}
	pos, err := s.Positions(ctx) // also learns the epoch Apply checks
	if err != nil {
		return 0, err
	}
	vs, err := s.c.HGetAll(ctx, s.user(user, "v")).Result()
	if err != nil {
		return 0, fmt.Errorf("redisstore: forget: %w", err)
	}
	var changes []signals.Change
	for field, v := range vs {
		kind, other, ok := strings.Cut(field, "\x00")
		if !ok || strings.HasPrefix(v, "d") {
			continue
		}
		ver, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("redisstore: forget: version %q of %q: %w", v, field, err)
		}
		c := signals.Change{Version: ver, Delete: true}
		switch kind {
		case "f":
			c.Follow = &signals.Follow{Follower: user, Seller: other}
		case "l":
			c.Like = &signals.Like{User: user, Listing: other}
		case "b":
			c.Block = &signals.Block{User: user, Seller: other}
		default:
			continue
		}
		changes = append(changes, c)
	}
	hist, err := s.c.ZRange(ctx, s.user(user, "sh"), 0, -1).Result()
	if err != nil {
		return 0, fmt.Errorf("redisstore: forget: %w", err)
	}
	for _, m := range hist {
		parts := strings.Split(m, "\x00")
		if len(parts) != 3 {
			continue
		}
		id, err := strconv.ParseInt(parts[2], 10, 64)
		if err != nil {
			continue
		}
		rec, err := s.c.HGet(ctx, s.g("s:"+strconv.FormatInt(floorDiv(id, shareBucket), 10)), parts[2]).Result()
		if err != nil || strings.HasPrefix(rec, "d") {
			continue // gone already
		}
		f := strings.Split(rec, "\x00")
		if len(f) != 5 || f[1] != user {
			continue
		}
		ver, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("redisstore: forget: share %d version %q: %w", id, f[0], err)
		}
		ms, _ := strconv.ParseInt(f[4], 10, 64)
		changes = append(changes, signals.Change{Version: ver, Delete: true,
			Share: &signals.Share{ID: id, User: user, Listing: f[2], Party: f[3], At: time.UnixMilli(ms)}})
	}
	if len(changes) == 0 {
		return 0, nil
	}
	if err := s.Apply(ctx, signals.Batch{Changes: changes, Positions: pos}); err != nil {
		return 0, err
	}
	return len(changes), nil
}
