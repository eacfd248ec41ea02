package memory

import (
	"cmp"
	"encoding/binary"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/rummage/rummage/signals"
)

// Timelines: the hits of one or more users' timelines in a window, merged
// newest first (following feeds, a user's activity).

// hit is a listing at an instant, by a user, while answers are built.
type hit struct {
	at      int64
	lst, by uint32
}

// finish orders hits newest first, ties by listing id, keeps limit (0: all)
// and converts them.
func (s *state) finish(hs []hit, limit int, withBy bool) []signals.ListingAt {
	s.sortHits(hs)
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

// sortHits orders hits newest first, ties by listing id: newestFirst's
// integer sort (skipped for a merge's output, already in time order), then
// each run of equal instants by listing id.
func (s *state) sortHits(hs []hit) {
	byListing := func(a, b hit) int { return strings.Compare(s.strs[a.lst], s.strs[b.lst]) }
	if len(hs) < 64 {
		slices.SortFunc(hs, func(a, b hit) int {
			if c := cmp.Compare(b.at, a.at); c != 0 {
				return c
			}
			return byListing(a, b)
		})
		return
	}
	if !slices.IsSortedFunc(hs, func(a, b hit) int { return cmp.Compare(b.at, a.at) }) { // a merge's output is
		sc := scratchPool.Get().(*scratch)
		sorted := getHits(len(hs))
		for _, i := range s.newestFirst(sc, hs) {
			sorted = append(sorted, hs[i])
		}
		scratchPool.Put(sc)
		copy(hs, sorted)
		putHits(sorted)
	}
	for i := 0; i < len(hs); {
		j := i + 1
		for j < len(hs) && hs[j].at == hs[i].at {
			j++
		}
		switch {
		case j-i >= 16:
			s.sortByListing(hs[i:j])
		case j-i > 1:
			slices.SortFunc(hs[i:j], byListing)
		}
		i = j
	}
}

// sortByListing orders hits by listing id. It compares the ids' first 16
// bytes, loaded once per hit, as integers, and the strings themselves only
// when those are equal: comparing the strings each time missed the cache
// twice per comparison (the hits of one instant are many when shares come
// in bursts).
func (s *state) sortByListing(hs []hit) {
	type keyed struct {
		hi, lo uint64
		h      hit
	}
	ks := make([]keyed, len(hs))
	for i, h := range hs {
		hi, lo := prefix16(s.strs[h.lst])
		ks[i] = keyed{hi, lo, h}
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		if c := cmp.Compare(a.hi, b.hi); c != 0 {
			return c
		}
		if c := cmp.Compare(a.lo, b.lo); c != 0 {
			return c
		}
		return strings.Compare(s.strs[a.h.lst], s.strs[b.h.lst])
	})
	for i := range ks {
		hs[i] = ks[i].h
	}
}

// prefix16 is the first 16 bytes of id, big-endian, zero-padded: two ids
// whose prefixes differ compare as their prefixes do.
func prefix16(id string) (hi, lo uint64) {
	var b [16]byte
	copy(b[:], id)
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}

// upTo is the number of events of es (sorted by at) at or before at.
func (s *state) upTo(es []uint32, at int64) int {
	return sort.Search(len(es), func(i int) bool { return s.ev[es[i]].at > at })
}

// window is the events of es (sorted by at) in (since, at]. A timeline
// most often ends before at (a feed of now) and begins after since (a
// closet's shares of the window): each end is checked before it is
// searched for, which spares most of two searches per followed closet,
// each a cache miss per step.
func (s *state) window(es []uint32, since, at int64) []uint32 {
	if len(es) == 0 {
		return nil
	}
	lo, hi := 0, len(es)
	if s.ev[es[0]].at <= since {
		lo = s.upTo(es, since)
	}
	if s.ev[es[hi-1]].at > at {
		hi = s.upTo(es, at)
	}
	return es[lo:max(lo, hi)]
}

