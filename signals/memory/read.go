package memory

import (
	"cmp"
	"container/heap"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/rummage/rummage/signals"
)

// The Reader's answers over the state; the caller holds the read lock.

func msTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func (s *state) sellersOf(ids []string) map[string]signals.Seller {
	out := make(map[string]signals.Seller, len(ids))
	for _, id := range ids {
		if r := s.sellers[s.lookup(id)]; r != nil && !r.dead {
			out[id] = r.row
		}
	}
	return out
}

func (s *state) suspendedSellers() []string {
	out := make([]string, 0, len(s.suspended))
	for id := range s.suspended {
		out = append(out, s.strs[id])
	}
	slices.Sort(out)
	return out
}

func (s *state) edges(m map[uint32][]edge, user string) []edge {
	u := s.lookup(user)
	if u == 0 {
		return nil
	}
	return m[u]
}

func (s *state) blockedBy(user string) []string {
	var out []string
	for _, e := range s.edges(s.blocks, user) {
		if !e.dead {
			out = append(out, s.strs[e.to])
		}
	}
	return out
}

func (s *state) following(user string, limit int) []string {
	var live []edge
	for _, e := range s.edges(s.follows, user) {
		if !e.dead {
			live = append(live, e)
		}
	}
	slices.SortFunc(live, func(a, b edge) int {
		if c := cmp.Compare(b.at, a.at); c != 0 {
			return c
		}
		return strings.Compare(s.strs[a.to], s.strs[b.to])
	})
	if limit > 0 && len(live) > limit {
		live = live[:limit]
	}
	out := make([]string, len(live))
	for i, e := range live {
		out[i] = s.strs[e.to]
	}
	return out
}

func (s *state) followersOf(closets []string) map[string]int {
	out := make(map[string]int, len(closets))
	for _, c := range closets {
		out[c] = int(s.followers[s.lookup(c)])
	}
	return out
}

// hit is a listing at an instant, by a user, while answers are built.
type hit struct {
	at      int64
	lst, by uint32
}

// finish orders hits newest first, ties by listing id, keeps limit (0: all)
// and converts them.
func (s *state) finish(hs []hit, limit int, withBy bool) []signals.ListingAt {
	slices.SortFunc(hs, func(a, b hit) int {
		if c := cmp.Compare(b.at, a.at); c != 0 {
			return c
		}
		return strings.Compare(s.strs[a.lst], s.strs[b.lst])
	})
	if limit > 0 && len(hs) > limit {
		hs = hs[:limit]
	}
	if len(hs) == 0 {
		return nil
	}
	out := make([]signals.ListingAt, len(hs))
	for i, h := range hs {
		out[i] = signals.ListingAt{Listing: s.strs[h.lst], At: msTime(h.at)}
		if withBy {
			out[i].By = s.strs[h.by]
		}
	}
	return out
}

// upTo is the number of events of es (sorted by at) at or before at.
func (s *state) upTo(es []uint32, at int64) int {
	return sort.Search(len(es), func(i int) bool { return s.at[es[i]] > at })
}

// cursor walks one user's timeline backwards from an instant.
type cursor struct {
	es []uint32 // the events left, the next one last
}

type cursors struct {
	s  *state
	cs []cursor
}

func (h *cursors) Len() int { return len(h.cs) }
func (h *cursors) Less(i, j int) bool {
	a, b := h.cs[i].es, h.cs[j].es
	return h.s.at[a[len(a)-1]] > h.s.at[b[len(b)-1]]
}
func (h *cursors) Swap(i, j int) { h.cs[i], h.cs[j] = h.cs[j], h.cs[i] }
func (h *cursors) Push(x any)    { h.cs = append(h.cs, x.(cursor)) }
func (h *cursors) Pop() any {
	c := h.cs[len(h.cs)-1]
	h.cs = h.cs[:len(h.cs)-1]
	return c
}

// merged walks the timelines of users backwards from at (inclusive) to
// since (exclusive), newest first, calling f with each live event that keep
// accepts, each listing once (its first, so latest, event); it stops when f
// returns false.
func (s *state) merged(users []uint32, since, at int64, keep func(e uint32) bool, f func(e uint32) bool) {
	h := &cursors{s: s}
	for _, u := range users {
		tl := s.timeline[u]
		if n := s.upTo(tl, at); n > 0 {
			h.cs = append(h.cs, cursor{tl[:n]})
		}
	}
	heap.Init(h)
	seen := map[uint32]struct{}{}
	for h.Len() > 0 {
		c := &h.cs[0]
		e := c.es[len(c.es)-1]
		if s.at[e] <= since {
			return
		}
		if c.es = c.es[:len(c.es)-1]; len(c.es) == 0 {
			heap.Pop(h)
		} else {
			heap.Fix(h, 0)
		}
		if s.isDead(e) || !keep(e) {
			continue
		}
		if _, ok := seen[s.lst[e]]; ok {
			continue
		}
		seen[s.lst[e]] = struct{}{}
		if !f(e) {
			return
		}
	}
}

