package memory

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"sync"
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

func (s *state) following(user string, at int64, limit int) []string {
	var live []edge
	for _, e := range s.edges(s.follows, user) {
		if !e.dead && e.at <= at {
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

// engagements calls f with each user's latest live like or share of
// listing l in (since, at].
func (s *state) engagements(l uint32, since, at int64, f func(u uint32, t int64)) {
	latest := map[uint32]int64{}
	for e := s.head[l]; e != 0 && s.spanTop[e>>spanBits] > since; e = s.ev[e].prev {
		if t := s.ev[e].at; t > since && t <= at && !s.isDead(e) {
			if cur, ok := latest[s.ev[e].user]; !ok || t > cur {
				latest[s.ev[e].user] = t
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
	// The live events in (since, at], grouped by listing (a counting sort
	// over the interned ids: two passes, no map).
	var win []uint32
	for i := len(s.spans) - 1; i >= 0 && s.spanTop[i] > since; i-- {
		if sp := s.spans[i]; sp.max <= since || sp.min > at {
			continue
		}
		end := min((i+1)<<spanBits, len(s.ev))
		for e := i << spanBits; e < end; e++ {
			if ev := &s.ev[e]; ev.at > since && ev.at <= at && ev.party&deadBit == 0 {
				win = append(win, uint32(e))
			}
		}
	}
	if len(win) == 0 {
		return nil
	}
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	sc.grow(len(s.strs) + 1)
	c := sc.cnt
	for _, e := range win {
		c[s.ev[e].lst+1]++
	}
	for i := 1; i < len(c); i++ {
		c[i] += c[i-1]
	}
	grouped := make([]uint32, len(win))
	for _, e := range win {
		l := s.ev[e].lst
		grouped[c[l]] = e
		c[l]++
	}
	// Now c[l] is where listing l's run ends and l+1's begins.

	// Each listing's score: each of its users' latest engagement, summed
	// in the order the users first appear in the arena (so that a score
	// does not depend on anything but the state, to the last bit).
	hl := float64(halfLife.Milliseconds())
	top := topK{s: s, k: k}
	var users []uint32
	begin := uint32(0)
	for l := range len(s.strs) {
		end := c[l]
		if end == begin {
			continue
		}
		users = users[:0]
		for _, e := range grouped[begin:end] {
			ev := &s.ev[e]
			switch t, o := sc.latest[ev.user], offset(ev.at); {
			case t == 0:
				users = append(users, ev.user)
				sc.latest[ev.user] = o
			case o > t:
				sc.latest[ev.user] = o
			}
		}
		var score float64
		for _, u := range users {
			score += math.Exp2(-float64(at-int64(sc.latest[u]-1<<63)) / hl)
			sc.latest[u] = 0
		}
		top.add(scored{uint32(l), score})
		begin = end
	}
	clear(c)
	out := top.sorted()
	res := make([]signals.Engaged, len(out))
	for i, o := range out {
		res[i] = signals.Engaged{Listing: s.strs[o.lst], Score: o.score}
	}
	return res
}

// scratch is a reader's working arrays, one entry per interned id (by
// listing: TopEngaged's counting sort; by user: their latest instant,
// offset, 0 for none; merged's and gather's seen marks, a bit per id):
// readers run at once, so each takes its own from the pool, and leaves it
// zeroed.
type scratch struct {
	cnt    []uint32
	latest []uint64 // offset(at)
	seen   bitset   // merged's and gather's marks by listing
	// newestFirst's working slices, kept for the next reader.
	keys  []uint64
	order []uint32
}

// bitset is a set of interned ids, one bit each: a mark of a million ids
// fits in the cache where an array of counters does not.
type bitset []uint64

// mark adds id and says whether it was not there yet.
func (b bitset) mark(id uint32) bool {
	w, bit := id>>6, uint64(1)<<(id&63)
	if b[w]&bit != 0 {
		return false
	}
	b[w] |= bit
	return true
}

func (b bitset) clear(id uint32) { b[id>>6] &^= 1 << (id & 63) }

// marks is sc's bitset for n ids, all clear.
func (sc *scratch) marks(n int) bitset {
	if w := (n + 63) / 64; len(sc.seen) < w {
		sc.seen = make(bitset, w)
	}
	return sc.seen
}

func (sc *scratch) grow(n int) {
	if len(sc.cnt) < n {
		sc.cnt, sc.latest = make([]uint32, n), make([]uint64, n)
	}
}

// offset is an instant as an unsigned number in the same order, 0 only for
// the least int64 (so that 0 can mean none).
func offset(t int64) uint64 { return uint64(t) + 1<<63 }

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

type scored struct {
	lst   uint32
	score float64
}

// topK keeps the k best scores (all when k <= 0): a min-heap on the worst.
type topK struct {
	s *state
	k int
	h []scored
}

// better orders scores: higher first, ties by listing id.
func (t *topK) better(a, b scored) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	return t.s.strs[a.lst] < t.s.strs[b.lst]
}

func (t *topK) add(x scored) {
	if t.k <= 0 || len(t.h) < t.k {
		t.h = append(t.h, x)
		if t.k > 0 {
			for i := len(t.h) - 1; i > 0; {
				p := (i - 1) / 2
				if !t.better(t.h[p], t.h[i]) {
					break
				}
				t.h[p], t.h[i] = t.h[i], t.h[p]
				i = p
			}
		}
		return
	}
	if !t.better(x, t.h[0]) {
		return
	}
	t.h[0] = x
	for i := 0; ; {
		w, l, r := i, 2*i+1, 2*i+2
		if l < len(t.h) && t.better(t.h[w], t.h[l]) {
			w = l
		}
		if r < len(t.h) && t.better(t.h[w], t.h[r]) {
			w = r
		}
		if w == i {
			return
		}
		t.h[i], t.h[w] = t.h[w], t.h[i]
		i = w
	}
}

func (t *topK) sorted() []scored {
	slices.SortFunc(t.h, func(a, b scored) int {
		switch {
		case t.better(a, b):
			return -1
		case t.better(b, a):
			return 1
		}
		return 0
	})
	return t.h
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