// cursor walks one user's timeline backwards: es are the events left (the
// next one last), at the next one's instant (kept here so that the heap
// compares without chasing the arena).
type cursor struct {
	at int64
	es []uint32
}

// timelineHeap is a max-heap of cursors by at.
type timelineHeap []cursor

func (h timelineHeap) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		if r := l + 1; r < len(h) && h[r].at > h[l].at {
			l = r
		}
		if h[i].at >= h[l].at {
			return
		}
		h[i], h[l] = h[l], h[i]
		i = l
	}
}

// merged walks windows of timelines (each sorted by at) backwards, newest
// first, calling f with each live event that keep accepts, each listing
// once (its first, so latest, event); it stops when f returns false.
func (s *state) merged(wins [][]uint32, keep func(e uint32) bool, f func(e uint32) bool) {
	h := make(timelineHeap, 0, len(wins))
	for _, w := range wins {
		h = append(h, cursor{s.ev[w[len(w)-1]].at, w})
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
	// Each listing once: marks in a pooled bitset by listing id (a map's
	// hashing was a fifth of a following feed, and an array of counters
	// missed the cache on most marks), cleared on the way out.
	sc := scratchPool.Get().(*scratch)
	seen := sc.marks(len(s.strs) + 1)
	var marked []uint32
	defer func() {
		for _, l := range marked {
			seen.clear(l)
		}
		scratchPool.Put(sc)
	}()
	for len(h) > 0 {
		c := &h[0]
		e := c.es[len(c.es)-1]
		if c.es = c.es[:len(c.es)-1]; len(c.es) > 0 {
			c.at = s.ev[c.es[len(c.es)-1]].at
		} else {
			h[0] = h[len(h)-1]
			h = h[:len(h)-1]
		}
		h.down(0)
		if s.isDead(e) || !keep(e) {
			continue
		}
		l := s.ev[e].lst
		if !seen.mark(l) {
			continue
		}
		marked = append(marked, l)
		if !f(e) {
			return
		}
	}
}

// hitBufs holds hit slices for reuse: a following feed's collect makes
// two of up to tens of thousands of hits, dead once its answer is built
// (garbage that made the collector run every few hundred requests over a
// heap of gigabytes).
var hitBufs sync.Pool

// getHits is an empty hit slice with room for n, from the pool when one
// is there; putHits gives one back.
func getHits(n int) []hit {
	if b, ok := hitBufs.Get().(*[]hit); ok && cap(*b) >= n {
		return (*b)[:0]
	}
	return make([]hit, 0, n)
}

func putHits(hs []hit) {
	if cap(hs) == 0 {
		return
	}
	hs = hs[:0]
	hitBufs.Put(&hs)
}

// collect gathers merged's events until limit of them are found and the
// next has an earlier instant (so that ties at the cut go by listing id).
//
// When the window holds few events for the limit (many closets with short
// timelines), it gathers them all and sorts instead: fewer steps than the
// heap's.
func (s *state) collect(lines []map[uint32][]uint32, users []uint32, since, at int64, limit int, keep func(e uint32) bool) []hit {
	// Each user's events in (since, at].
	wins := make([][]uint32, 0, len(users)*len(lines))
	total := 0
	for _, u := range users {
		for _, line := range lines {
			if w := s.window(line[u], since, at); len(w) > 0 {
				wins = append(wins, w)
				total += len(w)
			}
		}
	}
	if limit <= 0 || total <= gatherFactor*limit {
		return s.gather(wins, total, keep)
	}
	hs := getHits(min(total, limit+limit/8)) // the limit and the cut's instant, mostly
	s.merged(wins, keep, func(e uint32) bool {
		if limit > 0 && len(hs) >= limit && s.ev[e].at < hs[len(hs)-1].at {
			return false
		}
		hs = append(hs, hit{at: s.ev[e].at, lst: s.ev[e].lst, by: s.ev[e].user})
		return true
	})
	return hs
}

// gatherFactor is how many events per wanted listing collect gathers and
// sorts rather than merging (a variable for the tests of both ways).
var gatherFactor = 4

// gather is every live event keep accepts of the users' timelines in
// (since, at], newest first (ties in no order: finish orders them), each
// listing once, at its latest event.
func (s *state) gather(wins [][]uint32, total int, keep func(e uint32) bool) []hit {
	hs := getHits(total)
	defer putHits(hs)
	for _, w := range wins {
		for _, e := range w {
			if !s.isDead(e) && keep(e) {
				ev := &s.ev[e]
				hs = append(hs, hit{at: ev.at, lst: ev.lst, by: ev.user})
			}
		}
	}
	if len(hs) == 0 {
		return nil // hs goes back to the pool
	}
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	order := s.newestFirst(sc, hs)
	out := getHits(len(hs))
	seen := sc.marks(len(s.strs) + 1)
	for _, i := range order {
		if h := hs[i]; seen.mark(h.lst) {
			out = append(out, h)
		}
	}
	for _, h := range out {
		seen.clear(h.lst)
	}
	return out
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

func all(uint32) bool { return true }

// sharedBy is SharedBy: collect's hits of the closets' share timelines
// (their likes are apart), newest first, each listing at its latest share,
// handed over in that order with no tie order made but at the limit's cut
// (ordering every instant's listings by id, and making a ListingAt of
// each, was most of what a following feed cost).
func (s *state) sharedBy(closets []string, since, at int64, limit int) signals.Shared {
	users := make([]uint32, 0, len(closets))
	index := make(map[uint32]int32, len(closets)) // closet → its first place in closets
	for i, c := range closets {
		if u := s.lookup(c); u != 0 {
			if _, ok := index[u]; !ok {
				index[u] = int32(i)
				users = append(users, u)
			}
		}
	}
	hs := s.collect([]map[uint32][]uint32{s.timeline}, users, since, at, limit, all)
	if limit > 0 && len(hs) > limit {
		// The listings of the cut's instant: the smallest ids stay.
		cut := hs[limit-1].at
		first, last := limit-1, limit
		for first > 0 && hs[first-1].at == cut {
			first--
		}
		for last < len(hs) && hs[last].at == cut {
			last++
		}
		s.sortByListing(hs[first:last])
		hs = hs[:limit]
	}
	out := signals.Shared{
		Listings: make([]string, len(hs)),
		At:       make([]int64, len(hs)),
		By:       make([]int32, len(hs)),
	}
	for i, h := range hs {
		out.Listings[i], out.At[i], out.By[i] = s.strs[h.lst], h.at, index[h.by]
	}
	putHits(hs)
	return out
}

// newestFirst returns the indexes of hs newest first, equal instants in
// the order of hs. It sorts packed keys (how much older than the
// newest, then the index) as plain integers, several times quicker than a
// comparison function.
func (s *state) newestFirst(sc *scratch, hs []hit) []uint32 {
	const idxBits = 24
	order := sc.order[:0]
	newest, oldest := hs[0].at, hs[0].at
	for _, h := range hs {
		newest, oldest = max(newest, h.at), min(oldest, h.at)
	}
	if len(hs) >= 1<<idxBits || uint64(newest-oldest) >= 1<<(64-idxBits) {
		for i := range hs {
			order = append(order, uint32(i))
		}
		slices.SortStableFunc(order, func(a, b uint32) int { return cmp.Compare(hs[b].at, hs[a].at) })
		sc.order = order
		return order
	}
	keys := sc.keys[:0]
	for i, h := range hs {
		keys = append(keys, uint64(newest-h.at)<<idxBits|uint64(i))
	}
	slices.Sort(keys)
	for _, k := range keys {
		order = append(order, uint32(k&(1<<idxBits-1)))
	}
	sc.keys, sc.order = keys, order
	return order
}

func (s *state) activity(user string, since, at int64, limit int) []signals.ListingAt {
	lines := []map[uint32][]uint32{s.timeline, s.likeline}
	hs := s.collect(lines, s.ids([]string{user}), since, at, limit, all)
	defer putHits(hs)
	return s.finish(hs, limit, false)
}