// collect gathers merged's events until limit of them are found and the
// next has an earlier instant (so that ties at the cut go by listing id).
func (s *state) collect(users []uint32, since, at int64, limit int, keep func(e uint32) bool) []hit {
	var hs []hit
	s.merged(users, since, at, keep, func(e uint32) bool {
		if limit > 0 && len(hs) >= limit && s.at[e] < hs[len(hs)-1].at {
			return false
		}
		hs = append(hs, hit{at: s.at[e], lst: s.lst[e], by: s.user[e]})
		return true
	})
	return hs
}

func (s *state) ids(names []string) []uint32 {
	out := make([]uint32, 0, len(names))
	for _, n := range names {
		if id := s.lookup(n); id != 0 {
			out = append(out, id)
		}
	}
	return out
}

func (s *state) isShare(e uint32) bool { return s.party[e] != likeParty }

func (s *state) sharedBy(closets []string, since, at int64, limit int) []signals.ListingAt {
	return s.finish(s.collect(s.ids(closets), since, at, limit, s.isShare), limit, true)
}

func (s *state) activity(user string, since, at int64, limit int) []signals.ListingAt {
	all := func(uint32) bool { return true }
	return s.finish(s.collect(s.ids([]string{user}), since, at, limit, all), limit, false)
}

func (s *state) partyShares(party string, from, to int64) ([]signals.ListingAt, int) {
	pl := s.partyIx[s.lookup(party)]
	if pl == nil || from >= to {
		return nil, 0
	}
	lo, hi := s.upTo(pl.log, from-1), s.upTo(pl.log, to-1)
	n := hi - lo
	if pl.dead > 0 {
		for _, e := range pl.log[lo:hi] {
			if s.isDead(e) {
				n--
			}
		}
	}
	p := s.lookup(party)
	hs := make([]hit, 0, len(pl.latest))
	for l, e := range pl.latest {
		if s.at[e] >= to {
			if e = s.latestIn(l, p, to); e == 0 {
				continue
			}
		}
		if s.at[e] >= from {
			hs = append(hs, hit{at: s.at[e], lst: l})
		}
	}
	return s.finish(hs, 0, false), n
}

// engagements calls f with each user's latest live like or share of
// listing l in (since, at].
func (s *state) engagements(l uint32, since, at int64, f func(u uint32, t int64)) {
	latest := map[uint32]int64{}
	for e := s.head[l]; e != 0; e = s.prev[e] {
		if t := s.at[e]; t > since && t <= at && !s.isDead(e) {
			if cur, ok := latest[s.user[e]]; !ok || t > cur {
				latest[s.user[e]] = t
			}
		}
	}
	for u, t := range latest {
		f(u, t)
	}
}

func (s *state) engagers(listings []string, since, at int64) map[string][]signals.UserAt {
	out := make(map[string][]signals.UserAt, len(listings))
	for _, name := range listings {
		l := s.lookup(name)
		if l == 0 {
			continue
		}
		var us []signals.UserAt
		s.engagements(l, since, at, func(u uint32, t int64) {
			us = append(us, signals.UserAt{User: s.strs[u], At: msTime(t)})
		})
		if len(us) > 0 {
			out[name] = us
		}
	}
	return out
}

// topEngaged scans the events in (since, at] (the spans that overlap it),
// keeps each (listing, user)'s latest and sums their decayed weights.
func (s *state) topEngaged(since, at int64, halfLife time.Duration, k int) []signals.Engaged {
	latest := map[uint64]int64{}
	for i, sp := range s.spans {
		if sp.max <= since || sp.min > at {
			continue
		}
		end := min((i+1)<<spanBits, len(s.at))
		for e := i << spanBits; e < end; e++ {
			t := s.at[e]
			if t <= since || t > at || s.isDead(uint32(e)) {
				continue
			}
			key := uint64(s.lst[e])<<32 | uint64(s.user[e])
			if cur, ok := latest[key]; !ok || t > cur {
				latest[key] = t
			}
		}
	}
	// Summed in (listing, user) order, so that a score does not depend on
	// the map's order to the last bit.
	keys := make([]uint64, 0, len(latest))
	for key := range latest {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	hl := float64(halfLife.Milliseconds())
	var out []signals.Engaged
	for i, key := range keys {
		w := math.Exp2(-float64(at-latest[key]) / hl)
		if i > 0 && keys[i-1]>>32 == key>>32 {
			out[len(out)-1].Score += w
		} else {
			out = append(out, signals.Engaged{Listing: s.strs[key>>32], Score: w})
		}
	}
	slices.SortFunc(out, func(a, b signals.Engaged) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return strings.Compare(a.Listing, b.Listing)
	})
	if k > 0 && len(out) > k {
		out = out[:k]
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func (s *state) allParties() []signals.Party {
	var out []signals.Party
	for _, r := range s.parties {
		if !r.dead {
			out = append(out, r.row)
		}
	}
	slices.SortFunc(out, func(a, b signals.Party) int {
		if c := a.StartsAt.Compare(b.StartsAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

func (s *state) partyByID(id string) (*signals.Party, error) {
	r := s.parties[s.lookup(id)]
	if r == nil || r.dead {
		return nil, signals.ErrNotFound
	}
	p := r.row
	return &p, nil
}
