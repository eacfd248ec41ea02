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
func (s *Store) Following(ctx context.Context, user string, at time.Time, limit int) ([]string, error) {
	upTo := "+inf"
	if !at.IsZero() {
		upTo = strconv.FormatInt(at.UnixMilli(), 10)
	}
	z, err := s.c.ZRevRangeByScoreWithScores(ctx, s.user(user, "fo"), &redis.ZRangeBy{Min: "-inf", Max: upTo}).Result()
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

// Counters implements signals.Reader: one pipeline of a GET, a ZCARD and a
// ZREVRANGE per listing.
func (s *Store) Counters(ctx context.Context, listings []string) (map[string]signals.Counters, error) {
	out := make(map[string]signals.Counters, len(listings))
	if len(listings) == 0 {
		return out, nil
	}
	likes := make([]*redis.StringCmd, len(listings))
	shares := make([]*redis.IntCmd, len(listings))
	last := make([]*redis.ZSliceCmd, len(listings))
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, l := range listings {
			likes[i] = p.Get(ctx, s.listing(l, "lc"))
			shares[i] = p.ZCard(ctx, s.listing(l, "st"))
			last[i] = p.ZRevRangeWithScores(ctx, s.listing(l, "st"), 0, 0)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redisstore: counters: %w", err)
	}
	for i, l := range listings {
		var c signals.Counters
		if v, err := likes[i].Int64(); err == nil {
			c.Likes = max(v, 0)
		} else if !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("redisstore: counters of %s: %w", l, err)
		}
		c.Shares = shares[i].Val()
		if z := last[i].Val(); len(z) > 0 {
			c.LastSharedAt = fromMs(int64(z[0].Score))
		}
		out[l] = c
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
// at or before an instant for a listing whose latest is after it. A
// timeline with a history is packed: its members are ms13 .. listing, so
// that it is read without scores.
type timeline struct {
	latest, hist string
	by           string
}

// asofScript answers, for listings of one history zset, the latest event
// before an instant: KEYS[1] the history, ARGV[1] the instant (ms13,
// exclusive), ARGV[2:] the listings; it returns listing, ms13 pairs.
const asofScript = `
local out = {}
for i = 2, #ARGV do
  local l = ARGV[i]
  local h = redis.call('ZREVRANGEBYLEX', KEYS[1], '(' .. l .. '\0' .. ARGV[1], '(' .. l .. '\0', 'LIMIT', 0, 1)
  if #h > 0 then
    out[#out + 1] = l
    out[#out + 1] = string.sub(h[1], #l + 2, #l + 14)
  end
end
return out`

// asofChunk bounds one asofScript run (~14 µs of Redis per lookup on a
// loaded 2-core machine: ~7 ms).
const asofChunk = 500

// unpack splits a packed member: ms13 .. the listing's bytes complemented
// .. 0xff (see apply.lua's inv).
func unpack(m string) (string, int64, bool) {
	if len(m) < 14 || m[len(m)-1] != 0xff {
		return "", 0, false
	}
	t, err := strconv.ParseInt(m[:13], 10, 64)
	var b strings.Builder
	b.Grow(len(m) - 14)
	for i := 13; i < len(m)-1; i++ {
		b.WriteByte(^m[i])
	}
	return b.String(), t, err == nil
}

// merge reads timelines as of w and merges them: each listing once at its
// latest event in w (ties: the smaller By), newest first, ties by
// listing, at most limit (0: all). One pipeline of one command per
// timeline, and a second one only for the timelines with listings whose
// latest event is at or after w.hi (re-shared since the instant read at:
// one script per such timeline reads their histories) or whose cut by the
// limit went through the listings of one instant. count, when set,
// is a zset whose entries in w are counted in the first pipeline.
func (s *Store) merge(ctx context.Context, tls []timeline, w window, limit int, count string) ([]signals.ListingAt, int64, error) {
	lo, hi := strconv.FormatInt(w.lo, 10), "("+strconv.FormatInt(w.hi, 10)
	packed := make([]*redis.StringSliceCmd, len(tls))
	scored := make([]*redis.ZSliceCmd, len(tls))
	var counted *redis.IntCmd
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, tl := range tls {
			if tl.hist != "" {
				// Up to +inf: the listings re-shared since are looked up below.
				packed[i] = p.ZRevRangeByScore(ctx, tl.latest, &redis.ZRangeBy{Min: lo, Max: "+inf", Count: int64(limit)})
			} else {
				scored[i] = p.ZRevRangeByScoreWithScores(ctx, tl.latest, &redis.ZRangeBy{Min: lo, Max: hi, Count: int64(limit)})
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
	total := 0
	for i := range tls {
		if packed[i] != nil {
			total += len(packed[i].Val())
		} else {
			total += len(scored[i].Val())
		}
	}
	m := merger{w: w, tls: tls, out: make([]entry, 0, total)}
	if len(tls) > 1 || limit > 0 { // one timeline read once holds each listing once
		m.index = make(map[string]int, total)
	}
	later := map[int][]any{}
	ties := map[int]int64{} // scored timelines cut by the limit: the instant cut
	var again []int         // timelines cut by limit with re-shared listings among them
	for i := range tls {
		if scored[i] != nil {
			zs := scored[i].Val()
			for _, z := range zs {
				m.keep(z.Member.(string), int64(z.Score), i)
			}
			if limit > 0 && len(zs) == limit {
				// Redis cut the listings of the last instant by id,
				// descending: read all of that instant.
				ties[i] = int64(zs[len(zs)-1].Score)
			}
			continue
		}
		ms := packed[i].Val()
		type item struct {
			l string
			t int64
		}
		below := make([]item, 0, len(ms))
		for _, member := range ms {
			l, t, ok := unpack(member)
			switch {
			case !ok:
				return nil, 0, fmt.Errorf("redisstore: %s: bad member %q", tls[i].latest, member)
			case t >= w.hi:
				later[i] = append(later[i], l)
			default:
				below = append(below, item{l, t})
			}
		}
		if len(later[i]) > 0 && limit > 0 && len(ms) == limit {
			// The re-shared listings took part of the limit: read the
			// timeline again below the instant (instead of these).
			again = append(again, i)
			continue
		}
		for _, it := range below {
			m.keep(it.l, it.t, i)
		}
	}
	if len(later) > 0 || len(ties) > 0 {
		upper := pad13(w.hi)
		tied := make(map[int]*redis.ZSliceCmd, len(ties))
		type lookup struct {
			tl  int
			cmd *redis.Cmd
		}
		var lookups []lookup
		more := make([]*redis.StringSliceCmd, len(again))
		_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, ls := range later {
				// A script runs alone: at most asofChunk lookups each, so
				// that other clients' commands run between them.
				for len(ls) > 0 {
					n := min(len(ls), asofChunk)
					lookups = append(lookups, lookup{i, p.Eval(ctx, asofScript, []string{tls[i].hist}, append([]any{upper}, ls[:n]...)...)})
					ls = ls[n:]
				}
			}
			for j, i := range again {
				more[j] = p.ZRevRangeByScore(ctx, tls[i].latest, &redis.ZRangeBy{Min: lo, Max: hi, Count: int64(limit)})
			}
			for i, t := range ties {
				at := strconv.FormatInt(t, 10)
				tied[i] = p.ZRangeByScoreWithScores(ctx, tls[i].latest, &redis.ZRangeBy{Min: at, Max: at})
			}
			return nil
		})
		if err != nil {
			return nil, 0, fmt.Errorf("redisstore: read history: %w", err)
		}
		for _, lu := range lookups {
			i := lu.tl
			pairs, err := lu.cmd.StringSlice()
			if err != nil {
				return nil, 0, fmt.Errorf("redisstore: read history: %w", err)
			}
			for j := 0; j+1 < len(pairs); j += 2 {
				if t, err := strconv.ParseInt(pairs[j+1], 10, 64); err == nil {
					m.keep(pairs[j], t, i)
				}
			}
		}
		for j, i := range again {
			for _, member := range more[j].Val() {
				if l, t, ok := unpack(member); ok {
					m.keep(l, t, i)
				}
			}
		}
		for i, c := range tied {
			for _, z := range c.Val() {
				m.keep(z.Member.(string), int64(z.Score), i)
			}
		}
	}
	slices.SortFunc(m.out, func(a, b entry) int {
		if c := cmp.Compare(b.ms, a.ms); c != 0 {
			return c
		}
		return strings.Compare(a.l, b.l)
	})
	if limit > 0 && len(m.out) > limit {
		m.out = m.out[:limit]
	}
	out := make([]signals.ListingAt, len(m.out))
	for i, e := range m.out {
		out[i] = signals.ListingAt{Listing: e.l, At: fromMs(e.ms), By: tls[e.tl].by}
	}
	var n int64
	if counted != nil {
		n = counted.Val()
	}
	return out, n, nil
}

// entry is a listing at an instant, from timeline tl.
type entry struct {
	l  string
	ms int64
	tl int
}

// merger keeps each listing once, at its latest instant in w (without an
// index, its entries are known to be distinct).
type merger struct {
	w     window
	tls   []timeline
	index map[string]int
	out   []entry
}

func (m *merger) keep(l string, t int64, tl int) {
	if t < m.w.lo || t >= m.w.hi {
		return
	}
	if m.index == nil {
		m.out = append(m.out, entry{l: l, ms: t, tl: tl})
		return
	}
	if i, ok := m.index[l]; ok {
		if e := &m.out[i]; t > e.ms || t == e.ms && m.tls[tl].by < m.tls[e.tl].by {
			e.ms, e.tl = t, tl
		}
		return
	}
	m.index[l] = len(m.out)
	m.out = append(m.out, entry{l: l, ms: t, tl: tl})
}

// histTime is the time of a history member "L\0ms13\0id".
func histTime(m, l string) (int64, bool) {
	if len(m) < len(l)+14 {
		return 0, false
	}
	v, err := strconv.ParseInt(m[len(l)+1:len(l)+14], 10, 64)
	return v, err == nil
}

// SharedBy implements signals.Reader: the closets' share timelines merged
// at read time, in one pipeline whatever their number (two when some
// listing was re-shared after at).
func (s *Store) SharedBy(ctx context.Context, closets []string, since, at time.Time, limit int) (signals.Shared, error) {
	if len(closets) == 0 || !at.After(since) {
		return signals.Shared{}, nil
	}
	tls := make([]timeline, len(closets))
	index := make(map[string]int32, len(closets))
	for i, c := range closets {
		tls[i] = timeline{latest: s.user(c, "sl"), hist: s.user(c, "sh"), by: c}
		if _, ok := index[c]; !ok {
			index[c] = int32(i)
		}
	}
	las, _, err := s.merge(ctx, tls, upTo(since, at), limit, "")
	if err != nil {
		return signals.Shared{}, err
	}
	var out signals.Shared
	for _, la := range las {
		out.Append(la.Listing, la.At.UnixMilli(), index[la.By])
	}
	return out, nil
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

// TopEngaged implements signals.Reader. While the horizon holds at most
// exactBelow listings it scores them exactly: their engagers (Engagers),
// as of at; three round trips. Beyond, with the store's half-life, it
// reads the decayed sums apply.lua keeps ({P}:hot: distinct users, each at
// their latest engagement), the top k in one round trip: exact but for
// engagements after at or before since, which the sums hold too (the feed
// asks at now, and a day-old engagement weighs 2^-24 at a 1h half-life).
func (s *Store) TopEngaged(ctx context.Context, since, at time.Time, halfLife time.Duration, k int) ([]signals.Engaged, error) {
	if !at.After(since) || k <= 0 {
		return nil, nil
	}
	ls, err := s.c.ZRangeByScore(ctx, s.g("recent"), &redis.ZRangeBy{Min: "(" + strconv.FormatInt(ms(since), 10), Max: "+inf", Count: exactBelow + 1}).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: top engaged: %w", err)
	}
	var out []signals.Engaged
	if len(ls) > exactBelow && halfLife == s.halfLife {
		// More than k: Redis orders equal scores by member, descending;
		// ties go to the smaller listing id here.
		z, err := s.c.ZRevRangeWithScores(ctx, s.g("hot"), 0, int64(2*k+64-1)).Result()
		if err != nil {
			return nil, fmt.Errorf("redisstore: top engaged: %w", err)
		}
		w := float64(ms(at)-hotOrigin) / float64(halfLife.Milliseconds())
		for _, e := range z {
			out = append(out, signals.Engaged{Listing: e.Member.(string), Score: math.Exp2(e.Score - w)})
		}
	} else {
		if len(ls) > exactBelow { // another half-life: every listing of the horizon
			if ls, err = s.c.ZRangeByScore(ctx, s.g("recent"), &redis.ZRangeBy{Min: "(" + strconv.FormatInt(ms(since), 10), Max: "+inf"}).Result(); err != nil {
				return nil, fmt.Errorf("redisstore: top engaged: %w", err)
			}
		}
		eng, err := s.Engagers(ctx, ls, since, at)
		if err != nil {
			return nil, err
		}
		out = make([]signals.Engaged, 0, len(eng))
		for l, users := range eng {
			var score float64
			for _, u := range users {
				score += math.Exp2(-float64(at.Sub(u.At)) / float64(halfLife))
			}
			out = append(out, signals.Engaged{Listing: l, Score: score})
		}
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

// exactBelow is how many listings of the horizon TopEngaged scores
// exactly; hotOrigin is E of apply.lua's decayed sums.
const (
	exactBelow = 4096
	hotOrigin  = 1700000000000
)
