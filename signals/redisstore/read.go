package redisstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rummage/rummage/signals"
)

// Sellers implements signals.Reader: one HMGET.
func (s *Store) Sellers(ctx context.Context, ids []string) (map[string]signals.Seller, error) {
	out := make(map[string]signals.Seller, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	vals, err := s.c.HMGet(ctx, s.g(signals.TableSellers), ids...).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: sellers: %w", err)
	}
	for i, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue
		}
		var sel signals.Seller
		if err := json.Unmarshal([]byte(str), &sel); err != nil {
			return nil, fmt.Errorf("redisstore: seller %s: %w", ids[i], err)
		}
		out[ids[i]] = sel
	}
	return out, nil
}

// Suspended implements signals.Reader.
func (s *Store) Suspended(ctx context.Context) ([]string, error) {
	return s.members(ctx, s.g("suspended"))
}

// Blocked implements signals.Reader.
func (s *Store) Blocked(ctx context.Context, user string) ([]string, error) {
	return s.members(ctx, s.user(user, "bl"))
}

func (s *Store) members(ctx context.Context, key string) ([]string, error) {
	m, err := s.c.SMembers(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: %s: %w", key, err)
	}
	slices.Sort(m)
	return m, nil
}

// Following implements signals.Reader: one ZREVRANGE (ties by closet id).
func (s *Store) Following(ctx context.Context, user string, limit int) ([]string, error) {
	z, err := s.c.ZRevRangeWithScores(ctx, s.user(user, "fo"), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: following: %w", err)
	}
	slices.SortStableFunc(z, func(a, b redis.Z) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return strings.Compare(a.Member.(string), b.Member.(string))
	})
	if limit > 0 && len(z) > limit {
		z = z[:limit]
	}
	out := make([]string, len(z))
	for i, e := range z {
		out[i] = e.Member.(string)
	}
	return out, nil
}

// Followers implements signals.Reader: one pipeline of SCARD.
func (s *Store) Followers(ctx context.Context, closets []string) (map[string]int, error) {
	out := make(map[string]int, len(closets))
	if len(closets) == 0 {
		return out, nil
	}
	cmds := make([]*redis.IntCmd, len(closets))
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range closets {
			cmds[i] = p.SCard(ctx, s.user(c, "fr"))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("redisstore: followers: %w", err)
	}
	for i, c := range closets {
		if n := cmds[i].Val(); n > 0 {
			out[c] = int(n)
		}
	}
	return out, nil
}

// Parties implements signals.Reader.
func (s *Store) Parties(ctx context.Context) ([]signals.Party, error) {
	all, err := s.c.HVals(ctx, s.g(signals.TableParties)).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: parties: %w", err)
	}
	out := make([]signals.Party, 0, len(all))
	for _, v := range all {
		p, err := decodeParty(v)
		if err != nil {
			return nil, err
		}
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b signals.Party) int {
		if c := a.StartsAt.Compare(b.StartsAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Party implements signals.Reader.
func (s *Store) Party(ctx context.Context, id string) (*signals.Party, error) {
	v, err := s.c.HGet(ctx, s.g(signals.TableParties), id).Result()
	if errors.Is(err, redis.Nil) {
		return nil, signals.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: party: %w", err)
	}
	return decodeParty(v)
}

// window is a half-open span of milliseconds [lo, hi).
type window struct{ lo, hi int64 }

// upTo is (since, at]: the span of SharedBy, Activity, Engagers.
func upTo(since, at time.Time) window { return window{ms(since) + 1, ms(at) + 1} }

// timeline is one source of a merge: a zset of listings by their latest
// event time, and (for shares) the history that answers the latest event
// at or before an instant for a listing whose latest is after it.
type timeline struct {
	latest, hist string
	by           string
}

// merge reads timelines as of w and merges them: each listing once at its
// latest event in w (ties: the smaller By), newest first, ties by listing,
// at most limit (0: all). One pipeline, and a second one only for the
// listings whose latest event is at or after w.hi (re-shared since the
// instant read at). count, when set, is a zset whose entries in w are
// counted in the first pipeline.
func (s *Store) merge(ctx context.Context, tls []timeline, w window, limit int, count string) ([]signals.ListingAt, int64, error) {
	lo, hi := strconv.FormatInt(w.lo, 10), "("+strconv.FormatInt(w.hi, 10)
	in := make([]*redis.ZSliceCmd, len(tls))
	later := make([]*redis.StringSliceCmd, len(tls))
	var counted *redis.IntCmd
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, tl := range tls {
			in[i] = p.ZRevRangeByScoreWithScores(ctx, tl.latest, &redis.ZRangeBy{Min: lo, Max: hi, Count: int64(limit)})
			if tl.hist != "" {
				later[i] = p.ZRangeByScore(ctx, tl.latest, &redis.ZRangeBy{Min: strconv.FormatInt(w.hi, 10), Max: "+inf"})
			}
		}
		if count != "" {
			counted = p.ZCount(ctx, count, lo, hi)
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("redisstore: read: %w", err)
	}
	best := map[string]signals.ListingAt{}
	keep := func(l string, at int64, by string) {
		if at < w.lo || at >= w.hi {
			return
		}
		t := fromMs(at)
		if b, ok := best[l]; ok && (b.At.After(t) || b.At.Equal(t) && b.By <= by) {
			return
		}
		best[l] = signals.ListingAt{Listing: l, At: t, By: by}
	}
	type lookup struct {
		tl  int
		l   string
		cmd *redis.StringSliceCmd
	}
	var lookups []lookup
	for i, tl := range tls {
		for _, z := range in[i].Val() {
			keep(z.Member.(string), int64(z.Score), tl.by)
		}
		if later[i] != nil {
			for _, l := range later[i].Val() {
				lookups = append(lookups, lookup{tl: i, l: l})
			}
		}
	}
	if len(lookups) > 0 {
		upper := pad13(w.hi)
		_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := range lookups {
				lu := &lookups[i]
				lu.cmd = p.ZRevRangeByLex(ctx, tls[lu.tl].hist, &redis.ZRangeBy{
					Max: "(" + lu.l + "\x00" + upper, Min: "(" + lu.l + "\x00", Count: 1})
			}
			return nil
		})
		if err != nil {
			return nil, 0, fmt.Errorf("redisstore: read history: %w", err)
		}
		for _, lu := range lookups {
			if m := lu.cmd.Val(); len(m) == 1 {
				if at, ok := histTime(m[0], lu.l); ok {
					keep(lu.l, at, tls[lu.tl].by)
				}
			}
		}
	}
	out := make([]signals.ListingAt, 0, len(best))
	for _, b := range best {
		out = append(out, b)
	}
	slices.SortFunc(out, newestFirst)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	var n int64
	if counted != nil {
		n = counted.Val()
	}
	return out, n, nil
}

// histTime is the time of a history member "L\0ms13\0id".
func histTime(m, l string) (int64, bool) {
	if len(m) < len(l)+14 {
		return 0, false
	}
	v, err := strconv.ParseInt(m[len(l)+1:len(l)+14], 10, 64)
	return v, err == nil
}

func newestFirst(a, b signals.ListingAt) int {
	if c := b.At.Compare(a.At); c != 0 {
		return c
	}
	return strings.Compare(a.Listing, b.Listing)
}

// SharedBy implements signals.Reader: the closets' share timelines merged
// at read time, in one pipeline whatever their number (two when some
// listing was re-shared after at).
func (s *Store) SharedBy(ctx context.Context, closets []string, since, at time.Time, limit int) ([]signals.ListingAt, error) {
	if len(closets) == 0 || !at.After(since) {
		return nil, nil
	}
	tls := make([]timeline, len(closets))
	for i, c := range closets {
		tls[i] = timeline{latest: s.user(c, "sl"), hist: s.user(c, "sh"), by: c}
	}
	out, _, err := s.merge(ctx, tls, upTo(since, at), limit, "")
	return out, err
}

// Activity implements signals.Reader: the user's likes and shares, merged
// as SharedBy merges closets (By is the user).
func (s *Store) Activity(ctx context.Context, user string, since, at time.Time, limit int) ([]signals.ListingAt, error) {
	if !at.After(since) {
		return nil, nil
	}
	tls := []timeline{
		{latest: s.user(user, "lk"), by: user},
		{latest: s.user(user, "sl"), hist: s.user(user, "sh"), by: user},
	}
	out, _, err := s.merge(ctx, tls, upTo(since, at), limit, "")
	return out, err
}

// PartyShares implements signals.Reader: the party's latest shares as of
// to, and the count of its shares in [from, to), in one pipeline (two when
// a listing was re-shared at or after to).
func (s *Store) PartyShares(ctx context.Context, party string, from, to time.Time) ([]signals.ListingAt, int, error) {
	if !to.After(from) {
		return nil, 0, nil
	}
	tls := []timeline{{latest: s.party(party, "pl"), hist: s.party(party, "ph")}}
	out, n, err := s.merge(ctx, tls, window{ms(from), ms(to)}, 0, s.party(party, "pt"))
	return out, int(n), err
}

// Engagers implements signals.Reader: one pipeline over the listings'
// engager zsets, a second one for the users who engaged again after at.
func (s *Store) Engagers(ctx context.Context, listings []string, since, at time.Time) (map[string][]signals.UserAt, error) {
	out := map[string][]signals.UserAt{}
	if len(listings) == 0 || !at.After(since) {
		return out, nil
	}
	w := upTo(since, at)
	cmds := make([]*redis.ZSliceCmd, len(listings))
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, l := range listings {
			cmds[i] = p.ZRangeByScoreWithScores(ctx, s.listing(l, "e"), &redis.ZRangeBy{Min: strconv.FormatInt(w.lo, 10), Max: "+inf"})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("redisstore: engagers: %w", err)
	}
	type lookup struct {
		l, u  string
		like  *redis.FloatCmd
		share *redis.StringSliceCmd
	}
	var lookups []lookup
	for i, l := range listings {
		for _, z := range cmds[i].Val() {
			u, t := z.Member.(string), int64(z.Score)
			if t < w.hi {
				out[l] = append(out[l], signals.UserAt{User: u, At: fromMs(t)})
			} else {
				lookups = append(lookups, lookup{l: l, u: u})
			}
		}
	}
	if len(lookups) > 0 {
		upper := pad13(w.hi)
		cmds, _ := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := range lookups {
				lu := &lookups[i]
				lu.like = p.ZScore(ctx, s.user(lu.u, "lk"), lu.l)
				lu.share = p.ZRevRangeByLex(ctx, s.user(lu.u, "sh"), &redis.ZRangeBy{
					Max: "(" + lu.l + "\x00" + upper, Min: "(" + lu.l + "\x00", Count: 1})
			}
			return nil
		})
		// A like that is not there answers redis.Nil: not an error here.
		for _, c := range cmds {
			if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
				return nil, fmt.Errorf("redisstore: engagers history: %w", err)
			}
		}
		for _, lu := range lookups {
			best := int64(math.MinInt64)
			if v, err := lu.like.Result(); err == nil && int64(v) < w.hi {
				best = int64(v)
			}
			if m := lu.share.Val(); len(m) == 1 {
				if t, ok := histTime(m[0], lu.l); ok {
					best = max(best, t)
				}
			}
			if best >= w.lo {
				out[lu.l] = append(out[lu.l], signals.UserAt{User: lu.u, At: fromMs(best)})
			}
		}
	}
	for l, us := range out {
		slices.SortFunc(us, func(a, b signals.UserAt) int {
			if c := b.At.Compare(a.At); c != 0 {
				return c
			}
			return strings.Compare(a.User, b.User)
		})
		out[l] = us
	}
	return out, nil
}

// TopEngaged implements signals.Reader: the listings engaged since since
// ({P}:recent), then Engagers over them, scored here. It reads every
// engagement of the horizon (three round trips); the surfaces call it once
// per refresh, not per request.
func (s *Store) TopEngaged(ctx context.Context, since, at time.Time, halfLife time.Duration, k int) ([]signals.Engaged, error) {
	if !at.After(since) || k <= 0 {
		return nil, nil
	}
	ls, err := s.c.ZRangeByScore(ctx, s.g("recent"), &redis.ZRangeBy{Min: "(" + strconv.FormatInt(ms(since), 10), Max: "+inf"}).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: top engaged: %w", err)
	}
	eng, err := s.Engagers(ctx, ls, since, at)
	if err != nil {
		return nil, err
	}
	out := make([]signals.Engaged, 0, len(eng))
	for l, users := range eng {
		var score float64
		for _, u := range users {
			score += math.Exp2(-float64(at.Sub(u.At)) / float64(halfLife))
		}
		out = append(out, signals.Engaged{Listing: l, Score: score})
	}
	slices.SortFunc(out, func(a, b signals.Engaged) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return strings.Compare(a.Listing, b.Listing)
	})
	if len(out) > k {
		out = out[:k]
	}
	return out, nil
}
